//! Correlation rules (event_count, value_count, temporal, temporal_ordered), reference
//! resolution, and the shipped rules against the behaviour each is for.

use rollguard_detect::{Engine, EnrichConfig, Enricher, ExportWindow, Observed, RuleSet, Zone};

/// 2027-01-12 10:00 UTC, a Tuesday in working hours.
const T0: i64 = 1_799_748_000_000;

fn ev(kind: &'static str, principal: &str, t: i64) -> Observed {
    Observed { kind, outcome: "success", principal: Some(principal.into()), time_ms: t, ..Default::default() }
}

const BASE: &str = "title: read\nname: read\nlogsource:\n  product: rollguard\ndetection:\n  s:\n    kind: elector.read\n  condition: s\n";

fn set(extra: &str) -> RuleSet {
    let text = format!("{extra}---\n{BASE}");
    let s = RuleSet::from_sources([("c.yml", text.as_str())]);
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    s
}

#[test]
fn event_count_fires_at_the_threshold_per_group_within_the_timespan() {
    let mut engine = Engine::new(set(
        "title: many reads\ncorrelation:\n  type: event_count\n  rules: [read]\n  group-by: [principal]\n  timespan: 10s\n  condition:\n    gte: 3\n",
    ));
    let mut fired = Vec::new();
    for (i, who) in ["ann", "bob", "ann", "bob"].iter().enumerate() {
        fired.extend(engine.observe(&ev("elector.read", who, T0 + i64::try_from(i).unwrap() * 100)));
    }
    assert!(fired.is_empty(), "two each is under the threshold, and the base rule is silent");
    let alerts = engine.observe(&ev("elector.read", "ann", T0 + 500));
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].title, "many reads");
    assert_eq!(alerts[0].count, Some(3));
    assert_eq!(alerts[0].group.get("principal").map(String::as_str), Some("ann"));
    // Bob's two old reads fall out of the window before his third.
    assert!(engine.observe(&ev("elector.read", "bob", T0 + 10_400)).is_empty());
}

#[test]
fn value_count_counts_distinct_electors_across_events() {
    let mut engine = Engine::new(set(
        "title: bulk\ncorrelation:\n  type: value_count\n  rules: [read]\n  group-by: [principal]\n  timespan: 1m\n  condition:\n    field: electors\n    gt: 4\n",
    ));
    let read = |ids: Vec<u64>, t| Observed { electors: ids, ..ev("elector.read", "ann", t) };
    assert!(engine.observe(&read(vec![1, 2, 3], T0)).is_empty());
    assert!(engine.observe(&read(vec![1, 2, 3, 4], T0 + 1)).is_empty(), "re-reads are not new values");
    let alerts = engine.observe(&read(vec![5], T0 + 2));
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].count, Some(5));
}

#[test]
fn temporal_and_temporal_ordered() {
    let other = "title: export\nname: export\nlogsource:\n  product: rollguard\ndetection:\n  s:\n    kind: register.export\n  condition: s\n---\n";
    let temporal = format!(
        "{other}title: read and export\ncorrelation:\n  type: temporal\n  rules: [read, export]\n  group-by: [principal]\n  timespan: 1m\n"
    );
    let mut engine = Engine::new(set(&temporal));
    assert!(engine.observe(&ev("register.export", "ann", T0)).is_empty());
    assert!(engine.observe(&ev("elector.read", "bob", T0 + 1)).is_empty(), "other principal");
    assert_eq!(engine.observe(&ev("elector.read", "ann", T0 + 2)).len(), 1);

    let ordered = format!(
        "{other}title: read then export\ncorrelation:\n  type: temporal_ordered\n  rules: [read, export]\n  group-by: [principal]\n  timespan: 1m\n"
    );
    let mut engine = Engine::new(set(&ordered));
    assert!(engine.observe(&ev("register.export", "ann", T0)).is_empty());
    assert!(engine.observe(&ev("elector.read", "ann", T0 + 1)).is_empty(), "wrong order so far");
    assert_eq!(engine.observe(&ev("register.export", "ann", T0 + 2)).len(), 1);
    // Out of the timespan, the first step no longer counts.
    assert!(engine.observe(&ev("elector.read", "ann", T0 + 10)).is_empty());
    assert!(engine.observe(&ev("register.export", "ann", T0 + 70_000)).is_empty());
}

#[test]
fn generate_true_lets_a_referenced_rule_alert_on_its_own() {
    let mut engine = Engine::new(set(
        "title: many\ncorrelation:\n  type: event_count\n  generate: true\n  rules: [read]\n  group-by: [principal]\n  timespan: 1m\n  condition:\n    gte: 2\n",
    ));
    assert_eq!(engine.observe(&ev("elector.read", "ann", T0)).len(), 1);
    let both = engine.observe(&ev("elector.read", "ann", T0 + 1));
    assert_eq!(both.iter().map(|a| a.title.as_str()).collect::<Vec<_>>(), ["read", "many"]);
}

#[test]
fn chained_correlations_feed_each_other() {
    let chain = "title: repeated bursts\ncorrelation:\n  type: event_count\n  rules: [burst]\n  group-by: [principal]\n  timespan: 1h\n  condition:\n    gte: 2\n---\ntitle: burst\nname: burst\ncorrelation:\n  type: event_count\n  rules: [read]\n  group-by: [principal]\n  timespan: 1m\n  condition:\n    gte: 2\n";
    let mut engine = Engine::new(set(chain));
    let mut titles = Vec::new();
    for i in 0..4 {
        titles.extend(engine.observe(&ev("elector.read", "ann", T0 + i)).into_iter().map(|a| a.title));
    }
    assert_eq!(titles, ["repeated bursts"], "bursts are silent; the second burst fires the chain");
}

#[test]
fn bad_correlations_are_refused_and_named() {
    let cases = [
        ("title: x\ncorrelation:\n  type: event_count\n  rules: [nothing]\n  group-by: [principal]\n  timespan: 1m\n  condition:\n    gte: 2\n", ":4: refers to 'nothing'"),
        ("title: x\ncorrelation:\n  type: value_count\n  rules: [read]\n  group-by: [principal]\n  timespan: 1m\n  condition:\n    gte: 2\n", "needs 'field'"),
        ("title: x\ncorrelation:\n  type: event_count\n  rules: [read]\n  group-by: [principal]\n  timespan: 1m\n  condition:\n    lt: 2\n", "gt, gte or eq"),
        ("title: x\ncorrelation:\n  type: event_count\n  rules: [read]\n  group-by: [principal]\n  timespan: 1w\n  condition:\n    gte: 2\n", ":6: timespan '1w'"),
        ("title: x\ncorrelation:\n  type: value_sum\n  rules: [read]\n  group-by: [principal]\n  timespan: 1m\n", ":3: correlation type 'value_sum'"),
        ("title: x\ncorrelation:\n  type: event_count\n  rules: [read]\n  group-by: [princip]\n  timespan: 1m\n  condition:\n    gte: 2\n", ":5: unknown field 'princip'"),
        ("title: x\nname: loop\ncorrelation:\n  type: event_count\n  rules: [loop]\n  group-by: [principal]\n  timespan: 1m\n  condition:\n    gte: 2\n", "refers back"),
    ];
    for (text, want) in cases {
        let all = format!("{text}---\n{BASE}");
        let s = RuleSet::from_sources([("c.yml", all.as_str())]);
        assert_eq!(s.len(), 1, "only the base rule loads for {want}");
        assert_eq!(s.errors.len(), 1, "{:?}", s.errors);
        assert!(s.errors[0].to_string().contains(want), "{} does not contain {want}", s.errors[0]);
    }
}

#[test]
fn unchanged_correlations_keep_their_counts_across_a_reload() {
    let text = "title: many\ncorrelation:\n  type: event_count\n  rules: [read]\n  group-by: [principal]\n  timespan: 1m\n  condition:\n    gte: 3\n";
    let mut engine = Engine::new(set(text));
    engine.observe(&ev("elector.read", "ann", T0));
    engine.observe(&ev("elector.read", "ann", T0 + 1));
    engine.replace_rules(set(text));
    assert_eq!(engine.observe(&ev("elector.read", "ann", T0 + 2)).len(), 1);
}

// ---- the shipped rules -------------------------------------------------------------------

struct Harness {
    engine: Engine,
    enricher: Enricher,
    seq: u64,
}

impl Harness {
    fn new(config: EnrichConfig) -> Self {
        Self { engine: Engine::new(RuleSet::shipped()), enricher: Enricher::new(config), seq: 0 }
    }

    fn feed(&mut self, mut e: Observed) -> Vec<String> {
        e.seq = self.seq;
        self.seq += 1;
        self.enricher.enrich(&mut e);
        self.engine.observe(&e).into_iter().map(|a| a.title).collect()
    }
}

fn read(principal: &str, id: u64, t: i64) -> Observed {
    Observed { electors: vec![id], client: Some("192.0.2.10".into()), ..ev("elector.read", principal, t) }
}

#[test]
fn shipped_bulk_read_fires_once_past_200_distinct_electors() {
    let mut h = Harness::new(EnrichConfig::default());
    let mut titles = Vec::new();
    // Random-looking ids so the sequential rule stays quiet.
    for i in 0..201u64 {
        titles.extend(h.feed(read("ann", (i * 7919) % 100_003, T0 + i64::try_from(i).unwrap() * 10)));
    }
    assert_eq!(titles, ["Bulk read of personal data by one principal"]);
}

#[test]
fn shipped_bulk_read_counts_applications_and_electors_together_and_never_confuses_their_ids() {
    let mut h = Harness::new(EnrichConfig::default());
    let app = |id: u64, t: i64| Observed { applications: vec![id], ..ev("application.read", "ann", t) };
    let mut titles = Vec::new();
    // 100 electors and the 100 applications with the same ids: 200 distinct records.
    for i in 0..100u64 {
        let id = (i * 7919) % 100_003;
        let t = T0 + i64::try_from(i).unwrap() * 10;
        titles.extend(h.feed(read("ann", id, t)));
        titles.extend(h.feed(app(id, t + 1)));
    }
    assert!(titles.is_empty(), "{titles:?}");
    // One more application is the 201st record.
    titles.extend(h.feed(app(99_999, T0 + 5_000)));
    assert_eq!(titles, ["Bulk read of personal data by one principal"]);
}

#[test]
fn shipped_sequential_enumeration_fires_on_a_walk_not_on_scattered_reads() {
    let mut h = Harness::new(EnrichConfig::default());
    let mut titles = Vec::new();
    for i in 0..30u64 {
        titles.extend(h.feed(read("ann", 5000 + i, T0 + i64::try_from(i).unwrap() * 1000)));
        titles.extend(h.feed(read("bob", (i * 7919) % 100_003, T0 + i64::try_from(i).unwrap() * 1000)));
    }
    assert_eq!(titles, ["Sequential enumeration of electors"]);
}

#[test]
fn shipped_sequential_enumeration_sees_a_walk_read_out_of_order_on_six_connections() {
    let mut h = Harness::new(EnrichConfig::default());
    // Six connections each take the next id; their requests land in reverse order per round.
    let mut ids: Vec<u64> = (7000..7120).collect();
    for round in ids.chunks_mut(6) {
        round.reverse();
    }
    let mut titles = Vec::new();
    for (i, id) in ids.into_iter().enumerate() {
        titles.extend(h.feed(read("eve", id, T0 + i64::try_from(i).unwrap() * 50)));
    }
    // Once as the run reaches 25 and once at 100, not on every read after.
    assert_eq!(titles, ["Sequential enumeration of electors"; 2]);
}

#[test]
fn shipped_broad_search_and_canary_rules() {
    let mut h = Harness::new(EnrichConfig { zone: Zone::Utc, ..Default::default() });
    let search = |n: u64| Observed {
        electors: (0..n).collect(),
        detail: vec![("results".into(), n.to_string())],
        ..ev("elector.search", "ann", T0)
    };
    assert!(h.feed(search(99)).is_empty());
    assert_eq!(h.feed(search(100)), ["Very broad search"]);
    h.enricher.set_canaries([424_242]);
    let mut h2 = h;
    let alerts = {
        let mut e = read("carol", 424_242, T0);
        e.seq = 99;
        h2.enricher.enrich(&mut e);
        h2.engine.observe(&e)
    };
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].level, rollguard_detect::Level::Critical);
    assert_eq!(alerts[0].electors, [424_242]);
    assert_eq!(alerts[0].response.len(), 2);
}

#[test]
fn shipped_login_failure_bursts_by_address_and_by_account() {
    let mut h = Harness::new(EnrichConfig::default());
    let fail = |who: &str, client: &str, t| Observed {
        outcome: "failure",
        client: Some(client.into()),
        ..ev("auth.password", who, t)
    };
    let mut titles = Vec::new();
    for i in 0..10 {
        titles.extend(h.feed(fail(&format!("guess{i}"), "198.51.100.7", T0 + i)));
    }
    assert_eq!(titles, ["Burst of failed logins from one address"]);
    titles.clear();
    for i in 0..10 {
        titles.extend(h.feed(fail("officer-ann", &format!("203.0.113.{i}"), T0 + 100 + i)));
    }
    assert_eq!(titles, ["Burst of failed logins against one account"]);
}

#[test]
fn shipped_phished_password_rule_counts_second_factor_failures_of_one_account_over_a_working_day() {
    let mut h = Harness::new(EnrichConfig::default());
    let mfa = |who: Option<&str>, outcome, t| Observed {
        kind: "auth.mfa",
        outcome,
        principal: who.map(str::to_owned),
        client: Some("203.0.113.9".into()),
        time_ms: t,
        ..Default::default()
    };
    let hour = 3_600_000;
    // Two mistyped codes, then the right one: ordinary.
    let mut titles = Vec::new();
    titles.extend(h.feed(mfa(Some("officer-bea"), "failure", T0)));
    titles.extend(h.feed(mfa(Some("officer-bea"), "failure", T0 + 60_000)));
    titles.extend(h.feed(mfa(Some("officer-bea"), "success", T0 + 120_000)));
    // Failures naming no account (an unknown or expired challenge) prove no password.
    for i in 0..5 {
        titles.extend(h.feed(mfa(None, "failure", T0 + 200_000 + i)));
    }
    assert!(titles.is_empty(), "{titles:?}");
    // A patient holder of the password: one wrong code every four hours.
    for i in 0..3 {
        titles.extend(h.feed(mfa(Some("officer-cal"), "failure", T0 + i * 4 * hour)));
    }
    assert_eq!(titles, ["Correct password, failing second factor"]);
    // Spread over more than twelve hours, three failures are not counted together.
    titles.clear();
    for i in 0..3 {
        titles.extend(h.feed(mfa(Some("officer-dee"), "failure", T0 + 9 * hour + i * 7 * hour)));
    }
    assert!(titles.is_empty(), "{titles:?}");
}

#[test]
fn shipped_network_rules() {
    let mut h = Harness::new(EnrichConfig::default());
    let login = |client: &str, t| Observed { client: Some(client.into()), ..ev("auth.mfa", "ann", t) };
    assert!(h.feed(login("192.0.2.10", T0)).is_empty(), "the first network is the baseline");
    assert!(h.feed(login("192.0.2.99", T0 + 1)).is_empty(), "same /24");
    let titles = h.feed(login("203.0.113.5", T0 + 2));
    assert!(titles.contains(&"Principal signed in from a new network".to_owned()), "{titles:?}");
    assert!(titles.contains(&"Principal active from two networks at once".to_owned()), "{titles:?}");
}

#[test]
fn shipped_out_of_hours_rule_uses_uk_time() {
    let mut h = Harness::new(EnrichConfig::default());
    // 2027-07-06 19:30 UTC is 20:30 BST: out of hours in the UK, not in UTC.
    let evening = 1_814_902_200_000;
    let mut titles = Vec::new();
    for i in 0..10u64 {
        titles.extend(h.feed(read("ann", i * 977, evening + i64::try_from(i).unwrap())));
    }
    assert_eq!(titles, ["Personal data accessed out of hours"]);
    let mut h = Harness::new(EnrichConfig::default());
    for i in 0..10u64 {
        assert!(
            h.feed(read("ann", i * 977, T0 + i64::try_from(i).unwrap())).is_empty(),
            "10:00 on a Tuesday"
        );
    }
}

#[test]
fn shipped_unscheduled_export_rule_freezes_exports() {
    let config = EnrichConfig {
        zone: Zone::EuropeLondon,
        export_schedule: vec![ExportWindow {
            recipient: "*".into(),
            weekdays: vec![1, 2, 3, 4, 5],
            from_hour: 9,
            to_hour: 17,
        }],
    };
    let mut h = Harness::new(config);
    let export = |t| Observed {
        detail: vec![("recipient".into(), "Party A".into())],
        ..ev("register.export", "ann", t)
    };
    assert!(h.feed(export(T0)).is_empty(), "Tuesday 10:00 is in the schedule");
    let mut e = export(T0 + 9 * 3_600_000);
    e.seq = 1;
    h.enricher.enrich(&mut e);
    let alerts = h.engine.observe(&e);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].response, [rollguard_detect::Response::FreezeExports]);
}
