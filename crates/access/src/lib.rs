//! Who may do what: principals, roles scoped to local authorities, and how they prove who
//! they are. Every human login takes a password and a second factor (TOTP or a recovery
//! code); service accounts use scoped, expiring API tokens. Every bearer secret is stored
//! only as its hash, TOTP secrets only sealed.
//!
//! [`Accounts`] holds the system keys and policies; each operation takes the
//! [`AccessStore`](rollguard_store::AccessStore) to work on, so a server can use one store
//! connection per request.
#![forbid(unsafe_code)]

mod accounts;
mod error;
pub mod password;
pub mod roles;
pub mod secret;
pub mod totp;

pub use accounts::{
    parse_grant, Accounts, AccountsConfig, AuthMethod, EnrolStart, Enrolled, LoginStep, NewSession, Principal,
};
pub use error::{AccessError, Result};
pub use password::{PasswordHasher, PasswordRejected};
pub use roles::{Access, Grant, Permission, Role, Scope};
pub use secret::{BearerSecret, SecretKind};
pub use totp::TotpSecret;
