use crate::secret::KeyBytes;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use rand::RngCore;
use std::fmt;
use zeroize::Zeroizing;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Bytes a sealed field adds to its plaintext: a random nonce and the GCM tag.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;
const AD_LABEL: &[u8] = b"rollguard/field/v1";

/// Appends `part` to associated data after its length in one byte. Every part is short:
/// authority codes are at most 12 bytes, and field names, key purposes and KEK ids are names
/// Rollguard gives. A longer part would make the prefix ambiguous, so it is refused outright.
pub(crate) fn push_part(out: &mut Vec<u8>, part: &[u8]) {
    let len = u8::try_from(part.len()).expect("an associated-data part is under 256 bytes");
    out.push(len);
    out.extend_from_slice(part);
}

/// Where a sealed value belongs. It is authenticated as associated data, so a ciphertext
/// copied to another authority, record, field or version fails to open.
#[derive(Debug, Clone, Copy)]
pub struct FieldContext<'a> {
    pub authority: &'a str,
    pub record: u64,
    pub field: &'a str,
    pub version: u32,
}

impl FieldContext<'_> {
    fn associated_data(&self, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(AD_LABEL);
        // Length prefixes keep (authority, field) pairs from running into each other.
        push_part(out, self.authority.as_bytes());
        out.extend_from_slice(&self.record.to_be_bytes());
        push_part(out, self.field.as_bytes());
        out.extend_from_slice(&self.version.to_be_bytes());
    }

    /// Runs `f` with the associated data, built in a reused per-thread buffer: sealing runs
    /// several times per elector on import, and a fresh allocation each time showed.
    fn with_associated_data<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        thread_local! {
            static AD: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        // `f` is one AEAD call and never seals or opens, so the buffer is never borrowed twice.
        AD.with_borrow_mut(|ad| {
            self.associated_data(ad);
            f(ad)
        })
    }
}

/// A sealed field: nonce ‖ ciphertext ‖ tag.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub Vec<u8>);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed(<{} bytes>)", self.0.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("sealed {field} is too short to be a ciphertext")]
    Truncated { field: String },
    /// Tampered, moved to another record or field, or sealed under another key.
    #[error("sealed {field} failed authentication: tampered, moved, or sealed under another key")]
    Authentication { field: String },
}

/// A data key for sealing one authority's fields.
#[derive(Clone)]
pub struct SealKey {
    cipher: Aes256Gcm,
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(<redacted>)")
    }
}

impl SealKey {
    pub fn new(key: &KeyBytes) -> Self {
        Self { cipher: Aes256Gcm::new(key.expose().into()) }
    }

    pub fn seal(&self, ctx: &FieldContext<'_>, plaintext: &[u8]) -> Sealed {
        let mut out = Vec::with_capacity(plaintext.len() + SEAL_OVERHEAD);
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = ctx.with_associated_data(|ad| {
            self.cipher
                .encrypt_in_place_detached(Nonce::from_slice(&nonce), ad, &mut out[NONCE_LEN..])
                .expect("AES-GCM encryption of a field under 64 GiB cannot fail")
        });
        out.extend_from_slice(&tag);
        Sealed(out)
    }

    pub fn open(&self, ctx: &FieldContext<'_>, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        if sealed.len() < SEAL_OVERHEAD {
            return Err(OpenError::Truncated { field: ctx.field.to_owned() });
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        ctx.with_associated_data(|ad| {
            self.cipher.decrypt_in_place_detached(
                Nonce::from_slice(nonce),
                ad,
                &mut buf,
                Tag::from_slice(tag),
            )
        })
        .map_err(|_| OpenError::Authentication { field: ctx.field.to_owned() })?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(record: u64, field: &'a str, version: u32) -> FieldContext<'a> {
        FieldContext { authority: "E07000001", record, field, version }
    }

    #[test]
    fn seal_then_open_round_trips_and_hides_plaintext() {
        let key = SealKey::new(&KeyBytes::random());
        let sealed = key.seal(&ctx(7, "name", 1), b"Ada Pemberton");
        assert!(!sealed.0.windows(5).any(|w| w == b"Pembe"));
        assert_eq!(sealed.0.len(), 13 + SEAL_OVERHEAD);
        assert_eq!(&key.open(&ctx(7, "name", 1), &sealed.0).unwrap()[..], b"Ada Pemberton");
    }

    #[test]
    fn same_plaintext_seals_differently_each_time() {
        let key = SealKey::new(&KeyBytes::random());
        assert_ne!(key.seal(&ctx(7, "name", 1), b"x"), key.seal(&ctx(7, "name", 1), b"x"));
    }

    #[test]
    fn every_tampered_byte_is_refused() {
        let key = SealKey::new(&KeyBytes::random());
        let sealed = key.seal(&ctx(7, "name", 1), b"Ada Pemberton").0;
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(
                matches!(key.open(&ctx(7, "name", 1), &bad), Err(OpenError::Authentication { .. })),
                "byte {i}"
            );
        }
        assert!(matches!(key.open(&ctx(7, "name", 1), &sealed[..10]), Err(OpenError::Truncated { .. })));
    }

    #[test]
    fn ciphertext_moved_to_another_record_field_version_or_authority_is_refused() {
        let key = SealKey::new(&KeyBytes::random());
        let sealed = key.seal(&ctx(7, "name", 1), b"Ada Pemberton").0;
        assert!(key.open(&ctx(8, "name", 1), &sealed).is_err(), "other record");
        assert!(key.open(&ctx(7, "address", 1), &sealed).is_err(), "other field");
        assert!(key.open(&ctx(7, "name", 2), &sealed).is_err(), "other version");
        let other = FieldContext { authority: "E07000002", ..ctx(7, "name", 1) };
        assert!(key.open(&other, &sealed).is_err(), "other authority");
    }

    #[test]
    fn a_wrong_key_is_refused() {
        let sealed = SealKey::new(&KeyBytes::random()).seal(&ctx(7, "name", 1), b"Ada").0;
        let other = SealKey::new(&KeyBytes::random());
        assert!(matches!(other.open(&ctx(7, "name", 1), &sealed), Err(OpenError::Authentication { .. })));
    }

    #[test]
    fn debug_is_redacted() {
        let key = KeyBytes::random();
        let sealed = SealKey::new(&key).seal(&ctx(1, "f", 1), b"secret");
        assert_eq!(format!("{key:?}"), "KeyBytes(<redacted>)");
        assert_eq!(format!("{:?}", SealKey::new(&key)), "SealKey(<redacted>)");
        assert_eq!(format!("{sealed:?}"), "Sealed(<34 bytes>)");
    }
}
