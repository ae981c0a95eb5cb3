//! Baselines kept in the register: each principal's distinct records read per day, with the
//! peer group it read them in, so every server judges a day against the same history.

use crate::Result;

/// One principal's day so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyReads {
    /// Distinct records read on the day.
    pub records: u64,
    /// The alert threshold once the day passed the floor: `Some(0)` when there was no
    /// baseline to judge by, `None` until then.
    pub threshold: Option<u64>,
    /// An alert was raised for the day.
    pub alerted: bool,
}

/// One day of one principal of a peer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerDay {
    pub principal: String,
    pub day: i64,
    pub records: u64,
}

pub trait BaselineRead {
    /// The days of `peer_group` from `from_day` to `to_day` inclusive, every principal's.
    fn peer_days(&self, peer_group: &str, from_day: i64, to_day: i64) -> Result<Vec<PeerDay>>;
}

pub trait BaselineWrite {
    /// Adds `records` newly read to `principal`'s day (`day_and_forget_before.0`; in
    /// `peer_group` if the day is new) and returns the day as it now stands. A new day
    /// forgets the principal's days before `day_and_forget_before.1`.
    fn add_daily_reads(
        &mut self,
        principal: &str,
        day_and_forget_before: (i64, i64),
        peer_group: &str,
        records: u64,
    ) -> Result<DailyReads>;
    /// Sets the day's threshold, and whether it has alerted.
    fn set_daily_threshold(&mut self, principal: &str, day: i64, threshold: u64, alerted: bool)
        -> Result<()>;
}
