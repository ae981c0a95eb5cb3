//! Storage of the audit log: the events' canonical bytes, in order, and the checkpoints
//! signed over them. The store computes nothing; the log (rollguard-audit) hashes.

use crate::Result;

/// One stored event: its index in the log and its canonical bytes.
#[derive(Clone)]
pub struct StoredEvent {
    pub index: u64,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    /// The signed note, as signed.
    pub note: String,
    pub created_at: i64,
}

/// An append-only event store. `append` is durable when it returns.
pub trait AuditStore: Send {
    /// Appends events with consecutive indexes from `first`, each with the register outbox
    /// id it came from, in one durable transaction. If the log no longer ends at `first`
    /// (another sequencer appended meanwhile) nothing is written and the error is
    /// [`crate::StoreError::Busy`]: catch up and try again.
    fn append(&mut self, first: u64, events: &[(Vec<u8>, u64)]) -> Result<()>;
    /// The number of events stored (one past the highest index).
    fn len(&self) -> Result<u64>;
    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Calls `each` for every stored event with index in `from..to`, in index order. Gaps
    /// are not filled: a missing event is simply not passed.
    fn scan(&self, from: u64, to: u64, each: &mut dyn FnMut(StoredEvent) -> Result<()>) -> Result<()>;
    /// Which of `outbox_ids` the log already holds.
    fn holding(&self, outbox_ids: &[u64]) -> Result<Vec<u64>>;
    /// The outbox ids of the events at `from..to` (none for events written before the
    /// outbox existed).
    fn outbox_ids(&self, from: u64, to: u64) -> Result<Vec<(u64, Option<u64>)>>;
    /// Settings of the log itself (its origin, its identity), kept with it.
    fn meta(&self, key: &str) -> Result<Option<String>>;
    fn set_meta(&mut self, key: &str, value: &str) -> Result<()>;
    fn put_checkpoint(&mut self, c: &StoredCheckpoint) -> Result<()>;
    /// Every checkpoint, smallest size first.
    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>>;
    /// Where the log lives, for operators and error messages.
    fn describe(&self) -> String;
}
