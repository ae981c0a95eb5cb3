//! Passwords: the policy (length, common-password list) and Argon2id hashing with the
//! parameters kept in the hash, so a hash made under weaker parameters is noticed and redone.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::collections::HashSet;
use std::sync::LazyLock;

pub const MIN_LENGTH: usize = 12;
/// Bounds the work an attacker can make Argon2 do with one request.
pub const MAX_LENGTH: usize = 256;

static COMMON: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("../data/common-passwords.txt").lines().collect());

/// Why a new password was refused. Never carries the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejected {
    #[error("the password is shorter than {MIN_LENGTH} characters")]
    TooShort,
    #[error("the password is longer than {MAX_LENGTH} characters")]
    TooLong,
    #[error("the password is on the list of common passwords")]
    Common,
    #[error("the password contains the user name")]
    ContainsName,
}

/// Checks a new password against the policy.
pub fn check_policy(password: &str, name: &str) -> Result<(), PasswordRejected> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Err(PasswordRejected::TooShort);
    }
    if chars > MAX_LENGTH {
        return Err(PasswordRejected::TooLong);
    }
    let lower = password.to_lowercase();
    if is_common(&lower) {
        return Err(PasswordRejected::Common);
    }
    let name = name.trim().to_lowercase();
    if name.chars().count() >= 3 && lower.contains(&name) {
        return Err(PasswordRejected::ContainsName);
    }
    Ok(())
}

/// On the list, or a listed word followed only by digits and punctuation
/// (`password1234!`), or one listed word repeated (`qwertyqwerty`).
fn is_common(lower: &str) -> bool {
    if COMMON.contains(lower) {
        return true;
    }
    let stem = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation() || c == ' ');
    if stem.chars().count() >= 4 && COMMON.contains(stem) {
        return true;
    }
    let n = lower.len();
    (2..=4).any(|k| {
        n.is_multiple_of(k) && {
            let part = &lower[..n / k];
            lower.is_char_boundary(n / k) && part.repeat(k) == lower && COMMON.contains(part)
        }
    })
}

/// Argon2id with the given cost. The default is OWASP's recommended minimum
/// (19 MiB, 2 passes, 1 lane).
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new(19 * 1024, 2, 1)
    }
}

pub struct Verified {
    /// The stored hash used weaker parameters (or another algorithm) than the current
    /// ones; store a fresh hash of the password just verified.
    pub needs_rehash: bool,
}

impl PasswordHasher {
    pub fn new(memory_kib: u32, passes: u32, lanes: u32) -> Self {
        Self { params: Params::new(memory_kib, passes, lanes, None).expect("valid Argon2 parameters") }
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// A PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
    pub fn hash(&self, password: &str) -> String {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .expect("Argon2 hashing with valid parameters")
            .to_string()
    }

    /// Verifies with the parameters recorded in the hash itself.
    pub fn verify(&self, password: &str, stored: &str) -> Option<Verified> {
        let parsed = PasswordHash::new(stored).ok()?;
        if password.len() > MAX_LENGTH * 4 {
            return None;
        }
        Argon2::default().verify_password(password.as_bytes(), &parsed).ok()?;
        let weaker = match Params::try_from(&parsed) {
            Ok(p) => {
                p.m_cost() < self.params.m_cost()
                    || p.t_cost() < self.params.t_cost()
                    || p.p_cost() < self.params.p_cost()
            }
            Err(_) => true,
        };
        let needs_rehash = parsed.algorithm.as_str() != "argon2id" || weaker;
        Some(Verified { needs_rehash })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_common_and_name_bearing_passwords_are_refused() {
        assert_eq!(check_policy("short-one", "alice"), Err(PasswordRejected::TooShort));
        assert_eq!(check_policy("1qaz2wsx3edc", "alice"), Err(PasswordRejected::Common));
        assert_eq!(check_policy("Password123456!", "alice"), Err(PasswordRejected::Common));
        assert_eq!(check_policy("dragondragon", "alice"), Err(PasswordRejected::Common));
        assert_eq!(check_policy("mossy-alicewood-lantern", "alice"), Err(PasswordRejected::ContainsName));
        assert_eq!(check_policy(&"x".repeat(300), "alice"), Err(PasswordRejected::TooLong));
        assert_eq!(check_policy("mossy-harbour-lantern-42", "alice"), Ok(()));
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        // Eleven characters, but more than twelve bytes.
        assert_eq!(check_policy("ééééééééééé", "bob"), Err(PasswordRejected::TooShort));
    }

    #[test]
    fn a_hash_verifies_only_its_own_password() {
        let h = PasswordHasher::new(1024, 1, 1);
        let stored = h.hash("mossy-harbour-lantern-42");
        assert!(stored.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(h.verify("mossy-harbour-lantern-42", &stored).is_some());
        assert!(h.verify("mossy-harbour-lantern-43", &stored).is_none());
        assert!(h.verify("mossy-harbour-lantern-42", "not a hash").is_none());
    }

    #[test]
    fn a_hash_under_weaker_parameters_asks_for_a_rehash() {
        let old = PasswordHasher::new(1024, 1, 1).hash("mossy-harbour-lantern-42");
        let now = PasswordHasher::new(2048, 2, 1);
        assert!(now.verify("mossy-harbour-lantern-42", &old).unwrap().needs_rehash);
        let fresh = now.hash("mossy-harbour-lantern-42");
        assert!(!now.verify("mossy-harbour-lantern-42", &fresh).unwrap().needs_rehash);
    }
}
