//! Logins, enrolment, passkeys, sessions and per-request authentication. Every step is
//! audited in the transaction that makes it (a consumed challenge, a used TOTP step, a new
//! session), refused steps included. Password hashing runs outside any write transaction.

use crate::audit::{emit, settle, Committed};
use crate::{Actor, Result, Service, ServiceError};
use rollguard_access::{AccessError, AuthMethod, EnrolStart, Enrolled, LoginStep, NewSession};
use rollguard_audit::{Event, Kind, Outcome};
use rollguard_store::{Throttle, WriteTx};
use webauthn_types::{
    CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse,
};

/// WebAuthn types, as `rollguard-access` takes them.
mod webauthn_types {
    pub use rollguard_access::webauthn::{
        CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse,
    };
}

/// A token bucket: `burst` attempts at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoginRate {
    pub burst: f64,
    pub per_second: f64,
}

/// Takes one attempt from the bucket under `key`, in the register: `Err(seconds)` when it
/// is empty.
fn take_attempt(
    tx: &mut dyn WriteTx,
    key: &str,
    rate: LoginRate,
    now_ms: i64,
) -> std::result::Result<std::result::Result<(), u64>, rollguard_store::StoreError> {
    let t = tx.throttle(key)?.unwrap_or(Throttle { tokens: rate.burst, updated_ms: now_ms });
    let elapsed = (now_ms - t.updated_ms).max(0) as f64 / 1000.0;
    let tokens = (t.tokens + elapsed * rate.per_second).min(rate.burst);
    if tokens < 1.0 {
        tx.set_throttle(key, &Throttle { tokens, updated_ms: now_ms })?;
        // Whole seconds until a token is back: positive, and a float-to-integer `as`
        // saturates, so an absurdly slow rate waits `u64::MAX` rather than wrapping.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let wait = ((1.0 - tokens) / rate.per_second.max(1e-9)).ceil() as u64;
        return Ok(Err(wait.max(1)));
    }
    tx.set_throttle(key, &Throttle { tokens: tokens - 1.0, updated_ms: now_ms })?;
    Ok(Ok(()))
}

/// A login step's event: outcome, the principal (claimed or known), the client, why it
/// failed.
fn step_event<T>(
    now_ms: i64,
    kind: Kind,
    principal: Option<String>,
    client: &str,
    r: &Result<T, AccessError>,
) -> Event {
    let mut ev = Event::new(now_ms, kind, if r.is_ok() { Outcome::Success } else { Outcome::Failure });
    ev.principal = principal;
    ev.client = Some(client.to_owned());
    if let Err(e) = r {
        ev.detail.insert("reason".into(), e.to_string());
    }
    ev
}

/// Store failures undo the step (nothing can be recorded); access decisions are recorded.
fn decided<T>(r: Result<T, AccessError>) -> Result<Result<T, AccessError>> {
    match r {
        Err(AccessError::Store(e)) => Err(e.into()),
        other => Ok(other),
    }
}

impl Service {
    /// Step one of a login: name and password give a challenge, never a session. Attempts
    /// per account are limited in the register (so a restart or another server gives no
    /// fresh allowance), before the password is checked.
    pub fn login_password(&self, name: &str, password: &str, client: &str) -> Result<LoginStep> {
        let now_ms = self.now_ms();
        let claimed: String = name.trim().chars().take(64).collect();
        let key = format!("account:{}", claimed.to_lowercase());
        let rate = self.policy().account_login;
        let lookup = claimed.clone();
        let found = self.register().write(move |tx| -> Committed<_> {
            if let Err(retry_after) = take_attempt(tx, &key, rate, now_ms)? {
                return Ok(Err(ServiceError::RateLimited { retry_after }));
            }
            Ok(Ok(tx.principal_by_name(&lookup)?))
        });
        let record = settle(found)?;
        let verified = self.accounts().verify_password(record.as_ref(), password);
        let (svc, client) = (self.clone(), client.to_owned());
        settle(self.register().write(move |tx| -> Committed<LoginStep> {
            let r = decided(match verified {
                Ok(v) => svc.accounts().open_challenge(tx, &v, now_ms / 1000),
                Err(e) => Err(e),
            })?;
            emit(tx, &step_event(now_ms, Kind::AuthPassword, Some(claimed), &client, &r))?;
            // The record says why; the caller hears what a wrong password hears, so a
            // password is never confirmed for an account that cannot finish signing in.
            Ok(r.map_err(|e| match e {
                AccessError::Suspended | AccessError::NotEnrolled => AccessError::InvalidCredentials.into(),
                e => e.into(),
            }))
        }))
    }

    /// Step two with a TOTP code (`recovery`: a single-use recovery code instead).
    pub fn login_second_factor(
        &self,
        challenge: &str,
        code: &str,
        recovery: bool,
        client: &str,
    ) -> Result<NewSession> {
        let (svc, challenge, code, client) =
            (self.clone(), challenge.to_owned(), code.to_owned(), client.to_owned());
        let now_ms = self.now_ms();
        settle(self.register().write(move |tx| -> Committed<NewSession> {
            let now = now_ms / 1000;
            let attempt = if recovery {
                svc.accounts().login_recovery(tx, &challenge, &code, now)
            } else {
                svc.accounts().login_totp(tx, &challenge, &code, now)
            };
            let r = decided(attempt.result)?;
            let mut ev = step_event(now_ms, Kind::AuthMfa, attempt.principal, &client, &r);
            ev.detail.insert("factor".into(), if recovery { "recovery-code" } else { "totp" }.into());
            if r.is_ok() {
                ev.detail.insert("session".into(), "opened".into());
            }
            emit(tx, &ev)?;
            Ok(r.map_err(Into::into))
        }))
    }

    /// First login: the enrolment secret for a TOTP secret.
    pub fn enrol_start(&self, name: &str, secret: &str, client: &str) -> Result<EnrolStart> {
        let (svc, name, secret, client) =
            (self.clone(), name.to_owned(), secret.to_owned(), client.to_owned());
        let now_ms = self.now_ms();
        settle(self.register().write(move |tx| -> Committed<EnrolStart> {
            let r = decided(svc.accounts().enrol_start(tx, &name, &secret, now_ms / 1000))?;
            let claimed: String = name.trim().chars().take(64).collect();
            emit(tx, &step_event(now_ms, Kind::AuthEnrol, Some(claimed), &client, &r))?;
            Ok(r.map_err(Into::into))
        }))
    }

    /// First login, finished: the password set, the TOTP secret proved, recovery codes and
    /// a session returned.
    pub fn enrol_finish(
        &self,
        challenge: &str,
        password: &str,
        code: &str,
        client: &str,
    ) -> Result<Enrolled> {
        let now_ms = self.now_ms();
        let found = self
            .register()
            .read(|tx| Ok::<_, ServiceError>(self.accounts().enrolment_challenge(tx, challenge)))?;
        let prepared = found.and_then(|(c, p)| {
            self.accounts().prepare_enrolment(&c, &p, password, code, now_ms / 1000).map(|r| (r, p.name))
        });
        let (svc, challenge, client) = (self.clone(), challenge.to_owned(), client.to_owned());
        settle(self.register().write(move |tx| -> Committed<Enrolled> {
            let (principal, r) = match prepared {
                Ok((ready, name)) => {
                    (Some(name), svc.accounts().finish_enrolment(tx, &challenge, ready, now_ms / 1000))
                }
                Err(e) => (None, Err(e)),
            };
            let r = decided(r)?;
            emit(tx, &step_event(now_ms, Kind::AuthEnrol, principal, &client, &r))?;
            Ok(r.map_err(Into::into))
        }))
    }

    /// The principal behind a bearer secret (an API token, or a session), as an actor
    /// calling from `client`. A session's last-seen time is stored at most once a minute.
    pub fn authenticate(&self, secret: &str, client: Option<String>) -> Result<Actor> {
        let now = self.now_secs();
        let accounts = self.accounts();
        let (mut principal, touch) = self.register().read(|tx| -> Result<_> {
            if secret.starts_with("rgt_") {
                Ok((accounts.authenticate_token(tx, secret, now)?, None))
            } else {
                let a = accounts.authenticate_session(tx, secret, now)?;
                Ok((a.principal, a.touch))
            }
        })?;
        if let Some(hash) = touch {
            self.register().write(move |tx| -> Result<()> { Ok(tx.touch_session(&hash, now)?) })?;
        }
        principal.client = client;
        Ok(Actor::Principal(principal))
    }

    /// Ends the caller's session. An API token is not a session: it is revoked instead, by
    /// an administrator.
    pub fn logout(&self, actor: &Actor, secret: &str) -> Result<()> {
        match actor.principal() {
            Some(p) if p.method == AuthMethod::Session => {}
            Some(_) => return Err(ServiceError::forbidden(
                "an API token is not a session and is not ended by a logout; an administrator revokes it \
                     (DELETE /api/v1/admin/tokens/{id})",
            )),
            None => return Err(ServiceError::forbidden("the console has no session")),
        }
        let (svc, actor, secret) = (self.clone(), actor.clone(), secret.to_owned());
        let now_ms = self.now_ms();
        self.register().write(move |tx| -> Result<()> {
            svc.accounts().logout(tx, &secret, now_ms / 1000)?;
            emit(tx, &actor.event(now_ms, Kind::AuthLogout, Outcome::Success))?;
            Ok(())
        })
    }

    /// A logged-in person starts registering a passkey.
    pub fn passkey_register_start(
        &self,
        actor: &Actor,
    ) -> Result<(rollguard_access::BearerSecret, CreationChallengeResponse)> {
        let now_ms = self.now_ms();
        let p = self.fresh_person(actor, now_ms)?;
        let (svc, actor) = (self.clone(), actor.clone());
        self.register().write(move |tx| -> Result<_> {
            let out = svc.accounts().passkey_register_start(tx, &p, now_ms / 1000)?;
            let ev = actor
                .event(now_ms, Kind::AuthEnrol, Outcome::Success)
                .detail("factor", "passkey")
                .detail("step", "start");
            emit(tx, &ev)?;
            Ok(out)
        })
    }

    /// The person in `actor`'s session if its second factor is fresh; a refusal is recorded.
    fn fresh_person(&self, actor: &Actor, now_ms: i64) -> Result<rollguard_access::Principal> {
        person_with_fresh_factor(actor, now_ms / 1000).or_else(|e| {
            let ev = actor
                .event(now_ms, Kind::AuthEnrol, Outcome::Refused)
                .detail("factor", "passkey")
                .detail("reason", e.to_string());
            self.record(ev)?;
            Err(e)
        })
    }

    /// Verifies the authenticator's answer and keeps the passkey (an audited change to how
    /// the person signs in).
    pub fn passkey_register_finish(
        &self,
        actor: &Actor,
        challenge: &str,
        credential: RegisterPublicKeyCredential,
        label: &str,
    ) -> Result<u64> {
        let now_ms = self.now_ms();
        let p = self.fresh_person(actor, now_ms)?;
        let (svc, actor, challenge, label) =
            (self.clone(), actor.clone(), challenge.to_owned(), label.to_owned());
        self.register().write(move |tx| -> Result<u64> {
            let id = svc.accounts().passkey_register_finish(
                tx,
                &p,
                &challenge,
                &credential,
                &label,
                now_ms / 1000,
            )?;
            let ev = actor
                .event(now_ms, Kind::AuthEnrol, Outcome::Success)
                .detail("factor", "passkey")
                .detail("passkey", id.to_string());
            emit(tx, &ev)?;
            Ok(id)
        })
    }

    /// Step two with a passkey, part one: WebAuthn options for the person's passkeys.
    pub fn passkey_login_start(
        &self,
        challenge: &str,
        client: &str,
    ) -> Result<(rollguard_access::BearerSecret, RequestChallengeResponse)> {
        let (svc, challenge, client) = (self.clone(), challenge.to_owned(), client.to_owned());
        let now_ms = self.now_ms();
        settle(self.register().write(move |tx| -> Committed<_> {
            let r = decided(svc.accounts().login_passkey_start(tx, &challenge, now_ms / 1000))?;
            if r.is_err() {
                emit(tx, &step_event(now_ms, Kind::AuthMfa, None, &client, &r))?;
            }
            Ok(r.map_err(Into::into))
        }))
    }

    /// Step two with a passkey, finished: the signed assertion gives a session.
    pub fn passkey_login_finish(
        &self,
        challenge: &str,
        credential: PublicKeyCredential,
        client: &str,
    ) -> Result<NewSession> {
        let (svc, challenge, client) = (self.clone(), challenge.to_owned(), client.to_owned());
        let now_ms = self.now_ms();
        settle(self.register().write(move |tx| -> Committed<NewSession> {
            let r = decided(svc.accounts().login_passkey_finish(tx, &challenge, &credential, now_ms / 1000))?;
            let principal = r.as_ref().ok().map(|s| s.principal.clone());
            let mut ev = step_event(now_ms, Kind::AuthMfa, principal, &client, &r);
            ev.detail.insert("factor".into(), "passkey".into());
            if r.is_ok() {
                ev.detail.insert("session".into(), "opened".into());
            }
            emit(tx, &ev)?;
            Ok(r.map_err(Into::into))
        }))
    }
}

/// The caller, if a person signed in with a session (passkeys are theirs to register).
/// How recent a second factor must be to change how a person signs in.
pub const FRESH_FACTOR_SECS: i64 = 300;

/// A person in a session whose second factor is at most [`FRESH_FACTOR_SECS`] old at `now`:
/// a stolen session cookie alone cannot add a way in.
fn person_with_fresh_factor(actor: &Actor, now: i64) -> Result<rollguard_access::Principal> {
    match actor.principal() {
        Some(p) if p.kind == rollguard_store::PrincipalKind::Human && p.method == AuthMethod::Session => {
            match p.second_factor_at {
                Some(at) if now - at <= FRESH_FACTOR_SECS => Ok(p.clone()),
                _ => Err(ServiceError::forbidden(
                    "registering a passkey needs a second factor from the last 5 minutes: sign in again, then register it",
                )),
            }
        }
        _ => Err(ServiceError::forbidden("passkeys are registered by a person in a logged-in session")),
    }
}
