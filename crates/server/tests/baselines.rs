//! Baselines in the running server: a day far above the reader's own weeks and its peers'
//! raises a high alert and suspends it; a day when the peers are as busy, a reader with no
//! history among peers with none, and a declared canvass raise nothing.

mod common;

use common::*;
use rollguard_access::{Permission, Role, Scope};
use rollguard_detect::Baseline;
use rollguard_server::detection::DetectionConfig;
use rollguard_service::{Actor, Clock, FixedClock, Policy, Service};
use rollguard_store::PrincipalKind;
use std::sync::{Arc, Mutex};

const DAY_S: i64 = 86_400;
const PEERS: [&str; 3] = ["ems-a", "ems-b", "ems-c"];

/// A small baseline for 40 electors: a day over 3 records can be far above, twice the busy
/// day, judged once two days are known.
fn small_baselines() -> Policy {
    Policy {
        baseline: Baseline { factor: 2, floor: 3, trailing_days: 28, min_days: 2 },
        ..Default::default()
    }
}

/// A server whose clock stands at noon UTC today, with three service accounts of E1's
/// registration staff (peers of one another) and their read tokens.
fn start_with_peers(policy: Policy) -> (Server, Vec<String>) {
    let now = rollguard_service::SystemClock.now_ms();
    let clock = Arc::new(FixedClock::at_ms(now - now % 86_400_000 + 43_200_000));
    let tokens = Arc::new(Mutex::new(Vec::new()));
    let made = tokens.clone();
    let s = start_full(test_config(), accounts_config(), None, DetectionConfig::default(), policy, clock, {
        move |svc: &Service, console: &Actor, _: &_| {
            for name in PEERS {
                let staff = vec![rollguard_access::Grant {
                    role: Role::RegistrationStaff,
                    scope: Scope::parse("E1"),
                }];
                svc.add_principal(console, name, PrincipalKind::Service, staff).unwrap();
                let (_, t) = svc
                    .create_token(
                        console,
                        name,
                        "ems",
                        vec![Permission::ElectorRead],
                        vec![Scope::parse("E1")],
                        30,
                    )
                    .unwrap();
                made.lock().unwrap().push(bearer(t.expose()));
            }
        }
    });
    let tokens = tokens.lock().unwrap().clone();
    (s, tokens)
}

/// Reads electors `ids` (indices into E1) with `token`; the statuses.
fn read(s: &Server, token: &str, ids: std::ops::Range<usize>) -> Vec<u16> {
    ids.map(|i| {
        s.get(&format!("/api/v1/authorities/E1/electors/{}", s.e1[i].0), &[("authorization", token)]).status
    })
    .collect()
}

/// Two ordinary days: the first token reads three electors a day, its two peers five each
/// (not the same ones each day), so its own busy day (3) and its peers' (5) differ.
fn two_ordinary_days(s: &Server, tokens: &[String]) {
    for day in 0..2 {
        let base = day * 13;
        assert_eq!(read(s, &tokens[0], base..base + 3), [200; 3]);
        assert_eq!(read(s, &tokens[1], base + 3..base + 8), [200; 5]);
        assert_eq!(read(s, &tokens[2], base + 8..base + 13), [200; 5]);
        s.advance_secs(DAY_S);
    }
}

fn baseline_alerts(s: &Server) -> Vec<rollguard_audit::Event> {
    audit_events(s)
        .into_iter()
        .filter(|e| {
            e.kind == rollguard_audit::Kind::Alert && e.detail["rule"] == rollguard_service::BASELINE_RULE
        })
        .collect()
}

#[test]
fn a_day_far_above_its_own_weeks_and_its_peers_alerts_and_suspends_the_reader() {
    let (s, tokens) = start_with_peers(small_baselines());
    two_ordinary_days(&s, &tokens);
    // The peers read their five; the stolen token reads past twice the higher busy day (the
    // peers' 5: threshold 10). Its first three were read two days ago: they count again today.
    for t in &tokens[1..] {
        assert_eq!(read(&s, t, 26..31), [200; 5]);
    }
    assert_eq!(read(&s, &tokens[0], 0..11), [200; 11], "the read that crosses is still served");
    wait_until("the baseline alert", || !baseline_alerts(&s).is_empty());
    let alert = &baseline_alerts(&s)[0];
    assert_eq!(alert.detail["subject"], "ems-a");
    assert_eq!(alert.detail["level"], "high");
    assert_eq!(alert.detail["count"], "11");
    assert_eq!(alert.detail["group.peer_group"], "registration-staff@E1/service", "{:?}", alert.detail);
    assert_eq!(alert.detail["group.own_busy_day"], "3");
    assert_eq!(alert.detail["group.peers_busy_day"], "5");
    assert_eq!(alert.detail["group.threshold"], "10");
    assert_eq!(read(&s, &tokens[0], 11..12), [401], "suspended: cut off at once");
    assert_eq!(read(&s, &tokens[1], 31..32), [200], "its peers read on");
    assert_eq!(baseline_alerts(&s).len(), 1, "one alert a day");
}

#[test]
fn a_day_when_the_peers_are_as_busy_raises_nothing() {
    // A registration deadline: every reader is two to five times busier than usual, the
    // peers a little ahead of the first token through the day.
    let (s, tokens) = start_with_peers(small_baselines());
    two_ordinary_days(&s, &tokens);
    for half in [26..32, 32..38] {
        for t in &tokens[1..] {
            assert_eq!(read(&s, t, half.clone()), [200; 6]);
        }
    }
    assert_eq!(read(&s, &tokens[0], 0..15), [200; 15]);
    assert!(baseline_alerts(&s).is_empty());
}

#[test]
fn without_a_known_baseline_nothing_is_judged_and_a_canvass_day_is_not_counted() {
    let today = {
        let now = rollguard_service::SystemClock.now_ms();
        FixedClock::at_ms(now - now % 86_400_000 + 43_200_000).today()
    };
    let mut policy = small_baselines();
    policy.canvass = Some(rollguard_service::Canvass {
        from: today,
        to: today,
        budgets: rollguard_service::canvass_budgets(),
    });
    let (s, tokens) = start_with_peers(policy);
    // The canvass day: one account reads far more than the others, and it is not a day of
    // anyone's baseline.
    assert_eq!(read(&s, &tokens[0], 0..30), [200; 30]);
    s.advance_secs(DAY_S);
    // The first ordinary day: no one has a day behind them, so no baseline is known.
    assert_eq!(read(&s, &tokens[1], 0..3), [200; 3]);
    assert_eq!(read(&s, &tokens[0], 3..20), [200; 17]);
    assert!(baseline_alerts(&s).is_empty(), "no history: budgets bind, baselines do not judge");
    let days: Vec<i64> = s
        .svc
        .register()
        .read(|tx| tx.peer_days("registration-staff@E1/service", 0, i64::MAX))
        .unwrap()
        .into_iter()
        .map(|d| d.day)
        .collect();
    assert_eq!(days.len(), 2, "only the ordinary day is kept, for both readers: {days:?}");
}
