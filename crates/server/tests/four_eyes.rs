//! Four eyes: a grant of a role with personal data or administration, a second-factor reset
//! and a reversal are proposed by one administrator and take effect only when another, in a
//! session with a second factor, approves; never by the proposer, the subject or a token.

mod common;

use common::*;
use rollguard_access::{Grant, Role, Scope, TotpSecret};
use rollguard_audit::Kind;
use rollguard_store::PrincipalKind;
use std::sync::{Arc, Mutex};

struct World {
    s: Server,
    /// The second administrator of E1.
    admin_b: TotpSecret,
}

fn world() -> World {
    let made: Arc<Mutex<Option<TotpSecret>>> = Arc::default();
    let into = made.clone();
    let s = start_detecting(
        test_config(),
        accounts_config(),
        None,
        Default::default(),
        move |svc, console, _| {
            let admin = vec![Grant { role: Role::Administrator, scope: Scope::parse("E1") }];
            svc.add_principal(console, "admin-e1b", PrincipalKind::Human, admin).unwrap();
            *into.lock().unwrap() = Some(svc.provision_human(console, "admin-e1b", PASSWORD).unwrap().0);
            svc.add_principal(console, "clerk-e1", PrincipalKind::Human, vec![]).unwrap();
        },
    );
    let admin_b = made.lock().unwrap().take().unwrap();
    World { s, admin_b }
}

impl World {
    fn admin_b(&self) -> String {
        self.s.next_totp_step();
        let r = self.s.login_as("admin-e1b", &self.admin_b);
        assert_eq!(r.status, 200, "{}", r.text);
        bearer(r.body["session_token"].as_str().unwrap())
    }

    fn decide(&self, auth: &str, id: u64, decision: &str) -> Reply {
        self.s.post(
            &format!("/api/v1/admin/proposals/{id}/decision"),
            &[("authorization", auth)],
            serde_json::json!({"decision": decision}),
        )
    }

    fn grants_of(&self, name: &str) -> Vec<String> {
        let p = self.s.svc.register().read(|tx| tx.principal_by_name(name)).unwrap().unwrap();
        p.grants.iter().map(|g| format!("{}@{}", g.role, g.authority)).collect()
    }

    fn propose_staff(&self, auth: &str) -> u64 {
        let body = serde_json::json!({"grant": "registration-staff@E1", "action": "add"});
        let r = self.s.post("/api/v1/admin/principals/clerk-e1/grants", &[("authorization", auth)], body);
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!(r.body["state"], "pending");
        r.body["id"].as_u64().unwrap()
    }
}

#[test]
fn a_personal_data_grant_takes_effect_only_when_a_second_administrator_approves() {
    let w = world();
    let a = admin_session(&w.s);
    let id = w.propose_staff(&a);
    assert!(w.grants_of("clerk-e1").is_empty(), "a proposal grants nothing");
    assert_eq!(w.decide(&a, id, "approve").status, 403, "not by its proposer");
    let b = w.admin_b();
    let listed = w.s.get("/api/v1/admin/proposals", &[("authorization", &b)]);
    assert_eq!(listed.body[0]["id"], id, "{}", listed.text);
    let r = w.decide(&b, id, "approve");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["proposal"]["state"], "approved");
    assert_eq!(w.grants_of("clerk-e1"), ["registration-staff@E1"]);
    assert_eq!(w.decide(&b, id, "approve").status, 409, "decided once");
    let ev = audit_events(&w.s)
        .into_iter()
        .find(|e| e.kind == Kind::GrantChange && e.detail.get("change").map(String::as_str) == Some("add"))
        .expect("the grant's event");
    assert_eq!(ev.principal.as_deref(), Some("admin-e1b"));
    assert_eq!(ev.detail.get("proposed_by").map(String::as_str), Some("admin-e1"));
    assert_eq!(ev.detail.get("proposal"), Some(&id.to_string()));
}

#[test]
fn a_refused_or_expired_proposal_changes_nothing() {
    let w = world();
    let a = admin_session(&w.s);
    let refused = w.propose_staff(&a);
    let b = w.admin_b();
    assert_eq!(w.decide(&b, refused, "refuse").status, 200);
    assert_eq!(w.decide(&b, refused, "approve").status, 409);
    let late = w.propose_staff(&a);
    w.s.advance_secs(rollguard_service::PROPOSAL_SECS + 1);
    let b = w.admin_b();
    let r = w.decide(&b, late, "approve");
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("expired"), "{}", r.text);
    assert!(w.grants_of("clerk-e1").is_empty());
}

#[test]
fn an_administrator_cannot_add_a_person_with_a_personal_data_role_alone() {
    let w = world();
    let body = serde_json::json!({"name": "clerk-2", "kind": "human", "grants": ["registration-staff@E1"]});
    let r = w.s.post("/api/v1/admin/principals", &[("authorization", &admin_session(&w.s))], body);
    assert_eq!(r.status, 403, "whoever adds a person holds their enrolment secret: {}", r.text);
    assert!(w.s.svc.register().read(|tx| tx.principal_by_name("clerk-2")).unwrap().is_none());
}

#[test]
fn a_second_factor_reset_is_approved_by_another_administrator_who_receives_the_secret() {
    let w = world();
    let a = admin_session(&w.s);
    let r = w.s.post(
        "/api/v1/admin/principals/officer-e1/actions",
        &[("authorization", &a)],
        serde_json::json!({"action": "reset-mfa"}),
    );
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["id"].as_u64().unwrap();
    assert_eq!(w.s.login().status, 200, "nothing changed yet");
    let r = w.decide(&bearer(&w.s.analyst_token), id, "approve");
    assert_eq!(r.status, 403, "never a token: {}", r.text);
    let r = w.decide(&w.admin_b(), id, "approve");
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["enrolment_secret"].as_str().is_some_and(|s| s.starts_with("rge_")), "{}", r.text);
    let step =
        w.s.post("/api/v1/auth/login", &[], serde_json::json!({"name": "officer-e1", "password": PASSWORD}));
    assert_eq!(step.status, 401, "the old factor is gone: {}", step.text);
}

#[test]
fn a_detection_suspension_is_lifted_by_reversal_not_by_a_restore() {
    let w = world();
    let svc = w.s.svc.clone();
    let inner = svc.clone();
    let now = rollguard_service::Clock::now_ms(&*w.s.clock);
    svc.register()
        .write(move |tx| {
            rollguard_service::apply_response(
                &inner,
                tx,
                rollguard_detect::Response::SuspendPrincipal,
                Some("officer-e1"),
                "test",
                None,
                now,
            )
        })
        .unwrap();
    let r = w.s.post(
        "/api/v1/admin/principals/officer-e1/actions",
        &[("authorization", &admin_session(&w.s))],
        serde_json::json!({"action": "restore"}),
    );
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("reverse"), "{}", r.text);
    let p = w.s.svc.register().read(|tx| tx.principal_by_name("officer-e1")).unwrap().unwrap();
    assert!(p.suspended);
}

#[test]
fn a_decision_that_is_neither_approve_nor_refuse_is_named_and_changes_nothing() {
    let w = world();
    let id = w.propose_staff(&admin_session(&w.s));
    let b = w.admin_b();
    let r = w.decide(&b, id, "maybe");
    assert!(r.status == 400 || r.status == 422, "{}", r.text);
    assert!(r.text.contains("decision"), "the field is named: {}", r.text);
    let listed = w.s.get("/api/v1/admin/proposals", &[("authorization", &b)]);
    assert_eq!(listed.body[0]["state"], "pending", "{}", listed.text);
    assert!(w.grants_of("clerk-e1").is_empty());
    assert_eq!(w.decide(&b, id + 1000, "approve").status, 404, "no such proposal");
}

#[test]
fn the_console_s_first_administrator_is_recorded_as_the_bootstrap_and_later_console_grants_as_such() {
    let w = world();
    let a = admin_session(&w.s);
    let id = w.propose_staff(&a);
    assert_eq!(w.decide(&w.admin_b(), id, "approve").status, 200);
    let events = audit_events(&w.s);
    let added = |name: &str| {
        events
            .iter()
            .find(|e| {
                e.kind == Kind::PrincipalChange
                    && e.detail.get("change").map(String::as_str) == Some("added")
                    && e.detail.get("target").map(String::as_str) == Some(name)
            })
            .unwrap_or_else(|| panic!("{name} was added"))
            .detail
            .get("four_eyes")
            .cloned()
    };
    // This world's set-up adds admin-e1b first, then admin-e1.
    assert_eq!(added("admin-e1b").as_deref(), Some("bootstrap"), "the register's first administrator");
    assert_eq!(added("admin-e1").as_deref(), Some("console"), "made at the console, no second person");
    assert_eq!(added("clerk-e1"), None, "a person without a role needs no second administrator");
    let approved = events
        .iter()
        .find(|e| e.kind == Kind::GrantChange && e.detail.contains_key("proposal"))
        .expect("the approved grant");
    assert_eq!(approved.detail.get("four_eyes"), None, "approved by a second administrator");
}
