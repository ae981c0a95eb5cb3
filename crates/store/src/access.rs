//! Storage of principals, credentials, sessions and API tokens. Secrets never arrive here in
//! a usable form: passwords as Argon2id hashes, TOTP secrets sealed, bearer secrets as their
//! SHA-256 ([`SecretHash`]).

use crate::Result;

/// The authority name bound into the wrapping of system keys (keys for Rollguard itself,
/// not for one authority).
pub const SYSTEM_KEY_AUTHORITY: &str = "rollguard-system";

/// SHA-256 of a high-entropy bearer secret (session, token, challenge, enrolment or recovery
/// code). Lookups are by this hash, so the secret itself is never stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash(pub [u8; 32]);

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A person: password plus a second factor.
    Human,
    /// A service account: API tokens only.
    Service,
}

impl PrincipalKind {
    pub fn code(self) -> &'static str {
        match self {
            PrincipalKind::Human => "human",
            PrincipalKind::Service => "service",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        match s {
            "human" => Some(Self::Human),
            "service" => Some(Self::Service),
            _ => None,
        }
    }
}

/// A role held over one authority, or over all (`*`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GrantRecord {
    pub role: String,
    pub authority: String,
}

#[derive(Clone)]
pub struct PrincipalRecord {
    pub id: u64,
    pub name: String,
    pub kind: PrincipalKind,
    pub password_hash: Option<String>,
    pub totp_sealed: Option<Vec<u8>>,
    pub totp_last_step: u64,
    pub enrolment: Option<(SecretHash, i64)>,
    pub suspended: bool,
    pub created_at: i64,
    pub grants: Vec<GrantRecord>,
}

impl std::fmt::Debug for PrincipalRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrincipalRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("has_password", &self.password_hash.is_some())
            .field("has_totp", &self.totp_sealed.is_some())
            .field("suspended", &self.suspended)
            .field("grants", &self.grants)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengePurpose {
    /// Password accepted; a second factor must follow.
    Mfa,
    /// Enrolment secret accepted; password and TOTP must be set.
    Enrol,
    /// A logged-in person is registering a passkey.
    PasskeyRegister,
    /// Password accepted; a passkey assertion must follow.
    PasskeyLogin,
}

impl ChallengePurpose {
    pub fn code(self) -> &'static str {
        match self {
            ChallengePurpose::Mfa => "mfa",
            ChallengePurpose::Enrol => "enrol",
            ChallengePurpose::PasskeyRegister => "passkey-register",
            ChallengePurpose::PasskeyLogin => "passkey-login",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        [Self::Mfa, Self::Enrol, Self::PasskeyRegister, Self::PasskeyLogin]
            .into_iter()
            .find(|p| p.code() == s)
    }
}

#[derive(Clone)]
pub struct ChallengeRecord {
    pub principal_id: u64,
    pub purpose: ChallengePurpose,
    pub pending_totp: Option<Vec<u8>>,
    /// WebAuthn ceremony state, serialised.
    pub ceremony: Option<String>,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub principal_id: u64,
    pub created_at: i64,
    pub last_seen: i64,
    pub absolute_expires: i64,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: u64,
    pub principal_id: u64,
    pub label: String,
    /// Permission codes, comma-separated.
    pub permissions: String,
    /// Authority codes, comma-separated; `*` for every authority.
    pub authorities: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked: bool,
}

/// A registered passkey: public material only.
#[derive(Debug, Clone)]
pub struct PasskeyRecord {
    pub id: u64,
    pub principal_id: u64,
    pub credential_id: Vec<u8>,
    pub label: String,
    /// webauthn-rs's `Passkey`, serialised.
    pub passkey: String,
    pub created_at: i64,
    pub last_used: Option<i64>,
}

#[derive(Clone)]
pub struct SystemKeyRecord {
    pub purpose: String,
    pub kek_id: String,
    pub wrapped: Vec<u8>,
}

/// What completing enrolment writes, all at once.
pub struct Enrolment<'a> {
    pub password_hash: &'a str,
    pub totp_sealed: &'a [u8],
    /// The step of the code that proved the secret was saved: it cannot be used again.
    pub totp_step: u64,
    pub recovery_codes: &'a [SecretHash],
}

/// Reads of principals and credentials.
pub trait AccessRead {
    fn system_key(&self, purpose: &str) -> Result<Option<SystemKeyRecord>>;
    fn system_keys(&self) -> Result<Vec<SystemKeyRecord>>;
    fn principal(&self, id: u64) -> Result<Option<PrincipalRecord>>;
    fn principal_by_name(&self, name: &str) -> Result<Option<PrincipalRecord>>;
    fn principals(&self) -> Result<Vec<PrincipalRecord>>;
    fn unused_recovery_codes(&self, id: u64) -> Result<u64>;
    /// A challenge, without taking it (see [`AccessWrite::take_challenge`]).
    fn challenge(&self, hash: &SecretHash) -> Result<Option<ChallengeRecord>>;
    fn session(&self, hash: &SecretHash) -> Result<Option<SessionRecord>>;
    fn passkeys_of(&self, principal: u64) -> Result<Vec<PasskeyRecord>>;
    fn token(&self, hash: &SecretHash) -> Result<Option<TokenRecord>>;
    fn token_by_id(&self, id: u64) -> Result<Option<TokenRecord>>;
    fn tokens(&self) -> Result<Vec<TokenRecord>>;
}

/// Changes to principals and credentials, in a write transaction.
pub trait AccessWrite: AccessRead {
    /// Inserts or replaces (after a key-encryption-key rotation) a wrapped system key.
    fn put_system_key(&mut self, key: &SystemKeyRecord) -> Result<()>;
    /// Fails with [`crate::StoreError::PrincipalExists`] if the name is taken.
    fn create_principal(&mut self, name: &str, kind: PrincipalKind, now: i64) -> Result<u64>;
    fn set_password(&mut self, id: u64, hash: &str) -> Result<()>;
    /// Sets (or clears) a one-time enrolment secret. Setting one also clears the second
    /// factor and recovery codes, so the principal must enrol again.
    fn set_enrolment(&mut self, id: u64, enrolment: Option<(SecretHash, i64)>) -> Result<()>;
    /// Completes enrolment: password, TOTP secret, used step, recovery codes; clears the
    /// enrolment secret.
    fn complete_enrolment(&mut self, id: u64, e: &Enrolment<'_>) -> Result<()>;
    /// Records `step` as used if it is later than the last used step. Returns false for a
    /// replay (a step at or before the last), atomically across connections.
    fn advance_totp_step(&mut self, id: u64, step: u64) -> Result<bool>;
    fn set_suspended(&mut self, id: u64, suspended: bool) -> Result<()>;
    fn add_grant(&mut self, id: u64, grant: &GrantRecord, by: &str, now: i64) -> Result<()>;
    /// Returns false if there was no such grant.
    fn remove_grant(&mut self, id: u64, grant: &GrantRecord) -> Result<bool>;
    /// Marks an unused recovery code used. Returns false if it is unknown or already used.
    fn use_recovery_code(&mut self, id: u64, code: &SecretHash, now: i64) -> Result<bool>;

    fn insert_challenge(&mut self, hash: &SecretHash, c: &ChallengeRecord) -> Result<()>;
    /// Removes and returns a challenge: each is single-use.
    fn take_challenge(&mut self, hash: &SecretHash) -> Result<Option<ChallengeRecord>>;

    fn insert_session(&mut self, hash: &SecretHash, s: &SessionRecord) -> Result<()>;
    fn touch_session(&mut self, hash: &SecretHash, now: i64) -> Result<()>;
    fn revoke_session(&mut self, hash: &SecretHash, now: i64) -> Result<bool>;
    /// Revokes every session of a principal not already revoked; returns how many.
    fn revoke_sessions_of(&mut self, principal: u64, now: i64) -> Result<u64>;

    fn insert_passkey(&mut self, p: &PasskeyRecord) -> Result<u64>;
    /// Stores an updated passkey (its signature counter) after a sign-in.
    fn update_passkey(&mut self, id: u64, passkey: &str, now: i64) -> Result<()>;
    fn remove_passkey(&mut self, principal: u64, id: u64) -> Result<bool>;

    fn insert_token(&mut self, hash: &SecretHash, t: &TokenRecord) -> Result<u64>;
    fn revoke_token(&mut self, id: u64, now: i64) -> Result<bool>;
    fn revoke_tokens_of(&mut self, principal: u64, now: i64) -> Result<u64>;
}
