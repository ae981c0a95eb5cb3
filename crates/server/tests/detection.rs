//! Detection in the running server: read budgets, canaries, automatic responses and their
//! reversal, export freezes, rule reloads. Alerts are read from a real JSON-lines sink.

mod common;

use common::*;
use rollguard_detect::{ExportWindow, Response};
use rollguard_server::detection::DetectionConfig;
use rollguard_service::Clock;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn with_jsonl(mut d: DetectionConfig, dir: &Path) -> (DetectionConfig, PathBuf) {
    let path = dir.join("alerts.jsonl");
    d.sinks.push(rollguard_alerts::parse_sink(&format!("jsonl:{}", path.display())).unwrap());
    (d, path)
}

/// Waits up to `within` for an alert matching `pred` (generous: it returns as soon as one
/// comes, and a loaded machine must not fail the test); returns it and how long it took.
fn alert_where(
    path: &Path,
    within: Duration,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> Option<(serde_json::Value, Duration)> {
    let start = Instant::now();
    while start.elapsed() < within {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(a) =
            text.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).find(|a| pred(a))
        {
            return Some((a, start.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

#[test]
fn going_over_a_read_budget_is_refused_at_once_alerted_and_suspends_the_principal() {
    let tmp = tempfile::tempdir().unwrap();
    let (d, alerts) = with_jsonl(DetectionConfig::default(), tmp.path());
    let s = start_policy(d, budget_policy(5), |_, _, _| {});
    let auth = bearer(&s.service_token);
    let h = [("authorization", auth.as_str())];
    for (id, _) in &s.e1[..5] {
        assert_eq!(s.get(&format!("/api/v1/authorities/E1/electors/{id}"), &h).status, 200);
    }
    // Re-reading one already read costs nothing.
    assert_eq!(s.get(&format!("/api/v1/authorities/E1/electors/{}", s.e1[0].0), &h).status, 200);
    let over = s.get(&format!("/api/v1/authorities/E1/electors/{}", s.e1[5].0), &h);
    assert_eq!(over.status, 429, "{}", over.text);
    assert!(over.body["type"].as_str().unwrap().ends_with("read-budget"), "{}", over.text);
    assert!(!over.text.contains(&s.e1[5].1.surname), "no data in the refusal");
    // The alert was raised by the refusing request itself.
    let (a, _) = alert_where(&alerts, Duration::from_secs(15), |a| a["rule"] == "rollguard-read-budget")
        .expect("budget alert");
    assert_eq!(a["principal"], "sync-e1");
    // Suspended: the token no longer works, for any elector.
    let after = s.get(&format!("/api/v1/authorities/E1/electors/{}", s.e1[0].0), &h);
    assert_eq!(after.status, 401, "{}", after.text);
    // The alert and the response are audit events (queued without waiting: give the writer
    // a moment).
    wait_until("the alert and response events", || {
        let events = audit_events(&s);
        events
            .iter()
            .any(|e| e.kind == rollguard_audit::Kind::Alert && e.detail["rule"] == "rollguard-read-budget")
            && events.iter().any(|e| {
                e.kind == rollguard_audit::Kind::Response
                    && e.detail["action"] == "suspend_principal"
                    && e.detail["subject"] == "sync-e1"
            })
    });
    let events = audit_events(&s);
    // The refused read is not in the breach scope: only the five returned are.
    let read: std::collections::BTreeSet<u64> = events
        .iter()
        .filter(|e| {
            e.kind == rollguard_audit::Kind::ElectorRead && e.outcome == rollguard_audit::Outcome::Success
        })
        .flat_map(|e| e.electors.clone())
        .collect();
    assert_eq!(read, s.e1[..5].iter().map(|e| e.0).collect());
}

#[test]
fn a_canary_read_alerts_critically_and_an_admin_with_mfa_reverses_the_response() {
    let tmp = tempfile::tempdir().unwrap();
    let (d, alerts) = with_jsonl(DetectionConfig::default(), tmp.path());
    let s = start_detecting(test_config(), accounts_config(), None, d, |svc, _, e1| {
        mark_canaries(svc, "E1", &[e1[7].0])
    });
    let (session, _) = s.session();
    let auth = bearer(&session);
    let h = [("authorization", auth.as_str())];
    // The canary reads like anyone else.
    let r = s.get(&format!("/api/v1/authorities/E1/electors/{}", s.e1[7].0), &h);
    assert_eq!(r.status, 200);
    assert_eq!(r.body["fields"]["surname"], s.e1[7].1.surname.as_str());
    // How fast is a benchmark (`rollguard bench rules`: canary alert latency under load).
    let (a, _) =
        alert_where(&alerts, Duration::from_secs(15), |a| a["level"] == "critical").expect("canary alert");
    assert_eq!(a["title"], "Canary elector touched");
    assert_eq!(a["electors"], serde_json::json!([s.e1[7].0]));
    assert_eq!(a["principal"], "officer-e1");
    wait_until("the session to be cut off", || {
        s.get(&format!("/api/v1/authorities/E1/electors/{}", s.e1[0].0), &h).status != 200
    });

    // Responses are listed; an API token cannot reverse them, an admin's MFA session can.
    let analyst = bearer(&s.analyst_token);
    // The block is in memory at once; the response's record follows on a database connection.
    let responses = || s.get("/api/v1/detection/responses", &[("authorization", &analyst)]);
    wait_until("the suspension's record", || {
        responses().body.as_array().is_some_and(|l| l.iter().any(|r| r["action"] == "suspend_principal"))
    });
    let list = responses();
    assert_eq!(list.status, 200, "{}", list.text);
    let suspend =
        list.body.as_array().unwrap().iter().find(|r| r["action"] == "suspend_principal").unwrap().clone();
    assert_eq!(suspend["subject"], "officer-e1");
    let id = suspend["id"].as_u64().unwrap();
    let path = format!("/api/v1/detection/responses/{id}/reverse");
    assert_eq!(s.post(&path, &[("authorization", &analyst)], serde_json::json!({})).status, 403);
    let admin = s.login_as("admin-e1", &s.admin_totp);
    assert_eq!(admin.status, 200, "{}", admin.text);
    let admin_auth = bearer(admin.body["session_token"].as_str().unwrap());
    let rev = s.post(&path, &[("authorization", &admin_auth)], serde_json::json!({}));
    assert_eq!(rev.status, 202, "proposed, for a second administrator: {}", rev.text);
    let proposal = rev.body["id"].as_u64().unwrap();
    assert!(!list_is_reversed(&s, &admin_auth, id), "a proposal alone reverses nothing");
    // The second administrator here is the console's operator.
    let done = s.svc.decide_proposal(&rollguard_service::Actor::console(), proposal, true).unwrap();
    assert_eq!(
        done.response.unwrap().reversed_by.as_deref(),
        Some(rollguard_service::Actor::console().name().as_str())
    );
    assert_eq!(s.post(&path, &[("authorization", &admin_auth)], serde_json::json!({})).status, 409);
    // The officer can sign in again (the old session stays revoked).
    assert_eq!(s.get(&format!("/api/v1/authorities/E1/electors/{}", s.e1[0].0), &h).status, 401);
    let principals = s.get("/api/v1/admin/principals", &[("authorization", &admin_auth)]);
    let officer =
        principals.body.as_array().unwrap().iter().find(|p| p["name"] == "officer-e1").unwrap().clone();
    assert_eq!(officer["state"], "active", "{officer}");
    assert_eq!(login_next_step(&s), 200);
    let reversed = audit_events(&s).into_iter().find(|e| {
        e.kind == rollguard_audit::Kind::Response
            && e.detail.get("change").map(String::as_str) == Some("reversed")
    });
    let reversed = reversed.unwrap();
    assert_eq!(reversed.detail.get("proposed_by").map(String::as_str), Some("admin-e1"));
    assert_eq!(reversed.detail.get("proposal"), Some(&proposal.to_string()));
}

/// Whether response `id` is listed as reversed.
fn list_is_reversed(s: &Server, auth: &str, id: u64) -> bool {
    let list = s.get("/api/v1/detection/responses", &[("authorization", auth)]);
    list.body.as_array().unwrap().iter().any(|r| r["id"] == id && !r["reversed_at"].is_null())
}

/// Logs the officer in with the next TOTP step's code (this step's was used already).
fn login_next_step(s: &Server) -> u16 {
    s.next_totp_step();
    s.login().status
}

#[test]
fn canaries_are_never_supplied_and_a_supply_raises_no_canary_alert() {
    let tmp = tempfile::tempdir().unwrap();
    let (d, alerts) = with_jsonl(DetectionConfig::default(), tmp.path());
    let s = start_detecting(test_config(), accounts_config(), None, d, |svc, _, e1| {
        mark_canaries(svc, "E1", &[e1[2].0])
    });
    let r = supply(&s, &approver_session(&s), "full", "Party A");
    assert_eq!(r.status, 200, "{}", r.text);
    let canary = &s.e1[2].1;
    assert!(!r.text.lines().any(|l| l.contains(&canary.elector_number) && l.contains(&canary.surname)));
    std::thread::sleep(Duration::from_millis(300));
    assert!(alert_where(&alerts, Duration::from_millis(10), |a| a["level"] == "critical").is_none());
}

#[test]
fn an_export_outside_its_schedule_freezes_exports_until_an_administrator_of_every_authority_lifts_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = DetectionConfig::default();
    // A schedule no moment matches: every export is out of schedule.
    d.enrich.export_schedule.push(ExportWindow {
        recipient: "*".into(),
        weekdays: vec![],
        from_hour: 9,
        to_hour: 17,
    });
    let (d, alerts) = with_jsonl(d, tmp.path());
    let s = start_detecting(test_config(), accounts_config(), None, d, |_, _, _| {});
    let approver = approver_session(&s);
    assert_eq!(supply(&s, &approver, "open", "Party A").status, 200);
    let (a, _) = alert_where(&alerts, Duration::from_secs(15), |a| {
        a["title"] == "Register export outside its schedule"
    })
    .unwrap();
    assert_eq!(a["response"], serde_json::json!([Response::FreezeExports.as_str()]));
    let admin_auth = admin_session(&s);
    let responses = || s.get("/api/v1/detection/responses", &[("authorization", &admin_auth)]);
    wait_until("the freeze's record", || {
        responses().body.as_array().is_some_and(|l| l.iter().any(|r| r["action"] == "freeze_exports"))
    });
    // Approved during the freeze: collecting it is refused, and the approval still stands.
    let ticket = ask_supply(&s, "open", "Party A");
    let d = approve_supply(&s, &approver, &ticket);
    assert_eq!(d.status, 200, "{}", d.text);
    let collect = || collect_supply(&s, &ticket).status;
    assert_eq!(collect(), 423);
    let list = responses();
    let id = list.body.as_array().unwrap().iter().find(|r| r["action"] == "freeze_exports").unwrap()["id"]
        .as_u64()
        .unwrap();
    let reverse = |auth: &str| {
        s.post(
            &format!("/api/v1/detection/responses/{id}/reverse"),
            &[("authorization", auth)],
            serde_json::json!({}),
        )
    };
    let rev = reverse(&admin_auth);
    assert_eq!(
        rev.status, 403,
        "the freeze is every authority's: E1's administrator alone cannot lift it: {}",
        rev.text
    );
    assert_eq!(collect(), 423);
    let console = rollguard_service::Actor::console();
    let everywhere = vec![rollguard_access::Grant {
        role: rollguard_access::Role::Administrator,
        scope: rollguard_access::Scope::All,
    }];
    s.svc.add_principal(&console, "admin-all", rollguard_store::PrincipalKind::Human, everywhere).unwrap();
    let (totp, _) = s.svc.provision_human(&console, "admin-all", PASSWORD).unwrap();
    s.next_totp_step();
    let session = s.login_as("admin-all", &totp);
    assert_eq!(session.status, 200, "{}", session.text);
    let rev = reverse(&bearer(session.body["session_token"].as_str().unwrap()));
    assert_eq!(rev.status, 202, "proposed: {}", rev.text);
    assert_eq!(collect(), 423, "a proposal alone lifts nothing");
    let proposal = rev.body["id"].as_u64().unwrap();
    s.svc.decide_proposal(&console, proposal, true).unwrap();
    assert_eq!(collect(), 200);
}

#[test]
fn rules_reload_without_a_restart_and_bad_rules_are_reported_with_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = tmp.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let d = DetectionConfig {
        rules_dir: Some(rules.clone()),
        reload_every: Duration::from_millis(100),
        ..Default::default()
    };
    let (d, alerts) = with_jsonl(d, tmp.path());
    let mut no_budgets = rollguard_service::Policy::default();
    no_budgets.budgets.clear();
    let s = start_policy(d, no_budgets, |_, _, _| {});
    let analyst = bearer(&s.analyst_token);
    let status = || s.get("/api/v1/detection/rules", &[("authorization", &analyst)]).body;
    assert_eq!(status()["loaded"], 0);
    std::fs::write(
        rules.join("sync-reads.yml"),
        "title: Sync account read an elector\nlevel: low\nlogsource:\n  product: rollguard\ndetection:\n  s:\n    kind: elector.read\n    principal: sync-e1\n    client|cidr: 127.0.0.0/8\n  condition: s\n",
    )
    .unwrap();
    std::fs::write(rules.join("broken.yml"), "title: broken\nlogsource:\n  product: rollguard\ndetection:\n  s:\n    kind|sortof: x\n  condition: s\n").unwrap();
    wait_until("the reload", || status()["loaded"] == 1);
    let refused = status()["refused"].clone();
    assert_eq!(refused[0]["line"], 6, "{refused}");
    assert!(refused[0]["file"].as_str().unwrap().ends_with("broken.yml"));
    assert!(refused[0]["reason"].as_str().unwrap().contains("unknown modifier 'sortof'"));
    let auth = bearer(&s.service_token);
    assert_eq!(
        s.get(&format!("/api/v1/authorities/E1/electors/{}", s.e1[1].0), &[("authorization", &auth)]).status,
        200
    );
    let (a, _) =
        alert_where(&alerts, Duration::from_secs(15), |a| a["title"] == "Sync account read an elector")
            .expect("alert from the reloaded rule");
    assert_eq!(a["client"], "127.0.0.1", "request events carry the client address");
    // The reload endpoint works too, and is audited.
    let r = s.post("/api/v1/detection/rules/reload", &[("authorization", &analyst)], serde_json::json!({}));
    assert_eq!(r.status, 200, "{}", r.text);
    wait_until("the reload's audit event", || {
        audit_events(&s).iter().any(|e| e.detail.get("change").map(String::as_str) == Some("rules-reload"))
    });
}

fn tracking_message(i: usize) -> String {
    format!(
        "From: \"BBC News\" <desk@bbc-news-desk.com>\r\nTo: member{i}@parliament.uk\r\nSubject: Comment?\r\nContent-Type: text/html\r\n\r\n<p>A question.</p><img src=\"http://198.51.100.23/t/a8F3kQ9zX2mP7vL1Zq{i:04}/s.gif\" width=\"1\" height=\"1\">\r\n"
    )
}

#[test]
fn scanned_mail_is_an_audit_event_and_a_tracking_campaign_raises_an_alert() {
    let tmp = tempfile::tempdir().unwrap();
    let (d, alerts) = with_jsonl(DetectionConfig::default(), tmp.path());
    let s = start_detecting(test_config(), accounts_config(), None, d, |_, _, _| {});
    let analyst = bearer(&s.analyst_token);
    let post = |body: &str, auth: &str| {
        s.agent
            .post(s.url("/api/v1/mail/scan"))
            .header("authorization", auth)
            .header("content-type", "message/rfc822")
            .send(body.as_bytes())
            .map(|mut r| (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default()))
            .unwrap()
    };
    let (status, body) = post(&tracking_message(0), &analyst);
    assert_eq!(status, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["verdict"], "tracking");
    assert_eq!(report["tracking_hosts"], serde_json::json!(["198.51.100.23"]));
    // Staff without alert:read cannot use it.
    assert_eq!(post(&tracking_message(1), &bearer(&s.service_token)).0, 403);
    // A message bigger than the API's usual body limit is accepted here.
    let big = tracking_message(2).replace("<p>A question.</p>", &format!("<p>{}</p>", "x".repeat(1_000_000)));
    assert_eq!(post(&big, &analyst).0, 200);
    // Eight more: ten tracking messages scanned in all (the refused one is not a scan).
    for i in 3..11 {
        assert_eq!(post(&tracking_message(i), &analyst).0, 200);
    }
    let (a, _) = alert_where(&alerts, Duration::from_secs(15), |a| {
        a["title"] == "Tracking mail campaign reaching many mailboxes"
    })
    .expect("the mail campaign rule fires on the tenth tracking message");
    assert_eq!(a["group"]["detail.tracking_hosts"], "198.51.100.23");
    wait_until("the scan events", || {
        audit_events(&s).iter().filter(|e| e.kind == rollguard_audit::Kind::MailScan).count() == 10
    });
    for e in audit_events(&s).iter().filter(|e| e.kind == rollguard_audit::Kind::MailScan) {
        let text = String::from_utf8(e.canonical()).unwrap();
        assert!(!text.contains("parliament.uk"), "no recipient address in the audit log: {text}");
        assert_eq!(e.detail["sender_domain"], "bbc-news-desk.com");
    }
}

#[test]
fn wrong_second_factors_after_the_right_password_name_the_account_and_raise_the_phished_password_alert() {
    let tmp = tempfile::tempdir().unwrap();
    let (d, alerts) = with_jsonl(DetectionConfig::default(), tmp.path());
    let s = start_detecting(test_config(), accounts_config(), None, d, |_, _, _| {});
    // A code the authenticator would not show now (the test clock is fixed).
    let now = u64::try_from(s.clock.now_secs()).unwrap();
    let wrong_code = ["000000", "111111", "222222", "333333"]
        .into_iter()
        .find(|c| s.officer_totp.matching_step(c, now).is_none())
        .unwrap();
    for _ in 0..3 {
        let login = serde_json::json!({"name": "officer-e1", "password": PASSWORD});
        let step = s.post("/api/v1/auth/login", &[], login);
        assert_eq!(step.status, 200, "{}", step.text);
        let attempt = serde_json::json!({"challenge": step.body["challenge"], "code": wrong_code});
        let wrong = s.post("/api/v1/auth/totp", &[], attempt);
        assert_eq!(wrong.status, 401, "{}", wrong.text);
    }
    let (a, _) = alert_where(&alerts, Duration::from_secs(15), |a| {
        a["title"] == "Correct password, failing second factor"
    })
    .expect("phished-password alert");
    assert_eq!(a["principal"], "officer-e1");
    assert_eq!(a["level"], "high");
    // No automatic response: the account's owner can still log in.
    assert_eq!(s.login().status, 200);
}

#[test]
fn a_second_supply_to_the_same_recipient_within_its_period_raises_a_high_alert() {
    let tmp = tempfile::tempdir().unwrap();
    let (d, alerts) = with_jsonl(DetectionConfig::default(), tmp.path());
    let s = start_detecting(test_config(), accounts_config(), None, d, |_, _, _| {});
    let approver = approver_session(&s);
    for recipient in ["Party A", "Party B", "party  A."] {
        assert_eq!(supply(&s, &approver, "full", recipient).status, 200);
    }
    let title = "The same register supplied twice to one recipient within its period";
    let (a, _) = alert_where(&alerts, Duration::from_secs(15), |a| a["title"] == title).unwrap();
    assert_eq!(a["level"], "high");
    assert_eq!(a["principal"], "supplies-e1");
    let exports: Vec<_> = audit_events(&s)
        .into_iter()
        .filter(|e| {
            e.kind == rollguard_audit::Kind::RegisterExport && e.outcome == rollguard_audit::Outcome::Success
        })
        .collect();
    assert_eq!(exports.len(), 3);
    assert!(!exports[0].detail.contains_key("repeat_of"));
    assert!(!exports[1].detail.contains_key("repeat_of"), "another recipient is not a repeat");
    assert_eq!(exports[2].detail["repeat_of"], exports[0].detail["supply"]);
    assert_eq!(a["event_seq"].as_u64(), Some(exports[2].seq));
    let text = std::fs::read_to_string(&alerts).unwrap();
    assert_eq!(text.lines().filter(|l| l.contains(title)).count(), 1);
}

#[test]
fn applications_are_charged_to_the_same_read_budget_as_electors() {
    let made: std::sync::Arc<std::sync::Mutex<Vec<u64>>> = Default::default();
    let into = made.clone();
    let s = start_policy(DetectionConfig::default(), budget_policy(5), move |svc, console, _| {
        for text in generated(4, 99) {
            into.lock().unwrap().push(svc.receive_application(console, "E1", text, None).unwrap());
        }
    });
    let apps = made.lock().unwrap().clone();
    let (token, _) = s.session();
    let auth = bearer(&token);
    let h = [("authorization", auth.as_str())];
    let app = |id: u64| s.get(&format!("/api/v1/authorities/E1/applications/{id}"), &h);
    for (id, _) in &s.e1[..2] {
        assert_eq!(s.get(&format!("/api/v1/authorities/E1/electors/{id}"), &h).status, 200);
    }
    for &id in &apps[..3] {
        assert_eq!(app(id).status, 200);
    }
    // Five distinct records read; the same application again costs nothing.
    assert_eq!(app(apps[0]).status, 200);
    let over = app(apps[3]);
    assert_eq!(over.status, 429, "{}", over.text);
    assert!(over.body["type"].as_str().unwrap().ends_with("read-budget"), "{}", over.text);
    let events = audit_events(&s);
    let refused = events
        .iter()
        .find(|e| {
            e.kind == rollguard_audit::Kind::ApplicationRead && e.outcome == rollguard_audit::Outcome::Refused
        })
        .expect("the refusal is recorded as an application read");
    assert_eq!(refused.detail["reason"], "read-budget");
    // The reads returned name their applications, as a breach scope needs.
    let read: std::collections::BTreeSet<u64> = events
        .iter()
        .filter(|e| {
            e.kind == rollguard_audit::Kind::ApplicationRead && e.outcome == rollguard_audit::Outcome::Success
        })
        .flat_map(|e| e.applications.clone())
        .collect();
    assert_eq!(read, apps[..3].iter().copied().collect());
}

/// Registration staff limited to `hour` an hour and `day` a day; a refusal suspends no one
/// (these tests read on after one).
fn hour_and_day(hour: u64, day: u64) -> rollguard_service::Policy {
    let mut p = budget_policy(hour);
    p.budget_response.clear();
    let windows = p.budgets.get_mut(&rollguard_access::Role::RegistrationStaff).unwrap();
    windows.push(rollguard_detect::Budget { distinct: day, window_ms: 86_400_000 });
    p
}

#[test]
fn a_reader_who_keeps_under_the_hourly_budget_is_stopped_by_the_daily_one() {
    let s = start_policy(DetectionConfig::default(), hour_and_day(5, 8), |_, _, _| {});
    let auth = bearer(&s.service_token);
    let h = [("authorization", auth.as_str())];
    let read = |i: usize| s.get(&format!("/api/v1/authorities/E1/electors/{}", s.e1[i].0), &h);
    for i in 0..5 {
        assert_eq!(read(i).status, 200);
    }
    assert_eq!(read(5).status, 429, "the hour is spent");
    // An hour on, the hourly window is clear; the day still remembers the first five.
    s.advance_secs(3_601);
    for i in 5..8 {
        assert_eq!(read(i).status, 200, "read {i}");
    }
    // Re-reading one read within the day costs the day nothing, but it is fresh to the hour.
    assert_eq!(read(0).status, 200);
    let over = read(8);
    assert_eq!(over.status, 429, "{}", over.text);
    assert!(over.text.contains("86400 s"), "the refusal names the day's window: {}", over.text);
}

#[test]
fn a_declared_canvass_reads_under_its_own_higher_budgets_and_only_while_it_lasts() {
    // Noon UTC today, held still: the test never straddles a midnight.
    let now = rollguard_service::SystemClock.now_ms();
    let clock =
        std::sync::Arc::new(rollguard_service::FixedClock::at_ms(now - now % 86_400_000 + 43_200_000));
    let today = clock.today();
    let mut policy = hour_and_day(3, 3);
    let canvass = rollguard_service::RoleBudgets::from([(
        rollguard_access::Role::RegistrationStaff,
        vec![rollguard_detect::Budget { distinct: 6, window_ms: 3_600_000 }],
    )]);
    policy.canvass = Some(rollguard_service::Canvass { from: today, to: today, budgets: canvass });
    let s = start_full(
        test_config(),
        accounts_config(),
        None,
        DetectionConfig::default(),
        policy,
        clock,
        |_, _, _| {},
    );
    let read = |auth: &str, i: usize| {
        s.get(&format!("/api/v1/authorities/E1/electors/{}", s.e1[i].0), &[("authorization", auth)]).status
    };
    let auth = bearer(&s.session().0);
    for i in 0..6 {
        assert_eq!(read(&auth, i), 200, "read {i} in the canvass");
    }
    assert_eq!(read(&auth, 6), 429, "the canvass budget binds too");
    // At 01:00 the next day the canvass is over and the ordinary budgets are back. Its six
    // reads are still inside the ordinary day's window, but count against the canvass only:
    // an officer who worked it is not refused (and suspended) at the first read after it.
    s.advance_secs(13 * 3_600);
    let auth = bearer(&s.session().0);
    for i in 10..13 {
        assert_eq!(read(&auth, i), 200);
    }
    assert_eq!(read(&auth, 13), 429);
}
