//! The storage boundary. A [`Store`] hands out transactions: [`Store::read`] a consistent
//! snapshot, [`Store::write`] a write transaction that changes nothing until
//! [`WriteTx::commit`] and rolls back when dropped. Register, access, detection and
//! security-state operations are methods of the transactions (one trait per job), so a use
//! case made of several steps is one unit.
//!
//! The store keeps sealed rows: ciphertexts, blind indexes and categorical columns. It never
//! sees a key or a plaintext personal value, and no SQLite type crosses this API, so a
//! PostgreSQL store can implement the same traits. Errors are typed ([`StoreError`]) so a
//! caller can tell a unique violation from a version conflict, a retryable conflict and a
//! database that is unavailable or full.
#![forbid(unsafe_code)]

pub mod access;
pub mod audit;
pub mod baseline;
pub mod detection;
mod error;
pub mod legacy;
pub mod proposals;
pub mod register;
mod rows;
pub mod runtime;
pub mod sqlite;
pub mod state;

pub use access::*;
pub use audit::{AuditStore, StoredCheckpoint, StoredEvent};
pub use baseline::{BaselineRead, BaselineWrite, DailyReads, PeerDay};
pub use detection::{DetectionRead, DetectionWrite, ResponseRecord};
pub use error::{DuplicateKind, Result, StoreError};
pub use legacy::{LegacyRead, LegacyRow, LegacySealed, LegacyWrite};
pub use proposals::{ProposalRead, ProposalRecord, ProposalWrite};
pub use register::{ImportSession, RegisterRead, RegisterWrite};
pub use rows::*;
pub use runtime::{Register, RegisterConfig};
pub use sqlite::audit::SqliteAuditStore;
pub use sqlite::SqliteStore;
pub use state::{AuditState, OutboxEvent, StateRead, StateWrite, Throttle};

/// Everything a read transaction can do: a consistent snapshot of the register.
pub trait ReadTx:
    RegisterRead + LegacyRead + AccessRead + DetectionRead + StateRead + BaselineRead + ProposalRead
{
}

/// A write transaction. Nothing it does is visible to others, or durable, until
/// [`WriteTx::commit`]; dropping it uncommitted rolls every change back.
pub trait WriteTx:
    ReadTx
    + RegisterWrite
    + LegacyWrite
    + AccessWrite
    + DetectionWrite
    + StateWrite
    + BaselineWrite
    + ProposalWrite
{
    /// Makes every change durable at once.
    fn commit(self: Box<Self>) -> Result<()>;
}

/// One connection to a register database.
pub trait Store: Send {
    /// A read-only snapshot.
    fn read(&mut self) -> Result<Box<dyn ReadTx + '_>>;
    /// A write transaction (the single writer lock is taken at once, so a transaction that
    /// starts is never refused half-way for another writer).
    fn write(&mut self) -> Result<Box<dyn WriteTx + '_>>;
    /// A group of write units committed together: each unit is atomic on its own (a
    /// savepoint), and none is durable until [`WriteGroup::commit`]. Many small use cases
    /// then share one flush to disk.
    fn write_group(&mut self) -> Result<Box<dyn WriteGroup + '_>>;
    /// Starts an all-or-nothing bulk import. Nothing is visible until it commits.
    fn begin_import(&mut self) -> Result<Box<dyn ImportSession + '_>>;
    /// Writes a consistent copy of the whole store to `path`.
    fn backup_to(&mut self, path: &std::path::Path) -> Result<()>;
    /// Where the data lives, for operators and error messages.
    fn describe(&self) -> String;
    /// Bytes free to the store where its data lives, if it can tell (a file on a local
    /// filesystem can; a database server may not).
    fn free_bytes(&self) -> Option<u64> {
        None
    }
}

/// Write units that commit together (see [`Store::write_group`]).
pub trait WriteGroup {
    /// A unit: its changes are kept by [`WriteTx::commit`] and undone when it is dropped,
    /// without touching the other units of the group.
    fn unit(&mut self) -> Result<Box<dyn WriteTx + '_>>;
    /// Whether the database gave up the whole group (after a failed write such as a full
    /// disk); then every unit in it is lost, and the group must not be committed.
    fn is_lost(&self) -> bool;
    fn commit(self: Box<Self>) -> Result<()>;
}
