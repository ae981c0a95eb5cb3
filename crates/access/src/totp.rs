//! TOTP second factor (RFC 6238: HMAC-SHA-1, 6 digits, 30 s steps), accepting the current
//! step and one either side. Each step can be used once: the caller records the returned
//! step and refuses it and every earlier step afterwards.

use rand::RngCore;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};
use zeroize::Zeroizing;

pub const STEP_SECONDS: u64 = 30;
pub const DIGITS: usize = 6;
/// Steps either side of the current one that are still accepted (clock drift).
pub const SKEW_STEPS: u64 = 1;

/// A TOTP shared secret. `Debug` never shows it.
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    /// 160 random bits, as RFC 4226 recommends.
    pub fn generate() -> Self {
        let mut b = Zeroizing::new(vec![0u8; 20]);
        rand::rngs::OsRng.fill_bytes(&mut b);
        Self(b)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Base32, as authenticator apps take it.
    pub fn base32(&self) -> Zeroizing<String> {
        match Secret::Raw(self.0.to_vec()).to_encoded() {
            Secret::Encoded(s) => Zeroizing::new(s),
            Secret::Raw(_) => unreachable!("to_encoded returns the encoded form"),
        }
    }

    /// `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> Zeroizing<String> {
        let (i, a) = (uri_escape(issuer), uri_escape(account));
        Zeroizing::new(format!(
            "otpauth://totp/{i}:{a}?secret={}&issuer={i}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            self.base32().as_str()
        ))
    }

    fn totp(&self) -> TOTP {
        TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, STEP_SECONDS, self.0.to_vec())
    }

    /// The code for a time (seconds since the epoch).
    pub fn code_at(&self, unix_secs: u64) -> String {
        self.totp().generate(unix_secs)
    }

    /// The time step a code belongs to, if it is valid within the skew window at `now`.
    /// The caller must still refuse steps already used.
    pub fn matching_step(&self, code: &str, now: u64) -> Option<u64> {
        let code = code.trim();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let totp = self.totp();
        let current = now / STEP_SECONDS;
        // Every candidate is computed and compared, so timing does not show which matched.
        let mut found = None;
        for step in current.saturating_sub(SKEW_STEPS)..=current + SKEW_STEPS {
            if bool::from(totp.generate(step * STEP_SECONDS).as_bytes().ct_eq(code.as_bytes()))
                && found.is_none()
            {
                found = Some(step);
            }
        }
        found
    }
}

fn uri_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows (8-digit codes; the last six digits are ours).
    #[test]
    fn rfc6238_vectors() {
        let s = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        for (t, code8) in [
            (59u64, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
        ] {
            assert_eq!(s.code_at(t), code8[2..], "t={t}");
        }
    }

    #[test]
    fn codes_one_step_either_side_are_accepted_and_two_are_not() {
        let s = TotpSecret::generate();
        let now = 1_800_000_000;
        let step = now / STEP_SECONDS;
        assert_eq!(s.matching_step(&s.code_at(now), now), Some(step));
        assert_eq!(s.matching_step(&s.code_at(now - 30), now), Some(step - 1));
        assert_eq!(s.matching_step(&s.code_at(now + 30), now), Some(step + 1));
        let stale = s.code_at(now - 60);
        // A stale code could collide with a current one by chance (1 in a million).
        if ![now - 30, now, now + 30].iter().any(|t| s.code_at(*t) == stale) {
            assert_eq!(s.matching_step(&stale, now), None);
        }
        assert_eq!(s.matching_step("12345", now), None);
        assert_eq!(s.matching_step("abcdef", now), None);
    }

    #[test]
    fn otpauth_uri_carries_the_base32_secret() {
        let s = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        let uri = s.otpauth_uri("Rollguard", "officer ann");
        assert_eq!(
            uri.as_str(),
            "otpauth://totp/Rollguard:officer%20ann?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Rollguard&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(format!("{s:?}"), "TotpSecret(<redacted>)");
    }
}
