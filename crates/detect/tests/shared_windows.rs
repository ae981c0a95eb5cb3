//! Correlations that count the same thing share one window: each still fires at its own
//! threshold, counts afresh after its alert, and raises exactly the alerts it would raise
//! alone; identical detections are matched once and each rule still alerts.

use rollguard_detect::{Alert, Engine, Observed, RuleSet};

/// 2027-01-12 10:00 UTC.
const T0: i64 = 1_799_748_000_000;

const BASE: &str = "title: read\nname: read\nlogsource:\n  product: rollguard\ndetection:\n  s:\n    kind: elector.read\n  condition: s\n";

fn event_tier(name: &str, gte: u64) -> String {
    format!(
        "title: {name}\nname: {name}\ncorrelation:\n  type: event_count\n  rules: [read]\n  group-by: [principal]\n  timespan: 10s\n  condition:\n    gte: {gte}\n"
    )
}

fn value_tier(name: &str, field: &str, gt: u64) -> String {
    format!(
        "title: {name}\nname: {name}\ncorrelation:\n  type: value_count\n  rules: [read]\n  group-by: [principal]\n  timespan: 10s\n  condition:\n    field: {field}\n    gt: {gt}\n"
    )
}

fn rules(correlations: &[String]) -> RuleSet {
    let mut text = String::new();
    for c in correlations {
        text.push_str(c);
        text.push_str("---\n");
    }
    text.push_str(BASE);
    let set = RuleSet::from_sources([("tiers.yml", text.as_str())]);
    assert!(set.errors.is_empty(), "{:?}", set.errors);
    set
}

fn read(who: &str, ids: Vec<u64>, client: &str, t: i64, seq: u64) -> Observed {
    Observed {
        seq,
        kind: "elector.read",
        outcome: "success",
        principal: Some(who.into()),
        client: Some(client.into()),
        electors: ids,
        time_ms: t,
        ..Default::default()
    }
}

/// A deterministic stream: three readers, ids from a small range (so values repeat), client
/// text in mixed case, times that often repeat and sometimes go back (an event committed
/// after a later one).
fn stream(n: u64) -> Vec<Observed> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |m: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % m
    };
    let mut t = T0;
    (0..n)
        .map(|seq| {
            t += i64::try_from(next(4) * 150).expect("small");
            let late = if next(10) == 0 { i64::try_from(next(3_000)).expect("small") } else { 0 };
            let who = ["ann", "bob", "cai"][usize::try_from(next(3)).expect("small")];
            let ids = (0..next(3)).map(|_| next(40)).collect();
            let client = ["10.0.0.1", "10.0.0.2", "Host-A", "host-a", "HOST-B"]
                [usize::try_from(next(5)).expect("small")];
            read(who, ids, client, t - late, seq)
        })
        .collect()
}

fn alerts_of(engine: &mut Engine, events: &[Observed]) -> Vec<(String, u64, Option<u64>)> {
    let mut out: Vec<_> = events
        .iter()
        .flat_map(|e| engine.observe(e))
        .map(|a: Alert| (a.rule, a.event_seq, a.count))
        .collect();
    out.sort();
    out
}

#[test]
fn tiers_over_one_window_each_fire_at_their_own_threshold_and_count_afresh() {
    let mut engine = Engine::new(rules(&[event_tier("three", 3), event_tier("five", 5)]));
    assert_eq!(engine.windows(), 1, "two tiers over the same reads keep one window");
    let mut fired = Vec::new();
    for i in 0..10u64 {
        let t = T0 + i64::try_from(i).expect("small") * 100;
        for a in engine.observe(&read("ann", vec![i], "10.0.0.1", t, i)) {
            fired.push((a.rule, i + 1, a.count));
        }
    }
    // "three" at the 3rd, 6th and 9th read; "five" at the 5th and 10th.
    assert_eq!(
        fired,
        vec![
            ("three".to_owned(), 3, Some(3)),
            ("five".to_owned(), 5, Some(5)),
            ("three".to_owned(), 6, Some(3)),
            ("three".to_owned(), 9, Some(3)),
            ("five".to_owned(), 10, Some(5)),
        ]
    );
}

#[test]
fn a_shared_window_raises_exactly_the_alerts_of_separate_windows() {
    let tiers = vec![
        event_tier("e3", 3),
        event_tier("e7", 7),
        event_tier("e20", 20),
        value_tier("v4", "electors", 4),
        value_tier("v9", "electors", 9),
        value_tier("v14", "electors", 14),
        value_tier("c1", "client", 1),
        value_tier("c2", "client", 2),
    ];
    let events = stream(3_000);
    let mut together = Engine::new(rules(&tiers));
    assert_eq!(together.windows(), 3, "event counts, distinct electors, distinct clients: one window each");
    let shared = alerts_of(&mut together, &events);
    let mut alone = Vec::new();
    for tier in &tiers {
        alone.extend(alerts_of(&mut Engine::new(rules(std::slice::from_ref(tier))), &events));
    }
    alone.sort();
    assert!(shared.len() > 300, "the stream must make every tier fire often: {}", shared.len());
    for name in ["e3", "e7", "e20", "v4", "v9", "v14", "c1", "c2"] {
        assert!(shared.iter().any(|(r, ..)| r == name), "{name} never fired");
    }
    assert_eq!(shared, alone);
}

#[test]
fn a_tier_added_by_a_reload_counts_from_then_and_the_old_tier_keeps_its_count() {
    let mut engine = Engine::new(rules(&[value_tier("v4", "electors", 4)]));
    for i in 0..4u64 {
        assert!(engine.observe(&read("ann", vec![i], "x", T0 + i64::try_from(i).unwrap(), i)).is_empty());
    }
    engine.replace_rules(rules(&[value_tier("v4", "electors", 4), value_tier("v1", "electors", 1)]));
    assert_eq!(engine.windows(), 1);
    // The fifth distinct elector: the old tier passes 4; the new one has seen one.
    let a = engine.observe(&read("ann", vec![4], "x", T0 + 10, 4));
    assert_eq!(a.iter().map(|a| (a.rule.as_str(), a.count)).collect::<Vec<_>>(), vec![("v4", Some(5))]);
    let a = engine.observe(&read("ann", vec![5], "x", T0 + 11, 5));
    assert_eq!(a.iter().map(|a| (a.rule.as_str(), a.count)).collect::<Vec<_>>(), vec![("v1", Some(2))]);
}

#[test]
fn identical_detections_under_different_names_are_matched_once_and_both_alert() {
    let twin = "title: twin\nname: twin\nlogsource:\n  product: rollguard\ndetection:\n  other_name:\n    kind: elector.read\n  condition: other_name\n";
    let text = format!("{BASE}---\n{twin}");
    let mut engine = Engine::new(RuleSet::from_sources([("twins.yml", text.as_str())]));
    let mut names: Vec<_> =
        engine.observe(&read("ann", vec![1], "x", T0, 0)).into_iter().map(|a| a.rule).collect();
    names.sort();
    assert_eq!(names, ["read", "twin"]);
}

#[test]
fn an_event_arriving_after_a_later_one_counts_as_of_its_arrival_alone_or_shared() {
    let tiers = [value_tier("c1", "client", 1), value_tier("v2", "electors", 2)];
    let times = [5_000, 1_000, 5_000, 20_000, 9_000, 9_000, 40_000];
    let events: Vec<Observed> = times
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let seq = u64::try_from(i).unwrap();
            read("ann", vec![seq % 3], if i % 2 == 0 { "Host-A" } else { "host-b" }, T0 + t, seq)
        })
        .collect();
    let shared = alerts_of(&mut Engine::new(rules(&tiers)), &events);
    let fired: Vec<_> = shared.iter().map(|(r, seq, _)| (r.as_str(), *seq)).collect();
    // The reads at 9 s arrive after the one at 20 s and count at 20 s: so the two clients
    // seen then (events 3 and 4) are inside one window, as are electors 0, 1 and 2 (3–5).
    assert_eq!(fired, vec![("c1", 1), ("c1", 4), ("v2", 2), ("v2", 5)]);
    let mut alone = alerts_of(&mut Engine::new(rules(&tiers[..1])), &events);
    alone.extend(alerts_of(&mut Engine::new(rules(&tiers[1..])), &events));
    alone.sort();
    assert_eq!(shared, alone);
}

#[test]
fn groups_a_tier_is_done_with_do_not_crowd_out_another_tiers_groups() {
    let by_client = |name: &str, gte: u64| {
        event_tier(name, gte).replace("group-by: [principal]", "group-by: [client]").replace("10s", "1h")
    };
    let mut engine = Engine::new(rules(&[by_client("two", 2), by_client("three", 3)]));
    assert_eq!(engine.windows(), 1);
    assert!(engine.observe(&read("ann", vec![1], "192.0.2.1", T0, 0)).is_empty());
    // 100,000 other clients read twice each: "two" is done with every one of their groups,
    // "three" still counts them all.
    for c in 0..100_000u64 {
        let client = format!("10.{}.{}.{}", c >> 16, (c >> 8) & 255, c & 255);
        for k in 0..2 {
            engine.observe(&read("bob", vec![1], &client, T0 + 1 + i64::try_from(c).unwrap(), 2 * c + k));
        }
    }
    let a = engine.observe(&read("ann", vec![1], "192.0.2.1", T0 + 200_000, 1 << 40));
    assert_eq!(
        a.iter().map(|a| a.rule.as_str()).collect::<Vec<_>>(),
        ["two"],
        "the first client's count survived"
    );
}
