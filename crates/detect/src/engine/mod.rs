//! The rule engine: each event is matched against the rules that can apply to its kind, and
//! matches feed correlation state (counts, distinct values, temporal proximity) per group.
//! Windows run on event time, so a replayed stream gives the same alerts as the live one.

mod window;
mod wiring;

use crate::fields::Observed;
use crate::ruleset::RuleSet;
use crate::sigma::{CorrelationKind, CountCondition, Detection, Level, Response};
use std::collections::{BTreeMap, HashMap};
use window::{group_key, Fast, Window};
use wiring::{CorrRule, Wiring};
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

pub struct Engine {
    set: RuleSet,
    wiring: Wiring,
    events: u64,
    newest: i64,
    hasher: Fast,
}

impl Engine {
    pub fn new(set: RuleSet) -> Self {
        let mut e = Self {
            set: RuleSet::default(),
            wiring: Wiring::default(),
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

    /// Swaps in a new rule set. A window that still counts the same thing keeps its groups,
    /// and a correlation whose text (and what it reads) is unchanged keeps its count, so a
    /// reload does not open a blind spot; a new or changed correlation counts from now.
    pub fn replace_rules(&mut self, set: RuleSet) {
        let old = std::mem::take(&mut self.wiring);
        let mut kept: HashMap<String, Vec<(Window, Vec<String>)>> = HashMap::new();
        for window in old.windows {
            let readers = window.readers.iter().map(|&c| old.corrs[c].fingerprint.clone()).collect();
            kept.entry(window.key.clone()).or_default().push((window, readers));
        }
        let mut wiring = wiring::wire(&set);
        for window in &mut wiring.windows {
            let Some((old_window, old_readers)) = kept.get_mut(&window.key).and_then(Vec::pop) else {
                continue;
            };
            // Each old reader's state goes to at most one new reader (two identical
            // correlations each keep their own).
            let mut taken = vec![false; old_readers.len()];
            let mapping: Vec<Option<usize>> = window
                .readers
                .iter()
                .map(|&c| {
                    let fp = &wiring.corrs[c].fingerprint;
                    let found = (0..old_readers.len()).find(|&o| !taken[o] && old_readers[o] == *fp);
                    if let Some(o) = found {
                        taken[o] = true;
                    }
                    found
                })
                .collect();
            window.adopt(old_window, &mapping);
        }
        self.wiring = wiring;
        self.set = set;
    }

    /// Matches one event; returns the alerts it raised.
    pub fn observe(&mut self, ev: &Observed) -> Vec<Alert> {
        let mut alerts = Vec::new();
        self.events += 1;
        self.newest = self.newest.max(ev.time_ms);
        if self.events.is_multiple_of(SWEEP_EVERY) {
            for w in &mut self.wiring.windows {
                w.sweep(self.newest);
            }
        }
        let w = &mut self.wiring;
        let mut hits = Hits {
            windows: &mut w.windows,
            corrs: &w.corrs,
            set: &self.set,
            hasher: &self.hasher,
            newest: self.newest,
            alerts: &mut alerts,
        };
        let kinded = w.by_kind.get(ev.kind).map(Vec::as_slice).unwrap_or(&[]);
        for &u in kinded.iter().chain(w.any_kind.iter()) {
            let unit = &w.units[u];
            if !unit.detection.matches(ev) {
                continue;
            }
            for &def in &unit.alerting {
                hits.alerts.push(alert(hits.set, def, None, ev, BTreeMap::new(), None));
            }
            for &(window, pos) in &unit.feeds {
                hits.hit(window, pos, ev);
            }
        }
        alerts
    }

    /// Groups held across all windows (for metrics and tests of the bound).
    pub fn groups_held(&self) -> usize {
        self.wiring.windows.iter().map(Window::groups_held).sum()
    }

    /// Windows kept for the correlations (fewer than the correlations when some count the
    /// same thing).
    pub fn windows(&self) -> usize {
        self.wiring.windows.len()
    }
}

/// One event's matches counted into windows, and the alerts they raise.
struct Hits<'a> {
    windows: &'a mut [Window],
    corrs: &'a [CorrRule],
    set: &'a RuleSet,
    hasher: &'a Fast,
    newest: i64,
    alerts: &'a mut Vec<Alert>,
}

impl Hits<'_> {
    /// Counts the event, as a match of referenced rule position `pos`, into window `w`;
    /// every reader whose condition now holds fires and counts afresh.
    fn hit(&mut self, w: usize, pos: usize, ev: &Observed) {
        let corrs = self.corrs;
        let window = &mut self.windows[w];
        let key = group_key(self.hasher, &window.spec.group_fields[pos], ev);
        let width = window.spec.group_fields.len() as u64;
        let fired = window.see(key, pos, ev, self.newest, |c, count| {
            let corr = &corrs[c].corr;
            match corr.kind {
                // Without a condition, every listed rule must have been seen.
                CorrelationKind::Temporal | CorrelationKind::TemporalOrdered
                    if corr.condition == CountCondition::default() =>
                {
                    count == width
                }
                _ => corr.condition.holds(count),
            }
        });
        for (reader, count) in fired {
            let rule = &corrs[self.windows[w].readers[reader]];
            if !rule.silent {
                let group = rule
                    .corr
                    .group_by
                    .iter()
                    .zip(&self.windows[w].spec.group_fields[pos])
                    .map(|(name, field)| (name.clone(), ev.group_value(field)))
                    .collect();
                let kind = match rule.corr.kind {
                    CorrelationKind::EventCount => "event_count",
                    CorrelationKind::ValueCount => "value_count",
                    CorrelationKind::Temporal => "temporal",
                    CorrelationKind::TemporalOrdered => "temporal_ordered",
                };
                self.alerts.push(alert(self.set, rule.def, Some(kind), ev, group, Some(count)));
            }
            for &(next, pos) in &rule.feeds {
                self.hit(next, pos, ev);
            }
        }
    }
}

fn alert(
    set: &RuleSet,
    def: usize,
    correlation: Option<&'static str>,
    ev: &Observed,
    group: BTreeMap<String, String>,
    count: Option<u64>,
) -> Alert {
    let d = &set.rules[def];
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
