use rollguard_register::{LifecycleError, ValidationErrors};
use rollguard_sealing::{KeyringError, OpenError};
use rollguard_store::StoreError;
use std::fmt;

/// Why an import stopped. It names the file, the line and the field; never the value.
/// When an import fails, nothing of it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub source_name: String,
    pub line: u64,
    pub field: Option<String>,
    pub reason: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.source_name, self.line)?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{} (nothing was imported)", self.reason)
    }
}

impl std::error::Error for ImportError {}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("invalid entry: {0}")]
    Invalid(#[from] ValidationErrors),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error("no authority {0}")]
    UnknownAuthority(String),
    #[error("no elector {0}")]
    UnknownElector(u64),
    #[error("no application {0}")]
    UnknownApplication(u64),
    #[error("a search needs at least one of surname, postcode, date of birth or elector number")]
    EmptySearch,
    #[error(
        "the search matches more entries than are read at once; add a criterion (an authority that has grown may need `rollguard register reindex`)"
    )]
    SearchTooBroad,
    #[error("the register is being moved into the sealed layout; finish `rollguard register upgrade` first")]
    UpgradePending,
    #[error(
        "authority {0} is re-sizing its indexes; finish `rollguard register reindex --authority {0}` first"
    )]
    Resizing(String),
    #[error("elector {existing} is already registered with this National Insurance number")]
    DuplicateNino { existing: u64 },
    #[error("possible duplicate of elector(s) {existing:?}: same name, date of birth and address")]
    PossibleDuplicate { existing: Vec<u64> },
    #[error("the amendment changes nothing")]
    NothingChanged,
    #[error("the effective date is before the current version took effect")]
    EffectiveBeforeCurrent,
    #[error("the application needs an elector number before it can be added")]
    NumberRequired,
    #[error("{0}")]
    Corrupt(String),
    #[error("{0}")]
    Io(String),
}

impl From<crate::codec::DecodeError> for VaultError {
    fn from(e: crate::codec::DecodeError) -> Self {
        VaultError::Corrupt(e.to_string())
    }
}
