//! Passkeys (WebAuthn, via `webauthn-rs`), a second factor beside TOTP: registered from a
//! logged-in session, used after the password step. The ceremony state rides in the
//! single-use challenge row; the stored passkey is public material.

use crate::accounts::{Accounts, AuthMethod, NewSession, Principal};
use crate::error::{AccessError, Result};
use crate::secret::{hash_secret, BearerSecret, SecretKind};
use rollguard_store::{
    AccessRead, AccessWrite, ChallengePurpose, ChallengeRecord, PasskeyRecord, PrincipalKind,
};
use webauthn_rs::prelude::{
    CreationChallengeResponse, CredentialID, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Uuid,
};

impl Accounts {
    fn ceremony_challenge<S: AccessWrite + ?Sized>(
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

    fn take_ceremony<S: AccessWrite + ?Sized, T: serde::de::DeserializeOwned>(
        &self,
        store: &mut S,
        challenge: &str,
        purpose: ChallengePurpose,
        now: i64,
    ) -> Result<(u64, T)> {
        let c = store.take_challenge(&hash_secret(challenge.trim()))?.ok_or(AccessError::ChallengeInvalid)?;
        if c.purpose != purpose || now > c.expires_at {
            return Err(AccessError::ChallengeInvalid);
        }
        let state = serde_json::from_str(c.ceremony.as_deref().ok_or(AccessError::ChallengeInvalid)?)
            .map_err(|_| AccessError::ChallengeInvalid)?;
        Ok((c.principal_id, state))
    }

    fn stored_passkeys<S: AccessRead + ?Sized>(
        &self,
        store: &S,
        principal: u64,
    ) -> Result<Vec<(u64, Passkey)>> {
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
    pub fn passkey_register_start<S: AccessWrite + ?Sized>(
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
    pub fn passkey_register_finish<S: AccessWrite + ?Sized>(
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
    pub fn login_passkey_start<S: AccessWrite + ?Sized>(
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
    pub fn login_passkey_finish<S: AccessWrite + ?Sized>(
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

    pub fn passkeys<S: AccessRead + ?Sized>(&self, store: &S, principal: u64) -> Result<Vec<PasskeyRecord>> {
        Ok(store.passkeys_of(principal)?)
    }
}
