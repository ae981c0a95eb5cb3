//! The storage boundary. A [`RegisterStore`] keeps sealed rows: ciphertexts, blind
//! indexes and categorical columns. It never sees a key or a plaintext personal value, and
//! no SQLite type crosses this API, so a PostgreSQL store can implement the same trait.
#![forbid(unsafe_code)]

pub mod access;
pub mod audit;
pub mod detection;
mod rows;
pub mod sqlite;

pub use access::*;
pub use audit::{AuditStore, StoredCheckpoint, StoredEvent};
pub use detection::{DetectionStore, ResponseRecord};
pub use rows::*;
pub use sqlite::audit::SqliteAuditStore;
pub use sqlite::SqliteStore;

use rollguard_register::Date;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(String),
    #[error("schema migration {version} failed: {reason}")]
    Migration { version: u32, reason: String },
    #[error("the database schema is version {found}, newer than this Rollguard understands ({known})")]
    SchemaTooNew { found: u32, known: u32 },
    #[error("an elector with the same National Insurance number is already registered in this authority")]
    DuplicateNino,
    /// Two rows of one import share a NINO hash or an identity hash (found when the
    /// import's blind indexes are sorted at commit). `first` and `second` are elector ids.
    #[error("two rows of the import are the same {kind:?}: electors {first} and {second}")]
    DuplicateInImport { kind: DuplicateKind, first: u64, second: u64 },
    #[error("authority {0} already exists")]
    AuthorityExists(String),
    #[error("no authority {0}")]
    UnknownAuthority(String),
    #[error("no elector {0}")]
    UnknownElector(u64),
    #[error("no application {0}")]
    UnknownApplication(u64),
    #[error("elector {id} changed meanwhile (expected version {expected}); reload and try again")]
    VersionConflict { id: u64, expected: u32 },
    #[error("a principal named {0} already exists")]
    PrincipalExists(String),
    #[error("no principal {0}")]
    UnknownPrincipal(String),
    #[error("stored row is malformed: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Io(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// What two rows of an import were found to share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuplicateKind {
    /// The same National Insurance number.
    Nino,
    /// The same normalised name, date of birth and address.
    Identity,
}

/// Storage for the protected register. Implementations are transactional: every method
/// either completes or leaves the store unchanged.
pub trait RegisterStore: Send {
    fn create_authority(&mut self, authority: &AuthorityRecord) -> Result<()>;
    fn authority(&self, code: &str) -> Result<Option<AuthorityRecord>>;
    fn authorities(&self) -> Result<Vec<AuthorityRecord>>;

    fn data_keys(&self) -> Result<Vec<DataKeyRecord>>;
    fn insert_data_key(&mut self, key: &DataKeyRecord) -> Result<()>;
    /// Replaces the wrapping of the given keys (same authority, purpose, generation) at once.
    fn rewrap_data_keys(&mut self, keys: &[DataKeyRecord]) -> Result<()>;
    fn retire_data_key(&mut self, authority: &str, purpose: KeyPurpose, generation: u32) -> Result<()>;

    /// Reserves `count` consecutive ids for `kind`, so values can be sealed to their id
    /// before they are stored.
    fn reserve_ids(&mut self, kind: IdKind, count: u64) -> Result<u64>;

    /// Starts an all-or-nothing import. Nothing is visible until `commit`; dropping the
    /// session without committing discards every row.
    fn begin_import(&mut self) -> Result<Box<dyn ImportSession + '_>>;

    fn insert_elector(&mut self, row: &ElectorRow) -> Result<()>;
    fn elector(&self, id: u64) -> Result<Option<ElectorRow>>;
    /// Current entries of `authority` matching every blind index given.
    fn find_electors(&self, authority: &str, query: &BlindQuery) -> Result<Vec<ElectorRow>>;
    /// Ids of current registered entries whose identity blind index or NINO hash matches.
    fn possible_duplicates(&self, authority: &str, identity: i64, nino: Option<i64>) -> Result<Vec<u64>>;
    /// Makes `row` the current version, moving the previous one (which must be version
    /// `row.version - 1`) to history with `valid_to = row.valid_from`.
    fn supersede_elector(&mut self, row: &ElectorRow) -> Result<()>;
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
    /// Replaces the sealed fields and key generation of rows in place, in one transaction.
    /// Each row must still carry `expected_generation`; rows changed meanwhile are skipped.
    fn reseal_rows(&mut self, rows: &[ElectorRow], expected_generation: &[u32]) -> Result<u64>;

    fn insert_application(&mut self, row: &ApplicationRow) -> Result<()>;
    fn application(&self, id: u64) -> Result<Option<ApplicationRow>>;
    fn update_application(&mut self, row: &ApplicationRow) -> Result<()>;
    /// Records `determined` and inserts `elector` as one transaction.
    fn determine_application_added(
        &mut self,
        determined: &ApplicationRow,
        elector: &ElectorRow,
    ) -> Result<()>;

    /// Counts of current entries per authority, for statistics.
    fn count_electors(&self, authority: &str) -> Result<u64>;
    /// Writes a consistent copy of the whole store to `path`.
    fn backup_to(&self, path: &std::path::Path) -> Result<()>;
    /// Where the data lives, for operators.
    fn describe(&self) -> String;
}

/// An all-or-nothing bulk insert.
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
    /// Makes every inserted row visible at once, and durable, then returns how many. Fails
    /// with [`StoreError::DuplicateInImport`] if two inserted rows share a NINO or identity
    /// hash; then nothing is stored.
    fn commit(self: Box<Self>) -> Result<u64>;
}
