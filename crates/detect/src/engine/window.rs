//! Correlation windows: per group, the events or distinct values seen within a timespan.
//!
//! Correlations that count the same events the same way (the same detections, grouping,
//! type, timespan and field; only their thresholds differ) read one window. Each reader
//! keeps only where it last fired, so the window is kept once however many tiers of
//! threshold an analyst writes over it, and each reader still counts afresh after its alert.

use crate::fields::{Field, Observed, Value};
use crate::sigma::CorrelationKind;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

/// Fast, per-process randomly seeded hashing for the hot maps (group keys come from
/// principal names and addresses an attacker may choose, so the seed must not be fixed).
pub(super) type Fast = foldhash::fast::RandomState;

/// Most groups one window tracks for each correlation reading it; past it, groups that are
/// out of their window are dropped first, then the oldest.
const MAX_GROUPS: usize = 100_000;

/// An `event_count` group: the times of its events in the window, how many it has counted
/// in all, and for each reader that total when the reader last fired.
pub(super) struct Events {
    times: VecDeque<i64>,
    counted: u64,
    fired_at: Vec<u64>,
}

impl Events {
    fn new(readers: usize) -> Self {
        Self { times: VecDeque::new(), counted: 0, fired_at: vec![0; readers] }
    }

    fn see(&mut self, now: i64, since: i64) {
        self.times.push_back(now);
        self.counted += 1;
        while self.times.front().is_some_and(|&t| t < since) {
            self.times.pop_front();
        }
    }

    /// Events in the window since `reader` last fired.
    fn count(&self, reader: usize) -> u64 {
        (self.counted - self.fired_at[reader]).min(self.times.len() as u64)
    }

    fn fire(&mut self, reader: usize) {
        self.fired_at[reader] = self.counted;
    }

    fn spent(&self) -> bool {
        self.fired_at.iter().all(|&f| f == self.counted)
    }
}

/// One reader of a `value_count` group: the sighting number when it last fired, and how
/// many distinct values have been seen since, within the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DistinctReader {
    fired_at: u64,
    distinct: u64,
}

/// A `value_count` group: each distinct value with its latest sighting (time and number),
/// and the sightings in time order to expire them. Integers (elector ids) have their own
/// compact map; text values are lower-cased and shared between map and queue.
pub(super) struct Distinct {
    ints: HashMap<i64, (i64, u64), Fast>,
    int_order: VecDeque<(i64, i64)>,
    texts: HashMap<Arc<str>, (i64, u64), Fast>,
    text_order: VecDeque<(i64, Arc<str>)>,
    sightings: u64,
    readers: Vec<DistinctReader>,
}

impl Distinct {
    fn new(readers: usize) -> Self {
        Self {
            ints: HashMap::default(),
            int_order: VecDeque::new(),
            texts: HashMap::default(),
            text_order: VecDeque::new(),
            sightings: 0,
            readers: vec![DistinctReader { fired_at: 0, distinct: 0 }; readers],
        }
    }

    /// A value's previous latest sighting was `previous`: it is new to every reader that
    /// fired since (or never saw it).
    fn counted_anew(&mut self, previous: Option<u64>) {
        for r in &mut self.readers {
            if previous.is_none_or(|p| p <= r.fired_at) {
                r.distinct += 1;
            }
        }
    }

    /// The value whose latest sighting was `sighting` left the window.
    fn forgot(&mut self, sighting: u64) {
        for r in &mut self.readers {
            if sighting > r.fired_at {
                r.distinct -= 1;
            }
        }
    }

    fn see_int(&mut self, v: i64, now: i64) {
        self.sightings += 1;
        let previous = self.ints.insert(v, (now, self.sightings)).map(|(_, s)| s);
        self.counted_anew(previous);
        // The same value again (one elector read twice, one network all day) moves the
        // last sighting on rather than queueing another.
        match self.int_order.back_mut() {
            Some(back) if back.1 == v => back.0 = now,
            _ => self.int_order.push_back((now, v)),
        }
    }

    fn see_text(&mut self, v: &str, now: i64) {
        self.sightings += 1;
        let lowered;
        let v = if v.bytes().any(|b| !b.is_ascii() || b.is_ascii_uppercase()) {
            lowered = v.to_lowercase();
            lowered.as_str()
        } else {
            v
        };
        // The same value as the last sighting (one principal's one network, request after
        // request): one lookup, nothing queued. (Should the map no longer hold it, it is new.)
        if let Some(back) = self.text_order.back_mut().filter(|b| *b.1 == *v) {
            if let Some(slot) = self.texts.get_mut(v) {
                back.0 = now;
                let previous = std::mem::replace(slot, (now, self.sightings)).1;
                self.counted_anew(Some(previous));
                return;
            }
        }
        let (key, previous) = match self.texts.get_key_value(v) {
            Some((k, &(_, s))) => (k.clone(), Some(s)),
            None => (Arc::from(v), None),
        };
        self.texts.insert(key.clone(), (now, self.sightings));
        self.counted_anew(previous);
        self.text_order.push_back((now, key));
    }

    /// Forgets values last seen before `horizon`.
    fn expire(&mut self, horizon: i64) {
        while let Some(&(t, v)) = self.int_order.front() {
            if t >= horizon {
                break;
            }
            self.int_order.pop_front();
            if let Some(&(latest, s)) = self.ints.get(&v) {
                if latest == t {
                    self.ints.remove(&v);
                    self.forgot(s);
                }
            }
        }
        while self.text_order.front().is_some_and(|(t, _)| *t < horizon) {
            let (t, v) = self.text_order.pop_front().expect("front exists");
            if let Some(&(latest, s)) = self.texts.get(&v) {
                if latest == t {
                    self.texts.remove(&v);
                    self.forgot(s);
                }
            }
        }
    }

    fn fire(&mut self, reader: usize) {
        self.readers[reader] = DistinctReader { fired_at: self.sightings, distinct: 0 };
    }

    fn spent(&self) -> bool {
        self.readers.iter().all(|r| r.fired_at == self.sightings)
    }

    fn newest(&self) -> i64 {
        let a = self.int_order.back().map(|(t, _)| *t).unwrap_or(i64::MIN);
        let b = self.text_order.back().map(|(t, _)| *t).unwrap_or(i64::MIN);
        a.max(b)
    }
}

pub(super) enum GroupState {
    Events(Events),
    Values(Distinct),
    /// When each referenced rule was last seen (a temporal window has one reader).
    Temporal(Vec<Option<i64>>),
}

impl GroupState {
    fn newest(&self) -> i64 {
        match self {
            Self::Events(e) => e.times.back().copied().unwrap_or(i64::MIN),
            Self::Values(w) => w.newest(),
            Self::Temporal(ts) => ts.iter().flatten().copied().max().unwrap_or(i64::MIN),
        }
    }

    fn count(&self, reader: usize) -> u64 {
        match self {
            Self::Events(e) => e.count(reader),
            Self::Values(w) => w.readers[reader].distinct,
            Self::Temporal(seen) => seen.iter().filter(|t| t.is_some()).count() as u64,
        }
    }

    fn fire(&mut self, reader: usize) {
        match self {
            Self::Events(e) => e.fire(reader),
            Self::Values(w) => w.fire(reader),
            Self::Temporal(_) => {}
        }
    }

    /// No reader counts anything in it any more (a temporal group starts again at once).
    fn spent(&self) -> bool {
        match self {
            Self::Events(e) => e.spent(),
            Self::Values(w) => w.spent(),
            Self::Temporal(_) => true,
        }
    }

    /// Re-lays the readers after a reload: reader `j` of the new rules was reader
    /// `mapping[j]` of the old, or is new and counts from now.
    fn remap(&mut self, mapping: &[Option<usize>]) {
        match self {
            Self::Events(e) => {
                e.fired_at = mapping.iter().map(|m| m.map_or(e.counted, |o| e.fired_at[o])).collect();
            }
            Self::Values(w) => {
                let fresh = DistinctReader { fired_at: w.sightings, distinct: 0 };
                w.readers = mapping.iter().map(|m| m.map_or(fresh, |o| w.readers[o])).collect();
            }
            Self::Temporal(_) => {}
        }
    }
}

/// What a window counts, fixed when the rules load.
pub(super) struct WindowSpec {
    pub kind: CorrelationKind,
    pub timespan_ms: i64,
    /// For `value_count`: the field whose distinct values are counted.
    pub field: Option<Field>,
    /// Group-by fields for events from each referenced rule position.
    pub group_fields: Vec<Vec<Field>>,
}

/// One window and the correlations (by index) that read it.
pub(super) struct Window {
    pub spec: WindowSpec,
    /// What the window counts, as text: a reload finds the old window by it.
    pub key: String,
    pub readers: Vec<usize>,
    groups: HashMap<u64, GroupState, Fast>,
}

/// A hash of an event's group-by values: the group's key, with no allocation per event.
pub(super) fn group_key(hasher: &Fast, fields: &[Field], ev: &Observed) -> u64 {
    let mut h = hasher.build_hasher();
    for field in fields {
        ev.any_value(field, |v| {
            match v {
                Value::Str(s) => s.hash(&mut h),
                Value::Int(i) => i.hash(&mut h),
                Value::Bool(b) => b.hash(&mut h),
            }
            false
        });
        0xffu8.hash(&mut h);
    }
    h.finish()
}

impl Window {
    pub fn new(spec: WindowSpec, key: String) -> Self {
        Self { spec, key, readers: Vec::new(), groups: HashMap::default() }
    }

    /// Takes the groups of an old window counting the same thing; `mapping` gives each
    /// reader's index among the old window's readers, if it read it.
    pub fn adopt(&mut self, old: Window, mapping: &[Option<usize>]) {
        self.groups = old.groups;
        for g in self.groups.values_mut() {
            g.remap(mapping);
        }
    }

    /// Before a new group is started at the limit: drop the groups older than `horizon`, and
    /// if that is not enough, the stalest.
    fn make_room(&mut self, key: u64, horizon: i64) {
        // Each reader may hold its limit: a group stays while any reader still counts it.
        let limit = MAX_GROUPS * self.readers.len().max(1);
        if self.groups.len() < limit || self.groups.contains_key(&key) {
            return;
        }
        self.groups.retain(|_, g| g.newest() >= horizon);
        if self.groups.len() >= limit {
            if let Some(oldest) = self.groups.iter().min_by_key(|(_, g)| g.newest()).map(|(k, _)| *k) {
                self.groups.remove(&oldest);
            }
        }
    }

    /// Counts the event, from referenced rule position `pos`, into group `key` at time
    /// `newest` (the newest event time the engine has seen, this event's included), then asks
    /// `holds` of each reader (by correlation) and its count (events, distinct values, or referenced rules seen,
    /// since it last fired). A reader it holds for fires and counts afresh from here; the
    /// readers that fired are returned with their counts. A group no reader still counts
    /// is dropped.
    pub fn see(
        &mut self,
        key: u64,
        pos: usize,
        ev: &Observed,
        newest: i64,
        holds: impl Fn(usize, u64) -> bool,
    ) -> Vec<(usize, u64)> {
        let span = self.spec.timespan_ms;
        // Counted at the newest time the engine has seen (an event that arrives after a
        // later one counts as of its arrival): every queue stays in time order, so expiry
        // from the front is exact, for one reader or many.
        let (now, since, readers) = (newest, newest - span, self.readers.len());
        self.make_room(key, since);
        let spec = &self.spec;
        let g = self.groups.entry(key).or_insert_with(|| match spec.kind {
            CorrelationKind::EventCount => GroupState::Events(Events::new(readers)),
            CorrelationKind::ValueCount => GroupState::Values(Distinct::new(readers)),
            CorrelationKind::Temporal | CorrelationKind::TemporalOrdered => {
                GroupState::Temporal(vec![None; spec.group_fields.len()])
            }
        });
        match g {
            GroupState::Events(e) => e.see(now, since),
            GroupState::Values(w) => {
                let field = spec.field.as_ref().expect("value_count has a field");
                ev.any_value(field, |v| {
                    match v {
                        Value::Int(i) => w.see_int(i, now),
                        Value::Bool(b) => w.see_int(i64::from(b), now),
                        Value::Str(s) => w.see_text(s, now),
                    }
                    false
                });
                w.expire(since);
            }
            GroupState::Temporal(seen) => {
                see_in_turn(seen, pos, spec.kind == CorrelationKind::TemporalOrdered, now, since);
            }
        }
        let mut fired = Vec::new();
        for reader in 0..readers {
            let count = g.count(reader);
            if holds(self.readers[reader], count) {
                g.fire(reader);
                fired.push((reader, count));
            }
        }
        if !fired.is_empty() && g.spent() {
            self.groups.remove(&key);
        }
        fired
    }

    /// Drops groups whose newest event is before `horizon`.
    pub fn sweep(&mut self, newest: i64) {
        let horizon = newest - self.spec.timespan_ms;
        self.groups.retain(|_, g| g.newest() >= horizon);
    }

    pub fn groups_held(&self) -> usize {
        self.groups.len()
    }
}

/// Marks rule position `pos` seen at `now` in a temporal group, forgetting sightings before
/// `since`; in an ordered group a rule counts only after every rule listed before it.
fn see_in_turn(seen: &mut [Option<i64>], pos: usize, ordered: bool, now: i64, since: i64) {
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
}
