//! The login flows and the administration of principals, over any [`AccessStore`].
//!
//! Human login, always two steps:
//! 1. [`Accounts::login_password`]: name and password give a short-lived, single-use
//!    challenge, never a session.
//! 2. [`Accounts::login_totp`] or [`Accounts::login_recovery`]: the challenge and a second
//!    factor give a session. A TOTP step is accepted once.
//!
//! First login is enrolment: an administrator's `user add` prints a one-time enrolment
//! secret; [`Accounts::enrol_start`] exchanges it for a new TOTP secret, and
//! [`Accounts::enrol_finish`] sets the password, proves the TOTP secret with a code, and
//! returns recovery codes and a session.

use crate::error::{AccessError, Result};
use crate::password::{check_policy, PasswordHasher};
use crate::roles::{Access, Grant, Permission, Role, Scope};
use crate::secret::{csrf_token_for, hash_recovery_code, new_recovery_code, BearerSecret, SecretKind};
use crate::totp::{TotpSecret, STEP_SECONDS};
use rollguard_sealing::{FieldContext, KekId, KeyBytes, Keyring, SealKey, WrapContext, WrappedKey};
use rollguard_store::{
    AccessStore, ChallengePurpose, ChallengeRecord, Enrolment, GrantRecord, PasskeyRecord, PrincipalKind,
    PrincipalRecord, SessionRecord, SystemKeyRecord, TokenRecord,
};
use webauthn_rs::prelude::{
    CreationChallengeResponse, CredentialID, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Uuid,
};
use zeroize::Zeroizing;

/// The authority name bound into system keys and sealed credentials.
const SYSTEM: &str = rollguard_store::SYSTEM_KEY_AUTHORITY;
const TOTP_KEY_PURPOSE: &str = "totp-seal";
const RECOVERY_CODES: usize = 10;
/// Sessions are not re-stamped more often than this, so a busy session costs no write per
/// request; idle expiry is exact to within this.
const TOUCH_EVERY_SECS: i64 = 60;

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
    config: AccountsConfig,
    webauthn: webauthn_rs::Webauthn,
    totp_key: SealKey,
    /// Verified against when a name is unknown, so timing does not reveal which names exist.
    decoy_hash: String,
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
}

fn grants_of(p: &PrincipalRecord) -> Vec<Grant> {
    // A grant naming a role this build does not know is ignored: it grants nothing.
    p.grants
        .iter()
        .filter_map(|g| Some(Grant { role: g.role.parse().ok()?, scope: Scope::parse(&g.authority) }))
        .collect()
}

impl Accounts {
    /// Unwraps the system key that seals TOTP secrets, creating it on first use.
    pub fn open<S: AccessStore>(
        store: &mut S,
        keyring: &dyn Keyring,
        config: AccountsConfig,
    ) -> Result<Self> {
        let ctx = WrapContext { authority: SYSTEM, purpose: TOTP_KEY_PURPOSE, generation: 1 };
        let key = match store.system_key(TOTP_KEY_PURPOSE)? {
            Some(k) => keyring.unwrap(&WrappedKey { kek: KekId(k.kek_id), bytes: k.wrapped }, &ctx)?,
            None => {
                let key = KeyBytes::random();
                let w = keyring.wrap(&key, &ctx)?;
                store.put_system_key(&SystemKeyRecord {
                    purpose: TOTP_KEY_PURPOSE.into(),
                    kek_id: w.kek.0,
                    wrapped: w.bytes,
                })?;
                key
            }
        };
        let decoy_hash = config.hasher.hash("rollguard decoy password, never valid");
        let origin = webauthn_rs::prelude::Url::parse(&config.rp_origin)
            .map_err(|e| AccessError::Invalid(format!("WebAuthn origin {}: {e}", config.rp_origin)))?;
        let webauthn = webauthn_rs::WebauthnBuilder::new(&config.rp_id, &origin)
            .and_then(|b| b.rp_name(&config.issuer).build())
            .map_err(|e| {
                AccessError::Invalid(format!("WebAuthn relying party {} at {origin}: {e}", config.rp_id))
            })?;
        Ok(Self { config, webauthn, totp_key: SealKey::new(&key), decoy_hash })
    }

    pub fn config(&self) -> &AccountsConfig {
        &self.config
    }

    fn seal_totp(&self, principal: u64, field: &str, secret: &TotpSecret) -> Vec<u8> {
        let ctx = FieldContext { authority: SYSTEM, record: principal, field, version: 1 };
        self.totp_key.seal(&ctx, secret.expose()).0
    }

    fn open_totp(&self, principal: u64, field: &str, sealed: &[u8]) -> Result<TotpSecret> {
        let ctx = FieldContext { authority: SYSTEM, record: principal, field, version: 1 };
        let plain = self
            .totp_key
            .open(&ctx, sealed)
            .map_err(|_| AccessError::Corrupt(format!("TOTP secret of principal {principal}")))?;
        Ok(TotpSecret::from_bytes(plain.to_vec()))
    }

    fn principal_named<S: AccessStore>(&self, store: &S, name: &str) -> Result<PrincipalRecord> {
        store
            .principal_by_name(name.trim())?
            .ok_or_else(|| AccessError::UnknownPrincipal(name.trim().to_owned()))
    }

    // ---- administration -------------------------------------------------------------

    /// Creates a principal with its grants. A human gets a one-time enrolment secret (the
    /// only way to a first login); a service account gets none and uses API tokens.
    pub fn add_principal<S: AccessStore>(
        &self,
        store: &mut S,
        name: &str,
        kind: PrincipalKind,
        grants: &[Grant],
        by: &str,
        now: i64,
    ) -> Result<(u64, Option<BearerSecret>)> {
        let name = name.trim();
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

    fn issue_enrolment<S: AccessStore>(&self, store: &mut S, id: u64, now: i64) -> Result<BearerSecret> {
        let secret = BearerSecret::new(SecretKind::Enrolment);
        store.set_enrolment(id, Some((secret.hash(), now + self.config.enrolment_secs)))?;
        Ok(secret)
    }

    /// Clears a human's second factor and recovery codes, revokes their sessions, and issues
    /// a new enrolment secret.
    pub fn reset_enrolment<S: AccessStore>(
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
        Ok(secret)
    }

    pub fn grant<S: AccessStore>(
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

    pub fn revoke_grant<S: AccessStore>(&self, store: &mut S, name: &str, grant: &Grant) -> Result<bool> {
        let p = self.principal_named(store, name)?;
        Ok(store.remove_grant(
            p.id,
            &GrantRecord { role: grant.role.code().into(), authority: grant.scope.code().into() },
        )?)
    }

    /// Suspends (or restores) a principal. Suspension also revokes its sessions and tokens.
    pub fn set_suspended<S: AccessStore>(
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
    pub fn create_token<S: AccessStore>(
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
    pub fn provision_human<S: AccessStore>(
        &self,
        store: &mut S,
        name: &str,
        password: &str,
        now: i64,
    ) -> Result<(TotpSecret, Vec<Zeroizing<String>>)> {
        let p = self.principal_named(store, name)?;
        check_policy(password, &p.name)?;
        let secret = TotpSecret::generate();
        let codes = self.store_enrolment(store, p.id, password, &secret, now / STEP_SECONDS as i64 - 2)?;
        Ok((secret, codes))
    }

    fn store_enrolment<S: AccessStore>(
        &self,
        store: &mut S,
        id: u64,
        password: &str,
        secret: &TotpSecret,
        used_step: i64,
    ) -> Result<Vec<Zeroizing<String>>> {
        let codes: Vec<Zeroizing<String>> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let hashes: Vec<_> = codes.iter().map(|c| hash_recovery_code(c)).collect();
        let password_hash = self.config.hasher.hash(password);
        let sealed = self.seal_totp(id, "totp", secret);
        store.complete_enrolment(
            id,
            &Enrolment {
                password_hash: &password_hash,
                totp_sealed: &sealed,
                totp_step: used_step.max(0) as u64,
                recovery_codes: &hashes,
            },
        )?;
        Ok(codes)
    }

    // ---- enrolment ------------------------------------------------------------------

    /// Exchanges a valid enrolment secret for a new TOTP secret to save in an authenticator.
    /// The enrolment secret stays valid until [`Accounts::enrol_finish`] succeeds.
    pub fn enrol_start<S: AccessStore>(
        &self,
        store: &mut S,
        name: &str,
        secret: &str,
        now: i64,
    ) -> Result<EnrolStart> {
        let p = store.principal_by_name(name.trim())?.ok_or(AccessError::InvalidCredentials)?;
        let valid = matches!(p.enrolment, Some((h, exp)) if h == crate::secret::hash_secret(secret.trim()) && now <= exp);
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

    /// Sets the password and proves the TOTP secret with a current code. The password is
    /// checked before the challenge is used up, so a refused password can be retried.
    pub fn enrol_finish<S: AccessStore>(
        &self,
        store: &mut S,
        challenge: &str,
        password: &str,
        code: &str,
        now: i64,
    ) -> Result<Enrolled> {
        let hash = crate::secret::hash_secret(challenge.trim());
        let c = store.take_challenge(&hash)?.ok_or(AccessError::ChallengeInvalid)?;
        let p = store.principal(c.principal_id)?.ok_or(AccessError::ChallengeInvalid)?;
        if let Err(e) = check_policy(password, &p.name) {
            // Put the challenge back: the user only has to choose a better password.
            store.insert_challenge(&hash, &c)?;
            return Err(e.into());
        }
        if c.purpose != ChallengePurpose::Enrol || now > c.expires_at || p.enrolment.is_none() {
            return Err(AccessError::ChallengeInvalid);
        }
        let sealed = c.pending_totp.as_deref().ok_or(AccessError::ChallengeInvalid)?;
        let secret = self.open_totp(p.id, "totp-pending", sealed)?;
        let step = secret.matching_step(code, now as u64).ok_or(AccessError::InvalidCredentials)?;
        let recovery_codes = self.store_enrolment(store, p.id, password, &secret, step as i64)?;
        let session = self.new_session(store, &p, now)?;
        Ok(Enrolled { session, recovery_codes })
    }

    // ---- login ----------------------------------------------------------------------

    /// Step one: name and password. Never gives a session.
    pub fn login_password<S: AccessStore>(
        &self,
        store: &mut S,
        name: &str,
        password: &str,
        now: i64,
    ) -> Result<LoginStep> {
        let Some(p) = store.principal_by_name(name.trim())? else {
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
        if verified.needs_rehash {
            store.set_password(p.id, &self.config.hasher.hash(password))?;
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
    fn take_mfa_challenge<S: AccessStore>(
        &self,
        store: &mut S,
        challenge: &str,
        now: i64,
    ) -> Result<PrincipalRecord> {
        let c = store
            .take_challenge(&crate::secret::hash_secret(challenge.trim()))?
            .ok_or(AccessError::ChallengeInvalid)?;
        if c.purpose != ChallengePurpose::Mfa || now > c.expires_at {
            return Err(AccessError::ChallengeInvalid);
        }
        let p = store.principal(c.principal_id)?.ok_or(AccessError::ChallengeInvalid)?;
        if p.suspended {
            return Err(AccessError::Suspended);
        }
        Ok(p)
    }

    /// Step two with a TOTP code. A code whose step was already used (by this login or any
    /// other) is refused.
    pub fn login_totp<S: AccessStore>(
        &self,
        store: &mut S,
        challenge: &str,
        code: &str,
        now: i64,
    ) -> Result<NewSession> {
        let p = self.take_mfa_challenge(store, challenge, now)?;
        let sealed = p.totp_sealed.as_deref().ok_or(AccessError::NotEnrolled)?;
        let secret = self.open_totp(p.id, "totp", sealed)?;
        let step = secret.matching_step(code, now as u64).ok_or(AccessError::InvalidCredentials)?;
        if !store.advance_totp_step(p.id, step)? {
            return Err(AccessError::InvalidCredentials);
        }
        self.new_session(store, &p, now)
    }

    /// Step two with a recovery code, which is then used up.
    pub fn login_recovery<S: AccessStore>(
        &self,
        store: &mut S,
        challenge: &str,
        code: &str,
        now: i64,
    ) -> Result<NewSession> {
        let p = self.take_mfa_challenge(store, challenge, now)?;
        if !store.use_recovery_code(p.id, &hash_recovery_code(code), now)? {
            return Err(AccessError::InvalidCredentials);
        }
        self.new_session(store, &p, now)
    }

    fn new_session<S: AccessStore>(
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

    // ---- passkeys (WebAuthn) ---------------------------------------------------------

    fn ceremony_challenge<S: AccessStore>(
        &self,
        store: &mut S,
        principal_id: u64,
        purpose: ChallengePurpose,
        state: &impl serde::Serialize,
        now: i64,
    ) -> Result<BearerSecret> {
        let challenge = BearerSecret::new(SecretKind::Challenge);
        let ceremony =
            serde_json::to_string(state).map_err(|e| AccessError::Corrupt(format!("WebAuthn state: {e}")))?;
        store.insert_challenge(
            &challenge.hash(),
            &ChallengeRecord {
                principal_id,
                purpose,
                pending_totp: None,
                ceremony: Some(ceremony),
                expires_at: now + self.config.challenge_secs,
            },
        )?;
        Ok(challenge)
    }

    fn take_ceremony<S: AccessStore, T: serde::de::DeserializeOwned>(
        &self,
        store: &mut S,
        challenge: &str,
        purpose: ChallengePurpose,
        now: i64,
    ) -> Result<(u64, T)> {
        let c = store
            .take_challenge(&crate::secret::hash_secret(challenge.trim()))?
            .ok_or(AccessError::ChallengeInvalid)?;
        if c.purpose != purpose || now > c.expires_at {
            return Err(AccessError::ChallengeInvalid);
        }
        let state = serde_json::from_str(c.ceremony.as_deref().ok_or(AccessError::ChallengeInvalid)?)
            .map_err(|_| AccessError::ChallengeInvalid)?;
        Ok((c.principal_id, state))
    }

    fn stored_passkeys<S: AccessStore>(&self, store: &S, principal: u64) -> Result<Vec<(u64, Passkey)>> {
        store
            .passkeys_of(principal)?
            .into_iter()
            .map(|r| {
                serde_json::from_str::<Passkey>(&r.passkey)
                    .map(|p| (r.id, p))
                    .map_err(|_| AccessError::Corrupt(format!("passkey {}", r.id)))
            })
            .collect()
    }

    /// A logged-in person starts registering a passkey: the options go to the browser's
    /// `navigator.credentials.create()`.
    pub fn passkey_register_start<S: AccessStore>(
        &self,
        store: &mut S,
        principal: &Principal,
        now: i64,
    ) -> Result<(BearerSecret, CreationChallengeResponse)> {
        if principal.kind != PrincipalKind::Human || principal.method != AuthMethod::Session {
            return Err(AccessError::Invalid(
                "passkeys are registered by a person in a logged-in session".into(),
            ));
        }
        let existing: Vec<CredentialID> = self
            .stored_passkeys(store, principal.id)?
            .into_iter()
            .map(|(_, p)| p.cred_id().clone())
            .collect();
        let user = Uuid::from_u64_pair(0x526f_6c6c_6775_6172, principal.id);
        let (options, state) = self
            .webauthn
            .start_passkey_registration(user, &principal.name, &principal.name, Some(existing))
            .map_err(|e| AccessError::Invalid(format!("WebAuthn: {e}")))?;
        let challenge =
            self.ceremony_challenge(store, principal.id, ChallengePurpose::PasskeyRegister, &state, now)?;
        Ok((challenge, options))
    }

    /// Verifies the browser's attestation and stores the passkey.
    pub fn passkey_register_finish<S: AccessStore>(
        &self,
        store: &mut S,
        principal: &Principal,
        challenge: &str,
        credential: &RegisterPublicKeyCredential,
        label: &str,
        now: i64,
    ) -> Result<u64> {
        let (owner, state): (u64, PasskeyRegistration) =
            self.take_ceremony(store, challenge, ChallengePurpose::PasskeyRegister, now)?;
        if owner != principal.id {
            return Err(AccessError::ChallengeInvalid);
        }
        let passkey = self
            .webauthn
            .finish_passkey_registration(credential, &state)
            .map_err(|_| AccessError::InvalidCredentials)?;
        let json = serde_json::to_string(&passkey).map_err(|e| AccessError::Corrupt(e.to_string()))?;
        Ok(store.insert_passkey(&PasskeyRecord {
            id: 0,
            principal_id: principal.id,
            credential_id: passkey.cred_id().as_ref().to_vec(),
            label: label.chars().take(64).collect(),
            passkey: json,
            created_at: now,
            last_used: None,
        })?)
    }

    /// Step two with a passkey, part one: the password challenge gives way to a WebAuthn
    /// challenge for the person's passkeys (`navigator.credentials.get()`).
    pub fn login_passkey_start<S: AccessStore>(
        &self,
        store: &mut S,
        challenge: &str,
        now: i64,
    ) -> Result<(BearerSecret, RequestChallengeResponse)> {
        let p = self.take_mfa_challenge(store, challenge, now)?;
        let keys: Vec<Passkey> = self.stored_passkeys(store, p.id)?.into_iter().map(|(_, k)| k).collect();
        if keys.is_empty() {
            return Err(AccessError::NotEnrolled);
        }
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(&keys)
            .map_err(|e| AccessError::Invalid(format!("WebAuthn: {e}")))?;
        let next = self.ceremony_challenge(store, p.id, ChallengePurpose::PasskeyLogin, &state, now)?;
        Ok((next, options))
    }

    /// Step two with a passkey, part two: the signed assertion gives a session. The
    /// challenge works once, and the passkey's signature counter must move on.
    pub fn login_passkey_finish<S: AccessStore>(
        &self,
        store: &mut S,
        challenge: &str,
        credential: &PublicKeyCredential,
        now: i64,
    ) -> Result<NewSession> {
        let (owner, state): (u64, PasskeyAuthentication) =
            self.take_ceremony(store, challenge, ChallengePurpose::PasskeyLogin, now)?;
        let p = store.principal(owner)?.ok_or(AccessError::ChallengeInvalid)?;
        if p.suspended {
            return Err(AccessError::Suspended);
        }
        let result = self
            .webauthn
            .finish_passkey_authentication(credential, &state)
            .map_err(|_| AccessError::InvalidCredentials)?;
        for (id, mut key) in self.stored_passkeys(store, p.id)? {
            if key.cred_id() == result.cred_id() {
                key.update_credential(&result);
                let json = serde_json::to_string(&key).map_err(|e| AccessError::Corrupt(e.to_string()))?;
                store.update_passkey(id, &json, now)?;
            }
        }
        self.new_session(store, &p, now)
    }

    pub fn passkeys<S: AccessStore>(&self, store: &S, principal: u64) -> Result<Vec<PasskeyRecord>> {
        Ok(store.passkeys_of(principal)?)
    }

    // ---- per request ----------------------------------------------------------------

    /// The principal behind a session token, if the session is live: not revoked, not idle
    /// too long, not past its absolute expiry, and its principal not suspended.
    pub fn authenticate_session<S: AccessStore>(
        &self,
        store: &mut S,
        token: &str,
        now: i64,
    ) -> Result<Principal> {
        let hash = crate::secret::hash_secret(token);
        let s = store.session(&hash)?.ok_or(AccessError::SessionInvalid)?;
        if s.revoked || now > s.absolute_expires || now - s.last_seen > self.config.session_idle_secs {
            return Err(AccessError::SessionInvalid);
        }
        let p = store.principal(s.principal_id)?.ok_or(AccessError::SessionInvalid)?;
        if p.suspended {
            return Err(AccessError::SessionInvalid);
        }
        if now - s.last_seen >= TOUCH_EVERY_SECS {
            store.touch_session(&hash, now)?;
        }
        Ok(Principal {
            id: p.id,
            name: p.name.clone(),
            kind: p.kind,
            access: Access { grants: grants_of(&p), token_scope: None },
            method: AuthMethod::Session,
            client: None,
        })
    }

    pub fn authenticate_token<S: AccessStore>(
        &self,
        store: &mut S,
        token: &str,
        now: i64,
    ) -> Result<Principal> {
        let t = store.token(&crate::secret::hash_secret(token))?.ok_or(AccessError::TokenInvalid)?;
        if t.revoked || now > t.expires_at {
            return Err(AccessError::TokenInvalid);
        }
        let p = store.principal(t.principal_id)?.ok_or(AccessError::TokenInvalid)?;
        if p.suspended {
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
        })
    }

    pub fn logout<S: AccessStore>(&self, store: &mut S, token: &str, now: i64) -> Result<bool> {
        Ok(store.revoke_session(&crate::secret::hash_secret(token), now)?)
    }

    /// Revokes every session of a principal not already revoked; returns how many.
    pub fn revoke_sessions<S: AccessStore>(&self, store: &mut S, name: &str, now: i64) -> Result<u64> {
        let p = self.principal_named(store, name)?;
        Ok(store.revoke_sessions_of(p.id, now)?)
    }

    pub fn revoke_token<S: AccessStore>(&self, store: &mut S, id: u64, now: i64) -> Result<bool> {
        Ok(store.revoke_token(id, now)?)
    }
}

/// Roles parsed from `role@AUTHORITY` (or `role@*`) arguments.
pub fn parse_grant(s: &str) -> std::result::Result<Grant, String> {
    let (role, scope) =
        s.split_once('@').ok_or_else(|| format!("`{s}`: write a grant as ROLE@AUTHORITY or ROLE@*"))?;
    Ok(Grant { role: role.parse::<Role>()?, scope: Scope::parse(scope) })
}
