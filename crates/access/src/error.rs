use crate::password::PasswordRejected;

/// Why an access operation failed. Authentication failures are deliberately vague: they do
/// not say whether the name, the password or the code was wrong.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("the name, password or code is not right")]
    InvalidCredentials,
    #[error("this login step has expired or was already used; start again")]
    ChallengeInvalid,
    #[error("no second factor is enrolled; ask an administrator for an enrolment secret")]
    NotEnrolled,
    #[error("the account is suspended")]
    Suspended,
    #[error("the session has expired or been revoked; log in again")]
    SessionInvalid,
    #[error("the API token is unknown, expired or revoked")]
    TokenInvalid,
    #[error("{0}")]
    Password(#[from] PasswordRejected),
    #[error("no principal named {0}")]
    UnknownPrincipal(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Store(#[from] rollguard_store::StoreError),
    #[error("keyring: {0}")]
    Keyring(#[from] rollguard_sealing::KeyringError),
    #[error("a stored credential does not open: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, AccessError>;
