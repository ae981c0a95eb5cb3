//! Store errors, typed so callers can react: a unique violation is a conflict the user can
//! fix, [`StoreError::Busy`] is worth retrying, [`StoreError::Full`] and
//! [`StoreError::Unavailable`] say the database cannot take writes now. Messages name
//! tables, constraints and ids, never a stored value.

/// What two rows of an import were found to share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuplicateKind {
    /// The same National Insurance number.
    Nino,
    /// The same normalised name, date of birth and address.
    Identity,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
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
    /// A unique constraint other than those above (the constraint, never the value).
    #[error("already exists ({0})")]
    Unique(String),
    /// Another writer holds the database, or a concurrent transaction conflicted: the
    /// operation changed nothing and may be tried again.
    #[error("the database is busy ({0}); nothing was changed, try again")]
    Busy(String),
    /// The disk (or quota) is full: nothing was changed.
    #[error("the disk holding the database is full; nothing was changed")]
    Full,
    /// The database cannot be reached, opened or written (a missing directory, a read-only
    /// file, an I/O error, a server that is down).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    /// A statement failed for a reason none of the above covers: a fault in Rollguard.
    #[error("a database statement failed: {0}")]
    Query(String),
    #[error("{0}")]
    Io(String),
}

impl StoreError {
    /// Whether the failure says nothing about the request, only about the database's state
    /// now: the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Busy(_) | StoreError::Full | StoreError::Unavailable(_))
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;
