//! Runs of elector ids a principal has read, whatever order the reads came in: several
//! connections reading a walk concurrently deliver its ids out of order, and must not hide it.
//! A run is a range in which no two read ids are more than [`RUN_GAP`] apart (deleted entries
//! leave gaps); its length is the number of distinct ids read in it.

use std::collections::{BTreeMap, HashSet};

/// Ids this far apart still belong to one run.
pub const RUN_GAP: u64 = 2;
/// Distinct ids remembered per principal; past this the runs start afresh (by then the
/// shipped enumeration rule has fired at every threshold, and budgets have refused).
const MAX_IDS: usize = 1_100;
/// A principal idle this long (event time) starts afresh.
const IDLE_MS: i64 = 3_600_000;

type Fast = foldhash::fast::RandomState;

#[derive(Default)]
pub(crate) struct Coverage {
    seen: HashSet<u64, Fast>,
    /// Run start → (run end, distinct ids read in it). Runs never overlap nor touch within
    /// the gap: a read that bridges two runs merges them.
    runs: BTreeMap<u64, (u64, u64)>,
    last_ms: i64,
}

/// A read's run: its length before this read and after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunStep {
    pub before: u64,
    pub after: u64,
}

impl Coverage {
    /// Records a read of `id` at `time_ms`. `before` is the longest of the runs the read
    /// extends or joins (0 if it starts a new one), `after` the run it is now part of, so a
    /// threshold is crossed exactly once per run even when a read joins two runs.
    pub(crate) fn read(&mut self, id: u64, time_ms: i64) -> RunStep {
        if time_ms - self.last_ms > IDLE_MS || self.seen.len() >= MAX_IDS {
            self.seen.clear();
            self.runs.clear();
        }
        self.last_ms = self.last_ms.max(time_ms);
        if !self.seen.insert(id) {
            let n = self.runs.range(..=id).next_back().map_or(1, |(_, &(_, n))| n);
            return RunStep { before: n, after: n };
        }
        let (mut start, mut end, mut before, mut after) = (id, id, 0, 1);
        // The run below (or around) the id, if the id is within the gap of its end.
        if let Some((&s, &(e, n))) = self.runs.range(..=id).next_back() {
            if e.saturating_add(RUN_GAP) >= id {
                self.runs.remove(&s);
                (start, end, before, after) = (s, end.max(e), n, after + n);
            }
        }
        // Runs above that now come within the gap.
        while let Some((&s, &(e, n))) = self.runs.range(id + 1..).next() {
            if s > end.saturating_add(RUN_GAP) {
                break;
            }
            self.runs.remove(&s);
            (end, before, after) = (end.max(e), before.max(n), after + n);
        }
        self.runs.insert(start, (end, after));
        RunStep { before, after }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(ids: impl IntoIterator<Item = u64>) -> Vec<RunStep> {
        let mut c = Coverage::default();
        ids.into_iter().enumerate().map(|(i, id)| c.read(id, i64::try_from(i).unwrap())).collect()
    }

    #[test]
    fn a_walk_in_order_counts_one_per_read() {
        let steps = walk(100..130);
        assert_eq!(steps.last(), Some(&RunStep { before: 29, after: 30 }));
    }

    #[test]
    fn a_walk_read_out_of_order_on_six_connections_is_the_same_run() {
        // Six connections each take the next id; their requests land shuffled.
        let mut ids: Vec<u64> = (1000..1060).collect();
        for chunk in ids.chunks_mut(6) {
            chunk.reverse();
        }
        assert_eq!(walk(ids).last().unwrap().after, 60);
    }

    #[test]
    fn a_read_that_bridges_two_runs_joins_them_and_crosses_each_threshold_once() {
        let mut c = Coverage::default();
        for id in (1..=20).chain(24..=33) {
            c.read(id, 0);
        }
        // 21 bridges to 20 (gap 1) but 24 is 3 away from 21: not yet joined.
        assert_eq!(c.read(21, 0), RunStep { before: 20, after: 21 });
        assert_eq!(c.read(22, 0), RunStep { before: 21, after: 32 });
        // Re-reading an id changes nothing.
        assert_eq!(c.read(5, 0), RunStep { before: 32, after: 32 });
    }

    #[test]
    fn gaps_of_more_than_two_and_scattered_reads_make_no_run() {
        let steps = walk((0..30).map(|i| i * 3));
        assert!(steps.iter().all(|s| s.after == 1), "{steps:?}");
        let scattered = walk((0..30).map(|i| (i * 7919) % 100_003));
        assert!(scattered.iter().all(|s| s.after <= 2), "{scattered:?}");
    }

    #[test]
    fn an_hour_idle_starts_afresh() {
        let mut c = Coverage::default();
        for id in 0..10 {
            c.read(id, 0);
        }
        assert_eq!(c.read(10, IDLE_MS + 1).after, 1);
    }
}
