//! C2SP signed notes (Ed25519) and tlog checkpoints.
//!
//! A checkpoint is the note text `origin\nsize\nbase64(root)\n`, then a blank line, then
//! signature lines `— <key name> base64(key id || signature)`. The key name is the origin;
//! the key id is the first four bytes of SHA-256(name || 0x0A || 0x01 || public key).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

const ED25519: u8 = 0x01;
/// Verifiers must accept at least 16 signatures; more than this is refused.
const MAX_SIGNATURES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed note: {0}")]
    Malformed(String),
    #[error("no signature from {0} verifies")]
    Unverified(String),
    #[error("a signature from {0} does not verify")]
    BadSignature(String),
    #[error("malformed checkpoint: {0}")]
    Checkpoint(String),
    #[error("malformed verifier key: {0}")]
    VerifierKey(String),
}

fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let d = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([b'\n', ED25519])
        .chain_update(public)
        .finalize();
    [d[0], d[1], d[2], d[3]]
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+') {
        return Err(NoteError::Malformed(format!("key name {name:?} is empty or holds a space or +")));
    }
    Ok(())
}

/// A note signer: an Ed25519 key and its name (the log's origin).
pub struct NoteSigner {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NoteSigner({}, <secret>)", self.name)
    }
}

impl NoteSigner {
    /// From a 32-byte seed (kept wrapped by the keyring, never in the database).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        check_name(name)?;
        Ok(Self { name: name.to_owned(), key: SigningKey::from_bytes(seed) })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier { name: self.name.clone(), key: self.key.verifying_key() }
    }

    /// Signs note text (which must end in a newline) and returns the whole signed note.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        if !text.ends_with('\n') || text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(NoteError::Malformed(
                "note text must end in a newline and hold no control characters".into(),
            ));
        }
        let sig = self.key.sign(text.as_bytes());
        let mut blob = key_id(&self.name, self.key.verifying_key().as_bytes()).to_vec();
        blob.extend_from_slice(&sig.to_bytes());
        Ok(format!("{text}\n\u{2014} {} {}\n", self.name, B64.encode(blob)))
    }
}

/// A verifier key: name and Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Parses a vkey: `name+hex(key id)+base64(0x01 || public key)`.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let bad = |r: &str| NoteError::VerifierKey(r.to_owned());
        let mut parts = vkey.trim().splitn(3, '+');
        let (name, id, key) = match (parts.next(), parts.next(), parts.next()) {
            (Some(n), Some(i), Some(k)) => (n, i, k),
            _ => return Err(bad("expected name+keyid+key")),
        };
        check_name(name).map_err(|_| bad("bad key name"))?;
        let raw = B64.decode(key).map_err(|_| bad("key is not base64"))?;
        if raw.len() != 33 || raw[0] != ED25519 {
            return Err(bad("not an Ed25519 key"));
        }
        let public: [u8; 32] = raw[1..].try_into().map_err(|_| bad("key length"))?;
        if hex(&key_id(name, &public)) != id.to_ascii_lowercase() {
            return Err(bad("key id does not match the key"));
        }
        let key = VerifyingKey::from_bytes(&public).map_err(|_| bad("not a valid Ed25519 point"))?;
        Ok(Self { name: name.to_owned(), key })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn vkey(&self) -> String {
        let mut raw = vec![ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.name, hex(&key_id(&self.name, self.key.as_bytes())), B64.encode(raw))
    }

    /// Verifies a signed note and returns its text. Signatures from other keys are ignored;
    /// one from this key must be present and valid.
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(NoteError::Malformed("control characters".into()));
        }
        let split = note
            .rfind("\n\n")
            .ok_or_else(|| NoteError::Malformed("no blank line before signatures".into()))?;
        let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
        if !sigs.ends_with('\n') {
            return Err(NoteError::Malformed("signature block does not end in a newline".into()));
        }
        let id = key_id(&self.name, self.key.as_bytes());
        let mut verified = false;
        for (i, line) in sigs.lines().enumerate() {
            if i >= MAX_SIGNATURES {
                return Err(NoteError::Malformed("too many signatures".into()));
            }
            let rest = line.strip_prefix("\u{2014} ").ok_or_else(|| {
                NoteError::Malformed("a signature line does not start with an em dash".into())
            })?;
            let (name, sig) = rest
                .split_once(' ')
                .ok_or_else(|| NoteError::Malformed("a signature line has no signature".into()))?;
            let blob =
                B64.decode(sig).map_err(|_| NoteError::Malformed("a signature is not base64".into()))?;
            if blob.len() < 4 || name != self.name || blob[..4] != id {
                continue; // someone else's signature
            }
            let sig = ed25519_dalek::Signature::from_slice(&blob[4..])
                .map_err(|_| NoteError::BadSignature(self.name.clone()))?;
            self.key.verify(text.as_bytes(), &sig).map_err(|_| NoteError::BadSignature(self.name.clone()))?;
            verified = true;
        }
        if verified {
            Ok(text)
        } else {
            Err(NoteError::Unverified(self.name.clone()))
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A checkpoint's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: [u8; 32],
}

impl Checkpoint {
    pub fn text(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, B64.encode(self.root))
    }

    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let bad = |r: &str| NoteError::Checkpoint(r.to_owned());
        let mut lines = text.strip_suffix('\n').ok_or_else(|| bad("no final newline"))?.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty()).ok_or_else(|| bad("no origin"))?;
        let size_line = lines.next().ok_or_else(|| bad("no size"))?;
        if size_line.is_empty()
            || (size_line.len() > 1 && size_line.starts_with('0'))
            || !size_line.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad("the size is not a decimal number without leading zeros"));
        }
        let size = size_line.parse().map_err(|_| bad("the size is too large"))?;
        let root = B64
            .decode(lines.next().ok_or_else(|| bad("no root hash"))?)
            .map_err(|_| bad("the root is not base64"))?;
        let root: [u8; 32] = root.try_into().map_err(|_| bad("the root is not 32 bytes"))?;
        if lines.any(|l| l.is_empty()) {
            return Err(bad("an empty extension line"));
        }
        Ok(Self { origin: origin.to_owned(), size, root })
    }

    /// Opens a signed checkpoint with `verifier`, whose name must be the origin.
    pub fn open(note: &str, verifier: &NoteVerifier) -> Result<Self, NoteError> {
        let cp = Self::parse(verifier.open(note)?)?;
        if cp.origin != verifier.name() {
            return Err(NoteError::Checkpoint(format!(
                "origin {} is not the key name {}",
                cp.origin,
                verifier.name()
            )));
        }
        Ok(cp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from C2SP signed-note: this vkey verifies this note.
    #[test]
    fn the_spec_example_verifies() {
        let vkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
        let v = NoteVerifier::parse(vkey).unwrap();
        assert_eq!(v.vkey(), vkey);
        let note = "This is an example message.\n\n\u{2014} example.com/foo \
                    Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
        assert_eq!(v.open(note).unwrap(), "This is an example message.\n");
        assert!(v.open(&note.replace("example message", "exemplary message")).is_err());
    }

    #[test]
    fn sign_open_and_refuse_tampering() {
        let s = NoteSigner::from_seed("rollguard.example/audit", &[7u8; 32]).unwrap();
        let cp = Checkpoint { origin: "rollguard.example/audit".into(), size: 12, root: [9u8; 32] };
        let note = s.sign(&cp.text()).unwrap();
        let v = NoteVerifier::parse(&s.verifier().vkey()).unwrap();
        assert_eq!(Checkpoint::open(&note, &v).unwrap(), cp);
        let tampered = note.replacen("\n12\n", "\n13\n", 1);
        assert!(matches!(Checkpoint::open(&tampered, &v), Err(NoteError::BadSignature(_))));
        let other = NoteSigner::from_seed("rollguard.example/audit", &[8u8; 32]).unwrap();
        assert!(matches!(Checkpoint::open(&note, &other.verifier()), Err(NoteError::Unverified(_))));
        // A witness's extra signature line is ignored, not fatal.
        let cosigned = format!("{note}\u{2014} witness.example/w1 AAAAAAAAAAAAAAAAAAAAAA==\n");
        assert_eq!(Checkpoint::open(&cosigned, &v).unwrap(), cp);
    }

    #[test]
    fn malformed_checkpoints_are_named() {
        for (text, what) in [
            ("o\n012\nAAAA\n", "leading zeros"),
            ("o\n12\nnot base64!\n", "base64"),
            ("o\n12\nAAAA\n", "32 bytes"),
            ("\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "origin"),
        ] {
            let e = Checkpoint::parse(text).unwrap_err().to_string();
            assert!(e.contains(what) || e.contains("origin"), "{what}: {e}");
        }
    }
}
