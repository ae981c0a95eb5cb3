//! The register's workflows over HTTP: amendments and deletions with history, the
//! application workflow, streamed exports, and administration within an administrator's
//! authorities.

mod common;

use common::*;
use serde_json::json;

#[test]
fn amend_delete_and_history_stay_within_the_authority() {
    let s = start(test_config(), accounts_config());
    let (token, _) = s.session();
    let auth = bearer(&token);
    let h = [("authorization", auth.as_str())];
    let (id, _) = &s.e1[2];
    let path = format!("/api/v1/authorities/E1/electors/{id}");
    let r = s.send("PATCH", &path, &h, Some(json!({"set": {"address_line_1": "2 Kingfisher Close"}})));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["version"], 2);
    let r = s.send("PATCH", &path, &h, Some(json!({"set": {"address_line_1": "2 Kingfisher Close"}})));
    assert_eq!(r.status, 409, "nothing changed: {}", r.text);
    let r = s.send("DELETE", &format!("{path}?reason=gone-fishing"), &h, None);
    assert_eq!(r.status, 400);
    assert!(r.text.contains("moved-away"), "lists the codes: {}", r.text);
    let r = s.send("DELETE", &format!("{path}?reason=moved-away"), &h, None);
    assert_eq!(r.status, 200, "{}", r.text);
    let r = s.get(&format!("{path}/history"), &h);
    assert_eq!(r.body.as_array().unwrap().len(), 3);
    assert_eq!(r.body[1]["fields"]["address_line_1"], "2 Kingfisher Close");
    // Another authority's elector cannot be changed through this one's path.
    let (other, _) = &s.e2[2];
    let r = s.send(
        "PATCH",
        &format!("/api/v1/authorities/E1/electors/{other}"),
        &h,
        Some(json!({"set": {"phone": "01632 960000"}})),
    );
    assert_eq!(r.status, 404);
    let r = s.send("DELETE", &format!("/api/v1/authorities/E2/electors/{other}?reason=moved-away"), &h, None);
    assert_eq!(r.status, 403);
}

#[test]
fn an_application_is_received_checked_and_added() {
    let s = start(test_config(), accounts_config());
    let (token, _) = s.session();
    let auth = bearer(&token);
    let h = [("authorization", auth.as_str())];
    let mut applicant = s.e2[7].1.clone();
    applicant.elector_number.clear();
    applicant.nino.clear();
    let mut fields = serde_json::Map::new();
    for c in rollguard_vault::CSV_COLUMNS {
        let v = (c.get)(&applicant);
        if !v.is_empty() {
            fields.insert(c.name.into(), json!(v));
        }
    }
    let r = s.post("/api/v1/authorities/E1/applications", &h, json!({"fields": fields}));
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_u64().unwrap();
    let base = format!("/api/v1/authorities/E1/applications/{id}");
    assert_eq!(s.get(&base, &h).body["status"], "received");
    // Cannot be added before identity is checked.
    let r =
        s.post(&format!("{base}/determination"), &h, json!({"outcome": "add", "elector_number": "QQ1-77"}));
    assert_eq!(r.status, 409, "{}", r.text);
    let r = s.post(&format!("{base}/identity"), &h, json!({"route": "local-data"}));
    assert_eq!(r.status, 204, "{}", r.text);
    let r =
        s.post(&format!("{base}/determination"), &h, json!({"outcome": "add", "elector_number": "QQ1-77"}));
    assert_eq!(r.status, 200, "{}", r.text);
    let elector = r.body["elector_id"].as_u64().unwrap();
    let r = s.get(&format!("/api/v1/authorities/E1/electors/{elector}"), &h);
    assert_eq!(r.body["fields"]["surname"], applicant.surname.as_str());
    assert_eq!(r.body["fields"]["elector_number"], "QQ1-77");
    // Not visible through another authority.
    assert_eq!(s.get(&format!("/api/v1/authorities/E2/applications/{id}"), &h).status, 403);
}

#[test]
fn an_administrator_manages_principals_only_within_their_authorities_and_reads_nothing() {
    let s = start(test_config(), accounts_config());
    let r = s.login_as("admin-e1", &s.admin_totp);
    assert_eq!(r.status, 200, "{}", r.text);
    let auth = bearer(r.body["session_token"].as_str().unwrap());
    let h = [("authorization", auth.as_str())];
    // No personal data by role.
    assert_eq!(s.get(&format!("/api/v1/authorities/E1/electors/{}", s.e1[0].0), &h).status, 403);
    // Grants outside E1 are refused.
    for grant in ["registration-staff@E2", "registration-staff@*"] {
        let r = s.post(
            "/api/v1/admin/principals",
            &h,
            json!({"name": "officer-x", "kind": "human", "grants": [grant]}),
        );
        assert_eq!(r.status, 403, "{grant}: {}", r.text);
    }
    // A new officer for E1: added, the grant proposed, approved by a second administrator
    // (here the console's operator), enrolled over HTTP with the secret the administrator received.
    let r = s.post("/api/v1/admin/principals", &h, json!({"name": "officer-bo", "kind": "human"}));
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = r.body["enrolment_secret"].as_str().unwrap().to_owned();
    let proposed = s.post(
        "/api/v1/admin/principals/officer-bo/grants",
        &h,
        json!({"grant": "registration-staff@E1", "action": "add"}),
    );
    assert_eq!(proposed.status, 202, "{}", proposed.text);
    let proposal = proposed.body["id"].as_u64().unwrap();
    s.svc.decide_proposal(&rollguard_service::Actor::console(), proposal, true).unwrap();
    let start_ =
        s.post("/api/v1/auth/enrol/start", &[], json!({"name": "officer-bo", "enrolment_secret": secret}));
    assert_eq!(start_.status, 200, "{}", start_.text);
    let totp_b32 = start_.body["totp_secret"].as_str().unwrap();
    assert!(start_.body["otpauth_uri"].as_str().unwrap().contains(totp_b32));
    let raw = totp_rs::Secret::Encoded(totp_b32.to_owned()).to_bytes().unwrap();
    let code = rollguard_access::TotpSecret::from_bytes(raw)
        .code_at(rollguard_service::Clock::now_secs(s.clock.as_ref()).try_into().unwrap());
    let weak = s.post(
        "/api/v1/auth/enrol/finish",
        &[],
        json!({"challenge": start_.body["challenge"], "password": "password1234", "code": code}),
    );
    assert_eq!(weak.status, 422, "{}", weak.text);
    assert_eq!(weak.body["errors"][0]["field"], "password");
    let done = s.post(
        "/api/v1/auth/enrol/finish",
        &[],
        json!({"challenge": start_.body["challenge"], "password": PASSWORD, "code": code}),
    );
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.body["recovery_codes"].as_array().unwrap().len(), 10);
    let bo = bearer(done.body["session_token"].as_str().unwrap());
    assert_eq!(
        s.get(&format!("/api/v1/authorities/E1/electors/{}", s.e1[0].0), &[("authorization", &bo)]).status,
        200
    );
    // The enrolment secret is spent.
    let again =
        s.post("/api/v1/auth/enrol/start", &[], json!({"name": "officer-bo", "enrolment_secret": secret}));
    assert_eq!(again.status, 401);
    // Suspending officer-bo ends the session at once.
    let r = s.post("/api/v1/admin/principals/officer-bo/actions", &h, json!({"action": "suspend"}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(s.get("/api/v1/me", &[("authorization", &bo)]).status, 401);
    // Nobody grants themselves anything: the administrator stays without personal data.
    let r = s.post(
        "/api/v1/admin/principals/admin-e1/grants",
        &h,
        json!({"grant": "registration-staff@E1", "action": "add"}),
    );
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(s.get(&format!("/api/v1/authorities/E1/electors/{}", s.e1[0].0), &h).status, 403);
    let db = rusqlite::Connection::open(s.dir.path().join("r.db")).unwrap();
    let staff_grants: i64 = db
        .query_row(
            "SELECT count(*) FROM grants g JOIN principals p ON p.id = g.principal_id \
             WHERE p.name = 'admin-e1' AND g.role = 'registration-staff'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(staff_grants, 0);
}
