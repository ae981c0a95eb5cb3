//! The register's operations: authorities, wrapped data keys, sealed electors and their
//! history, applications, and the bulk import path.

use crate::rows::*;
use crate::Result;
use rollguard_register::Date;

/// Reads of the register, in any transaction.
pub trait RegisterRead {
    fn authority(&self, code: &str) -> Result<Option<AuthorityRecord>>;
    fn authorities(&self) -> Result<Vec<AuthorityRecord>>;
    /// The store's number for the authority (small, fixed when it was created): the top bits
    /// of its elector ids, so each authority's rows sit together in the table.
    fn authority_number(&self, code: &str) -> Result<u64>;
    fn data_keys(&self) -> Result<Vec<DataKeyRecord>>;

    fn elector(&self, id: u64) -> Result<Option<ElectorRow>>;
    /// The current rows of those of `ids` that exist, in id order.
    fn electors(&self, ids: &[u64]) -> Result<Vec<ElectorRow>>;
    /// References of the entries of `authority` in `table` holding `value`, at most `limit`.
    fn index_references(
        &self,
        authority: &str,
        table: IndexTable,
        value: i64,
        limit: usize,
    ) -> Result<Vec<u64>>;
    /// How many entries of `authority` in `table` hold `value`, counting no further than `cap`.
    fn index_count(&self, authority: &str, table: IndexTable, value: i64, cap: u64) -> Result<u64>;
    /// The widths of `authority`'s bucketed indexes (a table with no plan yet is absent).
    fn index_plans(&self, authority: &str) -> Result<Vec<IndexPlan>>;
    /// Current rows of `authority` (deleted ones too) with ids above `after`, in id order.
    fn current_rows_after(&self, authority: &str, after: u64, limit: usize) -> Result<Vec<ElectorRow>>;
    /// Every version of one entry, oldest first, the current one last.
    fn elector_history(&self, id: u64) -> Result<Vec<ElectorRow>>;
    /// Calls `visit` for each version that shows a registered elector of `authority` on `date`.
    fn registered_on(
        &self,
        authority: &str,
        date: Date,
        visit: &mut dyn FnMut(ElectorRow) -> Result<()>,
    ) -> Result<u64>;
    /// Calls `visit` for each current registered entry of `authority`.
    fn current_registered(
        &self,
        authority: &str,
        visit: &mut dyn FnMut(ElectorRow) -> Result<()>,
    ) -> Result<u64>;
    /// Up to `limit` rows of `authority` sealed under a seal-key generation other than
    /// `generation`: current rows with ids above `after`, in id order, then history rows.
    fn rows_not_sealed_with(
        &self,
        authority: &str,
        generation: u32,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ElectorRow>>;

    fn application(&self, id: u64) -> Result<Option<ApplicationRow>>;
    /// Counts of current entries per authority, for statistics.
    fn count_electors(&self, authority: &str) -> Result<u64>;
}

/// Changes to the register, in a write transaction.
pub trait RegisterWrite: RegisterRead {
    /// Fails with [`crate::StoreError::AuthorityExists`] if the code is taken.
    fn create_authority(&mut self, authority: &AuthorityRecord) -> Result<()>;
    fn insert_data_key(&mut self, key: &DataKeyRecord) -> Result<()>;
    /// Replaces the wrapping of the given keys (same authority, purpose, generation).
    fn rewrap_data_keys(&mut self, keys: &[DataKeyRecord]) -> Result<()>;
    fn retire_data_key(&mut self, authority: &str, purpose: KeyPurpose, generation: u32) -> Result<()>;

    /// Reserves `count` consecutive ids for `kind`, so values can be sealed to their id
    /// before they are stored.
    fn reserve_ids(&mut self, kind: IdKind, count: u64) -> Result<u64>;

    /// Inserts a new current entry with its index entries. Refuses a NINO entry whose value
    /// the authority already has ([`crate::StoreError::DuplicateNino`]): only undeleted
    /// entries keep NINO entries.
    fn insert_elector(&mut self, row: &ElectorRow, index: &[IndexEntry]) -> Result<()>;
    /// Makes `row` the current version, moving the previous one (which must be version
    /// `row.version - 1`, else [`crate::StoreError::VersionConflict`]) to history with
    /// `valid_to = row.valid_from`, and replaces its index entries `remove` with `add`.
    fn supersede_elector(
        &mut self,
        row: &ElectorRow,
        remove: &[IndexEntry],
        add: &[IndexEntry],
    ) -> Result<()>;
    /// Inserts a superseded version (`row.valid_to` set) as it is (moving a legacy entry).
    fn insert_history(&mut self, row: &ElectorRow) -> Result<()>;
    /// Records a bucketed index's width (and re-size progress) for `authority`.
    fn set_index_plan(&mut self, authority: &str, plan: &IndexPlan) -> Result<()>;
    /// Replaces index entries of `authority` (a re-size), ignoring entries already gone or present.
    fn replace_index_entries(
        &mut self,
        authority: &str,
        remove: &[IndexEntry],
        add: &[IndexEntry],
    ) -> Result<()>;
    /// Replaces the sealed fields and key generation of rows in place. Each row must still
    /// carry `expected_generation`; rows changed meanwhile are skipped.
    fn reseal_rows(&mut self, rows: &[ElectorRow], expected_generation: &[u32]) -> Result<u64>;

    fn insert_application(&mut self, row: &ApplicationRow) -> Result<()>;
    fn update_application(&mut self, row: &ApplicationRow) -> Result<()>;
}

/// An all-or-nothing bulk insert: one transaction of its own.
pub trait ImportSession {
    /// The first elector sequence number free for this import; the vault turns sequence
    /// numbers into ids (a keyed permutation) and reports how many it used at commit.
    fn first_sequence(&self) -> u64;
    /// Whether the authority already has entries (if not, duplicate checks against stored
    /// rows can be skipped).
    fn authority_has_rows(&self, authority: &str) -> Result<bool>;
    /// The widths of `authority`'s bucketed indexes as this import's transaction sees them.
    fn index_plans(&self, authority: &str) -> Result<Vec<IndexPlan>>;
    /// Records a bucketed index's width in the import's transaction.
    fn set_index_plan(&mut self, authority: &str, plan: &IndexPlan) -> Result<()>;
    /// Queues rows of `authority` and their index entries; they are written in id order at
    /// commit, so the file's order never reaches the database's pages.
    fn insert_batch(&mut self, authority: &str, rows: Vec<ElectorRow>, index: Vec<IndexEntry>) -> Result<()>;
    /// Whether a stored entry of the authority has `value` in `table`.
    fn index_exists(&self, authority: &str, table: IndexTable, value: i64) -> Result<bool>;
    /// Queues an audit event (canonical bytes) in the import's own transaction.
    fn append_event(&mut self, body: &[u8]) -> Result<()>;
    /// Adds `sizes` (polling district's blind index, entries imported) to `authority`'s
    /// district sizes.
    fn add_district_sizes(&mut self, authority: &str, sizes: &[(i64, u64)]) -> Result<()>;
    /// The sealed bytes under `name`, as this import's transaction sees them.
    fn registry_blob(&self, name: &str) -> Result<Option<Vec<u8>>>;
    /// Replaces the sealed bytes under `name` in the import's transaction (the canaries an
    /// import plants are recorded with it, or not at all).
    fn put_registry_blob(&mut self, name: &str, sealed: &[u8], now: i64) -> Result<()>;
    /// Makes every inserted row visible at once, and durable, moves the sequence on to
    /// `next_sequence`, then returns how many rows. Entries of bucketed tables arrive at full
    /// width and are stored at `widths` bits (only here, in memory, are they ever whole). Fails with
    /// [`crate::StoreError::DuplicateInImport`] (naming the two entries' references) if two
    /// inserted entries share a NINO or identity value; then nothing is stored.
    fn commit(self: Box<Self>, next_sequence: u64, widths: &[(IndexTable, u32)]) -> Result<u64>;
}
