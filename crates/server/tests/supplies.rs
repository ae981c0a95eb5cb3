//! Four eyes on a register leaving: a supply is asked for by one principal, approved by a
//! second person signed in with a second factor (never a token, never the requester), and
//! collected once within its window. Every step and every refusal is an audit event.

mod common;

use common::*;
use rollguard_access::{Grant, Permission, Role, Scope, TotpSecret};
use rollguard_audit::{Kind, Outcome};
use rollguard_store::PrincipalKind;
use serde_json::json;
use std::sync::{Arc, Mutex};

/// A server where `clerk-e1` (a person) holds `roles` in E1 and `approver-e2` approves E2's
/// supplies
/// (their TOTP secrets), and `approver-bot`, a service account, holds a token with
/// `supply:approve` in E1.
fn with_people(roles: &[Role]) -> (Server, TotpSecret, TotpSecret, String) {
    let made: Arc<Mutex<Vec<TotpSecret>>> = Arc::default();
    let bot: Arc<Mutex<String>> = Arc::default();
    let (into, roles, bot_into) = (made.clone(), roles.to_vec(), bot.clone());
    let s = start_detecting(
        test_config(),
        accounts_config(),
        None,
        Default::default(),
        move |svc, console, _| {
            let grants = roles.iter().map(|&role| Grant { role, scope: Scope::parse("E1") }).collect();
            svc.add_principal(console, "clerk-e1", PrincipalKind::Human, grants).unwrap();
            let approver = vec![Grant { role: Role::SuppliesApprover, scope: Scope::parse("E2") }];
            svc.add_principal(console, "approver-e2", PrincipalKind::Human, approver).unwrap();
            let mut into = into.lock().unwrap();
            into.push(svc.provision_human(console, "clerk-e1", PASSWORD).unwrap().0);
            into.push(svc.provision_human(console, "approver-e2", PASSWORD).unwrap().0);
            let approver = vec![Grant { role: Role::SuppliesApprover, scope: Scope::parse("E1") }];
            svc.add_principal(console, "approver-bot", PrincipalKind::Service, approver).unwrap();
            let perms = vec![Permission::SupplyApprove];
            let token =
                svc.create_token(console, "approver-bot", "t", perms, vec![Scope::parse("E1")], 1).unwrap();
            *bot_into.lock().unwrap() = token.1.expose().to_owned();
        },
    );
    let mut made = std::mem::take(&mut *made.lock().unwrap());
    let approver_e2 = made.pop().unwrap();
    let bot = std::mem::take(&mut *bot.lock().unwrap());
    (s, made.pop().unwrap(), approver_e2, bot)
}

fn session_of(s: &Server, name: &str, totp: &TotpSecret) -> String {
    s.next_totp_step();
    let r = s.login_as(name, totp);
    assert_eq!(r.status, 200, "{}", r.text);
    bearer(r.body["session_token"].as_str().unwrap())
}

fn ticket(s: &Server, auth: &str, id: &str) -> Reply {
    s.get(&format!("/api/v1/supplies/{id}"), &[("authorization", auth)])
}

#[test]
fn a_full_supply_leaves_only_after_a_second_person_approves_and_only_once() {
    let s = start(test_config(), accounts_config());
    let id = ask_supply(&s, "full", "Party A");
    let token = bearer(&s.supplies_token);
    assert_eq!(ticket(&s, &token, &id).body["state"], "requested");
    // Nothing before approval.
    let early = collect_supply(&s, &id);
    assert_eq!(early.status, 409, "{}", early.text);
    assert!(!early.text.contains("elector_number"));
    // The token cannot approve its own request, nor can registration staff.
    let own = approve_supply(&s, &token, &id);
    assert_eq!(own.status, 403, "{}", own.text);
    let (staff, _) = s.session();
    assert_eq!(approve_supply(&s, &bearer(&staff), &id).status, 403);
    // The E1 administrator, in her own session, approves.
    let admin = approver_session(&s);
    let approved = approve_supply(&s, &admin, &id);
    assert_eq!(approved.status, 200, "{}", approved.text);
    assert_eq!(approved.body["state"], "approved");
    assert_eq!(approved.body["decided_by"], "approver-e1");
    assert!(approved.body["collect_by"].as_i64().unwrap() > approved.body["decided_at"].as_i64().unwrap());
    assert_eq!(approve_supply(&s, &admin, &id).status, 409, "decided once");
    // Collected once: every elector plus the supply's own watermark entries.
    let r = collect_supply(&s, &id);
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.header("content-type").unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = r.text.lines().collect();
    assert!(lines[0].starts_with("elector_number,"), "{}", lines[0]);
    let marks = lines.len() - 1 - s.e1.len();
    assert!(marks >= 3, "{marks} watermark entries");
    let again = collect_supply(&s, &id);
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(ticket(&s, &token, &id).body["state"], "collected");

    let events = audit_events(&s);
    let of = |kind: Kind, outcome: Outcome| -> Vec<&rollguard_audit::Event> {
        events
            .iter()
            .filter(|e| e.kind == kind && e.outcome == outcome && e.detail.get("ticket") == Some(&id))
            .collect()
    };
    let asked = of(Kind::SupplyRequest, Outcome::Success);
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].principal.as_deref(), Some("supplies-e1"));
    assert_eq!(asked[0].detail["approval"], "pending");
    let decided = of(Kind::SupplyDecision, Outcome::Success);
    assert_eq!(decided.len(), 1);
    assert_eq!(decided[0].principal.as_deref(), Some("approver-e1"));
    assert_eq!(decided[0].detail["decision"], "approved");
    let refused_decisions: Vec<&str> =
        of(Kind::SupplyDecision, Outcome::Refused).iter().map(|e| e.detail["reason"].as_str()).collect();
    assert_eq!(refused_decisions, ["not-pending"]);
    let exports = of(Kind::RegisterExport, Outcome::Success);
    assert_eq!(exports.len(), 1);
    assert_eq!(exports[0].electors.len(), s.e1.len());
    assert_eq!(exports[0].detail["recipient"], "Party A");
    assert_eq!(exports[0].detail["approved_by"], "approver-e1");
    assert_eq!(exports[0].detail["watermarks"], marks.to_string());
    assert!(!exports[0].detail.contains_key("repeat_of"));
    let refused: Vec<&str> =
        of(Kind::RegisterExport, Outcome::Refused).iter().map(|e| e.detail["reason"].as_str()).collect();
    assert_eq!(refused, ["not-approved", "already-collected"]);
    // The token and staff (no approval grant) were refused before any ticket was looked
    // at, on the record.
    for who in ["supplies-e1", "officer-e1"] {
        assert!(events.iter().any(|e| e.kind == Kind::SupplyDecision
            && e.outcome == Outcome::Refused
            && e.principal.as_deref() == Some(who)));
    }
}

#[test]
fn the_requester_cannot_approve_their_own_supply_even_holding_both_roles() {
    let (s, clerk, _, bot) = with_people(&[Role::SuppliesOfficer, Role::SuppliesApprover]);
    let me = session_of(&s, "clerk-e1", &clerk);
    let asked = s.post("/api/v1/authorities/E1/supplies", &[("authorization", &me)], json!({"kind": "full"}));
    assert_eq!(asked.status, 201, "{}", asked.text);
    assert_eq!(asked.body["recipient"], "clerk-e1", "the recipient defaults to the requester");
    let id = asked.body["id"].as_str().unwrap();
    let own = approve_supply(&s, &me, id);
    assert_eq!(own.status, 403, "{}", own.text);
    assert!(own.text.contains("second person"), "{}", own.text);
    assert_eq!(collect_supply(&s, id).status, 403, "only the requester collects");
    // A token that holds `supply:approve` is still not a person.
    let by_bot = approve_supply(&s, &bearer(&bot), id);
    assert_eq!(by_bot.status, 403, "{}", by_bot.text);
    assert!(by_bot.text.contains("never an API token"), "{}", by_bot.text);
    let me_get = s.get(&format!("/api/v1/supplies/{id}/register"), &[("authorization", &me)]);
    assert_eq!(me_get.status, 409, "{}", me_get.text);
    // The administrator approves; then the clerk (the requester) collects.
    let approved = approve_supply(&s, &approver_session(&s), id);
    assert_eq!(approved.status, 200, "{}", approved.text);
    let got = s.get(&format!("/api/v1/supplies/{id}/register"), &[("authorization", &me)]);
    assert_eq!(got.status, 200, "{}", got.text);
    let reasons: Vec<String> = audit_events(&s)
        .iter()
        .filter(|e| e.outcome == Outcome::Refused)
        .filter_map(|e| e.detail.get("reason").cloned())
        .collect();
    assert_eq!(reasons, ["own-request", "not-requester", "not-a-person", "not-approved"]);
}

#[test]
fn an_approval_lapses_after_its_window_and_an_undecided_request_after_its_lifetime() {
    let s = start(test_config(), accounts_config());
    let admin = approver_session(&s);
    let stale = ask_supply(&s, "full", "Party A");
    let late = ask_supply(&s, "full", "Party B");
    assert_eq!(approve_supply(&s, &admin, &late).status, 200);
    // An approval is good for an hour.
    s.advance_secs(3_601);
    let r = collect_supply(&s, &late);
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("lapsed"), "{}", r.text);
    assert_eq!(ticket(&s, &bearer(&s.supplies_token), &late).body["state"], "expired");
    // A request waits a week for its approver.
    s.advance_secs(7 * 86_400);
    let admin = approver_session(&s);
    assert_eq!(ticket(&s, &admin, &stale).body["state"], "expired");
    assert_eq!(approve_supply(&s, &admin, &stale).status, 409);
    let reasons: Vec<String> = audit_events(&s)
        .iter()
        .filter(|e| e.outcome == Outcome::Refused)
        .filter_map(|e| e.detail.get("reason").cloned())
        .collect();
    assert_eq!(reasons, ["expired", "not-pending"]);
}

#[test]
fn an_open_register_asked_for_in_a_session_needs_one_person_but_a_tokens_needs_two() {
    let (s, clerk, _, _) = with_people(&[Role::SuppliesOfficer]);
    let me = session_of(&s, "clerk-e1", &clerk);
    let h = [("authorization", me.as_str())];
    let asked = s.post("/api/v1/authorities/E1/supplies", &h, json!({"kind": "open", "recipient": "Sales"}));
    assert_eq!(asked.status, 201, "{}", asked.text);
    assert_eq!(asked.body["state"], "approved");
    assert_eq!(asked.body["decided_by"], "clerk-e1");
    let id = asked.body["id"].as_str().unwrap();
    let got = s.get(&format!("/api/v1/supplies/{id}/register"), &h);
    assert_eq!(got.status, 200, "{}", got.text);
    assert!(got.text.lines().count() - 1 < s.e1.len() + 10, "opt-outs and anonymous entries are left out");
    assert_eq!(s.get(&format!("/api/v1/supplies/{id}/register"), &h).status, 409, "single use");
    // A full register from the same session waits for a second person.
    let full = s.post("/api/v1/authorities/E1/supplies", &h, json!({"kind": "full"}));
    assert_eq!(full.body["state"], "requested");
    // An open register asked for by a token waits too: no token takes a register unattended.
    let by_token = ask_supply(&s, "open", "Sales");
    assert_eq!(ticket(&s, &bearer(&s.supplies_token), &by_token).body["state"], "requested");
    assert_eq!(collect_supply(&s, &by_token).status, 409);
    let watermarked = audit_events(&s)
        .into_iter()
        .find(|e| e.kind == Kind::RegisterExport && e.outcome == Outcome::Success)
        .unwrap();
    assert_eq!(watermarked.detail["kind"], "open");
    assert!(watermarked.detail["watermarks"].parse::<usize>().unwrap() >= 3);
}

#[test]
fn approvers_and_officers_of_another_authority_see_and_decide_nothing_here() {
    let (s, _, approver_e2, _) = with_people(&[Role::SuppliesOfficer]);
    let id = ask_supply(&s, "full", "Party A");
    let other = session_of(&s, "approver-e2", &approver_e2);
    assert_eq!(ticket(&s, &other, &id).status, 404);
    assert_eq!(approve_supply(&s, &other, &id).status, 404);
    let listed = s.get("/api/v1/supplies", &[("authorization", &other)]);
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body, json!([]));
    // A supplies token cannot ask for another authority's register.
    let r = s.post(
        "/api/v1/authorities/E2/supplies",
        &[("authorization", &bearer(&s.supplies_token))],
        json!({"kind": "full"}),
    );
    assert_eq!(r.status, 403, "{}", r.text);
    // Registration staff cannot ask at all.
    let (staff, _) = s.session();
    let r = s.post(
        "/api/v1/authorities/E1/supplies",
        &[("authorization", &bearer(&staff))],
        json!({"kind": "open"}),
    );
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(ticket(&s, &approver_session(&s), &id).body["state"], "requested");
}

#[test]
fn a_bad_request_names_its_field_and_records_nothing() {
    let s = start(test_config(), accounts_config());
    let token = bearer(&s.supplies_token);
    let h = [("authorization", token.as_str())];
    let r = s.post("/api/v1/authorities/E1/supplies", &h, json!({"kind": "everything"}));
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("kind"), "{}", r.text);
    let r =
        s.post("/api/v1/authorities/E1/supplies", &h, json!({"kind": "full", "recipient": "x".repeat(201)}));
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("recipient"), "{}", r.text);
    let r = s.post("/api/v1/authorities/E1/supplies", &h, json!({"kind": "full", "purpose": "a\nb"}));
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("purpose"), "{}", r.text);
    assert_eq!(s.get("/api/v1/supplies", &h).body, json!([]));
    let admin = approver_session(&s);
    let id = ask_supply(&s, "full", "Party A");
    let r = s.post(
        &format!("/api/v1/supplies/{id}/decision"),
        &[("authorization", &admin)],
        json!({"decision": "maybe"}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(ticket(&s, &admin, &id).body["state"], "requested");
}

#[test]
fn an_administrator_cannot_approve_even_holding_the_approver_role_for_the_authority() {
    // An administrator can mint a service account's token and reset a person's login: on
    // both sides of a supply, one person would be enough.
    let (s, clerk, _, _) = with_people(&[Role::SuppliesApprover, Role::Administrator]);
    let id = ask_supply(&s, "full", "Party A");
    let both = session_of(&s, "clerk-e1", &clerk);
    let r = approve_supply(&s, &both, &id);
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("administers"), "{}", r.text);
    let r = approve_supply(&s, &admin_session(&s), &id);
    assert_eq!(r.status, 403, "an administrator alone holds no approval: {}", r.text);
    assert_eq!(ticket(&s, &approver_session(&s), &id).body["state"], "requested");
}
