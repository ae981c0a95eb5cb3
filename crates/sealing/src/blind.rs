use crate::secret::KeyBytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// What a blind index is of. The kind is part of the MAC input, so equal values of
/// different kinds (a surname that is also a postcode) never share an index value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    Surname,
    Postcode,
    DateOfBirth,
    ElectorNumber,
    Nino,
    Identity,
    /// A polling district (district coverage; never stored with an entry).
    District,
}

impl IndexKind {
    fn label(self) -> &'static [u8] {
        match self {
            IndexKind::Surname => b"surname",
            IndexKind::Postcode => b"postcode",
            IndexKind::DateOfBirth => b"dob",
            IndexKind::ElectorNumber => b"number",
            IndexKind::Nino => b"nino",
            IndexKind::Identity => b"identity",
            IndexKind::District => b"district",
        }
    }
}

/// A blind index value: the first 64 bits of HMAC-SHA-256(index key, kind ‖ value).
/// 64 bits keep the index small and fast while collisions stay negligible at national
/// scale; search results are opened and re-checked anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlindIndex(pub i64);

/// A key for blind indexes, separate from every sealing key.
#[derive(Clone)]
pub struct IndexKey {
    mac: Hmac<Sha256>,
}

impl fmt::Debug for IndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IndexKey(<redacted>)")
    }
}

impl IndexKey {
    pub fn new(key: &KeyBytes) -> Self {
        Self { mac: Hmac::<Sha256>::new_from_slice(key.expose()).expect("HMAC accepts any key length") }
    }

    pub fn blind(&self, kind: IndexKind, normalised: &str) -> BlindIndex {
        let mut mac = self.mac.clone();
        mac.update(kind.label());
        mac.update(&[0]);
        mac.update(normalised.as_bytes());
        let out = mac.finalize().into_bytes();
        BlindIndex(i64::from_be_bytes(out[..8].try_into().expect("8 bytes")))
    }

    /// A 128-bit key derived for `label` (for example the permutation of one table's
    /// references). Labels are MACed with a prefix no index kind has, so no derived key is
    /// ever an index value.
    pub fn subkey(&self, label: &str) -> [u8; 16] {
        let mut mac = self.mac.clone();
        mac.update(b"subkey");
        mac.update(&[0]);
        mac.update(label.as_bytes());
        let out = mac.finalize().into_bytes();
        out[..16].try_into().expect("16 bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_match_and_kinds_are_separated() {
        let key = IndexKey::new(&KeyBytes::random());
        assert_eq!(key.blind(IndexKind::Surname, "SMITH"), key.blind(IndexKind::Surname, "SMITH"));
        assert_ne!(key.blind(IndexKind::Surname, "SMITH"), key.blind(IndexKind::Surname, "SMYTH"));
        assert_ne!(key.blind(IndexKind::Surname, "SMITH"), key.blind(IndexKind::Postcode, "SMITH"));
    }

    #[test]
    fn another_key_gives_unrelated_values() {
        let a = IndexKey::new(&KeyBytes::random());
        let b = IndexKey::new(&KeyBytes::random());
        assert_ne!(a.blind(IndexKind::Nino, "AB123456C"), b.blind(IndexKind::Nino, "AB123456C"));
    }
}
