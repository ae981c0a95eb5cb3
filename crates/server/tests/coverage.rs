//! District coverage in the running server: a reader that takes a large share of one
//! polling district is alerted and suspended, however its reads are ordered and spread over
//! connections; a smaller share, or a declared canvass, raises nothing.

mod common;

use common::*;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rollguard_detect::DistrictCoverage;
use rollguard_server::detection::DetectionConfig;
use rollguard_service::{Clock, Policy};

/// E1's 40 generated electors are one polling district: covered at 16 (40%).
fn small_districts() -> Policy {
    Policy {
        coverage: DistrictCoverage { percent: 40, min_electors: 5, window_days: 28 },
        ..Default::default()
    }
}

fn coverage_alerts(s: &Server) -> Vec<rollguard_audit::Event> {
    audit_events(s)
        .into_iter()
        .filter(|e| {
            e.kind == rollguard_audit::Kind::Alert && e.detail["rule"] == rollguard_service::COVERAGE_RULE
        })
        .collect()
}

/// Reads E1's electors `indices` with the service token from four connections at once; the
/// statuses, in the order given.
fn read_concurrently(s: &Server, indices: &[usize]) -> Vec<u16> {
    let auth = bearer(&s.service_token);
    let chunks: Vec<Vec<usize>> =
        (0..4).map(|k| indices.iter().copied().skip(k).step_by(4).collect()).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                let auth = auth.clone();
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|&i| {
                            let path = format!("/api/v1/authorities/E1/electors/{}", s.e1[i].0);
                            s.get(&path, &[("authorization", &auth)]).status
                        })
                        .collect::<Vec<u16>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn a_reader_covering_a_district_in_random_order_over_four_connections_is_alerted_and_suspended() {
    let s = start_policy(DetectionConfig::default(), small_districts(), |_, _, _| {});
    let mut order: Vec<usize> = (0..16).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(16));
    let statuses = read_concurrently(&s, &order[..15]);
    assert_eq!(statuses, [200; 15]);
    assert!(coverage_alerts(&s).is_empty(), "15 of 40 is under the share");
    let auth = bearer(&s.service_token);
    let cross =
        s.get(&format!("/api/v1/authorities/E1/electors/{}", s.e1[order[15]].0), &[("authorization", &auth)]);
    assert_eq!(cross.status, 200, "the read that crosses is served");
    wait_until("the coverage alert", || !coverage_alerts(&s).is_empty());
    let alert = &coverage_alerts(&s)[0];
    assert_eq!(alert.detail["subject"], "sync-e1");
    assert_eq!(alert.detail["level"], "high");
    assert_eq!(alert.detail["count"], "16");
    assert_eq!(
        alert.detail["group.district_entries"], "40",
        "the import counted the district: {:?}",
        alert.detail
    );
    assert_eq!(alert.detail["group.threshold"], "16");
    let district = s.e1[0].1.elector_number.split('-').next().unwrap().to_owned();
    assert_eq!(alert.detail["group.district"], district);
    let after =
        s.get(&format!("/api/v1/authorities/E1/electors/{}", s.e1[20].0), &[("authorization", &auth)]);
    assert_eq!(after.status, 401, "suspended: {}", after.text);
}

#[test]
fn re_reading_the_same_electors_and_a_declared_canvass_cover_nothing() {
    let now = rollguard_service::SystemClock.now_ms();
    let clock =
        std::sync::Arc::new(rollguard_service::FixedClock::at_ms(now - now % 86_400_000 + 43_200_000));
    let today = clock.today();
    let mut policy = small_districts();
    policy.canvass = Some(rollguard_service::Canvass {
        from: today,
        to: today,
        budgets: rollguard_service::canvass_budgets(),
    });
    let s = start_full(
        test_config(),
        accounts_config(),
        None,
        DetectionConfig::default(),
        policy,
        clock,
        |_, _, _| {},
    );
    // Canvassing: twelve households' electors.
    let canvassed: Vec<usize> = (0..12).collect();
    assert_eq!(read_concurrently(&s, &canvassed), [200; 12]);
    // The next day the canvass is over and its reads do not count (with them, the next eight
    // would make 20 of 40). Eight electors, each read three times, are eight.
    s.advance_secs(86_400);
    let again: Vec<usize> = (0..24).map(|i| 12 + i % 8).collect();
    assert_eq!(read_concurrently(&s, &again), [200; 24]);
    assert!(coverage_alerts(&s).is_empty());
}

#[test]
fn a_district_read_slowly_over_weeks_is_still_covered_within_four_weeks() {
    // Longer than any budget window: a patient reader does not reset by waiting a week.
    let now = rollguard_service::SystemClock.now_ms();
    let clock =
        std::sync::Arc::new(rollguard_service::FixedClock::at_ms(now - now % 86_400_000 + 43_200_000));
    let s = start_full(
        test_config(),
        accounts_config(),
        None,
        DetectionConfig::default(),
        small_districts(),
        clock,
        |_, _, _| {},
    );
    let read = |auth: &str, i: usize| {
        s.get(&format!("/api/v1/authorities/E1/electors/{}", s.e1[i].0), &[("authorization", auth)]).status
    };
    let auth = bearer(&s.session().0);
    for i in 0..10 {
        assert_eq!(read(&auth, i), 200);
    }
    s.advance_secs(20 * 86_400);
    let auth = bearer(&s.session().0);
    for i in 10..16 {
        assert_eq!(read(&auth, i), 200);
    }
    wait_until("the coverage alert", || !coverage_alerts(&s).is_empty());
    assert_eq!(coverage_alerts(&s)[0].detail["count"], "16", "both weeks' reads");
}

#[test]
fn an_authority_whose_entries_came_without_an_import_is_named_as_unjudged() {
    let s = start_policy(DetectionConfig::default(), small_districts(), |svc, console, _| {
        svc.create_authority(console, "E3", "E3", rollguard_register::Nation::England).unwrap();
    });
    assert!(s.svc.authorities_without_district_sizes().unwrap().is_empty(), "E1, E2 imported; E3 empty");
    let console = rollguard_service::Actor::console();
    let mut e = s.e1[0].1.clone();
    e.elector_number = "ZZ1-1".into();
    e.nino.clear();
    let new = rollguard_service::NewElector { text: e, effective: None, allow_possible_duplicate: true };
    s.svc.add_elector(&console, "E3", new).unwrap();
    assert_eq!(s.svc.authorities_without_district_sizes().unwrap(), ["E3"]);
}
