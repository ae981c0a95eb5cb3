//! Sealing: how personal fields become ciphertext before they reach storage.
//!
//! - [`SealKey`] seals one field with AES-256-GCM. The associated data binds the
//!   ciphertext to (authority, record, field, version), so it opens nowhere else.
//! - [`IndexKey`] makes blind indexes: keyed HMAC-SHA-256 of normalised values, for
//!   equality search without plaintext. Index keys are never encryption keys.
//! - A [`Keyring`] holds key-encryption keys outside the database and wraps the data keys
//!   that the database stores: [`FileKeyring`] by default, [`Pkcs11Keyring`] for an HSM.
//!
//! - [`Permutation`] makes ids with no order and index references that cannot be joined;
//!   [`PadSizes`] pads values so ciphertext lengths fall in a few sizes.
//!
//! Every secret type here prints a redaction under `Debug`.
#![forbid(unsafe_code)]

mod blind;
mod keyring;
mod pad;
mod permute;
mod seal;
mod secret;

pub use blind::{BlindIndex, IndexKey, IndexKind};
pub use keyring::file::{FileKeyring, Passphrase};
pub use keyring::pkcs11::{Pkcs11Config, Pkcs11Keyring};
pub use keyring::{open_keyring, KekId, Keyring, KeyringError, KeyringSpec, WrapContext, WrappedKey};
pub use pad::{unpad, PadSizes};
pub use permute::{Permutation, DOMAIN_BITS};
pub use seal::{FieldContext, OpenError, SealKey, Sealed, SEAL_OVERHEAD};
pub use secret::KeyBytes;
