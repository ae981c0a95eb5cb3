//! The policies of access and the administration of principals, over any access
//! transaction. The login flows are in `login.rs`, enrolment in `enrol.rs`, passkeys in
//! `passkeys.rs`.
//!
//! Human login, always two steps:
//! 1. the password step ([`Accounts::verify_password`], then [`Accounts::open_challenge`]):
//!    name and password give a short-lived, single-use challenge, never a session;
//! 2. [`Accounts::login_totp`] or [`Accounts::login_recovery`]: the challenge and a second
//!    factor give a session. A TOTP step is accepted once.
//!
//! Password hashing is slow on purpose, so it never runs inside a write transaction: the
//! steps that hash ([`Accounts::verify_password`], [`Accounts::prepare_enrolment`]) take no
//! store, and the steps that write take no password.

use crate::error::{AccessError, Result};
use crate::password::{check_policy, PasswordHasher};
use crate::roles::{Access, Grant, Permission, Role, Scope};
use crate::secret::{hash_recovery_code, new_recovery_code, BearerSecret, SecretKind};
use crate::totp::{TotpSecret, STEP_SECONDS};
use rollguard_sealing::{FieldContext, KeyBytes, SealKey};
use rollguard_store::{
    AccessRead, AccessWrite, Enrolment, GrantRecord, PrincipalKind, PrincipalRecord, TokenRecord,
};
use zeroize::Zeroizing;

/// The authority name bound into sealed credentials.
pub(crate) const SYSTEM: &str = rollguard_store::SYSTEM_KEY_AUTHORITY;
pub(crate) const RECOVERY_CODES: usize = 10;

#[derive(Debug, Clone)]
pub struct AccountsConfig {
    /// Name shown in authenticator apps.
    pub issuer: String,
    pub session_idle_secs: i64,
    pub session_absolute_secs: i64,
    pub challenge_secs: i64,
    pub enrolment_secs: i64,
    pub hasher: PasswordHasher,
    /// WebAuthn relying party: the host name passkeys are bound to…
    pub rp_id: String,
    /// …and the origin browsers will report (the server's public URL).
    pub rp_origin: String,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            issuer: "Rollguard".into(),
            session_idle_secs: 30 * 60,
            session_absolute_secs: 12 * 3600,
            challenge_secs: 5 * 60,
            enrolment_secs: 72 * 3600,
            hasher: PasswordHasher::default(),
            rp_id: "localhost".into(),
            rp_origin: "https://localhost:8443".into(),
        }
    }
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHasher")
    }
}

/// Policies and the key that seals TOTP secrets.
pub struct Accounts {
    pub(crate) config: AccountsConfig,
    pub(crate) webauthn: webauthn_rs::Webauthn,
    totp_key: SealKey,
    /// Verified against when a name is unknown, so timing does not reveal which names exist.
    pub(crate) decoy_hash: String,
}

/// After a correct password.
#[derive(Debug)]
pub enum LoginStep {
    /// Send the challenge back with a TOTP code or a recovery code.
    SecondFactor { challenge: BearerSecret, expires_at: i64 },
}

#[derive(Debug)]
pub struct NewSession {
    pub token: BearerSecret,
    /// Send back in `X-CSRF-Token` on state-changing requests that use the session cookie.
    pub csrf_token: String,
    pub expires_at: i64,
    pub principal: String,
}

#[derive(Debug)]
pub struct EnrolStart {
    pub challenge: BearerSecret,
    pub totp_secret: TotpSecret,
    pub otpauth_uri: Zeroizing<String>,
    pub expires_at: i64,
}

#[derive(Debug)]
pub struct Enrolled {
    pub session: NewSession,
    /// Shown once; each works once in place of a TOTP code.
    pub recovery_codes: Vec<Zeroizing<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    Session,
    ApiToken { id: u64 },
}

/// An authenticated principal and what it may do.
#[derive(Debug, Clone)]
pub struct Principal {
    pub id: u64,
    pub name: String,
    pub kind: PrincipalKind,
    pub access: Access,
    pub method: AuthMethod,
    /// The address the request came from, when the caller knows it (for audit events).
    pub client: Option<String>,
    /// For a session: when its second factor was proved (Unix seconds); a token has none.
    pub second_factor_at: Option<i64>,
}

pub(crate) fn grants_of(p: &PrincipalRecord) -> Vec<Grant> {
    // A grant naming a role this build does not know is ignored: it grants nothing.
    p.grants
        .iter()
        .filter_map(|g| Some(Grant { role: g.role.parse().ok()?, scope: Scope::parse(&g.authority) }))
        .collect()
}

impl Accounts {
    /// Accounts whose TOTP secrets are sealed under `totp_key` (a system key).
    pub fn new(totp_key: &KeyBytes, config: AccountsConfig) -> Result<Self> {
        let decoy_hash = config.hasher.hash("rollguard decoy password, never valid");
        let origin = webauthn_rs::prelude::Url::parse(&config.rp_origin)
            .map_err(|e| AccessError::Invalid(format!("WebAuthn origin {}: {e}", config.rp_origin)))?;
        let webauthn = webauthn_rs::WebauthnBuilder::new(&config.rp_id, &origin)
            .and_then(|b| b.rp_name(&config.issuer).build())
            .map_err(|e| {
                AccessError::Invalid(format!("WebAuthn relying party {} at {origin}: {e}", config.rp_id))
            })?;
        Ok(Self { config, webauthn, totp_key: SealKey::new(totp_key), decoy_hash })
    }

    pub fn config(&self) -> &AccountsConfig {
        &self.config
    }

    pub(crate) fn seal_totp(&self, principal: u64, field: &str, secret: &TotpSecret) -> Vec<u8> {
        let ctx = FieldContext { authority: SYSTEM, record: principal, field, version: 1 };
        self.totp_key.seal(&ctx, secret.expose()).0
    }

    pub(crate) fn open_totp(&self, principal: u64, field: &str, sealed: &[u8]) -> Result<TotpSecret> {
        let ctx = FieldContext { authority: SYSTEM, record: principal, field, version: 1 };
        let plain = self
            .totp_key
            .open(&ctx, sealed)
            .map_err(|_| AccessError::Corrupt(format!("TOTP secret of principal {principal}")))?;
        Ok(TotpSecret::from_bytes(plain.to_vec()))
    }

    pub fn principal_named<S: AccessRead + ?Sized>(&self, store: &S, name: &str) -> Result<PrincipalRecord> {
        store
            .principal_by_name(name.trim())?
            .ok_or_else(|| AccessError::UnknownPrincipal(name.trim().to_owned()))
    }

    // ---- administration -------------------------------------------------------------

    /// Creates a principal with its grants. A human gets a one-time enrolment secret (the
    /// only way to a first login); a service account gets none and uses API tokens.
    pub fn add_principal<S: AccessWrite + ?Sized>(
        &self,
        store: &mut S,
        name: &str,
        kind: PrincipalKind,
        grants: &[Grant],
        by: &str,
        now: i64,
    ) -> Result<(u64, Option<BearerSecret>)> {
        if name.is_empty()
            || name.len() > 64
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
        {
            return Err(AccessError::Invalid(
                "a principal name is 1 to 64 letters, digits, dots, dashes, underscores or @".into(),
            ));
        }
        let id = store.create_principal(name, kind, now)?;
        for g in grants {
            store.add_grant(
                id,
                &GrantRecord { role: g.role.code().into(), authority: g.scope.code().into() },
                by,
                now,
            )?;
        }
        let secret = match kind {
            PrincipalKind::Human => Some(self.issue_enrolment(store, id, now)?),
            PrincipalKind::Service => None,
        };
        Ok((id, secret))
    }

    fn issue_enrolment<S: AccessWrite + ?Sized>(
        &self,
        store: &mut S,
        id: u64,
        now: i64,
    ) -> Result<BearerSecret> {
        let secret = BearerSecret::new(SecretKind::Enrolment);
        store.set_enrolment(id, Some((secret.hash(), now + self.config.enrolment_secs)))?;
        Ok(secret)
    }

    /// Clears a human's second factor and recovery codes, revokes their sessions, and issues
    /// a new enrolment secret.
    pub fn reset_enrolment<S: AccessWrite + ?Sized>(
        &self,
        store: &mut S,
        name: &str,
        now: i64,
    ) -> Result<BearerSecret> {
        let p = self.principal_named(store, name)?;
        if p.kind != PrincipalKind::Human {
            return Err(AccessError::Invalid(format!("{} is a service account; it uses API tokens", p.name)));
        }
        let secret = self.issue_enrolment(store, p.id, now)?;
        store.revoke_sessions_of(p.id, now)?;
        // A reset is for a lost or stolen factor: every factor goes, passkeys too.
        for key in store.passkeys_of(p.id)? {
            store.remove_passkey(p.id, key.id)?;
        }
        Ok(secret)
    }

    pub fn grant<S: AccessWrite + ?Sized>(
        &self,
        store: &mut S,
        name: &str,
        grant: &Grant,
        by: &str,
        now: i64,
    ) -> Result<()> {
        let p = self.principal_named(store, name)?;
        store.add_grant(
            p.id,
            &GrantRecord { role: grant.role.code().into(), authority: grant.scope.code().into() },
            by,
            now,
        )?;
        Ok(())
    }

    pub fn revoke_grant<S: AccessWrite + ?Sized>(
        &self,
        store: &mut S,
        name: &str,
        grant: &Grant,
    ) -> Result<bool> {
        let p = self.principal_named(store, name)?;
        Ok(store.remove_grant(
            p.id,
            &GrantRecord { role: grant.role.code().into(), authority: grant.scope.code().into() },
        )?)
    }

    /// Suspends (or restores) a principal. Suspension also revokes its sessions and tokens.
    pub fn set_suspended<S: AccessWrite + ?Sized>(
        &self,
        store: &mut S,
        name: &str,
        suspended: bool,
        now: i64,
    ) -> Result<()> {
        let p = self.principal_named(store, name)?;
        store.set_suspended(p.id, suspended)?;
        if suspended {
            store.revoke_sessions_of(p.id, now)?;
            store.revoke_tokens_of(p.id, now)?;
        }
        Ok(())
    }

    /// An API token for a service account, limited to `permissions` over `scopes` (and
    /// never beyond the account's grants), expiring after `ttl_secs`. Shown once.
    #[allow(clippy::too_many_arguments)]
    pub fn create_token<S: AccessWrite + ?Sized>(
        &self,
        store: &mut S,
        name: &str,
        label: &str,
        permissions: &[Permission],
        scopes: &[Scope],
        ttl_secs: i64,
        now: i64,
    ) -> Result<(u64, BearerSecret)> {
        let p = self.principal_named(store, name)?;
        if p.kind != PrincipalKind::Service {
            return Err(AccessError::Invalid(format!(
                "{} is a person; API tokens are for service accounts (`user add --service`)",
                p.name
            )));
        }
        if permissions.is_empty() || scopes.is_empty() {
            return Err(AccessError::Invalid(
                "a token needs at least one permission and one authority".into(),
            ));
        }
        if !(60..=366 * 86400).contains(&ttl_secs) {
            return Err(AccessError::Invalid("a token lives between one minute and 366 days".into()));
        }
        let secret = BearerSecret::new(SecretKind::ApiToken);
        let join = |v: Vec<&str>| v.join(",");
        let id = store.insert_token(
            &secret.hash(),
            &TokenRecord {
                id: 0,
                principal_id: p.id,
                label: label.to_owned(),
                permissions: join(permissions.iter().map(|p| p.code()).collect()),
                authorities: join(scopes.iter().map(|s| s.code()).collect()),
                created_at: now,
                expires_at: now + ttl_secs,
                revoked: false,
            },
        )?;
        Ok((id, secret))
    }

    /// Sets a human's password and TOTP secret directly, without an enrolment secret: for
    /// an operator at the console (the demo), who already holds the database and keyring.
    pub fn provision_human<S: AccessWrite + ?Sized>(
        &self,
        store: &mut S,
        name: &str,
        password: &str,
        now: i64,
    ) -> Result<(TotpSecret, Vec<Zeroizing<String>>)> {
        let p = self.principal_named(store, name)?;
        check_policy(password, &p.name)?;
        let secret = TotpSecret::generate();
        let codes: Vec<Zeroizing<String>> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let hashes: Vec<_> = codes.iter().map(|c| hash_recovery_code(c)).collect();
        let password_hash = self.config.hasher.hash(password);
        let sealed = self.seal_totp(p.id, "totp", &secret);
        store.complete_enrolment(
            p.id,
            &Enrolment {
                password_hash: &password_hash,
                totp_sealed: &sealed,
                // A clock before 1970 starts from step 0, as it did when the step was clamped at 0.
                totp_step: (u64::try_from(now).unwrap_or(0) / STEP_SECONDS).saturating_sub(2),
                recovery_codes: &hashes,
            },
        )?;
        Ok((secret, codes))
    }

    /// Revokes every session of a principal not already revoked; returns how many.
    pub fn revoke_sessions<S: AccessWrite + ?Sized>(
        &self,
        store: &mut S,
        name: &str,
        now: i64,
    ) -> Result<u64> {
        let p = self.principal_named(store, name)?;
        Ok(store.revoke_sessions_of(p.id, now)?)
    }

    pub fn revoke_token<S: AccessWrite + ?Sized>(&self, store: &mut S, id: u64, now: i64) -> Result<bool> {
        Ok(store.revoke_token(id, now)?)
    }
}

/// Roles parsed from `role@AUTHORITY` (or `role@*`) arguments.
pub fn parse_grant(s: &str) -> std::result::Result<Grant, String> {
    let (role, scope) =
        s.split_once('@').ok_or_else(|| format!("`{s}`: write a grant as ROLE@AUTHORITY or ROLE@*"))?;
    let role = Role::ALL.into_iter().find(|r| r.code() == role).ok_or_else(|| {
        let known: Vec<&str> = Role::ALL.iter().map(|r| r.code()).collect();
        format!("unknown role `{role}` (one of {})", known.join(", "))
    })?;
    Ok(Grant { role, scope: Scope::parse_code(scope)? })
}
