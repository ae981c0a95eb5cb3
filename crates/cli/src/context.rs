//! Opening the register: the store, the keyring, the service, the audit log. Errors here are
//! the ones an operator sees first, so they say what to do.
//!
//! A console command is a use case like any other: it runs in one transaction with its audit
//! event (principal `console:$USER`), and then sequences what it wrote into the log beside
//! the register, while a server runs or not.

use rollguard_access::AccountsConfig;
use rollguard_audit::{NoteSigner, NoteVerifier};
use rollguard_sealing::{open_keyring, FileKeyring, Keyring, KeyringSpec, Passphrase};
use rollguard_service::{Actor, Policy, Service, Setup, SystemClock};
use rollguard_store::runtime::Connector;
use rollguard_store::{AuditStore, RegisterConfig, SqliteAuditStore, SqliteStore, Store};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub type Error = Box<dyn std::error::Error>;
pub type Result<T> = std::result::Result<T, Error>;

#[derive(Clone)]
pub struct Context {
    pub db: PathBuf,
    pub keyring: String,
}

pub const PASSPHRASE_ENV: &str = "ROLLGUARD_KEYRING_PASSPHRASE";
const DEFAULT_ORIGIN: &str = "rollguard.local/audit";

pub fn passphrase() -> Option<Passphrase> {
    std::env::var(PASSPHRASE_ENV).ok().filter(|p| !p.is_empty()).map(Passphrase::new)
}

/// A service open at the console, and who is acting.
pub struct Console {
    pub svc: Service,
    pub actor: Actor,
    audit: PathBuf,
}

impl Console {
    /// Moves what this command wrote from the outbox into the audit log. If that cannot
    /// happen now (the log is missing, or another process holds it), the events stay in the
    /// outbox, committed, and the operator is told.
    pub fn finish(&self) -> Result<()> {
        match sequence_into_log(&self.svc, &self.audit) {
            Ok(_) => Ok(()),
            Err(e) => {
                eprintln!(
                    "rollguard: warning: the change is committed and its audit event is kept in the register's \
                     outbox, but it could not be written to the audit log yet: {e}"
                );
                Ok(())
            }
        }
    }
}

impl Context {
    pub fn spec(&self) -> Result<KeyringSpec> {
        Ok(KeyringSpec::parse(&self.keyring)?)
    }

    /// The audit log's file: beside the register database.
    pub fn audit_path(&self) -> PathBuf {
        let mut p = self.db.clone().into_os_string();
        p.push(".audit");
        PathBuf::from(p)
    }

    fn connector(&self) -> Connector {
        let db = self.db.clone();
        Arc::new(move || Ok(Box::new(SqliteStore::open(&db)?) as Box<dyn Store>))
    }

    fn reopener(&self) -> Result<rollguard_vault::KeyringOpener> {
        let spec = self.spec()?;
        Ok(Box::new(move || open_keyring(&spec, passphrase())))
    }

    /// Opens the service on this register with `register` connections.
    pub fn service_with(
        &self,
        register: RegisterConfig,
        accounts: AccountsConfig,
        policy: Policy,
    ) -> Result<Service> {
        self.service_on_clock(register, accounts, policy, Arc::new(SystemClock))
    }

    /// As [`Context::service_with`], telling the time by `clock` (a simulation's).
    pub fn service_on_clock(
        &self,
        register: RegisterConfig,
        accounts: AccountsConfig,
        policy: Policy,
        clock: Arc<dyn rollguard_service::Clock>,
    ) -> Result<Service> {
        if !self.db.exists() {
            return Err(format!(
                "no register database at {}; run `rollguard init` first, or pass --db",
                self.db.display()
            )
            .into());
        }
        let keyring = open_keyring(&self.spec()?, passphrase())?;
        self.open_service(keyring, register, accounts, (policy, clock))
    }

    fn open_service(
        &self,
        keyring: Box<dyn Keyring>,
        register: RegisterConfig,
        accounts: AccountsConfig,
        (policy, clock): (Policy, Arc<dyn rollguard_service::Clock>),
    ) -> Result<Service> {
        let setup = Setup {
            connect: self.connector(),
            register,
            keyring,
            reopen_keyring: Some(self.reopener()?),
            accounts,
            clock,
            policy,
        };
        Service::open(setup).map_err(|e| format!("{}: {e}", self.db.display()).into())
    }

    /// Opens an existing register for a console command; refuses to create one by accident.
    pub fn open(&self) -> Result<Console> {
        let svc =
            self.service_with(RegisterConfig::default(), AccountsConfig::default(), Policy::default())?;
        Ok(Console { svc, actor: Actor::console(), audit: self.audit_path() })
    }

    /// Creates the database and keyring; both must be new.
    pub fn create(&self) -> Result<Console> {
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
        let svc = self.open_service(
            keyring,
            RegisterConfig::default(),
            AccountsConfig::default(),
            (Policy::default(), Arc::new(SystemClock)),
        )?;
        Ok(Console { svc, actor: Actor::console(), audit: self.audit_path() })
    }
}

/// The log's signer: its origin (recorded in the log on first use) and the register's
/// signing key.
pub fn signer(svc: &Service, log: &mut dyn AuditStore) -> Result<NoteSigner> {
    let origin = match log.meta("origin")? {
        Some(o) => o,
        None => {
            log.set_meta("origin", DEFAULT_ORIGIN)?;
            DEFAULT_ORIGIN.to_owned()
        }
    };
    let vault = svc.keys().current();
    let seed = vault.system_key(rollguard_vault::purpose::AUDIT_SIGNING)?;
    Ok(NoteSigner::from_seed(&origin, seed.expose())?)
}

/// Opens the register's audit log: it may be created only if the register has never
/// sequenced into one (so a deleted log is never silently replaced by an empty one).
pub fn open_log(svc: &Service, path: &Path) -> Result<SqliteAuditStore> {
    let known = svc.register().read(|tx| tx.audit_state())?.is_some();
    SqliteAuditStore::open_or_create(path, !known).map_err(|e| {
        if known && !path.exists() {
            format!(
                "the audit log {} is missing, but this register has sequenced events into it; restore it from \
                 backup (Rollguard will not start a new, empty log over a history)",
                path.display()
            )
            .into()
        } else {
            Error::from(e)
        }
    })
}

/// Introduces the register and its log if new, then sequences the outbox into the log.
pub fn sequence_into_log(svc: &Service, path: &Path) -> Result<u64> {
    let mut log = open_log(svc, path)?;
    let verifier: NoteVerifier = signer(svc, &mut log)?.verifier();
    rollguard_audit::sequencer::introduce(svc.register(), &mut log, |s| {
        let report = rollguard_audit::replay(s, &verifier, &[])
            .map_err(|e| rollguard_audit::SequenceError::Mismatch(e.to_string()))?;
        let mut f = rollguard_audit::Frontier::new();
        for i in 0..report.tree.size() {
            f.push(*report.tree.leaf(i).expect("leaf within size"));
        }
        Ok(f)
    })?;
    Ok(rollguard_audit::sequencer::drain(svc.register(), &mut log)?.appended)
}

/// Whether two paths sit in the same directory (after resolving what can be resolved).
pub fn same_directory(a: &Path, b: &Path) -> bool {
    let dir = |p: &Path| {
        let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_owned())
    };
    dir(a) == dir(b)
}
