//! First login is enrolment: an administrator's `user add` prints a one-time enrolment
//! secret; [`Accounts::enrol_start`] exchanges it for a new TOTP secret, and the finish
//! sets the password, proves the TOTP secret with a code, and returns recovery codes and a
//! session. The finish hashes the new password, so it comes in three steps: read the
//! challenge ([`Accounts::enrolment_challenge`]), prepare without a store
//! ([`Accounts::prepare_enrolment`]), then write ([`Accounts::finish_enrolment`]).

use crate::accounts::{Accounts, EnrolStart, Enrolled, RECOVERY_CODES};
use crate::error::{AccessError, Result};
use crate::password::check_policy;
use crate::secret::{hash_recovery_code, hash_secret, new_recovery_code, BearerSecret, SecretKind};
use crate::totp::TotpSecret;
use rollguard_store::{
    AccessRead, AccessWrite, ChallengePurpose, ChallengeRecord, Enrolment, PrincipalRecord, SecretHash,
};
use zeroize::Zeroizing;

/// An enrolment checked and hashed, ready to be written.
pub struct EnrolReady {
    principal_id: u64,
    password_hash: String,
    totp_sealed: Vec<u8>,
    totp_step: u64,
    recovery_codes: Vec<Zeroizing<String>>,
    recovery_hashes: Vec<SecretHash>,
}

impl std::fmt::Debug for EnrolReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnrolReady(<redacted>)")
    }
}

impl Accounts {
    /// Exchanges a valid enrolment secret for a new TOTP secret to save in an authenticator.
    /// The enrolment secret stays valid until the enrolment is finished.
    pub fn enrol_start<S: AccessWrite + ?Sized>(
        &self,
        store: &mut S,
        name: &str,
        secret: &str,
        now: i64,
    ) -> Result<EnrolStart> {
        let p = store.principal_by_name(name.trim())?.ok_or(AccessError::InvalidCredentials)?;
        let valid = matches!(p.enrolment, Some((h, exp)) if h == hash_secret(secret.trim()) && now <= exp);
        if !valid {
            return Err(AccessError::InvalidCredentials);
        }
        if p.suspended {
            return Err(AccessError::Suspended);
        }
        let totp_secret = TotpSecret::generate();
        let challenge = BearerSecret::new(SecretKind::Challenge);
        let expires_at = now + self.config.challenge_secs * 2;
        store.insert_challenge(
            &challenge.hash(),
            &ChallengeRecord {
                principal_id: p.id,
                purpose: ChallengePurpose::Enrol,
                pending_totp: Some(self.seal_totp(p.id, "totp-pending", &totp_secret)),
                ceremony: None,
                expires_at,
            },
        )?;
        let otpauth_uri = totp_secret.otpauth_uri(&self.config.issuer, &p.name);
        Ok(EnrolStart { challenge, totp_secret, otpauth_uri, expires_at })
    }

    /// The enrolment challenge and its principal, without using the challenge up.
    pub fn enrolment_challenge<S: AccessRead + ?Sized>(
        &self,
        store: &S,
        challenge: &str,
    ) -> Result<(ChallengeRecord, PrincipalRecord)> {
        let c = store.challenge(&hash_secret(challenge.trim()))?.ok_or(AccessError::ChallengeInvalid)?;
        let p = store.principal(c.principal_id)?.ok_or(AccessError::ChallengeInvalid)?;
        Ok((c, p))
    }

    /// Checks the new password against the policy and the code against the pending TOTP
    /// secret, and hashes the password. Takes no store. A refused password leaves the
    /// challenge as it was, so the person only has to choose a better one.
    pub fn prepare_enrolment(
        &self,
        c: &ChallengeRecord,
        p: &PrincipalRecord,
        password: &str,
        code: &str,
        now: i64,
    ) -> Result<EnrolReady> {
        check_policy(password, &p.name)?;
        if c.purpose != ChallengePurpose::Enrol || now > c.expires_at || p.enrolment.is_none() {
            return Err(AccessError::ChallengeInvalid);
        }
        let sealed = c.pending_totp.as_deref().ok_or(AccessError::ChallengeInvalid)?;
        let secret = self.open_totp(p.id, "totp-pending", sealed)?;
        // No code is valid at a time before 1970.
        let totp_step = u64::try_from(now)
            .ok()
            .and_then(|now| secret.matching_step(code, now))
            .ok_or(AccessError::InvalidCredentials)?;
        let recovery_codes: Vec<Zeroizing<String>> =
            (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let recovery_hashes = recovery_codes.iter().map(|c| hash_recovery_code(c)).collect();
        Ok(EnrolReady {
            principal_id: p.id,
            password_hash: self.config.hasher.hash(password),
            totp_sealed: self.seal_totp(p.id, "totp", &secret),
            totp_step,
            recovery_codes,
            recovery_hashes,
        })
    }

    /// Writes a prepared enrolment: the challenge is used up (it must still be there, for
    /// the same principal), the password, TOTP secret and recovery codes are stored, and a
    /// session opens.
    pub fn finish_enrolment<S: AccessWrite + ?Sized>(
        &self,
        store: &mut S,
        challenge: &str,
        ready: EnrolReady,
        now: i64,
    ) -> Result<Enrolled> {
        let c = store.take_challenge(&hash_secret(challenge.trim()))?.ok_or(AccessError::ChallengeInvalid)?;
        if c.principal_id != ready.principal_id || c.purpose != ChallengePurpose::Enrol {
            return Err(AccessError::ChallengeInvalid);
        }
        let p = store.principal(ready.principal_id)?.ok_or(AccessError::ChallengeInvalid)?;
        if p.enrolment.is_none() {
            return Err(AccessError::ChallengeInvalid);
        }
        if p.suspended {
            return Err(AccessError::Suspended);
        }
        store.complete_enrolment(
            p.id,
            &Enrolment {
                password_hash: &ready.password_hash,
                totp_sealed: &ready.totp_sealed,
                totp_step: ready.totp_step,
                recovery_codes: &ready.recovery_hashes,
            },
        )?;
        let session = self.new_session(store, &p, now)?;
        Ok(Enrolled { session, recovery_codes: ready.recovery_codes })
    }
}
