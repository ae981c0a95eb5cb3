//! Bearer secrets: session tokens, API tokens, login challenges, enrolment secrets and
//! recovery codes. Each is random, shown once, and stored only as its SHA-256.

use base64::Engine as _;
use rand::RngCore;
use rollguard_store::SecretHash;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// What a secret is for; the prefix makes a leaked one recognisable (and scannable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    Session,
    ApiToken,
    Challenge,
    Enrolment,
}

impl SecretKind {
    fn prefix(self) -> &'static str {
        match self {
            SecretKind::Session => "rgs_",
            SecretKind::ApiToken => "rgt_",
            SecretKind::Challenge => "rgc_",
            SecretKind::Enrolment => "rge_",
        }
    }
}

/// A freshly made secret. `Debug` never shows it.
pub struct BearerSecret(Zeroizing<String>);

impl std::fmt::Debug for BearerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerSecret(<redacted>)")
    }
}

impl BearerSecret {
    /// 256 random bits, URL-safe base64, with the kind's prefix.
    pub fn new(kind: SecretKind) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut());
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref());
        Self(Zeroizing::new(format!("{}{body}", kind.prefix())))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> SecretHash {
        hash_secret(&self.0)
    }
}

pub fn hash_secret(s: &str) -> SecretHash {
    SecretHash(Sha256::digest(s.as_bytes()).into())
}

/// The CSRF token that goes with a session: derived from the session token, so it needs no
/// storage, and unknowable to a page that cannot read the (HttpOnly) session cookie.
pub fn csrf_token_for(session_token: &str) -> String {
    let d =
        Sha256::new().chain_update(b"rollguard/csrf/v1\0").chain_update(session_token.as_bytes()).finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d)
}

/// Recovery-code alphabet: no `i`, `l`, `o` or `0`, so a code survives being written down
/// (a typed `i` or `l` is read as `1`).
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz123456789";

/// Sixteen characters from a 32-letter alphabet (80 bits), shown as `xxxx-xxxx-xxxx-xxxx`.
pub fn new_recovery_code() -> Zeroizing<String> {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let mut s = Zeroizing::new(String::with_capacity(19));
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            s.push('-');
        }
        s.push(RECOVERY_ALPHABET[(*b & 31) as usize] as char);
    }
    s
}

/// Hash of a recovery code as typed: case, spaces and dashes do not matter.
pub fn hash_recovery_code(code: &str) -> SecretHash {
    let norm: Zeroizing<String> = Zeroizing::new(
        code.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| match c.to_ascii_lowercase() {
                'i' | 'l' => '1',
                c => c,
            })
            .collect(),
    );
    hash_secret(&format!("recovery:{}", norm.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_prefixed_and_redacted() {
        let a = BearerSecret::new(SecretKind::Session);
        let b = BearerSecret::new(SecretKind::Session);
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("rgs_") && a.expose().len() == 4 + 43);
        assert_eq!(format!("{a:?}"), "BearerSecret(<redacted>)");
        assert_eq!(a.hash(), hash_secret(a.expose()));
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn recovery_codes_hash_the_same_however_typed() {
        let c = new_recovery_code();
        assert_eq!(c.len(), 19);
        let typed = c.to_uppercase().replace('-', " ");
        assert_eq!(hash_recovery_code(&c), hash_recovery_code(&typed));
        assert_ne!(hash_recovery_code(&c), hash_recovery_code(&new_recovery_code()));
    }

    #[test]
    fn csrf_tokens_differ_per_session() {
        assert_ne!(csrf_token_for("rgs_a"), csrf_token_for("rgs_b"));
        assert_eq!(csrf_token_for("rgs_a"), csrf_token_for("rgs_a"));
    }
}
