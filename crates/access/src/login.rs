//! Logins and per-request authentication.

use crate::accounts::{grants_of, Accounts, AuthMethod, LoginStep, NewSession, Principal};
use crate::error::{AccessError, Result};
use crate::roles::{Access, Scope};
use crate::secret::{csrf_token_for, hash_recovery_code, hash_secret, BearerSecret, SecretKind};
use rollguard_store::{
    AccessRead, AccessWrite, ChallengePurpose, ChallengeRecord, PrincipalKind, PrincipalRecord, SecretHash,
    SessionRecord,
};

/// Sessions are not re-stamped more often than this, so a busy session costs no write per
/// request; idle expiry is exact to within this.
pub const TOUCH_EVERY_SECS: i64 = 60;

/// A correct password, checked without a store: what the challenge step needs.
#[derive(Debug)]
pub struct PasswordVerified {
    pub principal_id: u64,
    pub name: String,
    /// A stronger hash of the same password, when the stored one's parameters are old.
    pub rehash: Option<String>,
}

/// The outcome of a login step, with the principal it concerned when that is known (the
/// owner of a challenge), so a refusal can be audited against them.
#[derive(Debug)]
pub struct Attempt<T> {
    pub principal: Option<String>,
    pub result: Result<T>,
}

/// A session authenticated, and whether its last-seen time is due to be stored.
#[derive(Debug)]
pub struct Authenticated {
    pub principal: Principal,
    pub touch: Option<SecretHash>,
}

impl Accounts {
    /// The password step's check, on a principal record read beforehand (or none, for an
    /// unknown name). Slow by design; takes no store, so it never holds a write lock.
    /// Unknown names, service accounts and wrong passwords cost the same and fail alike.
    pub fn verify_password(&self, p: Option<&PrincipalRecord>, password: &str) -> Result<PasswordVerified> {
        let Some(p) = p else {
            let _ = self.config.hasher.verify(password, &self.decoy_hash);
            return Err(AccessError::InvalidCredentials);
        };
        let Some(stored) = p.password_hash.as_deref().filter(|_| p.kind == PrincipalKind::Human) else {
            let _ = self.config.hasher.verify(password, &self.decoy_hash);
            return Err(AccessError::InvalidCredentials);
        };
        let verified = self.config.hasher.verify(password, stored).ok_or(AccessError::InvalidCredentials)?;
        if p.suspended {
            return Err(AccessError::Suspended);
        }
        if p.totp_sealed.is_none() {
            return Err(AccessError::NotEnrolled);
        }
        let rehash = verified.needs_rehash.then(|| self.config.hasher.hash(password));
        Ok(PasswordVerified { principal_id: p.id, name: p.name.clone(), rehash })
    }

    /// The password step's write: a short-lived, single-use challenge (never a session).
    /// The principal is read again, so a suspension made meanwhile still counts.
    pub fn open_challenge<S: AccessWrite + ?Sized>(
        &self,
        store: &mut S,
        verified: &PasswordVerified,
        now: i64,
    ) -> Result<LoginStep> {
        let p = store.principal(verified.principal_id)?.ok_or(AccessError::InvalidCredentials)?;
        if p.suspended {
            return Err(AccessError::Suspended);
        }
        if let Some(hash) = &verified.rehash {
            store.set_password(p.id, hash)?;
        }
        let challenge = BearerSecret::new(SecretKind::Challenge);
        let expires_at = now + self.config.challenge_secs;
        store.insert_challenge(
            &challenge.hash(),
            &ChallengeRecord {
                principal_id: p.id,
                purpose: ChallengePurpose::Mfa,
                pending_totp: None,
                ceremony: None,
                expires_at,
            },
        )?;
        Ok(LoginStep::SecondFactor { challenge, expires_at })
    }

    /// Takes a step-two challenge: single use, whatever the outcome.
    pub(crate) fn take_mfa_challenge<S: AccessWrite + ?Sized>(
        &self,
        store: &mut S,
        challenge: &str,
        now: i64,
    ) -> Result<PrincipalRecord> {
        let c = store.take_challenge(&hash_secret(challenge.trim()))?.ok_or(AccessError::ChallengeInvalid)?;
        if c.purpose != ChallengePurpose::Mfa || now > c.expires_at {
            return Err(AccessError::ChallengeInvalid);
        }
        let p = store.principal(c.principal_id)?.ok_or(AccessError::ChallengeInvalid)?;
        if p.suspended {
            return Err(AccessError::Suspended);
        }
        Ok(p)
    }

    /// Step two: takes the challenge, runs `check` on its principal, and opens a session if
    /// the check passes. The attempt names the principal whenever the challenge was valid
    /// (so a failed second factor after a correct password is attributed).
    fn second_factor<S: AccessWrite + ?Sized>(
        &self,
        store: &mut S,
        challenge: &str,
        now: i64,
        check: impl FnOnce(&Self, &mut S, &PrincipalRecord) -> Result<()>,
    ) -> Attempt<NewSession> {
        let p = match self.take_mfa_challenge(store, challenge, now) {
            Ok(p) => p,
            Err(e) => return Attempt { principal: None, result: Err(e) },
        };
        let result = check(self, store, &p).and_then(|()| self.new_session(store, &p, now));
        Attempt { principal: Some(p.name), result }
    }

    /// Step two with a TOTP code. A code whose step was already used (by this login or any
    /// other) is refused.
    pub fn login_totp<S: AccessWrite + ?Sized>(
        &self,
        store: &mut S,
        challenge: &str,
        code: &str,
        now: i64,
    ) -> Attempt<NewSession> {
        self.second_factor(store, challenge, now, |accounts, store, p| {
            let sealed = p.totp_sealed.as_deref().ok_or(AccessError::NotEnrolled)?;
            let secret = accounts.open_totp(p.id, "totp", sealed)?;
            // No code is valid at a time before 1970.
            let step = u64::try_from(now)
                .ok()
                .and_then(|now| secret.matching_step(code, now))
                .ok_or(AccessError::InvalidCredentials)?;
            if !store.advance_totp_step(p.id, step)? {
                return Err(AccessError::InvalidCredentials);
            }
            Ok(())
        })
    }

    /// Step two with a recovery code, which is then used up.
    pub fn login_recovery<S: AccessWrite + ?Sized>(
        &self,
        store: &mut S,
        challenge: &str,
        code: &str,
        now: i64,
    ) -> Attempt<NewSession> {
        self.second_factor(store, challenge, now, |_, store, p| {
            if !store.use_recovery_code(p.id, &hash_recovery_code(code), now)? {
                return Err(AccessError::InvalidCredentials);
            }
            Ok(())
        })
    }

    pub(crate) fn new_session<S: AccessWrite + ?Sized>(
        &self,
        store: &mut S,
        p: &PrincipalRecord,
        now: i64,
    ) -> Result<NewSession> {
        let token = BearerSecret::new(SecretKind::Session);
        let expires_at = now + self.config.session_absolute_secs;
        store.insert_session(
            &token.hash(),
            &SessionRecord {
                principal_id: p.id,
                created_at: now,
                last_seen: now,
                absolute_expires: expires_at,
                revoked: false,
            },
        )?;
        let csrf_token = csrf_token_for(token.expose());
        Ok(NewSession { token, csrf_token, expires_at, principal: p.name.clone() })
    }

    // ---- per request ----------------------------------------------------------------

    /// The principal behind a session token, if the session is live: not revoked, not idle
    /// too long, not past its absolute expiry, and its principal not suspended. Reads only;
    /// `touch` says when the caller should store the session's last-seen time.
    pub fn authenticate_session<S: AccessRead + ?Sized>(
        &self,
        store: &S,
        token: &str,
        now: i64,
    ) -> Result<Authenticated> {
        let hash = hash_secret(token);
        let s = store.session(&hash)?.ok_or(AccessError::SessionInvalid)?;
        let p = store.principal(s.principal_id)?.ok_or(AccessError::SessionInvalid)?;
        // A suspended principal's session is simply no longer valid: its holder (who may
        // be the attacker the suspension is for) learns nothing from the answer.
        if p.suspended
            || s.revoked
            || now > s.absolute_expires
            || now - s.last_seen > self.config.session_idle_secs
        {
            return Err(AccessError::SessionInvalid);
        }
        let principal = Principal {
            id: p.id,
            name: p.name.clone(),
            kind: p.kind,
            access: Access { grants: grants_of(&p), token_scope: None },
            method: AuthMethod::Session,
            client: None,
            second_factor_at: Some(s.created_at),
        };
        Ok(Authenticated { principal, touch: (now - s.last_seen >= TOUCH_EVERY_SECS).then_some(hash) })
    }

    pub fn authenticate_token<S: AccessRead + ?Sized>(
        &self,
        store: &S,
        token: &str,
        now: i64,
    ) -> Result<Principal> {
        let t = store.token(&hash_secret(token))?.ok_or(AccessError::TokenInvalid)?;
        let p = store.principal(t.principal_id)?.ok_or(AccessError::TokenInvalid)?;
        if p.suspended || t.revoked || now > t.expires_at {
            return Err(AccessError::TokenInvalid);
        }
        let perms = t.permissions.split(',').filter_map(|c| c.parse().ok()).collect();
        let scopes = t.authorities.split(',').filter(|s| !s.is_empty()).map(Scope::parse).collect();
        Ok(Principal {
            id: p.id,
            name: p.name.clone(),
            kind: p.kind,
            access: Access { grants: grants_of(&p), token_scope: Some((perms, scopes)) },
            method: AuthMethod::ApiToken { id: t.id },
            client: None,
            second_factor_at: None,
        })
    }

    pub fn logout<S: AccessWrite + ?Sized>(&self, store: &mut S, token: &str, now: i64) -> Result<bool> {
        Ok(store.revoke_session(&hash_secret(token), now)?)
    }
}
