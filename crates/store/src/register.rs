//! The register's operations: authorities, wrapped data keys, sealed electors and their
//! history, applications, and the bulk import path.

use crate::rows::*;
use crate::Result;
use rollguard_register::Date;

/// Reads of the register, in any transaction.
pub trait RegisterRead {
    fn authority(&self, code: &str) -> Result<Option<AuthorityRecord>>;
    fn authorities(&self) -> Result<Vec<AuthorityRecord>>;
    fn data_keys(&self) -> Result<Vec<DataKeyRecord>>;

    fn elector(&self, id: u64) -> Result<Option<ElectorRow>>;
    /// Current entries of `authority` matching every blind index given.
    fn find_electors(&self, authority: &str, query: &BlindQuery) -> Result<Vec<ElectorRow>>;
    /// Ids of current registered entries whose identity blind index or NINO hash matches.
    fn possible_duplicates(&self, authority: &str, identity: i64, nino: Option<i64>) -> Result<Vec<u64>>;
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

    /// Inserts a new current entry. Refuses a NINO hash already registered in the authority
    /// among undeleted entries ([`crate::StoreError::DuplicateNino`]).
    fn insert_elector(&mut self, row: &ElectorRow) -> Result<()>;
    /// Makes `row` the current version, moving the previous one (which must be version
    /// `row.version - 1`, else [`crate::StoreError::VersionConflict`]) to history with
    /// `valid_to = row.valid_from`.
    fn supersede_elector(&mut self, row: &ElectorRow) -> Result<()>;
    /// Replaces the sealed fields and key generation of rows in place. Each row must still
    /// carry `expected_generation`; rows changed meanwhile are skipped.
    fn reseal_rows(&mut self, rows: &[ElectorRow], expected_generation: &[u32]) -> Result<u64>;

    fn insert_application(&mut self, row: &ApplicationRow) -> Result<()>;
    fn update_application(&mut self, row: &ApplicationRow) -> Result<()>;
}

/// An all-or-nothing bulk insert: one transaction of its own.
pub trait ImportSession {
    /// The first elector id reserved for this import; rows must use consecutive ids from it.
    fn first_id(&self) -> u64;
    /// Whether the authority already has entries (if not, duplicate checks against stored
    /// rows can be skipped).
    fn authority_has_rows(&self, authority: &str) -> Result<bool>;
    /// Inserts rows (ids from [`ImportSession::first_id`] on, in any order).
    fn insert_batch(&mut self, rows: &[ElectorRow]) -> Result<()>;
    fn identity_exists(&self, authority: &str, identity: i64) -> Result<bool>;
    /// Whether a registered entry of the authority already has this NINO hash.
    fn nino_exists(&self, authority: &str, nino: i64) -> Result<bool>;
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
    /// Makes every inserted row visible at once, and durable, then returns how many. Fails
    /// with [`crate::StoreError::DuplicateInImport`] if two inserted rows share a NINO or
    /// identity hash; then nothing is stored.
    fn commit(self: Box<Self>) -> Result<u64>;
}
