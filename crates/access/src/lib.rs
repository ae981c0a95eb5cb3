//! Who may do what: principals, roles scoped to local authorities, and how they prove who
//! they are. Every human login takes a password and a second factor (TOTP or a recovery
//! code); service accounts use scoped, expiring API tokens. Every bearer secret is stored
//! only as its hash, TOTP secrets only sealed.
//!
//! [`Accounts`] holds the policies and the key that seals TOTP secrets; each operation takes
//! the transaction to work in, so a login step and its audit event commit together.
#![forbid(unsafe_code)]

mod accounts;
mod enrol;
mod error;
mod login;
mod passkeys;
pub mod password;
pub mod roles;
pub mod secret;
pub mod totp;

pub use accounts::{
    parse_grant, Accounts, AccountsConfig, AuthMethod, EnrolStart, Enrolled, LoginStep, NewSession, Principal,
};
pub use enrol::EnrolReady;
pub use error::{AccessError, Result};
pub use login::{Attempt, Authenticated, PasswordVerified, TOUCH_EVERY_SECS};
pub use password::{PasswordHasher, PasswordRejected};
pub use roles::{Access, Grant, Permission, Reach, Role, Scope};
pub use secret::{BearerSecret, SecretKind};
pub use totp::TotpSecret;

/// The WebAuthn types the passkey steps take and give.
pub mod webauthn {
    pub use webauthn_rs::prelude::{
        CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse,
    };
}
