//! A store whose every access call is its own transaction, so these tests can drive the
//! account flows step by step (each committed, as a use case would commit it).
#![allow(dead_code)]

use rollguard_store::*;
use std::cell::RefCell;

pub struct AutoCommit(pub RefCell<SqliteStore>);

impl AutoCommit {
    pub fn open(path: &std::path::Path) -> Self {
        Self(RefCell::new(SqliteStore::open(path).unwrap()))
    }

    fn read<T>(&self, f: impl FnOnce(&dyn ReadTx) -> Result<T>) -> Result<T> {
        let mut store = self.0.borrow_mut();
        let tx = store.read()?;
        f(&*tx)
    }

    fn write<T>(&mut self, f: impl FnOnce(&mut dyn WriteTx) -> Result<T>) -> Result<T> {
        let mut store = self.0.borrow_mut();
        let mut tx = store.write()?;
        let r = f(&mut *tx)?;
        tx.commit()?;
        Ok(r)
    }

    pub fn checkpoint(&self) -> Result<()> {
        self.0.borrow().checkpoint()
    }
}

impl AccessRead for AutoCommit {
    fn system_key(&self, purpose: &str) -> Result<Option<SystemKeyRecord>> {
        self.read(|tx| tx.system_key(purpose))
    }

    fn system_keys(&self) -> Result<Vec<SystemKeyRecord>> {
        self.read(|tx| tx.system_keys())
    }

    fn principal(&self, id: u64) -> Result<Option<PrincipalRecord>> {
        self.read(|tx| tx.principal(id))
    }

    fn principal_by_name(&self, name: &str) -> Result<Option<PrincipalRecord>> {
        self.read(|tx| tx.principal_by_name(name))
    }

    fn principals(&self) -> Result<Vec<PrincipalRecord>> {
        self.read(|tx| tx.principals())
    }

    fn unused_recovery_codes(&self, id: u64) -> Result<u64> {
        self.read(|tx| tx.unused_recovery_codes(id))
    }

    fn challenge(&self, hash: &SecretHash) -> Result<Option<ChallengeRecord>> {
        self.read(|tx| tx.challenge(hash))
    }

    fn session(&self, hash: &SecretHash) -> Result<Option<SessionRecord>> {
        self.read(|tx| tx.session(hash))
    }

    fn passkeys_of(&self, principal: u64) -> Result<Vec<PasskeyRecord>> {
        self.read(|tx| tx.passkeys_of(principal))
    }

    fn token(&self, hash: &SecretHash) -> Result<Option<TokenRecord>> {
        self.read(|tx| tx.token(hash))
    }

    fn token_by_id(&self, id: u64) -> Result<Option<TokenRecord>> {
        self.read(|tx| tx.token_by_id(id))
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>> {
        self.read(|tx| tx.tokens())
    }
}

impl AccessWrite for AutoCommit {
    fn set_enrolment(&mut self, id: u64, enrolment: Option<(SecretHash, i64)>) -> Result<()> {
        self.write(|tx| tx.set_enrolment(id, enrolment))
    }

    fn put_system_key(&mut self, key: &SystemKeyRecord) -> Result<()> {
        self.write(|tx| tx.put_system_key(key))
    }

    fn create_principal(&mut self, name: &str, kind: PrincipalKind, now: i64) -> Result<u64> {
        self.write(|tx| tx.create_principal(name, kind, now))
    }

    fn set_password(&mut self, id: u64, hash: &str) -> Result<()> {
        self.write(|tx| tx.set_password(id, hash))
    }

    fn complete_enrolment(&mut self, id: u64, e: &Enrolment<'_>) -> Result<()> {
        self.write(|tx| tx.complete_enrolment(id, e))
    }

    fn advance_totp_step(&mut self, id: u64, step: u64) -> Result<bool> {
        self.write(|tx| tx.advance_totp_step(id, step))
    }

    fn set_suspended(&mut self, id: u64, suspended: bool) -> Result<()> {
        self.write(|tx| tx.set_suspended(id, suspended))
    }

    fn add_grant(&mut self, id: u64, grant: &GrantRecord, by: &str, now: i64) -> Result<()> {
        self.write(|tx| tx.add_grant(id, grant, by, now))
    }

    fn remove_grant(&mut self, id: u64, grant: &GrantRecord) -> Result<bool> {
        self.write(|tx| tx.remove_grant(id, grant))
    }

    fn use_recovery_code(&mut self, id: u64, code: &SecretHash, now: i64) -> Result<bool> {
        self.write(|tx| tx.use_recovery_code(id, code, now))
    }

    fn insert_challenge(&mut self, hash: &SecretHash, c: &ChallengeRecord) -> Result<()> {
        self.write(|tx| tx.insert_challenge(hash, c))
    }

    fn take_challenge(&mut self, hash: &SecretHash) -> Result<Option<ChallengeRecord>> {
        self.write(|tx| tx.take_challenge(hash))
    }

    fn insert_session(&mut self, hash: &SecretHash, s: &SessionRecord) -> Result<()> {
        self.write(|tx| tx.insert_session(hash, s))
    }

    fn touch_session(&mut self, hash: &SecretHash, now: i64) -> Result<()> {
        self.write(|tx| tx.touch_session(hash, now))
    }

    fn revoke_session(&mut self, hash: &SecretHash, now: i64) -> Result<bool> {
        self.write(|tx| tx.revoke_session(hash, now))
    }

    fn revoke_sessions_of(&mut self, principal: u64, now: i64) -> Result<u64> {
        self.write(|tx| tx.revoke_sessions_of(principal, now))
    }

    fn insert_passkey(&mut self, p: &PasskeyRecord) -> Result<u64> {
        self.write(|tx| tx.insert_passkey(p))
    }

    fn update_passkey(&mut self, id: u64, passkey: &str, now: i64) -> Result<()> {
        self.write(|tx| tx.update_passkey(id, passkey, now))
    }

    fn remove_passkey(&mut self, principal: u64, id: u64) -> Result<bool> {
        self.write(|tx| tx.remove_passkey(principal, id))
    }

    fn insert_token(&mut self, hash: &SecretHash, t: &TokenRecord) -> Result<u64> {
        self.write(|tx| tx.insert_token(hash, t))
    }

    fn revoke_token(&mut self, id: u64, now: i64) -> Result<bool> {
        self.write(|tx| tx.revoke_token(id, now))
    }

    fn revoke_tokens_of(&mut self, principal: u64, now: i64) -> Result<u64> {
        self.write(|tx| tx.revoke_tokens_of(principal, now))
    }
}

// The flows the way a use case runs them, step by step, each step committed.

use rollguard_access::{AccessError, Accounts, LoginStep, NewSession, Principal};

pub fn login_password(
    a: &Accounts,
    s: &mut AutoCommit,
    name: &str,
    pw: &str,
    now: i64,
) -> std::result::Result<LoginStep, AccessError> {
    let p = s.principal_by_name(name.trim())?;
    let v = a.verify_password(p.as_ref(), pw)?;
    a.open_challenge(s, &v, now)
}

pub fn enrol_finish(
    a: &Accounts,
    s: &mut AutoCommit,
    ch: &str,
    pw: &str,
    code: &str,
    now: i64,
) -> std::result::Result<rollguard_access::Enrolled, AccessError> {
    let (c, p) = a.enrolment_challenge(s, ch)?;
    let ready = a.prepare_enrolment(&c, &p, pw, code, now)?;
    a.finish_enrolment(s, ch, ready, now)
}

pub fn login_totp(
    a: &Accounts,
    s: &mut AutoCommit,
    ch: &str,
    code: &str,
    now: i64,
) -> std::result::Result<NewSession, AccessError> {
    a.login_totp(s, ch, code, now).result
}

pub fn login_recovery(
    a: &Accounts,
    s: &mut AutoCommit,
    ch: &str,
    code: &str,
    now: i64,
) -> std::result::Result<NewSession, AccessError> {
    a.login_recovery(s, ch, code, now).result
}

pub fn authenticate_session(
    a: &Accounts,
    s: &mut AutoCommit,
    token: &str,
    now: i64,
) -> std::result::Result<Principal, AccessError> {
    let auth = a.authenticate_session(s, token, now)?;
    if let Some(hash) = auth.touch {
        s.touch_session(&hash, now)?;
    }
    Ok(auth.principal)
}
