//! Wiring a rule set into the engine: identical detections are evaluated once per event,
//! and correlations that count the same thing read one window.

use super::window::{Window, WindowSpec};
use crate::ruleset::RuleSet;
use crate::sigma::{CorrelationDef, CorrelationKind, Detection, RuleBody};
use std::collections::HashMap;

/// One distinct detection and what its matches do.
pub(super) struct DetUnit {
    pub detection: Detection,
    /// Rules (by index in the rule set) with this detection that alert on their own.
    pub alerting: Vec<usize>,
    /// Windows, with the referenced rule position, that this detection's matches count into.
    pub feeds: Vec<(usize, usize)>,
}

pub(super) struct CorrRule {
    pub def: usize,
    pub corr: CorrelationDef,
    /// The window it reads, and its index among that window's readers.
    pub window: usize,
    pub reader: usize,
    pub silent: bool,
    /// Windows this correlation's firings count into (correlations of correlations).
    pub feeds: Vec<(usize, usize)>,
    /// Its own text and every rule it reads, in order: unchanged text keeps its count over
    /// a reload.
    pub fingerprint: String,
}

#[derive(Default)]
pub(super) struct Wiring {
    pub units: Vec<DetUnit>,
    pub corrs: Vec<CorrRule>,
    pub windows: Vec<Window>,
    /// Detections that can only match certain kinds, by kind; the engine skips them for
    /// every other kind.
    pub by_kind: HashMap<String, Vec<usize>>,
    pub any_kind: Vec<usize>,
}

/// A detection's behaviour as text, without its selections' names: two detections with the
/// same text match the same events. Every part that decides a match (fields, operators,
/// patterns, the condition over selection positions) is in the derived `Debug` output.
fn detection_key(d: &Detection) -> String {
    let selections: Vec<_> = d.selections.iter().map(|(_, s)| s).collect();
    format!("{selections:?}|{:?}", d.condition)
}

fn fingerprint(set: &RuleSet, i: usize, out: &mut String) {
    out.push_str(&set.rules[i].fingerprint);
    out.push('\u{1e}');
    if let Some(refs) = set.references.get(&i) {
        for &r in refs {
            fingerprint(set, r, out);
        }
    }
}

fn push_once(v: &mut Vec<(usize, usize)>, feed: (usize, usize)) {
    if !v.contains(&feed) {
        v.push(feed);
    }
}

pub(super) fn wire(set: &RuleSet) -> Wiring {
    let mut w = Wiring::default();
    let mut unit_of_def = HashMap::new();
    let mut corr_of_def = HashMap::new();
    let mut unit_by_key: HashMap<String, usize> = HashMap::new();
    let mut det_keys: HashMap<usize, String> = HashMap::new();
    for (i, d) in set.rules.iter().enumerate() {
        match &d.body {
            RuleBody::Detection(det) => {
                let key = detection_key(det);
                let u = *unit_by_key.entry(key.clone()).or_insert_with(|| {
                    w.units.push(DetUnit { detection: det.clone(), alerting: Vec::new(), feeds: Vec::new() });
                    w.units.len() - 1
                });
                unit_of_def.insert(i, u);
                det_keys.insert(i, key);
            }
            RuleBody::Correlation(c) => {
                corr_of_def.insert(i, w.corrs.len());
                let mut fp = String::new();
                fingerprint(set, i, &mut fp);
                w.corrs.push(CorrRule {
                    def: i,
                    corr: c.clone(),
                    window: 0,
                    reader: 0,
                    silent: false,
                    feeds: Vec::new(),
                    fingerprint: fp,
                });
            }
        }
    }
    // A rule read by a correlation alerts on its own only if some correlation says
    // `generate: true`.
    let mut generated = vec![false; set.rules.len()];
    let mut referenced = vec![false; set.rules.len()];
    for c in &w.corrs {
        for &r in &set.references[&c.def] {
            referenced[r] = true;
            generated[r] |= c.corr.generate;
        }
    }
    for i in 0..set.rules.len() {
        if let Some(&u) = unit_of_def.get(&i) {
            if !referenced[i] || generated[i] {
                w.units[u].alerting.push(i);
            }
        }
    }
    for c in &mut w.corrs {
        c.silent = referenced[c.def] && !generated[c.def];
    }
    place_windows(set, &mut w, &det_keys);
    for ci in 0..w.corrs.len() {
        let window = w.corrs[ci].window;
        for (pos, &r) in set.references[&w.corrs[ci].def].iter().enumerate() {
            if let Some(&u) = unit_of_def.get(&r) {
                push_once(&mut w.units[u].feeds, (window, pos));
            } else if let Some(&c) = corr_of_def.get(&r) {
                push_once(&mut w.corrs[c].feeds, (window, pos));
            }
        }
    }
    for (u, unit) in w.units.iter().enumerate() {
        match super::required_kinds(&unit.detection) {
            Some(kinds) => {
                for k in kinds {
                    let slot = w.by_kind.entry(k).or_default();
                    if !slot.contains(&u) {
                        slot.push(u);
                    }
                }
            }
            None => w.any_kind.push(u),
        }
    }
    w
}

/// Gives each correlation its window. An `event_count` or `value_count` over detections
/// shares a window with every other counting the same detections the same way; the rest
/// (temporal ones, and correlations of correlations) have a window each.
fn place_windows(set: &RuleSet, w: &mut Wiring, det_keys: &HashMap<usize, String>) {
    let mut window_by_key: HashMap<String, usize> = HashMap::new();
    for ci in 0..w.corrs.len() {
        let (def, c) = (w.corrs[ci].def, &w.corrs[ci].corr);
        let refs = &set.references[&def];
        let group_fields: Vec<Vec<_>> = refs
            .iter()
            .map(|&r| c.group_by.iter().map(|g| RuleSet::group_field(c, g, &set.rules[r])).collect())
            .collect();
        let counting = matches!(c.kind, CorrelationKind::EventCount | CorrelationKind::ValueCount);
        let shared = counting && refs.iter().all(|r| det_keys.contains_key(r));
        let key = if shared {
            let mut key = format!("{:?}|{}|{:?}", c.kind, c.timespan_ms, c.field);
            for (r, fields) in refs.iter().zip(&group_fields) {
                key.push_str(&format!("\u{1e}{}|{fields:?}", det_keys[r]));
            }
            key
        } else {
            format!("own\u{1e}{}", w.corrs[ci].fingerprint)
        };
        let existing = if shared { window_by_key.get(&key).copied() } else { None };
        let window = match existing {
            Some(i) => i,
            None => {
                let spec = WindowSpec {
                    kind: c.kind,
                    timespan_ms: c.timespan_ms,
                    field: c.field.clone(),
                    group_fields,
                };
                w.windows.push(Window::new(spec, key.clone()));
                window_by_key.insert(key, w.windows.len() - 1);
                w.windows.len() - 1
            }
        };
        w.corrs[ci].window = window;
        w.corrs[ci].reader = w.windows[window].readers.len();
        w.windows[window].readers.push(ci);
    }
}
