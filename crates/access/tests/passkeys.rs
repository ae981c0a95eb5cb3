//! WebAuthn passkeys as the second factor, with a software authenticator: registration
//! from a logged-in session, then password + passkey gives a session; replayed or foreign
//! assertions do not.

use rollguard_access::*;
mod common;

use common::*;
use rollguard_store::PrincipalKind;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs::prelude::Url;

const NOW: i64 = 1_800_000_000;
const PASSWORD: &str = "mossy-harbour-lantern-42";
const ORIGIN: &str = "https://localhost:8443";

struct World {
    _dir: tempfile::TempDir,
    store: AutoCommit,
    accounts: Accounts,
    totp: TotpSecret,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let mut store = AutoCommit::open(&dir.path().join("r.db"));
    let config = AccountsConfig { hasher: PasswordHasher::new(1024, 1, 1), ..Default::default() };
    let accounts = Accounts::new(&rollguard_sealing::KeyBytes::random(), config).unwrap();
    let grants = [Grant { role: Role::RegistrationStaff, scope: Scope::parse("E1") }];
    accounts.add_principal(&mut store, "ann", PrincipalKind::Human, &grants, "test", NOW).unwrap();
    let (totp, _) = accounts.provision_human(&mut store, "ann", PASSWORD, NOW).unwrap();
    World { _dir: dir, store, accounts, totp }
}

fn password_step(w: &mut World) -> String {
    match login_password(&w.accounts, &mut w.store, "ann", PASSWORD, NOW + 5).unwrap() {
        LoginStep::SecondFactor { challenge, .. } => challenge.expose().to_owned(),
    }
}

/// Logs in with TOTP, registers a software passkey, returns the authenticator.
fn with_passkey(w: &mut World) -> WebauthnAuthenticator<SoftPasskey> {
    let c = password_step(w);
    let s = login_totp(&w.accounts, &mut w.store, &c, &w.totp.code_at(NOW as u64 + 5), NOW + 5).unwrap();
    let me = authenticate_session(&w.accounts, &mut w.store, s.token.expose(), NOW + 6).unwrap();
    let (challenge, options) = w.accounts.passkey_register_start(&mut w.store, &me, NOW + 6).unwrap();
    let mut authenticator = WebauthnAuthenticator::new(SoftPasskey::new(true));
    let credential = authenticator.do_registration(Url::parse(ORIGIN).unwrap(), options).unwrap();
    w.accounts
        .passkey_register_finish(&mut w.store, &me, challenge.expose(), &credential, "laptop", NOW + 7)
        .unwrap();
    authenticator
}

#[test]
fn password_then_passkey_gives_a_session() {
    let mut w = world();
    let mut authenticator = with_passkey(&mut w);
    assert_eq!(w.accounts.passkeys(&w.store, 1).unwrap().len(), 1);
    let c = password_step(&mut w);
    let (challenge, options) = w.accounts.login_passkey_start(&mut w.store, &c, NOW + 10).unwrap();
    let assertion = authenticator.do_authentication(Url::parse(ORIGIN).unwrap(), options).unwrap();
    let s = w.accounts.login_passkey_finish(&mut w.store, challenge.expose(), &assertion, NOW + 11).unwrap();
    assert!(authenticate_session(&w.accounts, &mut w.store, s.token.expose(), NOW + 12).is_ok());
    // The same assertion again, even with a fresh password step and ceremony, is refused.
    let c = password_step(&mut w);
    let (challenge, _) = w.accounts.login_passkey_start(&mut w.store, &c, NOW + 13).unwrap();
    assert!(w.accounts.login_passkey_finish(&mut w.store, challenge.expose(), &assertion, NOW + 14).is_err());
}

#[test]
fn a_passkey_ceremony_needs_the_password_step_first_and_works_once() {
    let mut w = world();
    let mut authenticator = with_passkey(&mut w);
    assert!(matches!(
        w.accounts.login_passkey_start(&mut w.store, "rgc_not-a-challenge", NOW + 10),
        Err(AccessError::ChallengeInvalid)
    ));
    let c = password_step(&mut w);
    let (challenge, options) = w.accounts.login_passkey_start(&mut w.store, &c, NOW + 10).unwrap();
    // The password challenge was used up by starting the ceremony.
    assert!(login_totp(&w.accounts, &mut w.store, &c, &w.totp.code_at(NOW as u64 + 40), NOW + 40).is_err());
    let assertion = authenticator.do_authentication(Url::parse(ORIGIN).unwrap(), options).unwrap();
    w.accounts.login_passkey_finish(&mut w.store, challenge.expose(), &assertion, NOW + 11).unwrap();
    assert!(matches!(
        w.accounts.login_passkey_finish(&mut w.store, challenge.expose(), &assertion, NOW + 12),
        Err(AccessError::ChallengeInvalid)
    ));
}

#[test]
fn an_unregistered_authenticator_or_another_origin_is_refused() {
    let mut w = world();
    with_passkey(&mut w);
    let c = password_step(&mut w);
    let (challenge, options) = w.accounts.login_passkey_start(&mut w.store, &c, NOW + 10).unwrap();
    // A different authenticator cannot answer for the registered credential.
    let mut stranger = WebauthnAuthenticator::new(SoftPasskey::new(true));
    let r = stranger.do_authentication(Url::parse(ORIGIN).unwrap(), options.clone());
    assert!(r.is_err(), "an authenticator without the registered credential has nothing to sign with");
    // Nor does a credential registered to someone else answer for ann.
    let grants = [Grant { role: Role::RegistrationStaff, scope: Scope::parse("E1") }];
    w.accounts.add_principal(&mut w.store, "bea", PrincipalKind::Human, &grants, "test", NOW).unwrap();
    let (bea_totp, _) = w.accounts.provision_human(&mut w.store, "bea", PASSWORD, NOW).unwrap();
    let bc = match login_password(&w.accounts, &mut w.store, "bea", PASSWORD, NOW + 5).unwrap() {
        LoginStep::SecondFactor { challenge, .. } => challenge.expose().to_owned(),
    };
    let bs = login_totp(&w.accounts, &mut w.store, &bc, &bea_totp.code_at(NOW as u64 + 5), NOW + 5).unwrap();
    let bea = authenticate_session(&w.accounts, &mut w.store, bs.token.expose(), NOW + 6).unwrap();
    let (rc, ro) = w.accounts.passkey_register_start(&mut w.store, &bea, NOW + 6).unwrap();
    let mut beas = WebauthnAuthenticator::new(SoftPasskey::new(true));
    let cred = beas.do_registration(Url::parse(ORIGIN).unwrap(), ro).unwrap();
    w.accounts.passkey_register_finish(&mut w.store, &bea, rc.expose(), &cred, "phone", NOW + 7).unwrap();
    let (bc2, bo) = {
        let c = match login_password(&w.accounts, &mut w.store, "bea", PASSWORD, NOW + 8).unwrap() {
            LoginStep::SecondFactor { challenge, .. } => challenge.expose().to_owned(),
        };
        w.accounts.login_passkey_start(&mut w.store, &c, NOW + 8).unwrap()
    };
    let _ = bc2;
    let beas_assertion = beas.do_authentication(Url::parse(ORIGIN).unwrap(), bo).unwrap();
    assert!(matches!(
        w.accounts.login_passkey_finish(&mut w.store, challenge.expose(), &beas_assertion, NOW + 11),
        Err(AccessError::InvalidCredentials)
    ));
    // A phishing origin's assertion is refused even from the real authenticator.
    let mut w = world();
    let mut authenticator = with_passkey(&mut w);
    let c = password_step(&mut w);
    let (challenge, options) = w.accounts.login_passkey_start(&mut w.store, &c, NOW + 10).unwrap();
    // Another origin under the same host name (a look-alike service on another port): the
    // authenticator signs, and the server refuses the origin.
    let phished =
        authenticator.do_authentication(Url::parse("https://localhost:9443").unwrap(), options).unwrap();
    assert!(matches!(
        w.accounts.login_passkey_finish(&mut w.store, challenge.expose(), &phished, NOW + 11),
        Err(AccessError::InvalidCredentials)
    ));
}

#[test]
fn passkeys_are_registered_only_from_a_session() {
    let mut w = world();
    let grants = [Grant { role: Role::RegistrationStaff, scope: Scope::All }];
    w.accounts.add_principal(&mut w.store, "svc", PrincipalKind::Service, &grants, "t", NOW).unwrap();
    let (_, token) = w
        .accounts
        .create_token(&mut w.store, "svc", "t", &[Permission::ElectorRead], &[Scope::All], 3600, NOW)
        .unwrap();
    let p = w.accounts.authenticate_token(&w.store, token.expose(), NOW).unwrap();
    assert!(w.accounts.passkey_register_start(&mut w.store, &p, NOW).is_err());
    // Without a passkey, the passkey step is refused (and TOTP stays available next time).
    let c = password_step(&mut w);
    assert!(matches!(
        w.accounts.login_passkey_start(&mut w.store, &c, NOW + 10),
        Err(AccessError::NotEnrolled)
    ));
}

#[test]
fn an_mfa_reset_removes_every_passkey() {
    let mut w = world();
    let _authenticator = with_passkey(&mut w);
    assert_eq!(w.accounts.passkeys(&w.store, 1).unwrap().len(), 1);
    w.accounts.reset_enrolment(&mut w.store, "ann", NOW + 60).unwrap();
    assert!(
        w.accounts.passkeys(&w.store, 1).unwrap().is_empty(),
        "a reset is for a lost factor: passkeys go too"
    );
}
