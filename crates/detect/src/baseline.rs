//! Baselines: the distinct records a principal reads in a day, judged against its own
//! trailing weeks and its peers' (the same role, in the same authority, human or service).
//! A day is far above a baseline when it is more than `factor` times that baseline's busy
//! day (the 90th percentile of its days with reads); a principal far above both its own and
//! its peers' baselines, and above its peers' median today, raises an alert. The service
//! keeps the days in the register (`rollguard-service`, `baseline.rs`).

/// How baselines judge a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Baseline {
    /// How many times a baseline's busy day is "far above" it.
    pub factor: u64,
    /// A day at or under this many records is never far above anything: an ordinary
    /// officer's day, which a baseline of quiet days must not turn into an alert.
    pub floor: u64,
    /// How many days back a baseline looks (today not included).
    pub trailing_days: i64,
    /// Days with reads a baseline needs before it judges: with fewer it is unknown.
    pub min_days: usize,
}

impl Default for Baseline {
    /// Twice the busy day of four weeks, above a floor of 150 records.
    fn default() -> Self {
        Self { factor: 2, floor: 150, trailing_days: 28, min_days: 3 }
    }
}

/// What a day is judged against, worked out once a day passes the floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayThreshold {
    /// The principal's own busy day, if it has enough days.
    pub own: Option<u64>,
    /// Its peers' busy day, if they have enough days between them.
    pub peers: Option<u64>,
    /// Records above this are far above every known baseline; 0 when none is known.
    pub threshold: u64,
}

/// The 90th percentile (nearest rank) of `days`; `None` for none.
pub fn busy_day(days: &[u64]) -> Option<u64> {
    let mut sorted = days.to_vec();
    sorted.sort_unstable();
    let rank = (sorted.len() * 9).div_ceil(10);
    rank.checked_sub(1).and_then(|i| sorted.get(i).copied())
}

/// The median (the lower of the middle two) of `days`; `None` for none.
fn median(days: &[u64]) -> Option<u64> {
    let mut sorted = days.to_vec();
    sorted.sort_unstable();
    sorted.len().checked_sub(1).and_then(|last| sorted.get(last / 2).copied())
}

impl Baseline {
    /// The threshold for today, from the principal's own trailing days and its peers'
    /// (each a day's distinct records; days without reads are not listed).
    pub fn threshold(&self, own: &[u64], peers: &[u64]) -> DayThreshold {
        let known = |days: &[u64]| if days.len() >= self.min_days { busy_day(days) } else { None };
        let (own, peers) = (known(own), known(peers));
        let far = [own, peers].into_iter().flatten().map(|d| d.saturating_mul(self.factor)).max();
        DayThreshold { own, peers, threshold: far.map_or(0, |f| f.max(self.floor)) }
    }

    /// Whether `records` is also far above what the peers who read today have read: on a
    /// day when every officer is busier (a registration deadline), no one stands out.
    /// Returns the level a later read must pass instead when it is not.
    pub fn above_peers_today(&self, records: u64, peers_today: &[u64]) -> Result<(), u64> {
        match median(peers_today).map(|m| m.saturating_mul(self.factor)) {
            Some(bar) if records <= bar => Err(bar),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busy_day_is_the_ninetieth_percentile_by_nearest_rank() {
        assert_eq!(busy_day(&[]), None);
        assert_eq!(busy_day(&[7]), Some(7));
        let days: Vec<u64> = (1..=20).collect();
        assert_eq!(busy_day(&days), Some(18));
        // One exceptional day of twenty does not set the baseline.
        let mut spiky = vec![200; 19];
        spiky.push(5_000);
        assert_eq!(busy_day(&spiky), Some(200));
    }

    #[test]
    fn a_day_is_judged_against_the_higher_of_the_known_baselines_never_below_the_floor() {
        let b = Baseline::default();
        let t = b.threshold(&[200, 180, 220, 210], &[100, 120, 140, 90, 300]);
        assert_eq!((t.own, t.peers, t.threshold), (Some(220), Some(300), 600));
        let quiet = b.threshold(&[10, 20, 30], &[]);
        assert_eq!((quiet.peers, quiet.threshold), (None, 150), "a quiet history is judged from the floor");
    }

    #[test]
    fn too_few_days_make_a_baseline_unknown_and_none_known_judges_nothing() {
        let b = Baseline::default();
        let new_officer = b.threshold(&[400, 400], &[100, 120, 110]);
        assert_eq!((new_officer.own, new_officer.threshold), (None, 240));
        assert_eq!(b.threshold(&[400], &[100]).threshold, 0);
    }

    #[test]
    fn a_day_when_the_peers_are_as_busy_is_not_far_above_them() {
        let b = Baseline::default();
        assert_eq!(b.above_peers_today(700, &[300, 20, 30]), Ok(()));
        assert_eq!(b.above_peers_today(700, &[400, 380, 390]), Err(780));
        assert_eq!(b.above_peers_today(700, &[]), Ok(()), "no peer read today");
    }
}
