//! The server over real HTTP on loopback: logins need a second factor, codes are single-use,
//! brute force is throttled, authorities are walled off from each other, tokens keep to
//! their scope, dead sessions stay dead, CSRF is enforced, floods are shed while staff are
//! served, and logs never carry personal data.

mod common;

use rollguard_service::Clock as _;

use common::*;
use serde_json::json;
use std::io::Write;

#[test]
fn a_password_without_a_second_factor_gets_no_session() {
    let s = start(test_config(), accounts_config());
    let step = s.post("/api/v1/auth/login", &[], json!({"name": "officer-e1", "password": PASSWORD}));
    assert_eq!(step.status, 200);
    assert!(step.header("set-cookie").is_none(), "no cookie before the second factor");
    let challenge = step.body["challenge"].as_str().unwrap();
    // The challenge is not a credential.
    assert_eq!(s.get("/api/v1/me", &[("authorization", &bearer(challenge))]).status, 401);
    assert_eq!(s.get("/api/v1/me", &[]).status, 401);
    // A wrong code fails, and the challenge is then spent.
    let r = s.post("/api/v1/auth/totp", &[], json!({"challenge": challenge, "code": "abc123"}));
    assert_eq!(r.status, 401);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(r.body["status"], 401);
}

#[test]
fn a_totp_code_cannot_be_replayed() {
    let s = start(test_config(), accounts_config());
    let code = s.officer_totp.code_at(s.clock.now_secs().try_into().unwrap());
    let login = |code: &str| {
        let step = s.post("/api/v1/auth/login", &[], json!({"name": "officer-e1", "password": PASSWORD}));
        s.post("/api/v1/auth/totp", &[], json!({"challenge": step.body["challenge"], "code": code}))
    };
    let first = login(&code);
    assert_eq!(first.status, 200, "{}", first.text);
    let cookie = first.header("set-cookie").unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    assert_eq!(login(&code).status, 401, "the same code again");
}

#[test]
fn login_brute_force_is_throttled_per_client() {
    let s = start(test_config(), accounts_config());
    let mut statuses = Vec::new();
    for i in 0..14 {
        let r = s.post(
            "/api/v1/auth/login",
            &[],
            json!({"name": "officer-e1", "password": format!("guess-number-{i:04}")}),
        );
        statuses.push(r.status);
        if r.status == 429 {
            assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
        }
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert!(statuses[10..].iter().all(|s| *s == 429), "{statuses:?}");
    // Even the right password is refused while throttled.
    let r = s.post("/api/v1/auth/login", &[], json!({"name": "officer-e1", "password": PASSWORD}));
    assert_eq!(r.status, 429);
}

#[test]
fn an_officer_cannot_read_search_or_infer_another_authoritys_electors() {
    let s = start(test_config(), accounts_config());
    let (token, _) = s.session();
    let auth = bearer(&token);
    let h = [("authorization", auth.as_str())];
    let (own, own_entry) = &s.e1[0];
    let (other, other_entry) = &s.e2[0];
    let r = s.get(&format!("/api/v1/authorities/E1/electors/{own}"), &h);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["fields"]["surname"], own_entry.surname.as_str());
    // Through the other authority's path: refused before any lookup, existing or not.
    let a = s.get(&format!("/api/v1/authorities/E2/electors/{other}"), &h);
    let b = s.get("/api/v1/authorities/E2/electors/99999999", &h);
    assert_eq!((a.status, b.status), (403, 403));
    assert_eq!(a.text, b.text);
    // Through its own authority's path: another authority's elector is as missing as a
    // missing one.
    let a = s.get(&format!("/api/v1/authorities/E1/electors/{other}"), &h);
    let b = s.get("/api/v1/authorities/E1/electors/99999999", &h);
    assert_eq!((a.status, b.status), (404, 404));
    assert_eq!(a.text, b.text);
    // Search is walled off the same way.
    let q = format!("/api/v1/authorities/E2/electors?surname={}", other_entry.surname);
    assert_eq!(s.get(&q, &h).status, 403);
    let q = format!("/api/v1/authorities/E1/electors?surname={}", other_entry.surname);
    let r = s.get(&q, &h);
    assert_eq!(r.status, 200);
    assert!(r.body.as_array().unwrap().iter().all(|e| e["authority"] == "E1"));
}

#[test]
fn an_api_token_keeps_to_its_scope() {
    let s = start(test_config(), accounts_config());
    let auth = bearer(&s.service_token);
    let h = [("authorization", auth.as_str())];
    let (own, _) = &s.e1[1];
    let (other, _) = &s.e2[1];
    assert_eq!(s.get(&format!("/api/v1/authorities/E1/electors/{own}"), &h).status, 200);
    // The account holds staff grants everywhere, but the token only elector:read on E1.
    assert_eq!(s.get(&format!("/api/v1/authorities/E2/electors/{other}"), &h).status, 403);
    let r = s.post("/api/v1/authorities/E1/electors", &h, json!({"fields": {}}));
    assert_eq!(r.status, 403);
    let me = s.get("/api/v1/me", &h);
    assert_eq!(me.body["token_permissions"], json!(["elector:read"]));
    // A forged or altered token gets nothing.
    let mut forged = s.service_token.clone();
    forged.pop();
    forged.push(if s.service_token.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(s.get("/api/v1/me", &[("authorization", &bearer(&forged))]).status, 401);
}

#[test]
fn revoked_and_idle_sessions_are_refused() {
    let cfg = rollguard_access::AccountsConfig { session_idle_secs: 2, ..accounts_config() };
    let s = start(test_config(), cfg);
    let (token, csrf) = s.session();
    let auth = bearer(&token);
    assert_eq!(s.get("/api/v1/me", &[("authorization", &auth)]).status, 200);
    s.advance_secs(4);
    assert_eq!(s.get("/api/v1/me", &[("authorization", &auth)]).status, 401, "idle too long");

    // Logout revokes.
    s.next_totp_step();
    let (token, _) = s.session();
    let auth = bearer(&token);
    assert_eq!(s.post("/api/v1/auth/logout", &[("authorization", &auth)], json!({})).status, 204);
    assert_eq!(s.get("/api/v1/me", &[("authorization", &auth)]).status, 401, "revoked");
    let _ = csrf;
}

#[test]
fn the_session_cookie_needs_the_csrf_token_for_changes() {
    let s = start(test_config(), accounts_config());
    let r = s.login();
    assert_eq!(r.status, 200);
    let cookie = r.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();
    let csrf = r.body["csrf_token"].as_str().unwrap().to_owned();
    // Reads with the cookie alone are fine.
    assert_eq!(s.get("/api/v1/me", &[("cookie", &cookie)]).status, 200);
    let mut entry = s.e2[5].1.clone();
    entry.nino.clear();
    entry.elector_number = "ZZ1-900".into();
    let body = json!({"fields": fields_of(&entry)});
    let r = s.post("/api/v1/authorities/E1/electors", &[("cookie", &cookie)], body.clone());
    assert_eq!(r.status, 403, "no CSRF token: {}", r.text);
    let r = s.post(
        "/api/v1/authorities/E1/electors",
        &[("cookie", &cookie), ("x-csrf-token", "rgs_wrong")],
        body.clone(),
    );
    assert_eq!(r.status, 403, "wrong CSRF token");
    let r = s.post("/api/v1/authorities/E1/electors", &[("cookie", &cookie), ("x-csrf-token", &csrf)], body);
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_u64().unwrap();
    let r = s.get(&format!("/api/v1/authorities/E1/electors/{id}"), &[("cookie", &cookie)]);
    assert_eq!(r.body["fields"]["surname"], entry.surname.as_str());
}

#[test]
fn bad_input_names_the_field_and_never_echoes_the_value() {
    let s = start(test_config(), accounts_config());
    let (token, _) = s.session();
    let auth = bearer(&token);
    let mut entry = s.e1[3].1.clone();
    entry.postcode = "QX9 SECRETVALUE".into();
    let r = s.post(
        "/api/v1/authorities/E1/electors",
        &[("authorization", &auth)],
        json!({"fields": fields_of(&entry)}),
    );
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.body["errors"].as_array().unwrap().iter().any(|e| e["field"] == "postcode"), "{}", r.text);
    assert!(!r.text.contains("SECRETVALUE"));
    let r = s.post(
        "/api/v1/authorities/E1/electors",
        &[("authorization", &auth)],
        json!({"fields": {"shoe_size": "9"}}),
    );
    assert_eq!(r.status, 400);
    assert!(r.text.contains("shoe_size"));
}

#[test]
fn a_flood_is_shed_while_a_logged_in_officer_is_still_served() {
    let cfg =
        rollguard_server::ServerConfig { general_concurrency: 4, staff_concurrency: 8, ..test_config() };
    let s = start(cfg, accounts_config());
    let (token, _) = s.session();
    let auth = bearer(&token);
    assert_eq!(s.get("/api/v1/me", &[("authorization", &auth)]).status, 200);
    // A bounded flood: connections that send a request head and then stall their body hold
    // every general-lane slot.
    let addr = s.base.trim_start_matches("http://").to_owned();
    let stalled: Vec<std::net::TcpStream> = (0..6)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(&addr).unwrap();
            write!(c, "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{{").unwrap();
            c
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let shed = s.post("/api/v1/auth/login", &[], json!({"name": "x", "password": "y"}));
    assert_eq!(shed.status, 503, "{}", shed.text);
    assert_eq!(shed.header("retry-after"), Some("1"));
    // The officer's session was verified recently: the staff lane still has room.
    let r = s.get(&format!("/api/v1/authorities/E1/electors/{}", s.e1[0].0), &[("authorization", &auth)]);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(s.get("/healthz", &[]).status, 200, "probes are never shed");
    let metrics = s.get("/metrics", &[]).text;
    assert!(metrics.contains("rollguard_http_shed_total{lane=\"general\"}"), "{metrics}");
    drop(stalled);
}

#[test]
fn logs_carry_no_personal_data() {
    let s = start(test_config(), accounts_config());
    let (token, _) = s.session();
    let auth = bearer(&token);
    let h = [("authorization", auth.as_str())];
    for (id, e) in s.e1.iter().take(10) {
        assert_eq!(s.get(&format!("/api/v1/authorities/E1/electors/{id}"), &h).status, 200);
        let q = format!(
            "/api/v1/authorities/E1/electors?surname={}&postcode={}",
            e.surname,
            e.postcode.replace(' ', "%20")
        );
        assert_eq!(s.get(&q, &h).status, 200);
    }
    let mut bad = s.e1[0].1.clone();
    bad.date_of_birth = "1970-02-31".into();
    s.post("/api/v1/authorities/E1/electors", &h, json!({"fields": fields_of(&bad)}));
    let logs = logs();
    assert!(
        logs.contains("\"route\":\"/api/v1/authorities/{authority}/electors/{id}\""),
        "requests are logged"
    );
    for (_, e) in s.e1.iter().chain(&s.e2) {
        let mut values =
            vec![e.surname.as_str(), e.given_names.as_str(), e.postcode.as_str(), e.date_of_birth.as_str()];
        values.extend(e.address_lines.iter().map(String::as_str));
        for v in values.into_iter().filter(|v| v.len() >= 4) {
            assert!(!logs.contains(v), "a log line carries a personal value");
        }
    }
}

#[test]
fn a_passkey_registered_in_a_session_then_logs_in_over_http() {
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;
    use webauthn_authenticator_rs::WebauthnAuthenticator;
    use webauthn_rs::prelude::Url;
    let s = start(test_config(), accounts_config());
    let origin = Url::parse(&accounts_config().rp_origin).unwrap();
    let (token, _) = s.session();
    let auth = bearer(&token);
    let start_ = s.post("/api/v1/auth/passkeys/register/start", &[("authorization", &auth)], json!({}));
    assert_eq!(start_.status, 200, "{}", start_.text);
    let mut authenticator = WebauthnAuthenticator::new(SoftPasskey::new(true));
    let cred = authenticator
        .do_registration(origin.clone(), serde_json::from_value(start_.body["options"].clone()).unwrap())
        .unwrap();
    let r = s.post(
        "/api/v1/auth/passkeys/register/finish",
        &[("authorization", &auth)],
        json!({"challenge": start_.body["challenge"], "label": "laptop", "credential": cred}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    // Password, then passkey.
    let step = s.post("/api/v1/auth/login", &[], json!({"name": "officer-e1", "password": PASSWORD}));
    let ceremony = s.post("/api/v1/auth/passkey/start", &[], json!({"challenge": step.body["challenge"]}));
    assert_eq!(ceremony.status, 200, "{}", ceremony.text);
    let assertion = authenticator
        .do_authentication(origin, serde_json::from_value(ceremony.body["options"].clone()).unwrap())
        .unwrap();
    let body = json!({"challenge": ceremony.body["challenge"], "credential": assertion});
    let r = s.post("/api/v1/auth/passkey/finish", &[], body.clone());
    assert_eq!(r.status, 200, "{}", r.text);
    let session = bearer(r.body["session_token"].as_str().unwrap());
    assert_eq!(s.get("/api/v1/me", &[("authorization", &session)]).status, 200);
    // Replaying the assertion gets nothing.
    assert_eq!(s.post("/api/v1/auth/passkey/finish", &[], body).status, 401);
    // Garbage where a credential belongs is refused, naming the field.
    let step = s.post("/api/v1/auth/login", &[], json!({"name": "officer-e1", "password": PASSWORD}));
    let ceremony = s.post("/api/v1/auth/passkey/start", &[], json!({"challenge": step.body["challenge"]}));
    let r = s.post(
        "/api/v1/auth/passkey/finish",
        &[],
        json!({"challenge": ceremony.body["challenge"], "credential": {"id": 7}}),
    );
    assert_eq!(r.status, 422);
    assert!(r.text.contains("credential"), "{}", r.text);
}

#[test]
fn guessing_one_account_from_many_addresses_is_throttled_per_account() {
    let cfg = rollguard_server::ServerConfig {
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..test_config()
    };
    let policy = rollguard_service::Policy {
        account_login: rollguard_service::LoginRate { burst: 5.0, per_second: 0.001 },
        ..Default::default()
    };
    let s = start_full(
        cfg,
        accounts_config(),
        None,
        rollguard_server::detection::DetectionConfig::default(),
        policy,
        std::sync::Arc::new(rollguard_service::SystemClock),
        |_, _, _| {},
    );
    let mut statuses = Vec::new();
    for i in 0..8 {
        // Each guess from a different client address, as a botnet would send them through a
        // proxy that reports them faithfully.
        let addr = format!("198.51.100.{}", i + 1);
        let r = s.post(
            "/api/v1/auth/login",
            &[("x-forwarded-for", &addr)],
            json!({"name": "Officer-E1", "password": format!("guess-number-{i:04}")}),
        );
        statuses.push(r.status);
    }
    assert_eq!(&statuses[..5], &[401; 5]);
    assert_eq!(&statuses[5..], &[429; 3], "{statuses:?}");
    // Other accounts are not affected.
    let r = s.post(
        "/api/v1/auth/login",
        &[("x-forwarded-for", "203.0.113.7")],
        json!({"name": "admin-e1", "password": PASSWORD}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn every_read_of_personal_data_is_an_audit_event_naming_the_electors() {
    use rollguard_audit::{Kind, Outcome};
    let s = start(test_config(), accounts_config());
    // A failed login and a refused read first (queued without waiting)…
    let r = s.post(
        "/api/v1/auth/login",
        &[],
        json!({"name": "officer-e1", "password": "not-the-password-at-all"}),
    );
    assert_eq!(r.status, 401);
    let (token, _) = s.session();
    let auth = bearer(&token);
    let h = [("authorization", auth.as_str())];
    assert_eq!(s.get(&format!("/api/v1/authorities/E2/electors/{}", s.e2[0].0), &h).status, 403);
    // …then reads, each durable before its response.
    let (id, entry) = &s.e1[4];
    assert_eq!(s.get(&format!("/api/v1/authorities/E1/electors/{id}"), &h).status, 200);
    let found = s.get(&format!("/api/v1/authorities/E1/electors?surname={}", entry.surname), &h);
    let found_ids: Vec<u64> =
        found.body.as_array().unwrap().iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert!(found_ids.contains(id));
    let events = audit_events(&s);
    let failed =
        events.iter().find(|e| e.kind == Kind::AuthPassword && e.outcome == Outcome::Failure).unwrap();
    assert_eq!(failed.principal.as_deref(), Some("officer-e1"));
    assert!(failed.client.is_some());
    assert!(events.iter().any(|e| e.kind == Kind::AuthMfa && e.outcome == Outcome::Success));
    let refused = events.iter().find(|e| e.outcome == Outcome::Refused).unwrap();
    assert_eq!(refused.authority.as_deref(), Some("E2"));
    assert!(refused.electors.is_empty(), "a refusal reveals no ids");
    let read = events.iter().find(|e| e.kind == Kind::ElectorRead && e.outcome == Outcome::Success).unwrap();
    assert_eq!((read.principal.as_deref(), read.electors.as_slice()), (Some("officer-e1"), [*id].as_slice()));
    let search = events.iter().find(|e| e.kind == Kind::ElectorSearch).unwrap();
    assert_eq!(search.electors, found_ids);
    assert_eq!(search.detail["criteria"], "surname");
    // The events hold ids and names of fields, never a personal value.
    let raw: String = events.iter().map(|e| String::from_utf8(e.canonical()).unwrap()).collect();
    for (_, e) in s.e1.iter().chain(&s.e2) {
        for v in [&e.surname, &e.given_names, &e.postcode, &e.date_of_birth, &e.address_lines[0]] {
            assert!(v.len() < 4 || !raw.contains(v.as_str()), "an audit event carries a personal value");
        }
    }
}

#[test]
fn an_amendment_is_audited_with_the_fields_it_changed() {
    let s = start(test_config(), accounts_config());
    let (token, _) = s.session();
    let auth = bearer(&token);
    let (id, _) = &s.e1[6];
    let r = s.send(
        "PATCH",
        &format!("/api/v1/authorities/E1/electors/{id}"),
        &[("authorization", &auth)],
        Some(json!({"set": {"address_line_1": "2 Kingfisher Close", "postcode": "LE65 2AB"}})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let ev = audit_events(&s).into_iter().find(|e| e.kind == rollguard_audit::Kind::ElectorWrite).unwrap();
    // The fields the new version changed, as the entry's history names them.
    assert_eq!(ev.fields, ["address"]);
    assert_eq!(ev.detail["version"], "2");
    assert_eq!(ev.electors, [*id]);
    let raw = String::from_utf8(ev.canonical()).unwrap();
    assert!(!raw.contains("Kingfisher") && !raw.contains("LE65"), "{raw}");
}

#[test]
fn analysts_read_events_proofs_and_checkpoints_and_their_reading_is_audited() {
    use base64::Engine as _;
    let s = start(test_config(), accounts_config());
    let (token, _) = s.session();
    let staff = bearer(&token);
    assert_eq!(
        s.get(&format!("/api/v1/authorities/E1/electors/{}", s.e1[0].0), &[("authorization", &staff)]).status,
        200
    );
    // Staff may not read the audit log.
    assert_eq!(s.get("/api/v1/audit/events", &[("authorization", &staff)]).status, 403);
    let analyst = bearer(&s.analyst_token);
    let h = [("authorization", analyst.as_str())];
    // Analysts hold no personal-data permission.
    assert_eq!(s.get(&format!("/api/v1/authorities/E1/electors/{}", s.e1[0].0), &h).status, 403);
    let cp = s.get("/api/v1/audit/checkpoint", &h);
    assert_eq!(cp.status, 200, "{}", cp.text);
    let verifier = rollguard_audit::NoteVerifier::parse(cp.body["vkey"].as_str().unwrap()).unwrap();
    let checkpoint =
        rollguard_audit::Checkpoint::open(cp.body["checkpoint"].as_str().unwrap(), &verifier).unwrap();
    assert!(checkpoint.size >= 3);
    let page = s.get("/api/v1/audit/events?from=0&limit=1000", &h);
    let events = page.body["events"].as_array().unwrap();
    let read =
        events.iter().position(|e| e["kind"] == "elector.read" && e["outcome"] == "success").unwrap() as u64;
    let p = s.get(&format!("/api/v1/audit/proof/{read}?size={}", checkpoint.size), &h);
    assert_eq!(p.status, 200, "{}", p.text);
    let proof: Vec<Vec<u8>> = p.body["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| base64::engine::general_purpose::STANDARD.decode(x.as_str().unwrap()).unwrap())
        .collect();
    let leaf = rollguard_audit::merkle::leaf_hash(p.body["event"].as_str().unwrap().as_bytes());
    rollguard_audit::merkle::verify_inclusion(&leaf, read, checkpoint.size, &proof, &checkpoint.root)
        .unwrap();
    // The analyst's own reading is in the log, and so is the staff member's refusal.
    let later = s.get("/api/v1/audit/events?from=0&limit=1000", &h);
    let events = later.body["events"].as_array().unwrap();
    assert!(events
        .iter()
        .any(|e| e["kind"] == "audit.read" && e["principal"] == "analyst-1" && e["outcome"] == "success"));
    assert!(events
        .iter()
        .any(|e| e["kind"] == "audit.read" && e["principal"] == "officer-e1" && e["outcome"] == "refused"));
    let c = s.get(&format!("/api/v1/audit/consistency?from=1&to={}", checkpoint.size), &h);
    assert_eq!(c.status, 200, "{}", c.text);
}

#[test]
fn new_checkpoints_go_to_the_witnesses() {
    use std::io::{Read, Write};
    // A witness on loopback that keeps whatever is posted to it.
    let witness = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/checkpoints", witness.local_addr().unwrap());
    let verifier =
        rollguard_audit::NoteSigner::from_seed("rollguard.test/audit", &[3u8; 32]).unwrap().verifier();
    let v = verifier.clone();
    let received = std::thread::spawn(move || loop {
        // Keep accepting until a checkpoint covering some events arrives (the first may be of
        // the empty log, signed at start-up).
        let body = receive_one(&witness);
        if rollguard_audit::Checkpoint::open(&body, &v).map(|c| c.size >= 1).unwrap_or(false) {
            return body;
        }
    });
    fn receive_one(witness: &std::net::TcpListener) -> String {
        let (mut c, _) = witness.accept().unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        // Read the head, then the body its Content-Length announces.
        loop {
            let n = c.read(&mut chunk).unwrap();
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(head_end) = text.find("\r\n\r\n") {
                let len: usize = text[..head_end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if buf.len() >= head_end + 4 + len {
                    c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap();
                    return text[head_end + 4..].to_owned();
                }
            }
            if n == 0 {
                return String::new();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = rollguard_server::ServerConfig {
        checkpoint_every: std::time::Duration::from_millis(100),
        witness_dir: Some(dir.path().to_owned()),
        witness_url: Some(url),
        ..test_config()
    };
    let s = start(cfg, accounts_config());
    let (token, _) = s.session();
    assert_eq!(
        s.get(
            &format!("/api/v1/authorities/E1/electors/{}", s.e1[0].0),
            &[("authorization", &bearer(&token))]
        )
        .status,
        200
    );
    let posted = received.join().unwrap();
    let cp = rollguard_audit::Checkpoint::open(&posted, &verifier).unwrap();
    assert!(cp.size >= 1);
    let started = std::time::Instant::now();
    let files = loop {
        let files: Vec<_> =
            std::fs::read_dir(dir.path()).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).collect();
        if files.iter().any(|p| p.file_name().unwrap().to_string_lossy().starts_with("checkpoint-"))
            || started.elapsed().as_secs() > 10
        {
            break files;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let kept =
        files.iter().find(|p| p.file_name().unwrap().to_string_lossy().starts_with("checkpoint-")).unwrap();
    rollguard_audit::Checkpoint::open(&std::fs::read_to_string(kept).unwrap(), &verifier).unwrap();
}
