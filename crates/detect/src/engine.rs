//! The rule engine: each event is matched against the rules that can apply to its kind, and
//! matches feed correlation state (counts, distinct values, temporal proximity) per group.
//! Windows run on event time, so a replayed stream gives the same alerts as the live one.

use crate::fields::{Field, Observed};
use crate::ruleset::RuleSet;
use crate::sigma::{CorrelationDef, CorrelationKind, CountCondition, Detection, Level, Response, RuleBody};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};

/// Fast, per-process randomly seeded hashing for the hot maps (group keys come from
/// principal names and addresses an attacker may choose, so the seed must not be fixed).
type Fast = foldhash::fast::RandomState;

/// Most groups one correlation tracks; past it, groups that are out of their window are
/// dropped first, then the oldest.
const MAX_GROUPS: usize = 100_000;
/// Events between sweeps of expired correlation groups.
const SWEEP_EVERY: u64 = 4_096;
/// Electors an alert lists from its event (the audit log has them all).
const ALERT_ELECTORS: usize = 50;

/// A rule fired.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Alert {
    /// The rule's id (else name, else title).
    pub rule: String,
    pub title: String,
    pub level: Level,
    /// `event_count`, `value_count`, `temporal`, `temporal_ordered`, or absent for a
    /// single-event rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation: Option<&'static str>,
    /// Time of the event that fired the rule, ms since the epoch.
    pub event_time: i64,
    /// Audit index of the event that fired the rule.
    pub event_seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// A correlation's group-by values.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub group: BTreeMap<String, String>,
    /// A correlation's count (events, distinct values or rules) when it fired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Canary electors touched, else up to 50 electors of the event.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub electors: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub response: Vec<Response>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

struct DetRule {
    def: usize,
    detection: Detection,
    silent: bool,
    feeds: Vec<(usize, usize)>,
}

struct CorrRule {
    def: usize,
    corr: CorrelationDef,
    /// Group-by fields for events from each referenced rule position.
    group_fields: Vec<Vec<Field>>,
    silent: bool,
    feeds: Vec<(usize, usize)>,
    fingerprint: String,
}

/// The distinct values a `value_count` group saw in its window, with when each was last
/// seen. Integers (elector ids) have their own compact map: counting electors allocates
/// nothing per value and keeps entries at 16 bytes.
#[derive(Default)]
struct DistinctWindow {
    ints: HashMap<i64, i64, Fast>,
    int_order: VecDeque<(i64, i64)>,
    texts: HashMap<Box<str>, i64, Fast>,
    text_order: VecDeque<(i64, Box<str>)>,
}

impl DistinctWindow {
    fn see_int(&mut self, v: i64, now: i64) {
        self.ints.insert(v, now);
        self.int_order.push_back((now, v));
    }

    fn see_text(&mut self, v: &str, now: i64) {
        let v: Box<str> = v.to_lowercase().into();
        match self.texts.get_mut(&v) {
            Some(t) => *t = now,
            None => {
                self.texts.insert(v.clone(), now);
            }
        }
        self.text_order.push_back((now, v));
    }

    /// Forgets values last seen before `horizon`.
    fn expire(&mut self, horizon: i64) {
        while let Some(&(t, v)) = self.int_order.front() {
            if t >= horizon {
                break;
            }
            self.int_order.pop_front();
            if self.ints.get(&v) == Some(&t) {
                self.ints.remove(&v);
            }
        }
        while let Some((t, _)) = self.text_order.front() {
            if *t >= horizon {
                break;
            }
            let (t, v) = self.text_order.pop_front().expect("front exists");
            if self.texts.get(&v) == Some(&t) {
                self.texts.remove(&v);
            }
        }
    }

    fn len(&self) -> usize {
        self.ints.len() + self.texts.len()
    }

    fn newest(&self) -> i64 {
        let a = self.int_order.back().map(|(t, _)| *t).unwrap_or(i64::MIN);
        let b = self.text_order.back().map(|(t, _)| *t).unwrap_or(i64::MIN);
        a.max(b)
    }
}

enum GroupState {
    Events(VecDeque<i64>),
    Values(DistinctWindow),
    Temporal(Vec<Option<i64>>),
}

impl GroupState {
    fn newest(&self) -> i64 {
        match self {
            Self::Events(q) => q.back().copied().unwrap_or(i64::MIN),
            Self::Values(w) => w.newest(),
            Self::Temporal(ts) => ts.iter().flatten().copied().max().unwrap_or(i64::MIN),
        }
    }
}

#[derive(Default)]
struct CorrState {
    /// By a hash of the group-by values.
    groups: HashMap<u64, GroupState, Fast>,
}

/// A hash of an event's group-by values: the group's key, with no allocation per event.
fn group_key(hasher: &Fast, fields: &[Field], ev: &Observed) -> u64 {
    let mut h = hasher.build_hasher();
    for field in fields {
        ev.any_value(field, |v| {
            match v {
                crate::fields::Value::Str(s) => s.hash(&mut h),
                crate::fields::Value::Int(i) => i.hash(&mut h),
                crate::fields::Value::Bool(b) => b.hash(&mut h),
            }
            false
        });
        0xffu8.hash(&mut h);
    }
    h.finish()
}

impl CorrState {
    /// Before a new group is started at the limit: drop the groups older than `horizon`, and
    /// if that is not enough, the stalest.
    fn make_room(&mut self, key: u64, horizon: i64) {
        if self.groups.contains_key(&key) || self.groups.len() < MAX_GROUPS {
            return;
        }
        self.groups.retain(|_, g| g.newest() >= horizon);
        if self.groups.len() >= MAX_GROUPS {
            if let Some(oldest) = self.groups.iter().min_by_key(|(_, g)| g.newest()).map(|(k, _)| *k) {
                self.groups.remove(&oldest);
            }
        }
    }

    /// Counts the event (from rule position `pos`) into its group; the count if the
    /// correlation's condition now holds.
    fn count(&mut self, rule: &CorrRule, key: u64, pos: usize, ev: &Observed) -> Option<u64> {
        let corr = &rule.corr;
        let (now, since) = (ev.time_ms, ev.time_ms - corr.timespan_ms);
        let n = match corr.kind {
            CorrelationKind::EventCount => {
                let g = self.groups.entry(key).or_insert_with(|| GroupState::Events(VecDeque::new()));
                let GroupState::Events(q) = g else { unreachable!("state matches its rule") };
                q.push_back(now);
                while q.front().is_some_and(|&t| t < since) {
                    q.pop_front();
                }
                q.len()
            }
            CorrelationKind::ValueCount => {
                let g =
                    self.groups.entry(key).or_insert_with(|| GroupState::Values(DistinctWindow::default()));
                let GroupState::Values(w) = g else { unreachable!("state matches its rule") };
                let field = corr.field.as_ref().expect("value_count has a field");
                ev.any_value(field, |v| {
                    match v {
                        crate::fields::Value::Int(i) => w.see_int(i, now),
                        crate::fields::Value::Bool(b) => w.see_int(i64::from(b), now),
                        crate::fields::Value::Str(s) => w.see_text(s, now),
                    }
                    false
                });
                w.expire(since);
                w.len()
            }
            CorrelationKind::Temporal | CorrelationKind::TemporalOrdered => {
                let width = rule.group_fields.len();
                let g = self.groups.entry(key).or_insert_with(|| GroupState::Temporal(vec![None; width]));
                let GroupState::Temporal(seen) = g else { unreachable!("state matches its rule") };
                let n = see_in_turn(seen, pos, corr.kind == CorrelationKind::TemporalOrdered, now, since);
                // Without a condition, every listed rule must have been seen.
                if corr.condition == CountCondition::default() {
                    return (n == width).then_some(n as u64);
                }
                n
            }
        } as u64;
        corr.condition.holds(n).then_some(n)
    }
}

/// Marks rule position `pos` seen at `now` in a temporal group, forgetting sightings before
/// `since`; in an ordered group a rule counts only after every rule listed before it.
/// Returns how many positions are seen.
fn see_in_turn(seen: &mut [Option<i64>], pos: usize, ordered: bool, now: i64, since: i64) -> usize {
    for t in seen.iter_mut() {
        if t.is_some_and(|t| t < since) {
            *t = None;
        }
    }
    if !ordered {
        seen[pos] = Some(now);
    } else if seen[..pos].iter().all(Option::is_some) {
        seen[pos] = Some(now);
        for later in seen[pos + 1..].iter_mut() {
            *later = None;
        }
    }
    seen.iter().filter(|t| t.is_some()).count()
}

pub struct Engine {
    set: RuleSet,
    dets: Vec<DetRule>,
    corrs: Vec<CorrRule>,
    states: Vec<CorrState>,
    by_kind: HashMap<String, Vec<usize>>,
    any_kind: Vec<usize>,
    events: u64,
    newest: i64,
    hasher: Fast,
}

impl Engine {
    pub fn new(set: RuleSet) -> Self {
        let mut e = Self {
            set: RuleSet::default(),
            dets: Vec::new(),
            corrs: Vec::new(),
            states: Vec::new(),
            by_kind: HashMap::new(),
            any_kind: Vec::new(),
            events: 0,
            newest: i64::MIN,
            hasher: Fast::default(),
        };
        e.replace_rules(set);
        e
    }

    pub fn rules(&self) -> &RuleSet {
        &self.set
    }

    /// Swaps in a new rule set. Correlations whose text (and what they read) is unchanged
    /// keep their counts, so a reload does not open a blind spot.
    pub fn replace_rules(&mut self, set: RuleSet) {
        let mut old: HashMap<String, CorrState> = HashMap::new();
        for (c, s) in self.corrs.iter().zip(std::mem::take(&mut self.states)) {
            old.insert(c.fingerprint.clone(), s);
        }
        let mut det_of_def = HashMap::new();
        let mut corr_of_def = HashMap::new();
        let mut dets = Vec::new();
        let mut corrs = Vec::new();
        for (i, d) in set.rules.iter().enumerate() {
            match &d.body {
                RuleBody::Detection(det) => {
                    det_of_def.insert(i, dets.len());
                    dets.push(DetRule { def: i, detection: det.clone(), silent: false, feeds: Vec::new() });
                }
                RuleBody::Correlation(c) => {
                    corr_of_def.insert(i, corrs.len());
                    let refs = &set.references[&i];
                    let group_fields = refs
                        .iter()
                        .map(|&r| {
                            c.group_by.iter().map(|g| RuleSet::group_field(c, g, &set.rules[r])).collect()
                        })
                        .collect();
                    corrs.push(CorrRule {
                        def: i,
                        corr: c.clone(),
                        group_fields,
                        silent: false,
                        feeds: Vec::new(),
                        fingerprint: String::new(),
                    });
                }
            }
        }
        // Wire each referenced rule to the correlations reading it. A rule read by a
        // correlation alerts on its own only if some correlation says `generate: true`.
        let mut generated = vec![false; set.rules.len()];
        let mut referenced = vec![false; set.rules.len()];
        for ci in 0..corrs.len() {
            let def = corrs[ci].def;
            let generate = corrs[ci].corr.generate;
            for (pos, &r) in set.references[&def].iter().enumerate() {
                referenced[r] = true;
                generated[r] |= generate;
                if let Some(&d) = det_of_def.get(&r) {
                    dets[d].feeds.push((ci, pos));
                } else if let Some(&c) = corr_of_def.get(&r) {
                    corrs[c].feeds.push((ci, pos));
                }
            }
        }
        for d in &mut dets {
            d.silent = referenced[d.def] && !generated[d.def];
        }
        for c in &mut corrs {
            c.silent = referenced[c.def] && !generated[c.def];
        }
        // A correlation's fingerprint covers its own text and every rule it reads, in order.
        fn fingerprint(set: &RuleSet, i: usize, out: &mut String) {
            out.push_str(&set.rules[i].fingerprint);
            out.push('\u{1e}');
            if let Some(refs) = set.references.get(&i) {
                for &r in refs {
                    fingerprint(set, r, out);
                }
            }
        }
        for c in &mut corrs {
            fingerprint(&set, c.def, &mut c.fingerprint);
        }
        self.states = corrs.iter().map(|c| old.remove(&c.fingerprint).unwrap_or_default()).collect();
        self.by_kind.clear();
        self.any_kind.clear();
        for (i, d) in dets.iter().enumerate() {
            match required_kinds(&d.detection) {
                Some(kinds) => {
                    for k in kinds {
                        let slot = self.by_kind.entry(k).or_default();
                        if !slot.contains(&i) {
                            slot.push(i);
                        }
                    }
                }
                None => self.any_kind.push(i),
            }
        }
        self.dets = dets;
        self.corrs = corrs;
        self.set = set;
    }

    /// Matches one event; returns the alerts it raised.
    pub fn observe(&mut self, ev: &Observed) -> Vec<Alert> {
        let mut alerts = Vec::new();
        self.events += 1;
        self.newest = self.newest.max(ev.time_ms);
        if self.events.is_multiple_of(SWEEP_EVERY) {
            self.sweep();
        }
        // Taken out for the loop (a move, not a copy) so matches can update state.
        let by_kind = std::mem::take(&mut self.by_kind);
        let any_kind = std::mem::take(&mut self.any_kind);
        let kinded = by_kind.get(ev.kind).map(Vec::as_slice).unwrap_or(&[]);
        for &d in kinded.iter().chain(any_kind.iter()) {
            if !self.dets[d].detection.matches(ev) {
                continue;
            }
            if !self.dets[d].silent {
                alerts.push(self.alert(self.dets[d].def, None, ev, BTreeMap::new(), None));
            }
            for f in 0..self.dets[d].feeds.len() {
                let (c, pos) = self.dets[d].feeds[f];
                self.hit(c, pos, ev, &mut alerts);
            }
        }
        self.by_kind = by_kind;
        self.any_kind = any_kind;
        alerts
    }

    fn hit(&mut self, c: usize, pos: usize, ev: &Observed, alerts: &mut Vec<Alert>) {
        let rule = &self.corrs[c];
        let key = group_key(&self.hasher, &rule.group_fields[pos], ev);
        let state = &mut self.states[c];
        state.make_room(key, self.newest - rule.corr.timespan_ms);
        let Some(count) = state.count(rule, key, pos, ev) else { return };
        // Start the group afresh: the next alert needs a fresh threshold's worth of events.
        state.groups.remove(&key);
        let (def, silent, feeds) = (rule.def, rule.silent, rule.feeds.clone());
        let kind = match rule.corr.kind {
            CorrelationKind::EventCount => "event_count",
            CorrelationKind::ValueCount => "value_count",
            CorrelationKind::Temporal => "temporal",
            CorrelationKind::TemporalOrdered => "temporal_ordered",
        };
        if !silent {
            let group = rule
                .corr
                .group_by
                .iter()
                .zip(&rule.group_fields[pos])
                .map(|(name, field)| (name.clone(), ev.group_value(field)))
                .collect();
            alerts.push(self.alert(def, Some(kind), ev, group, Some(count)));
        }
        for (next, pos) in feeds {
            self.hit(next, pos, ev, alerts);
        }
    }

    fn alert(
        &self,
        def: usize,
        correlation: Option<&'static str>,
        ev: &Observed,
        group: BTreeMap<String, String>,
        count: Option<u64>,
    ) -> Alert {
        let d = &self.set.rules[def];
        let electors = if ev.enrichment.canaries.is_empty() {
            ev.electors.iter().take(ALERT_ELECTORS).copied().collect()
        } else {
            ev.enrichment.canaries.clone()
        };
        Alert {
            rule: d.key().to_owned(),
            title: d.title.clone(),
            level: d.level,
            correlation,
            event_time: ev.time_ms,
            event_seq: ev.seq,
            principal: ev.principal.clone(),
            client: ev.client.clone(),
            authority: ev.authority.clone(),
            group,
            count,
            electors,
            response: d.response.clone(),
            tags: d.tags.clone(),
        }
    }

    /// Drops correlation groups whose newest event is out of their window.
    fn sweep(&mut self) {
        for (c, s) in self.corrs.iter().zip(self.states.iter_mut()) {
            let horizon = self.newest - c.corr.timespan_ms;
            s.groups.retain(|_, g| g.newest() >= horizon);
        }
    }

    /// Groups held across all correlations (for metrics and tests of the bound).
    pub fn groups_held(&self) -> usize {
        self.states.iter().map(|s| s.groups.len()).sum()
    }
}

/// The event kinds a detection can match, if it can only match a known set of kinds: then
/// the engine skips it for every other kind.
fn required_kinds(d: &Detection) -> Option<Vec<String>> {
    let mut union = Vec::new();
    for branch in d.condition.branches() {
        let kinds = branch.required().into_iter().find_map(|i| d.selections[i].1.required_kinds())?;
        union.extend(kinds);
    }
    Some(union)
}
