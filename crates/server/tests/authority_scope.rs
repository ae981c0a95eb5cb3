//! Scope is the authority, everywhere: an administrator, analyst or token of one authority
//! acts on nothing of another's, and `*` needs a grant (and a token) of `*`. Credentials:
//! adding a passkey needs a fresh second factor; a password is never confirmed for an account
//! that cannot finish signing in.

mod common;

use common::*;
use rollguard_access::{Grant, Permission, Role, Scope, TotpSecret};
use rollguard_detect::Response;
use rollguard_store::PrincipalKind;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

struct World {
    s: Server,
    totp: HashMap<&'static str, TotpSecret>,
    /// Tokens by holder: `svc-e2` (elector:read@E2), `analyst-e1` (audit and alerts @E1),
    /// `admin-bot` (user:admin, a principal of `*` whose token is scoped to E1).
    tokens: HashMap<&'static str, String>,
}

fn world() -> World {
    let totp: Arc<Mutex<HashMap<&'static str, TotpSecret>>> = Arc::default();
    let tokens: Arc<Mutex<HashMap<&'static str, String>>> = Arc::default();
    let (totp_in, tokens_in) = (totp.clone(), tokens.clone());
    let s = start_detecting(
        test_config(),
        accounts_config(),
        None,
        Default::default(),
        move |svc, console, _| {
            let grant = |role, a: &str| vec![Grant { role, scope: Scope::parse(a) }];
            let people = [
                ("admin-e2", grant(Role::Administrator, "E2")),
                ("officer-e2", grant(Role::RegistrationStaff, "E2")),
                ("admin-all", grant(Role::Administrator, "*")),
                ("admin-all-2", grant(Role::Administrator, "*")),
            ];
            for (name, grants) in people {
                svc.add_principal(console, name, PrincipalKind::Human, grants).unwrap();
                let secret = svc.provision_human(console, name, PASSWORD).unwrap().0;
                totp_in.lock().unwrap().insert(name, secret);
            }
            let accounts = [
                ("svc-e2", grant(Role::RegistrationStaff, "E2"), vec![Permission::ElectorRead], "E2"),
                (
                    "analyst-e1",
                    grant(Role::SecurityAnalyst, "E1"),
                    vec![Permission::AuditRead, Permission::AlertRead],
                    "E1",
                ),
                (
                    "admin-bot",
                    grant(Role::Administrator, "*"),
                    vec![Permission::UserAdmin, Permission::TokenAdmin],
                    "E1",
                ),
            ];
            for (name, grants, perms, scope) in accounts {
                svc.add_principal(console, name, PrincipalKind::Service, grants).unwrap();
                let (_, t) =
                    svc.create_token(console, name, "test", perms, vec![Scope::parse(scope)], 1).unwrap();
                tokens_in.lock().unwrap().insert(name, t.expose().to_owned());
            }
        },
    );
    let totp = std::mem::take(&mut *totp.lock().unwrap());
    let tokens = std::mem::take(&mut *tokens.lock().unwrap());
    World { s, totp, tokens }
}

impl World {
    fn session(&self, name: &str) -> String {
        self.s.next_totp_step();
        let secret = match name {
            "admin-e1" => &self.s.admin_totp,
            "officer-e1" => &self.s.officer_totp,
            other => &self.totp[other],
        };
        let r = self.s.login_as(name, secret);
        assert_eq!(r.status, 200, "{name}: {}", r.text);
        bearer(r.body["session_token"].as_str().unwrap())
    }

    fn token(&self, holder: &str) -> String {
        bearer(&self.tokens[holder])
    }

    /// Applies an automatic response as detection would; its id.
    fn respond(&self, action: Response, subject: Option<&str>) -> u64 {
        let (svc, subject) = (self.s.svc.clone(), subject.map(str::to_owned));
        let now = self.s.svc.clock().now_ms();
        let inner = svc.clone();
        svc.register()
            .write(move |tx| {
                rollguard_service::apply_response(&inner, tx, action, subject.as_deref(), "test", None, now)
            })
            .unwrap()
            .expect("a response")
    }

    fn reverse(&self, auth: &str, id: u64) -> Reply {
        self.s.post(
            &format!("/api/v1/detection/responses/{id}/reverse"),
            &[("authorization", auth)],
            serde_json::json!({}),
        )
    }

    /// A second administrator's decision on proposal `id`.
    fn decide(&self, auth: &str, id: u64, decision: &str) -> Reply {
        self.s.post(
            &format!("/api/v1/admin/proposals/{id}/decision"),
            &[("authorization", auth)],
            serde_json::json!({"decision": decision}),
        )
    }

    fn suspended(&self, name: &str) -> bool {
        self.s.svc.register().read(|tx| tx.principal_by_name(name)).unwrap().unwrap().suspended
    }
}

#[test]
fn an_administrator_of_one_authority_cannot_lift_a_suspension_of_anothers_officer() {
    let w = world();
    let id = w.respond(Response::SuspendPrincipal, Some("officer-e2"));
    assert!(w.suspended("officer-e2"));
    let r = w.reverse(&w.session("admin-e1"), id);
    assert_eq!(r.status, 404, "another authority's response is as good as absent: {}", r.text);
    assert!(w.suspended("officer-e2"), "the refusal changed nothing");
    let refused = audit_events(&w.s).into_iter().any(|e| {
        e.kind == rollguard_audit::Kind::Response
            && e.outcome == rollguard_audit::Outcome::Refused
            && e.principal.as_deref() == Some("admin-e1")
    });
    assert!(refused, "the refused reversal is on the record");
    let r = w.reverse(&w.session("admin-e2"), id);
    assert_eq!(r.status, 202, "E2's administrator proposes it: {}", r.text);
    assert!(w.suspended("officer-e2"), "a proposal alone changes nothing");
    let proposal = r.body["id"].as_u64().unwrap();
    let r = w.decide(&w.session("admin-e1"), proposal, "approve");
    assert_eq!(r.status, 404, "nor can E1's administrator approve it: {}", r.text);
    let r = w.decide(&w.session("admin-all"), proposal, "approve");
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!w.suspended("officer-e2"));
}

#[test]
fn lifting_the_export_freeze_needs_two_administrators_of_every_authority() {
    let w = world();
    let id = w.respond(Response::FreezeExports, None);
    for who in ["admin-e1", "admin-e2"] {
        let r = w.reverse(&w.session(who), id);
        assert_eq!(r.status, 403, "{who}: {}", r.text);
        assert!(r.text.contains("administrator@*"), "{}", r.text);
    }
    assert!(w.s.svc.exports_frozen().unwrap());
    let admin_all = w.session("admin-all");
    let r = w.reverse(&admin_all, id);
    assert_eq!(r.status, 202, "{}", r.text);
    let proposal = r.body["id"].as_u64().unwrap();
    assert_eq!(w.decide(&admin_all, proposal, "approve").status, 403, "not by its proposer");
    assert_eq!(w.decide(&w.session("admin-e1"), proposal, "approve").status, 404);
    assert!(w.s.svc.exports_frozen().unwrap());
    let r = w.decide(&w.session("admin-all-2"), proposal, "approve");
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!w.s.svc.exports_frozen().unwrap());
}

#[test]
fn responses_on_another_authoritys_people_are_not_listed() {
    let w = world();
    w.respond(Response::SuspendPrincipal, Some("officer-e2"));
    w.respond(Response::FreezeExports, None);
    let list = |auth: &str| {
        let r = w.s.get("/api/v1/detection/responses", &[("authorization", auth)]);
        assert_eq!(r.status, 200, "{}", r.text);
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["action"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        list(&w.session("admin-e1")),
        ["freeze_exports"],
        "the freeze concerns everyone; E2's suspension does not"
    );
    assert_eq!(list(&w.token("analyst-e1")), ["freeze_exports"]);
    assert_eq!(list(&w.session("admin-e2")).len(), 2);
}

#[test]
fn an_administrator_lists_and_revokes_only_tokens_of_their_authorities() {
    let w = world();
    let admin = w.session("admin-e1");
    let r = w.s.get("/api/v1/admin/tokens", &[("authorization", &admin)]);
    assert_eq!(r.status, 200, "{}", r.text);
    let listed: Vec<String> =
        r.body.as_array().unwrap().iter().map(|t| t["authorities"].to_string()).collect();
    assert!(!listed.is_empty() && listed.iter().all(|a| a.contains("E1") && !a.contains("E2")), "{listed:?}");
    let e2_token =
        w.s.svc
            .register()
            .read(|tx| tx.tokens())
            .unwrap()
            .into_iter()
            .find(|t| t.authorities == "E2")
            .unwrap();
    let r = w.s.send(
        "DELETE",
        &format!("/api/v1/admin/tokens/{}", e2_token.id),
        &[("authorization", &admin)],
        None,
    );
    assert_eq!(r.status, 404, "another authority's token is as good as absent: {}", r.text);
    let id = w.s.e2[0].0;
    let read =
        w.s.get(&format!("/api/v1/authorities/E2/electors/{id}"), &[("authorization", &w.token("svc-e2"))]);
    assert_eq!(read.status, 200, "the token still works: {}", read.text);
    let r = w.s.send(
        "DELETE",
        &format!("/api/v1/admin/tokens/{}", e2_token.id),
        &[("authorization", &w.session("admin-e2"))],
        None,
    );
    assert_eq!(r.status, 204, "{}", r.text);
}

#[test]
fn an_administrator_sees_only_principals_of_their_authorities_and_only_their_grants_there() {
    let w = world();
    let r = w.s.get("/api/v1/admin/principals", &[("authorization", &w.session("admin-e1"))]);
    assert_eq!(r.status, 200, "{}", r.text);
    let names: Vec<&str> = r.body.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"officer-e1") && names.contains(&"admin-e1"), "{names:?}");
    for other in ["officer-e2", "admin-e2", "svc-e2", "admin-all", "analyst-1"] {
        assert!(!names.contains(&other), "{other} is not E1's: {names:?}");
    }
    let grants: Vec<String> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["grants"].as_array().unwrap().iter().map(|g| g.to_string()))
        .collect();
    assert!(grants.iter().all(|g| g.contains("@E1")), "{grants:?}");
}

#[test]
fn nobody_grants_themselves_a_role_that_reads_personal_data() {
    let w = world();
    let admin = w.session("admin-e1");
    let body = serde_json::json!({"grant": "registration-staff@E1", "action": "add"});
    let r = w.s.post("/api/v1/admin/principals/admin-e1/grants", &[("authorization", &admin)], body);
    assert_eq!(r.status, 403, "{}", r.text);
    let grants = w.s.svc.register().read(|tx| tx.principal_by_name("admin-e1")).unwrap().unwrap().grants;
    assert_eq!(grants.len(), 1, "unchanged");
}

#[test]
fn an_administrator_cannot_change_the_grants_of_another_authoritys_principal() {
    let w = world();
    let body = serde_json::json!({"grant": "registration-staff@E1", "action": "add"});
    let r = w.s.post(
        "/api/v1/admin/principals/officer-e2/grants",
        &[("authorization", &w.session("admin-e1"))],
        body,
    );
    assert_eq!(r.status, 404, "another authority's principal is as good as absent: {}", r.text);
    let grants = w.s.svc.register().read(|tx| tx.principal_by_name("officer-e2")).unwrap().unwrap().grants;
    assert_eq!(grants.len(), 1, "unchanged");
}

#[test]
fn an_administrator_cannot_mint_a_token_for_another_authoritys_service_account() {
    let w = world();
    let body = serde_json::json!({"principal": "svc-e2", "label": "x", "permissions": ["elector:read"], "authorities": ["E1"], "days": 1});
    let r = w.s.post("/api/v1/admin/tokens", &[("authorization", &w.session("admin-e1"))], body.clone());
    assert_eq!(r.status, 404, "another authority's service account is as good as absent: {}", r.text);
    let before = w.s.svc.register().read(|tx| tx.tokens()).unwrap().len();
    let r = w.s.post("/api/v1/admin/tokens", &[("authorization", &w.session("admin-e2"))], body);
    assert_eq!(r.status, 403, "admin-e2 cannot give E1 to it either: {}", r.text);
    assert_eq!(w.s.svc.register().read(|tx| tx.tokens()).unwrap().len(), before);
}

#[test]
fn a_token_scoped_to_one_authority_cannot_act_for_every_authority() {
    let w = world();
    let body = serde_json::json!({"name": "root-2", "kind": "human", "grants": ["administrator@*"]});
    let r = w.s.post("/api/v1/admin/principals", &[("authorization", &w.token("admin-bot"))], body);
    assert_eq!(r.status, 403, "its principal holds *, its token only E1: {}", r.text);
    assert!(w.s.svc.register().read(|tx| tx.principal_by_name("root-2")).unwrap().is_none());
    let body =
        serde_json::json!({"name": "watcher-e1", "kind": "service", "grants": ["security-analyst@E1"]});
    let r = w.s.post("/api/v1/admin/principals", &[("authorization", &w.token("admin-bot"))], body);
    assert_eq!(r.status, 201, "within E1 it may: {}", r.text);
}

#[test]
fn an_analyst_of_one_authority_reads_only_its_audit_events() {
    let w = world();
    // E2's officer works; E1's analyst looks.
    let officer = w.session("officer-e2");
    let id = w.s.e2[0].0;
    assert_eq!(
        w.s.get(&format!("/api/v1/authorities/E2/electors/{id}"), &[("authorization", &officer)]).status,
        200
    );
    let all = audit_events(&w.s);
    let e2_index = all.iter().find(|e| e.authority.as_deref() == Some("E2")).expect("E2 events").seq;
    let r = w.s.get("/api/v1/audit/events?limit=1000", &[("authorization", &w.token("analyst-e1"))]);
    assert_eq!(r.status, 200, "{}", r.text);
    let seen = r.body["events"].as_array().unwrap();
    assert!(seen.iter().any(|e| e["authority"] == "E1"), "its own authority's events");
    for e in seen {
        assert!(e["authority"].is_null() || e["authority"] == "E1", "{e}");
        assert!(!e.to_string().contains("officer-e2"), "nothing of E2's people: {e}");
    }
    assert!(seen.len() < all.len());
    let size = w.s.log.size();
    let r = w.s.get(
        &format!("/api/v1/audit/proof/{e2_index}?size={size}"),
        &[("authorization", &w.token("analyst-e1"))],
    );
    assert_eq!(r.status, 404, "another authority's event is not shown through its proof: {}", r.text);
    let r = w.s.get(
        &format!("/api/v1/audit/proof/{e2_index}?size={size}"),
        &[("authorization", &bearer(&w.s.analyst_token))],
    );
    assert_eq!(r.status, 200, "an analyst of every authority reads it: {}", r.text);
}

#[test]
fn registering_a_passkey_needs_a_second_factor_from_the_last_five_minutes() {
    let w = world();
    let officer = w.session("officer-e1");
    w.s.advance_secs(301);
    let r = w.s.post(
        "/api/v1/auth/passkeys/register/start",
        &[("authorization", &officer)],
        serde_json::json!({}),
    );
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("sign in again"), "{}", r.text);
    let refused = audit_events(&w.s).into_iter().any(|e| {
        e.kind == rollguard_audit::Kind::AuthEnrol
            && e.outcome == rollguard_audit::Outcome::Refused
            && e.principal.as_deref() == Some("officer-e1")
    });
    assert!(refused, "the refusal is on the record");
    let fresh = w.session("officer-e1");
    let r =
        w.s.post("/api/v1/auth/passkeys/register/start", &[("authorization", &fresh)], serde_json::json!({}));
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn login_never_confirms_a_password_for_an_account_that_cannot_finish() {
    let w = world();
    let password_step = |name: &str, password: &str| {
        w.s.post("/api/v1/auth/login", &[], serde_json::json!({"name": name, "password": password}))
    };
    let wrong = password_step("officer-e2", "not-the-password-at-all");
    assert_eq!(wrong.status, 401);
    let console = rollguard_service::Actor::console();
    w.s.svc.principal_action(&console, "officer-e2", rollguard_service::PrincipalAction::Suspend).unwrap();
    let suspended = password_step("officer-e2", PASSWORD);
    assert_eq!(
        (suspended.status, &suspended.body["detail"]),
        (401, &wrong.body["detail"]),
        "{}",
        suspended.text
    );
    w.s.svc.principal_action(&console, "admin-e2", rollguard_service::PrincipalAction::ResetMfa).unwrap();
    let reset = password_step("admin-e2", PASSWORD);
    assert_eq!((reset.status, &reset.body["detail"]), (401, &wrong.body["detail"]), "{}", reset.text);
    let reasons: Vec<String> = audit_events(&w.s)
        .into_iter()
        .filter(|e| e.kind == rollguard_audit::Kind::AuthPassword)
        .filter_map(|e| e.detail.get("reason").cloned())
        .collect();
    assert!(reasons.iter().any(|r| r.contains("suspended")), "the record keeps the true reason: {reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("second factor")), "{reasons:?}");
}

#[test]
fn nobody_resets_their_own_second_factor() {
    let w = world();
    let admin = w.session("admin-e1");
    let r = w.s.post(
        "/api/v1/admin/principals/admin-e1/actions",
        &[("authorization", &admin)],
        serde_json::json!({"action": "reset-mfa"}),
    );
    assert_eq!(r.status, 403, "{}", r.text);
    let me = w.s.get("/api/v1/me", &[("authorization", &admin)]);
    assert_eq!(me.status, 200, "the session (and the factor) still stand: {}", me.text);
    let r = w.s.post(
        "/api/v1/admin/principals/officer-e1/actions",
        &[("authorization", &admin)],
        serde_json::json!({"action": "reset-mfa"}),
    );
    assert_eq!(r.status, 202, "another's, within the authority, is proposed: {}", r.text);
}

#[test]
fn a_token_is_not_logged_out_but_revoked() {
    let w = world();
    let token = w.token("svc-e2");
    let r = w.s.post("/api/v1/auth/logout", &[("authorization", &token)], serde_json::json!({}));
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("revokes it"), "the error says what to do instead: {}", r.text);
    let logged_out = audit_events(&w.s)
        .into_iter()
        .any(|e| e.kind == rollguard_audit::Kind::AuthLogout && e.principal.as_deref() == Some("svc-e2"));
    assert!(!logged_out, "no logout is recorded for a token");
}
