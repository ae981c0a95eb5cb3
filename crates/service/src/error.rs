//! What a use case can answer besides its result. Each variant says what the caller can do
//! about it; the HTTP API maps them to statuses and problem types, the CLI prints them.
//! No message carries a personal value.

use rollguard_access::AccessError;
use rollguard_store::StoreError;
use rollguard_vault::{ImportError, VaultError};

/// Why the database cannot do the work now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The disk holding the register (or its log) is full.
    StorageFull,
    /// Another writer holds the database, or a transaction conflicted: try again.
    Busy,
    /// The database cannot be reached or written.
    Down,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("{}", invalid(detail, fields))]
    Invalid { detail: String, fields: Vec<(String, String)> },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("read budget exhausted: {used} of {limit} distinct records already read in the last {window_secs} s; this request would read {asked} more")]
    BudgetExhausted { used: u64, limit: u64, asked: u64, window_secs: u64 },
    #[error("too many attempts; retry after {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("exports are frozen by an automatic response to an alert; an administrator can lift the freeze")]
    ExportsFrozen,
    #[error(transparent)]
    Import(ImportError),
    #[error("{message}")]
    Unavailable { condition: Condition, message: String },
    /// A fault in Rollguard or damaged data: logged, never shown in detail to a client.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// `2 field(s) are invalid: postcode: …; date_of_birth: …` (names and rules, never values).
fn invalid(detail: &str, fields: &[(String, String)]) -> String {
    let each: Vec<String> = fields.iter().map(|(f, r)| format!("{f}: {r}")).collect();
    if each.is_empty() {
        detail.to_owned()
    } else {
        format!("{detail}: {}", each.join("; "))
    }
}

impl ServiceError {
    pub fn forbidden(detail: impl Into<String>) -> Self {
        ServiceError::Forbidden(detail.into())
    }

    /// The request's form is wrong (an unknown column, a malformed value): 400.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        ServiceError::BadRequest(detail.into())
    }

    /// Well formed, but against a rule of the register (one no schema can state): 422.
    pub fn invalid(detail: impl Into<String>) -> Self {
        ServiceError::Invalid { detail: detail.into(), fields: Vec::new() }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Busy(_) => {
                ServiceError::Unavailable { condition: Condition::Busy, message: e.to_string() }
            }
            StoreError::Full => ServiceError::Unavailable {
                condition: Condition::StorageFull,
                message: "the disk holding the register is full; nothing was changed".into(),
            },
            StoreError::Unavailable(_) => {
                ServiceError::Unavailable { condition: Condition::Down, message: e.to_string() }
            }
            StoreError::UnknownAuthority(_)
            | StoreError::UnknownElector(_)
            | StoreError::UnknownApplication(_)
            | StoreError::UnknownPrincipal(_) => ServiceError::NotFound,
            StoreError::DuplicateNino
            | StoreError::VersionConflict { .. }
            | StoreError::AuthorityExists(_)
            | StoreError::PrincipalExists(_)
            | StoreError::Unique(_) => ServiceError::Conflict(e.to_string()),
            StoreError::DuplicateInImport { .. }
            | StoreError::Migration { .. }
            | StoreError::SchemaTooNew { .. }
            | StoreError::Corrupt(_)
            | StoreError::Query(_)
            | StoreError::Io(_) => ServiceError::Internal(e.to_string()),
        }
    }
}

impl From<VaultError> for ServiceError {
    fn from(e: VaultError) -> Self {
        use VaultError::*;
        match e {
            Store(s) => s.into(),
            UnknownElector(_) | UnknownApplication(_) | UnknownAuthority(_) => ServiceError::NotFound,
            Invalid(errs) => ServiceError::Invalid {
                detail: format!("{} field(s) are invalid", errs.0.len()),
                fields: errs.0.iter().map(|v| (v.field.clone(), v.rule.to_string())).collect(),
            },
            EmptySearch | SearchTooBroad => ServiceError::invalid(e.to_string()),
            UpgradePending | Resizing(_) => ServiceError::Conflict(e.to_string()),
            DuplicateNino { .. }
            | PossibleDuplicate { .. }
            | NothingChanged
            | EffectiveBeforeCurrent
            | NumberRequired
            | Lifecycle(_) => ServiceError::Conflict(e.to_string()),
            Import(i) => ServiceError::Import(i),
            Keyring(_) | Open(_) | Corrupt(_) | Io(_) => ServiceError::Internal(e.to_string()),
        }
    }
}

impl From<AccessError> for ServiceError {
    fn from(e: AccessError) -> Self {
        use AccessError::*;
        match e {
            InvalidCredentials | ChallengeInvalid | SessionInvalid | TokenInvalid => {
                ServiceError::Unauthorized(e.to_string())
            }
            NotEnrolled | Suspended => ServiceError::Forbidden(e.to_string()),
            Password(p) => ServiceError::Invalid {
                detail: "the password does not meet the policy".into(),
                fields: vec![("password".into(), p.to_string())],
            },
            UnknownPrincipal(_) => ServiceError::NotFound,
            Invalid(d) => ServiceError::invalid(d),
            Store(s) => s.into(),
            Keyring(_) | Corrupt(_) => ServiceError::Internal(e.to_string()),
        }
    }
}

impl From<rollguard_register::ValidationErrors> for ServiceError {
    fn from(e: rollguard_register::ValidationErrors) -> Self {
        VaultError::Invalid(e).into()
    }
}

impl From<rollguard_audit::LogError> for ServiceError {
    fn from(e: rollguard_audit::LogError) -> Self {
        ServiceError::Internal(e.to_string())
    }
}
