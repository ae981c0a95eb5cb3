//! Login flows against a real SQLite store and file keyring: a password alone never gives a
//! session, TOTP codes work once, challenges work once, and every secret is stored hashed or
//! sealed.

use rollguard_access::*;
mod common;

use common::*;
use rollguard_store::{AccessRead, PrincipalKind};
use tempfile::TempDir;

const NOW: i64 = 1_800_000_000;
const PASSWORD: &str = "mossy-harbour-lantern-42";

struct World {
    _dir: TempDir,
    db: std::path::PathBuf,
    store: AutoCommit,
    accounts: Accounts,
    totp_key: rollguard_sealing::KeyBytes,
}

fn cheap() -> AccountsConfig {
    AccountsConfig { hasher: PasswordHasher::new(1024, 1, 1), ..Default::default() }
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let store = AutoCommit::open(&db);
    let totp_key = rollguard_sealing::KeyBytes::random();
    let accounts = Accounts::new(&totp_key, cheap()).unwrap();
    World { _dir: dir, db, store, accounts, totp_key }
}

fn staff(authority: &str) -> Vec<Grant> {
    vec![Grant { role: Role::RegistrationStaff, scope: Scope::parse(authority) }]
}

/// Adds `ann` and enrols her; returns her TOTP secret.
fn enrolled_ann(w: &mut World) -> (TotpSecret, Vec<String>) {
    let (_, secret) = w
        .accounts
        .add_principal(&mut w.store, "ann", PrincipalKind::Human, &staff("E1"), "test", NOW)
        .unwrap();
    let start = w.accounts.enrol_start(&mut w.store, "ann", secret.unwrap().expose(), NOW).unwrap();
    let code = start.totp_secret.code_at(secs(NOW));
    let done =
        enrol_finish(&w.accounts, &mut w.store, start.challenge.expose(), PASSWORD, &code, NOW).unwrap();
    let codes = done.recovery_codes.iter().map(|c| c.to_string()).collect();
    (start.totp_secret, codes)
}

/// A test time as the seconds a TOTP code is computed at.
fn secs(at: i64) -> u64 {
    at.try_into().unwrap()
}

fn challenge(w: &mut World, at: i64) -> String {
    match login_password(&w.accounts, &mut w.store, "ann", PASSWORD, at).unwrap() {
        LoginStep::SecondFactor { challenge, .. } => challenge.expose().to_owned(),
    }
}

#[test]
fn a_password_alone_gives_no_session() {
    let mut w = world();
    enrolled_ann(&mut w);
    let c = challenge(&mut w, NOW + 100);
    // The challenge is not a session, and cannot be used as one.
    assert!(matches!(
        authenticate_session(&w.accounts, &mut w.store, &c, NOW + 100),
        Err(AccessError::SessionInvalid)
    ));
    // A human with a password but no second factor cannot log in at all.
    w.accounts.reset_enrolment(&mut w.store, "ann", NOW + 200).unwrap();
    assert!(matches!(
        login_password(&w.accounts, &mut w.store, "ann", PASSWORD, NOW + 200),
        Err(AccessError::NotEnrolled)
    ));
}

#[test]
fn a_totp_code_is_accepted_once() {
    let mut w = world();
    let (totp, _) = enrolled_ann(&mut w);
    let at = NOW + 300;
    let code = totp.code_at(secs(at));
    let c1 = challenge(&mut w, at);
    let s = login_totp(&w.accounts, &mut w.store, &c1, &code, at).unwrap();
    assert!(authenticate_session(&w.accounts, &mut w.store, s.token.expose(), at).is_ok());
    // The same code again, with a fresh password step: a replay.
    let c2 = challenge(&mut w, at + 5);
    assert!(matches!(
        login_totp(&w.accounts, &mut w.store, &c2, &code, at + 5),
        Err(AccessError::InvalidCredentials)
    ));
    // So is the previous step's code, still inside the skew window.
    let c3 = challenge(&mut w, at + 5);
    let earlier = totp.code_at(secs(at - 30));
    assert!(login_totp(&w.accounts, &mut w.store, &c3, &earlier, at + 5).is_err());
    // The next step's code works.
    let c4 = challenge(&mut w, at + 30);
    assert!(login_totp(&w.accounts, &mut w.store, &c4, &totp.code_at(secs(at + 30)), at + 30).is_ok());
}

#[test]
fn the_enrolment_code_cannot_be_replayed_to_log_in() {
    let mut w = world();
    let (totp, _) = enrolled_ann(&mut w);
    let c = challenge(&mut w, NOW + 10);
    assert!(login_totp(&w.accounts, &mut w.store, &c, &totp.code_at(secs(NOW)), NOW + 10).is_err());
}

#[test]
fn a_challenge_works_once_even_after_a_wrong_code() {
    let mut w = world();
    let (totp, _) = enrolled_ann(&mut w);
    let at = NOW + 600;
    let c = challenge(&mut w, at);
    let wrong = if totp.code_at(secs(at)) == "000000" { "111111" } else { "000000" };
    assert!(login_totp(&w.accounts, &mut w.store, &c, wrong, at).is_err());
    assert!(matches!(
        login_totp(&w.accounts, &mut w.store, &c, &totp.code_at(secs(at)), at),
        Err(AccessError::ChallengeInvalid)
    ));
    // And it expires.
    let late = challenge(&mut w, at);
    let after = at + cheap().challenge_secs + 1;
    assert!(matches!(
        login_totp(&w.accounts, &mut w.store, &late, &totp.code_at(secs(after)), after),
        Err(AccessError::ChallengeInvalid)
    ));
}

#[test]
fn a_recovery_code_works_once() {
    let mut w = world();
    let (_, codes) = enrolled_ann(&mut w);
    assert_eq!(codes.len(), 10);
    let c = challenge(&mut w, NOW + 60);
    assert!(login_recovery(&w.accounts, &mut w.store, &c, &codes[3].to_uppercase(), NOW + 60).is_ok());
    let c = challenge(&mut w, NOW + 61);
    assert!(login_recovery(&w.accounts, &mut w.store, &c, &codes[3], NOW + 61).is_err());
    assert_eq!(w.store.unused_recovery_codes(1).unwrap(), 9);
}

#[test]
fn wrong_passwords_and_unknown_names_fail_alike() {
    let mut w = world();
    enrolled_ann(&mut w);
    let a = login_password(&w.accounts, &mut w.store, "ann", "mossy-harbour-lantern-43", NOW).unwrap_err();
    let b = login_password(&w.accounts, &mut w.store, "nobody", PASSWORD, NOW).unwrap_err();
    assert_eq!(a.to_string(), b.to_string());
}

#[test]
fn sessions_expire_when_idle_or_old_and_can_be_revoked() {
    let mut w = world();
    let (totp, _) = enrolled_ann(&mut w);
    let cfg = cheap();
    let login = |w: &mut World, at: i64| {
        let c = challenge(w, at);
        login_totp(&w.accounts, &mut w.store, &c, &totp.code_at(secs(at)), at).unwrap()
    };
    let s = login(&mut w, NOW + 1000);
    let t = s.token.expose().to_owned();
    assert!(
        authenticate_session(&w.accounts, &mut w.store, &t, NOW + 1000 + cfg.session_idle_secs - 10).is_ok()
    );
    // Used just now, so still live one idle period later...
    let later = NOW + 1000 + 2 * cfg.session_idle_secs - 20;
    assert!(authenticate_session(&w.accounts, &mut w.store, &t, later).is_ok());
    // ...but not after an idle period with no use.
    assert!(authenticate_session(&w.accounts, &mut w.store, &t, later + cfg.session_idle_secs + 1).is_err());

    let s = login(&mut w, NOW + 5000);
    assert!(w.accounts.logout(&mut w.store, s.token.expose(), NOW + 5001).unwrap());
    assert!(authenticate_session(&w.accounts, &mut w.store, s.token.expose(), NOW + 5002).is_err());

    // Revoking all of a principal's sessions.
    let a = login(&mut w, NOW + 6000);
    let b = login(&mut w, NOW + 6030);
    // Four not yet revoked: the one enrolment opened, the idle one, and these two.
    assert_eq!(w.accounts.revoke_sessions(&mut w.store, "ann", NOW + 6040).unwrap(), 4);
    for s in [a, b] {
        assert!(authenticate_session(&w.accounts, &mut w.store, s.token.expose(), NOW + 6041).is_err());
    }
}

#[test]
fn forged_session_and_api_tokens_are_refused() {
    let mut w = world();
    enrolled_ann(&mut w);
    for forged in ["rgs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "", "rgt_x"] {
        assert!(authenticate_session(&w.accounts, &mut w.store, forged, NOW).is_err());
        assert!(w.accounts.authenticate_token(&w.store, forged, NOW).is_err());
    }
}

#[test]
fn api_tokens_are_scoped_expire_and_revoke() {
    let mut w = world();
    let grants = vec![Grant { role: Role::RegistrationStaff, scope: Scope::All }];
    w.accounts.add_principal(&mut w.store, "ems-sync", PrincipalKind::Service, &grants, "test", NOW).unwrap();
    let (id, token) = w
        .accounts
        .create_token(
            &mut w.store,
            "ems-sync",
            "nightly",
            &[Permission::ElectorRead],
            &[Scope::parse("E1")],
            3600,
            NOW,
        )
        .unwrap();
    let p = w.accounts.authenticate_token(&w.store, token.expose(), NOW + 10).unwrap();
    assert!(p.access.allows(Permission::ElectorRead, "E1"));
    assert!(!p.access.allows(Permission::ElectorRead, "E2"));
    assert!(!p.access.allows(Permission::ElectorWrite, "E1"));
    assert!(w.accounts.authenticate_token(&w.store, token.expose(), NOW + 3601).is_err(), "expired");
    assert!(w.accounts.revoke_token(&mut w.store, id, NOW + 20).unwrap());
    assert!(w.accounts.authenticate_token(&w.store, token.expose(), NOW + 21).is_err(), "revoked");
    // People do not get tokens.
    w.accounts.add_principal(&mut w.store, "bea", PrincipalKind::Human, &[], "test", NOW).unwrap();
    assert!(w
        .accounts
        .create_token(&mut w.store, "bea", "x", &[Permission::ElectorRead], &[Scope::All], 3600, NOW)
        .is_err());
}

#[test]
fn suspension_revokes_sessions_and_tokens() {
    let mut w = world();
    let (totp, _) = enrolled_ann(&mut w);
    let c = challenge(&mut w, NOW + 90);
    let s = login_totp(&w.accounts, &mut w.store, &c, &totp.code_at(secs(NOW + 90)), NOW + 90).unwrap();
    w.accounts.set_suspended(&mut w.store, "ann", true, NOW + 100).unwrap();
    assert!(matches!(
        authenticate_session(&w.accounts, &mut w.store, s.token.expose(), NOW + 101),
        Err(AccessError::SessionInvalid)
    ));
    assert!(matches!(
        login_password(&w.accounts, &mut w.store, "ann", PASSWORD, NOW + 102),
        Err(AccessError::Suspended)
    ));
}

#[test]
fn enrolment_secrets_are_single_purpose_and_expire() {
    let mut w = world();
    let (_, secret) = w
        .accounts
        .add_principal(&mut w.store, "cal", PrincipalKind::Human, &staff("E1"), "test", NOW)
        .unwrap();
    let secret = secret.unwrap();
    assert!(w.accounts.enrol_start(&mut w.store, "cal", "rge_wrong", NOW).is_err());
    assert!(
        w.accounts.enrol_start(&mut w.store, "ann", secret.expose(), NOW).is_err(),
        "someone else's name"
    );
    let late = NOW + cheap().enrolment_secs + 1;
    assert!(w.accounts.enrol_start(&mut w.store, "cal", secret.expose(), late).is_err(), "expired");
    // A weak password is refused without using up the challenge.
    let start = w.accounts.enrol_start(&mut w.store, "cal", secret.expose(), NOW).unwrap();
    let code = start.totp_secret.code_at(secs(NOW));
    assert!(matches!(
        enrol_finish(&w.accounts, &mut w.store, start.challenge.expose(), "password1234", &code, NOW),
        Err(AccessError::Password(PasswordRejected::Common))
    ));
    enrol_finish(&w.accounts, &mut w.store, start.challenge.expose(), PASSWORD, &code, NOW).unwrap();
    // Once enrolled, the enrolment secret is spent.
    assert!(w.accounts.enrol_start(&mut w.store, "cal", secret.expose(), NOW + 1).is_err());
}

#[test]
fn a_weaker_password_hash_is_replaced_at_login() {
    let mut w = world();
    enrolled_ann(&mut w);
    let before = w.store.principal_by_name("ann").unwrap().unwrap().password_hash.unwrap();
    assert!(before.contains("m=1024,t=1,p=1"));
    let stronger = AccountsConfig { hasher: PasswordHasher::new(2048, 2, 1), ..Default::default() };
    let accounts = Accounts::new(&w.totp_key, stronger).unwrap();
    login_password(&accounts, &mut w.store, "ann", PASSWORD, NOW + 10).unwrap();
    let after = w.store.principal_by_name("ann").unwrap().unwrap().password_hash.unwrap();
    assert!(after.contains("m=2048,t=2,p=1"), "{after}");
}

#[test]
fn secrets_are_stored_hashed_or_sealed_and_tampering_fails_closed() {
    let mut w = world();
    let (totp, codes) = enrolled_ann(&mut w);
    let c = challenge(&mut w, NOW + 40);
    let s = login_totp(&w.accounts, &mut w.store, &c, &totp.code_at(secs(NOW + 30)), NOW + 40).unwrap();
    w.store.checkpoint().unwrap();
    let bytes = std::fs::read(&w.db).unwrap();
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|win| win == needle);
    assert!(!contains(totp.expose()), "raw TOTP secret");
    assert!(!contains(totp.base32().as_bytes()), "base32 TOTP secret");
    assert!(!contains(PASSWORD.as_bytes()));
    assert!(!contains(s.token.expose().as_bytes()));
    assert!(!contains(codes[0].as_bytes()));
    // Flip a byte of the sealed TOTP secret: login fails, it does not fall back to anything.
    let raw = rusqlite::Connection::open(&w.db).unwrap();
    let mut sealed: Vec<u8> =
        raw.query_row("SELECT totp_sealed FROM principals WHERE name = 'ann'", [], |r| r.get(0)).unwrap();
    sealed[20] ^= 0x01;
    raw.execute("UPDATE principals SET totp_sealed = ?1 WHERE name = 'ann'", [sealed]).unwrap();
    let c = challenge(&mut w, NOW + 100);
    assert!(matches!(
        login_totp(&w.accounts, &mut w.store, &c, &totp.code_at(secs(NOW + 90)), NOW + 100),
        Err(AccessError::Corrupt(_))
    ));
}

#[test]
fn a_totp_secret_sealed_under_another_key_does_not_open() {
    let mut w = world();
    let (totp, _) = enrolled_ann(&mut w);
    // The same register, with accounts holding some other seal key (a foreign keyring's).
    let foreign = Accounts::new(&rollguard_sealing::KeyBytes::random(), cheap()).unwrap();
    let c = challenge(&mut w, NOW + 100);
    assert!(matches!(
        login_totp(&foreign, &mut w.store, &c, &totp.code_at(secs(NOW + 90)), NOW + 100),
        Err(AccessError::Corrupt(_))
    ));
}
