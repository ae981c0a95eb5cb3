//! Opening the register: the store, the keyring, the vault. Errors here are the ones an
//! operator sees first, so they say what to do.

use rollguard_register::Date;
use rollguard_sealing::{open_keyring, FileKeyring, Keyring, KeyringSpec, Passphrase};
use rollguard_store::SqliteStore;
use rollguard_vault::Vault;
use std::path::{Path, PathBuf};

pub type Error = Box<dyn std::error::Error>;
pub type Result<T> = std::result::Result<T, Error>;

pub struct Context {
    pub db: PathBuf,
    pub keyring: String,
}

pub const PASSPHRASE_ENV: &str = "ROLLGUARD_KEYRING_PASSPHRASE";

pub fn passphrase() -> Option<Passphrase> {
    std::env::var(PASSPHRASE_ENV).ok().filter(|p| !p.is_empty()).map(Passphrase::new)
}

pub fn today() -> Date {
    time::OffsetDateTime::now_utc().date()
}

impl Context {
    pub fn spec(&self) -> Result<KeyringSpec> {
        Ok(KeyringSpec::parse(&self.keyring)?)
    }

    /// Opens an existing register; refuses to create one by accident.
    pub fn open(&self) -> Result<Vault<SqliteStore>> {
        if !self.db.exists() {
            return Err(format!(
                "no register database at {}; run `rollguard init` first, or pass --db",
                self.db.display()
            )
            .into());
        }
        let keyring = open_keyring(&self.spec()?, passphrase())?;
        let store = SqliteStore::open(&self.db)?;
        Ok(Vault::open(store, keyring)?)
    }

    /// Creates the database and keyring; both must be new.
    pub fn create(&self) -> Result<Vault<SqliteStore>> {
        if self.db.exists() {
            return Err(format!(
                "{} already exists; refusing to initialise over a register",
                self.db.display()
            )
            .into());
        }
        let keyring: Box<dyn Keyring> = match self.spec()? {
            KeyringSpec::File(path) => Box::new(FileKeyring::create(&path, passphrase())?),
            spec => open_keyring(&spec, None)?,
        };
        let store = SqliteStore::open(&self.db)?;
        Ok(Vault::open(store, keyring)?)
    }
}

/// Whether two paths sit in the same directory (after resolving what can be resolved).
pub fn same_directory(a: &Path, b: &Path) -> bool {
    let dir = |p: &Path| {
        let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_owned())
    };
    dir(a) == dir(b)
}
