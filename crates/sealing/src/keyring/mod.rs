//! Keyrings hold key-encryption keys (KEKs) outside the database and wrap the data keys
//! that the database stores. A wrapped key names the KEK that wrapped it, so KEKs can be
//! rotated: add a new one, rewrap every data key, then remove the old one.

pub mod file;
pub mod pkcs11;

use crate::secret::KeyBytes;
use std::fmt;
use std::path::PathBuf;

/// Names one key-encryption key in a keyring.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KekId(pub String);

impl fmt::Display for KekId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a data key is for. Authenticated when the key is wrapped, so a wrapped key cannot
/// be passed off as another authority's key or another purpose's.
#[derive(Debug, Clone, Copy)]
pub struct WrapContext<'a> {
    pub authority: &'a str,
    pub purpose: &'a str,
    pub generation: u32,
}

impl WrapContext<'_> {
    pub(crate) fn associated_data(&self, kek: &KekId) -> Vec<u8> {
        let mut ad = Vec::with_capacity(64);
        ad.extend_from_slice(b"rollguard/dek/v1");
        for part in [self.authority.as_bytes(), self.purpose.as_bytes(), kek.0.as_bytes()] {
            crate::seal::push_part(&mut ad, part);
        }
        ad.extend_from_slice(&self.generation.to_be_bytes());
        ad
    }
}

/// A data key wrapped under a KEK.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    pub kek: KekId,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WrappedKey {{ kek: {}, bytes: <{} bytes> }}", self.kek, self.bytes.len())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("keyring file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "keyring file {path} is readable or writable by group or others (mode {mode:04o}); \
         it holds the keys to the register. Run: chmod 600 {path}"
    )]
    LoosePermissions { path: PathBuf, mode: u32 },
    #[error("keyring file {path} is not a Rollguard keyring: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("keyring file {path} is protected by a passphrase; supply it (ROLLGUARD_KEYRING_PASSPHRASE)")]
    PassphraseRequired { path: PathBuf },
    #[error("keyring file {path}: wrong passphrase, or the file was altered")]
    WrongPassphrase { path: PathBuf },
    #[error("keyring already exists at {path}; refusing to overwrite keys")]
    AlreadyExists { path: PathBuf },
    #[error(
        "the keyring has no key-encryption key {0}; the data keys were wrapped by a keyring this is not"
    )]
    UnknownKek(KekId),
    #[error("data key for {authority}/{purpose} generation {generation} failed to unwrap: tampered, or wrapped for another key")]
    Unwrap { authority: String, purpose: String, generation: u32 },
    #[error("cannot remove {0}: it is the keyring's current key-encryption key")]
    RemoveCurrent(KekId),
    #[error("keyring specification {spec:?}: {reason}")]
    Spec { spec: String, reason: String },
    #[error("PKCS#11: {0}")]
    Pkcs11(String),
}

/// A store of key-encryption keys that is not the database.
pub trait Keyring: Send + Sync {
    /// Where the keys live, for operators (never the keys themselves).
    fn describe(&self) -> String;
    /// The KEK that wraps new data keys.
    fn current(&self) -> KekId;
    fn kek_ids(&self) -> Vec<KekId>;
    /// Wraps `key` under the current KEK.
    fn wrap(&self, key: &KeyBytes, ctx: &WrapContext<'_>) -> Result<WrappedKey, KeyringError>;
    fn unwrap(&self, wrapped: &WrappedKey, ctx: &WrapContext<'_>) -> Result<KeyBytes, KeyringError>;
    /// Creates a new KEK and makes it current. Older KEKs still unwrap until removed.
    fn add_kek(&mut self) -> Result<KekId, KeyringError>;
    /// Destroys an old KEK. Data keys still wrapped under it can no longer be opened.
    fn remove_kek(&mut self, id: &KekId) -> Result<(), KeyringError>;
}

/// Where a keyring lives: a file path, or `pkcs11:module=PATH;token=LABEL[;pin-env=VAR]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyringSpec {
    File(PathBuf),
    Pkcs11 { module: PathBuf, token: String, pin_env: String },
}

impl KeyringSpec {
    pub fn parse(spec: &str) -> Result<Self, KeyringError> {
        let Some(rest) = spec.strip_prefix("pkcs11:") else {
            return Ok(Self::File(PathBuf::from(spec)));
        };
        let err = |reason: &str| KeyringError::Spec { spec: spec.to_owned(), reason: reason.to_owned() };
        let (mut module, mut token, mut pin_env) = (None, None, "ROLLGUARD_HSM_PIN".to_owned());
        for part in rest.split(';').filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some(("module", v)) => module = Some(PathBuf::from(v)),
                Some(("token", v)) => token = Some(v.to_owned()),
                Some(("pin-env", v)) => pin_env = v.to_owned(),
                Some(("pin", _)) => return Err(err(
                    "a PIN never goes in the specification; name an environment variable with pin-env=VAR",
                )),
                _ => return Err(err("expected module=PATH;token=LABEL[;pin-env=VAR]")),
            }
        }
        Ok(Self::Pkcs11 {
            module: module.ok_or_else(|| err("module=PATH is required"))?,
            token: token.ok_or_else(|| err("token=LABEL is required"))?,
            pin_env,
        })
    }
}

/// Opens the keyring `spec` names. A file keyring may need `passphrase`; a PKCS#11 keyring
/// reads its PIN from the environment variable the spec names.
pub fn open_keyring(
    spec: &KeyringSpec,
    passphrase: Option<file::Passphrase>,
) -> Result<Box<dyn Keyring>, KeyringError> {
    match spec {
        KeyringSpec::File(path) => Ok(Box::new(file::FileKeyring::open(path, passphrase)?)),
        KeyringSpec::Pkcs11 { module, token, pin_env } => {
            let pin = std::env::var(pin_env).map_err(|_| {
                KeyringError::Pkcs11(format!(
                    "set the token's user PIN in the environment variable {pin_env}"
                ))
            })?;
            let config = pkcs11::Pkcs11Config { module: module.clone(), token: token.clone(), pin };
            Ok(Box::new(pkcs11::Pkcs11Keyring::open(config)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_refuse_inline_pins() {
        assert_eq!(
            KeyringSpec::parse("/etc/rg.keyring").unwrap(),
            KeyringSpec::File("/etc/rg.keyring".into())
        );
        let p = KeyringSpec::parse("pkcs11:module=/lib/x.so;token=rg").unwrap();
        assert_eq!(
            p,
            KeyringSpec::Pkcs11 {
                module: "/lib/x.so".into(),
                token: "rg".into(),
                pin_env: "ROLLGUARD_HSM_PIN".into()
            }
        );
        assert!(KeyringSpec::parse("pkcs11:module=/x.so;token=t;pin=1234")
            .unwrap_err()
            .to_string()
            .contains("pin-env"));
        assert!(KeyringSpec::parse("pkcs11:token=t").is_err());
    }
}
