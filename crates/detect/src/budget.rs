//! Read budgets: how many distinct electors a principal may read in a sliding window. The
//! server charges each request before it returns personal data; a request that would go
//! over is refused whole, so no principal ever receives more than its budget per window.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Principals tracked at once; past it, those idle longest are forgotten first.
const MAX_PRINCIPALS: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Distinct electors allowed per window.
    pub distinct: u64,
    pub window_ms: i64,
}

/// A charge went through: electors counted in the window now, and the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charged {
    pub used: u64,
    pub limit: u64,
}

/// A charge refused: nothing was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("read budget exhausted: {used} of {limit} distinct electors read in the window, {asked} more asked")]
pub struct Exhausted {
    pub used: u64,
    pub limit: u64,
    pub asked: u64,
}

#[derive(Default)]
struct Window {
    last_seen: HashMap<u64, i64>,
    order: VecDeque<(i64, u64)>,
    newest: i64,
}

impl Window {
    fn expire(&mut self, horizon: i64) {
        while let Some(&(t, id)) = self.order.front() {
            if t >= horizon {
                break;
            }
            self.order.pop_front();
            if self.last_seen.get(&id) == Some(&t) {
                self.last_seen.remove(&id);
            }
        }
    }
}

#[derive(Default)]
pub struct ReadBudgets {
    windows: Mutex<HashMap<String, Window>>,
}

impl ReadBudgets {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts `ids` against `principal`'s budget at `now_ms`, or refuses without counting.
    /// Electors already read inside the window cost nothing again.
    pub fn charge(
        &self,
        principal: &str,
        budget: Budget,
        ids: &[u64],
        now_ms: i64,
    ) -> Result<Charged, Exhausted> {
        let mut all = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if !all.contains_key(principal) && all.len() >= MAX_PRINCIPALS {
            let horizon = now_ms - budget.window_ms;
            all.retain(|_, w| w.newest >= horizon);
            if all.len() >= MAX_PRINCIPALS {
                if let Some(k) = all.iter().min_by_key(|(_, w)| w.newest).map(|(k, _)| k.clone()) {
                    all.remove(&k);
                }
            }
        }
        let w = all.entry(principal.to_owned()).or_default();
        w.expire(now_ms - budget.window_ms);
        let mut fresh: Vec<u64> = ids.iter().copied().filter(|id| !w.last_seen.contains_key(id)).collect();
        fresh.sort_unstable();
        fresh.dedup();
        let used = w.last_seen.len() as u64;
        if used + fresh.len() as u64 > budget.distinct {
            return Err(Exhausted { used, limit: budget.distinct, asked: fresh.len() as u64 });
        }
        for &id in ids {
            w.last_seen.insert(id, now_ms);
            w.order.push_back((now_ms, id));
        }
        w.newest = w.newest.max(now_ms);
        Ok(Charged { used: w.last_seen.len() as u64, limit: budget.distinct })
    }

    /// Distinct electors `principal` has read in the window ending at `now_ms`.
    pub fn used(&self, principal: &str, window_ms: i64, now_ms: i64) -> u64 {
        let mut all = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        match all.get_mut(principal) {
            Some(w) => {
                w.expire(now_ms - window_ms);
                w.last_seen.len() as u64
            }
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Budget = Budget { distinct: 3, window_ms: 1000 };

    #[test]
    fn going_over_the_budget_is_refused_whole_and_counts_nothing() {
        let b = ReadBudgets::new();
        assert_eq!(b.charge("ann", B, &[1, 2], 0).unwrap().used, 2);
        let err = b.charge("ann", B, &[3, 4], 10).unwrap_err();
        assert_eq!(err, Exhausted { used: 2, limit: 3, asked: 2 });
        assert_eq!(b.used("ann", 1000, 10), 2);
        assert_eq!(b.charge("ann", B, &[3], 20).unwrap().used, 3);
    }

    #[test]
    fn rereading_is_free_and_the_window_slides() {
        let b = ReadBudgets::new();
        b.charge("ann", B, &[1, 2, 3], 0).unwrap();
        assert!(b.charge("ann", B, &[1, 2, 3, 2], 500).is_ok());
        assert!(b.charge("ann", B, &[4], 900).is_err());
        // Ids 1–3 were last read at 500, so at 1,499 they still count; at 1,501 they do not.
        assert!(b.charge("ann", B, &[4], 1499).is_err());
        assert_eq!(b.charge("ann", B, &[4, 5, 6], 1501).unwrap().used, 3);
        // Budgets are per principal.
        assert!(b.charge("bob", B, &[1, 2, 3], 1501).is_ok());
    }
}
