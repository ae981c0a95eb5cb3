//! State that must outlive a request and be shared by every process on the register: the
//! audit outbox and what the register knows of its log, read budgets, login throttles,
//! detection's position in the log, and the key epoch.

use crate::Result;

/// An audit event written by a use case in its own transaction, not yet in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Unique for ever (never reused), so the sequencer can tell whether the log holds it.
    pub id: u64,
    /// The event's canonical bytes, with `seq` 0 (the sequencer sets it).
    pub body: Vec<u8>,
}

/// What the register knows of its audit log: which log it is, how far it was sequenced,
/// and the tree head there. A log that is missing, shorter, foreign or different at this
/// size is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditState {
    pub log_id: String,
    pub size: u64,
    /// The Merkle tree head at `size`.
    pub root: Vec<u8>,
    /// The roots of the tree's perfect subtrees at `size` (its right edge), so a sequencer
    /// can append without reading the whole log.
    pub frontier: Vec<u8>,
    /// The latest checkpoint signed over the log, and its size.
    pub checkpoint_size: u64,
    pub checkpoint: Option<String>,
}

/// A token bucket kept in the database (per-account login attempts).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttle {
    pub tokens: f64,
    pub updated_ms: i64,
}

/// Reads of shared security state.
pub trait StateRead {
    /// Raised by every change to authorities or keys, so a process whose unwrapped keys are
    /// older knows to reload them.
    fn key_epoch(&self) -> Result<u64>;
    /// Up to `limit` outbox events, lowest id first.
    fn outbox(&self, limit: usize) -> Result<Vec<OutboxEvent>>;
    fn outbox_len(&self) -> Result<u64>;
    fn audit_state(&self) -> Result<Option<AuditState>>;
    /// The log index a named reader of the log (detection) has processed up to.
    fn log_position(&self, reader: &str) -> Result<Option<u64>>;
    /// How many distinct records `principal`'s charges hold (those not yet forgotten), and
    /// which of `ids` are among them, with when each was last read. Read in the same
    /// transaction after [`StateWrite::forget_reads_before`], that is the reads inside the
    /// longest window.
    fn reads_held(&self, principal: &str, ids: &[u64]) -> Result<(u64, Vec<(u64, i64)>)>;
    /// How many distinct records `principal` last read at or after `since_ms`: the reads
    /// inside a shorter window.
    fn reads_since(&self, principal: &str, since_ms: i64) -> Result<u64>;
    /// How many distinct electors of polling district `area` `principal` last read at or
    /// after `since_ms` (among the charges held).
    fn area_reads(&self, principal: &str, area: i64, since_ms: i64) -> Result<u64>;
    /// How many entries district `district.1` of authority `district.0` had when it was
    /// imported, and how many of them `principal` holds as [`StateRead::area_reads`] counts
    /// them (one statement: it runs on every read that meets a new elector).
    fn district_reads(
        &self,
        principal: &str,
        district: (&str, i64),
        since_ms: i64,
    ) -> Result<Option<(u64, u64)>>;
    /// The authorities that hold entries but no district sizes (imported before sizes were
    /// counted, or filled entry by entry): district coverage judges no reader there.
    fn authorities_without_district_sizes(&self) -> Result<Vec<String>>;
    fn throttle(&self, key: &str) -> Result<Option<Throttle>>;
}

/// Changes to shared security state, in a write transaction.
pub trait StateWrite: StateRead {
    /// Queues an audit event (canonical bytes, `seq` 0) in this transaction; returns its
    /// outbox id.
    fn append_event(&mut self, body: &[u8]) -> Result<u64>;
    /// Removes sequenced events from the outbox; returns how many were there.
    fn remove_outbox(&mut self, ids: &[u64]) -> Result<u64>;
    fn set_audit_state(&mut self, state: &AuditState) -> Result<()>;
    fn set_log_position(&mut self, reader: &str, position: u64, now_ms: i64) -> Result<()>;
    /// Forgets `principal`'s reads before `before_ms` (they have left its window).
    fn forget_reads_before(&mut self, principal: &str, before_ms: i64) -> Result<()>;
    /// Records that `principal` read `ids` at `at_ms`: `fresh` are not held yet, `again` are
    /// (their time moves on).
    fn record_reads(&mut self, principal: &str, fresh: &[u64], again: &[u64], at_ms: i64) -> Result<()>;
    /// Records that `principal` read electors `reads` (id, polling district's blind index) at
    /// `at_ms`, after forgetting its district reads before `forget_before_ms`; returns, for
    /// each district, how many of them it did not hold yet.
    fn record_area_reads(
        &mut self,
        principal: &str,
        reads: &[(u64, i64)],
        at_ms: i64,
        forget_before_ms: i64,
    ) -> Result<Vec<(i64, u64)>>;
    fn set_throttle(&mut self, key: &str, t: &Throttle) -> Result<()>;
}
