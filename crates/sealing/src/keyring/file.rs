//! The default keyring: a JSON file beside, never inside, the database. Rollguard refuses
//! a keyring file that group or others can read. A passphrase (Argon2id) can seal the keys
//! inside the file as well.

use super::{KekId, Keyring, KeyringError, WrapContext, WrappedKey};
use crate::secret::KeyBytes;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

const FORMAT: &str = "rollguard-keyring/1";

/// A keyring passphrase, wiped on drop and never printed.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    pub fn new(s: String) -> Self {
        Self(Zeroizing::new(s))
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq)]
struct KdfParams {
    algorithm: String,
    salt: String,
    m_cost: u32,
    t_cost: u32,
    p_cost: u32,
}

#[derive(Serialize, Deserialize)]
struct FileFormat {
    format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kdf: Option<KdfParams>,
    /// Present when there is no passphrase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keks: Option<Vec<StoredKek>>,
    /// Present with a passphrase: nonce ‖ AES-256-GCM(JSON of the KEKs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed_keks: Option<String>,
}

#[derive(Serialize, Deserialize, Clone)]
struct StoredKek {
    id: String,
    key: String,
}

/// Argon2id cost: 64 MiB, 3 passes, one lane (above the RFC 9106 second recommendation).
const M_COST: u32 = 64 * 1024;
const T_COST: u32 = 3;
const P_COST: u32 = 1;

pub struct FileKeyring {
    path: PathBuf,
    passphrase: Option<Passphrase>,
    kdf: Option<KdfParams>,
    /// Oldest first; the last is current.
    keks: Vec<(KekId, KeyBytes)>,
}

impl fmt::Debug for FileKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileKeyring {{ path: {}, keks: {} }}", self.path.display(), self.keks.len())
    }
}

fn new_kek_id() -> KekId {
    let mut b = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut b);
    KekId(format!("kek-{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()))
}

impl FileKeyring {
    /// Creates a new keyring file with one KEK, readable only by its owner.
    pub fn create(path: &Path, passphrase: Option<Passphrase>) -> Result<Self, KeyringError> {
        if path.exists() {
            return Err(KeyringError::AlreadyExists { path: path.to_owned() });
        }
        let kdf = passphrase.as_ref().map(|_| {
            let mut salt = [0u8; 16];
            rand::rngs::OsRng.fill_bytes(&mut salt);
            KdfParams {
                algorithm: "argon2id".into(),
                salt: B64.encode(salt),
                m_cost: M_COST,
                t_cost: T_COST,
                p_cost: P_COST,
            }
        });
        let ring =
            Self { path: path.to_owned(), passphrase, kdf, keks: vec![(new_kek_id(), KeyBytes::random())] };
        ring.save()?;
        Ok(ring)
    }

    /// Opens a keyring file, refusing one that group or others can read or write.
    pub fn open(path: &Path, passphrase: Option<Passphrase>) -> Result<Self, KeyringError> {
        let io = |source| KeyringError::Io { path: path.to_owned(), source };
        let meta = fs::metadata(path).map_err(io)?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyringError::LoosePermissions { path: path.to_owned(), mode });
        }
        let text = fs::read(path).map_err(io)?;
        let format_err =
            |reason: &str| KeyringError::Format { path: path.to_owned(), reason: reason.to_owned() };
        let file: FileFormat = serde_json::from_slice(&text).map_err(|e| format_err(&e.to_string()))?;
        if file.format != FORMAT {
            return Err(format_err(&format!("unknown format {:?}, expected {FORMAT}", file.format)));
        }
        let stored = match (&file.kdf, file.keks, file.sealed_keks) {
            (None, Some(keks), None) => keks,
            (Some(kdf), None, Some(sealed)) => {
                let pass = passphrase
                    .as_ref()
                    .ok_or_else(|| KeyringError::PassphraseRequired { path: path.to_owned() })?;
                let key = derive(pass, kdf).map_err(|r| format_err(&r))?;
                let blob = B64.decode(sealed).map_err(|_| format_err("sealed_keks is not base64"))?;
                if blob.len() < 12 {
                    return Err(format_err("sealed_keks is truncated"));
                }
                let (nonce, ct) = blob.split_at(12);
                let ad = kdf_ad(kdf);
                let plain = Zeroizing::new(
                    Aes256Gcm::new(key.expose().into())
                        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &ad })
                        .map_err(|_| KeyringError::WrongPassphrase { path: path.to_owned() })?,
                );
                serde_json::from_slice(&plain).map_err(|_| format_err("sealed keys are malformed"))?
            }
            _ => return Err(format_err("expected either keks, or kdf with sealed_keks")),
        };
        if stored.is_empty() {
            return Err(format_err("no key-encryption keys"));
        }
        let mut keks = Vec::with_capacity(stored.len());
        for k in stored {
            let raw = Zeroizing::new(B64.decode(&k.key).map_err(|_| format_err("a key is not base64"))?);
            let key = KeyBytes::from_slice(&raw).ok_or_else(|| format_err("a key is not 32 bytes"))?;
            keks.push((KekId(k.id), key));
        }
        Ok(Self { path: path.to_owned(), passphrase, kdf: file.kdf, keks })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the file atomically: a private temporary file, fsync, rename, fsync the directory.
    fn save(&self) -> Result<(), KeyringError> {
        let io = |source| KeyringError::Io { path: self.path.clone(), source };
        let stored: Vec<StoredKek> = self
            .keks
            .iter()
            .map(|(id, k)| StoredKek { id: id.0.clone(), key: B64.encode(k.expose()) })
            .collect();
        let file = match (&self.kdf, &self.passphrase) {
            (Some(kdf), Some(pass)) => {
                let key = derive(pass, kdf)
                    .map_err(|r| KeyringError::Format { path: self.path.clone(), reason: r })?;
                let plain = Zeroizing::new(serde_json::to_vec(&stored).expect("serialisable"));
                let mut nonce = [0u8; 12];
                rand::rngs::OsRng.fill_bytes(&mut nonce);
                let ad = kdf_ad(kdf);
                let ct = Aes256Gcm::new(key.expose().into())
                    .encrypt(Nonce::from_slice(&nonce), Payload { msg: &plain, aad: &ad })
                    .expect("encryption cannot fail");
                let mut blob = nonce.to_vec();
                blob.extend_from_slice(&ct);
                FileFormat {
                    format: FORMAT.into(),
                    kdf: Some(kdf.clone()),
                    keks: None,
                    sealed_keks: Some(B64.encode(blob)),
                }
            }
            _ => FileFormat { format: FORMAT.into(), kdf: None, keks: Some(stored), sealed_keks: None },
        };
        let text = Zeroizing::new(serde_json::to_vec_pretty(&file).expect("serialisable"));
        let dir = self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = self.path.file_name().and_then(|n| n.to_str()).unwrap_or("keyring");
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(io)?;
        f.write_all(&text).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        fs::rename(&tmp, &self.path).map_err(io)?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn kek(&self, id: &KekId) -> Result<&KeyBytes, KeyringError> {
        self.keks
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, key)| key)
            .ok_or_else(|| KeyringError::UnknownKek(id.clone()))
    }
}

fn kdf_ad(kdf: &KdfParams) -> Vec<u8> {
    format!("{FORMAT}|{}|{}|{}|{}|{}", kdf.algorithm, kdf.salt, kdf.m_cost, kdf.t_cost, kdf.p_cost)
        .into_bytes()
}

fn derive(pass: &Passphrase, kdf: &KdfParams) -> Result<KeyBytes, String> {
    if kdf.algorithm != "argon2id" {
        return Err(format!("unknown key derivation {:?}", kdf.algorithm));
    }
    let salt = B64.decode(&kdf.salt).map_err(|_| "kdf salt is not base64".to_owned())?;
    let params =
        argon2::Params::new(kdf.m_cost, kdf.t_cost, kdf.p_cost, Some(32)).map_err(|e| e.to_string())?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    argon.hash_password_into(pass.0.as_bytes(), &salt, out.as_mut()).map_err(|e| e.to_string())?;
    Ok(KeyBytes::from_slice(out.as_ref()).expect("32 bytes"))
}

pub(crate) fn aead_wrap(kek: &KeyBytes, key: &KeyBytes, ad: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = Aes256Gcm::new(kek.expose().into())
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: key.expose(), aad: ad })
        .expect("encryption cannot fail");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    out
}

pub(crate) fn aead_unwrap(kek: &KeyBytes, wrapped: &[u8], ad: &[u8]) -> Option<KeyBytes> {
    if wrapped.len() < 12 {
        return None;
    }
    let (nonce, ct) = wrapped.split_at(12);
    let plain = Zeroizing::new(
        Aes256Gcm::new(kek.expose().into())
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: ad })
            .ok()?,
    );
    KeyBytes::from_slice(&plain)
}

impl Keyring for FileKeyring {
    fn describe(&self) -> String {
        let protection = if self.kdf.is_some() { "passphrase-protected " } else { "" };
        format!("{protection}keyring file {}", self.path.display())
    }

    fn current(&self) -> KekId {
        self.keks.last().expect("a keyring always holds a KEK").0.clone()
    }

    fn kek_ids(&self) -> Vec<KekId> {
        self.keks.iter().map(|(id, _)| id.clone()).collect()
    }

    fn wrap(&self, key: &KeyBytes, ctx: &WrapContext<'_>) -> Result<WrappedKey, KeyringError> {
        let id = self.current();
        let bytes = aead_wrap(self.kek(&id)?, key, &ctx.associated_data(&id));
        Ok(WrappedKey { kek: id, bytes })
    }

    fn unwrap(&self, wrapped: &WrappedKey, ctx: &WrapContext<'_>) -> Result<KeyBytes, KeyringError> {
        aead_unwrap(self.kek(&wrapped.kek)?, &wrapped.bytes, &ctx.associated_data(&wrapped.kek)).ok_or_else(
            || KeyringError::Unwrap {
                authority: ctx.authority.into(),
                purpose: ctx.purpose.into(),
                generation: ctx.generation,
            },
        )
    }

    fn add_kek(&mut self) -> Result<KekId, KeyringError> {
        let id = new_kek_id();
        self.keks.push((id.clone(), KeyBytes::random()));
        if let Err(e) = self.save() {
            self.keks.pop();
            return Err(e);
        }
        Ok(id)
    }

    fn remove_kek(&mut self, id: &KekId) -> Result<(), KeyringError> {
        if *id == self.current() {
            return Err(KeyringError::RemoveCurrent(id.clone()));
        }
        let before = self.keks.len();
        self.keks.retain(|(k, _)| k != id);
        if self.keks.len() == before {
            return Err(KeyringError::UnknownKek(id.clone()));
        }
        self.save()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> WrapContext<'static> {
        WrapContext { authority: "E07000001", purpose: "seal", generation: 1 }
    }

    #[test]
    fn created_file_is_owner_only_and_round_trips_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.keyring");
        let ring = FileKeyring::create(&path, None).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let dek = KeyBytes::random();
        let wrapped = ring.wrap(&dek, &ctx()).unwrap();
        let reopened = FileKeyring::open(&path, None).unwrap();
        assert_eq!(reopened.unwrap(&wrapped, &ctx()).unwrap(), dek);
    }

    #[test]
    fn a_keyring_readable_by_group_or_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.keyring");
        FileKeyring::create(&path, None).unwrap();
        for mode in [0o640, 0o604, 0o660, 0o644] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = FileKeyring::open(&path, None).unwrap_err();
            assert!(matches!(err, KeyringError::LoosePermissions { .. }), "{mode:o}");
            assert!(err.to_string().contains("chmod 600"));
        }
    }

    #[test]
    fn wrapped_key_with_other_context_or_tampering_fails() {
        let dir = tempfile::tempdir().unwrap();
        let ring = FileKeyring::create(&dir.path().join("k"), None).unwrap();
        let wrapped = ring.wrap(&KeyBytes::random(), &ctx()).unwrap();
        let other = WrapContext { authority: "E07000002", ..ctx() };
        assert!(matches!(ring.unwrap(&wrapped, &other), Err(KeyringError::Unwrap { .. })));
        let idx = WrapContext { purpose: "index", ..ctx() };
        assert!(ring.unwrap(&wrapped, &idx).is_err());
        let mut bad = wrapped.clone();
        bad.bytes[20] ^= 1;
        assert!(ring.unwrap(&bad, &ctx()).is_err());
    }

    #[test]
    fn passphrase_protects_the_keys_and_a_wrong_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let pass = Passphrase::new("correct horse battery staple".into());
        let ring = FileKeyring::create(&path, Some(pass.clone())).unwrap();
        let raw = fs::read_to_string(&path).unwrap();
        let key_b64 = B64.encode(ring.kek(&ring.current()).unwrap().expose());
        assert!(!raw.contains(&key_b64), "KEK visible in a passphrase-protected file");
        assert!(matches!(FileKeyring::open(&path, None), Err(KeyringError::PassphraseRequired { .. })));
        let wrong = Passphrase::new("wrong".into());
        assert!(matches!(FileKeyring::open(&path, Some(wrong)), Err(KeyringError::WrongPassphrase { .. })));
        let opened = FileKeyring::open(&path, Some(pass)).unwrap();
        assert_eq!(opened.current(), ring.current());
    }

    #[test]
    fn rotation_keeps_old_keys_unwrapping_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let mut ring = FileKeyring::create(&path, None).unwrap();
        let old = ring.current();
        let dek = KeyBytes::random();
        let wrapped_old = ring.wrap(&dek, &ctx()).unwrap();
        let new = ring.add_kek().unwrap();
        assert_ne!(old, new);
        let wrapped_new = ring.wrap(&dek, &ctx()).unwrap();
        assert_eq!(wrapped_new.kek, new);
        assert_eq!(ring.unwrap(&wrapped_old, &ctx()).unwrap(), dek);
        assert!(matches!(ring.remove_kek(&new), Err(KeyringError::RemoveCurrent(_))));
        ring.remove_kek(&old).unwrap();
        let reopened = FileKeyring::open(&path, None).unwrap();
        assert!(matches!(reopened.unwrap(&wrapped_old, &ctx()), Err(KeyringError::UnknownKek(_))));
        assert_eq!(reopened.unwrap(&wrapped_new, &ctx()).unwrap(), dek);
    }

    #[test]
    fn a_malformed_keyring_file_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        for (text, want) in [
            ("not json", "is not a Rollguard keyring"),
            (r#"{"format":"other/1","keks":[]}"#, "unknown format"),
            (r#"{"format":"rollguard-keyring/1","keks":[]}"#, "no key-encryption keys"),
            (r#"{"format":"rollguard-keyring/1","keks":[{"id":"k","key":"c2hvcnQ="}]}"#, "not 32 bytes"),
        ] {
            let _ = fs::remove_file(&path);
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            let err = FileKeyring::open(&path, None).unwrap_err().to_string();
            assert!(err.contains(want) && err.contains(&path.display().to_string()), "{text}: {err}");
        }
    }

    #[test]
    fn create_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        FileKeyring::create(&path, None).unwrap();
        assert!(matches!(FileKeyring::create(&path, None), Err(KeyringError::AlreadyExists { .. })));
    }

    #[test]
    fn debug_shows_no_keys() {
        let dir = tempfile::tempdir().unwrap();
        let ring = FileKeyring::create(&dir.path().join("k"), None).unwrap();
        assert!(!format!("{ring:?}").contains(&B64.encode(ring.kek(&ring.current()).unwrap().expose())));
        assert_eq!(format!("{:?}", Passphrase::new("p".into())), "Passphrase(<redacted>)");
    }
}
