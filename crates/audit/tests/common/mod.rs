//! A register and its audit log, as the tests drive them: events committed to the outbox in
//! write transactions, then sequenced into the log.
#![allow(dead_code)]

use rollguard_audit::*;
use rollguard_store::runtime::Connector;
use rollguard_store::{AuditStore, Register, RegisterConfig, SqliteAuditStore, SqliteStore, Store};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const ORIGIN: &str = "rollguard.example/audit";

pub fn signer() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, &[42u8; 32]).unwrap()
}

pub fn register(db: &Path, grouped: bool) -> Register {
    let db = db.to_owned();
    let connect: Connector = Arc::new(move || Ok(Box::new(SqliteStore::open(&db)?) as Box<dyn Store>));
    let config = if grouped {
        RegisterConfig { readers: 2, grouped: true, max_group: 64 }
    } else {
        RegisterConfig::default()
    };
    Register::open(connect, config).unwrap()
}

pub fn log_connector(path: &Path) -> LogConnector {
    let path = path.to_owned();
    Arc::new(move || Ok(Box::new(SqliteAuditStore::open(&path)?) as Box<dyn AuditStore>))
}

/// A register (`<log>.register`) and its log at `log`.
pub struct Pipe {
    pub register: Register,
    pub log: AuditLog,
    pub log_path: PathBuf,
}

impl Pipe {
    pub fn open(log_path: &Path) -> Result<Self, LogError> {
        Self::open_with(log_path, false)
    }

    pub fn open_with(log_path: &Path, grouped: bool) -> Result<Self, LogError> {
        let register = register(&log_path.with_extension("register"), grouped);
        let log = AuditLog::open(&register, log_connector(log_path), signer(), &[])?;
        Ok(Self { register, log, log_path: log_path.to_owned() })
    }

    /// Commits `e` to the outbox, sequences it, and returns its index.
    pub fn append(&self, e: Event) -> u64 {
        let body = e.canonical();
        self.register.write(move |tx| tx.append_event(&body).map(|_| ())).unwrap();
        self.log.drain(&self.register).unwrap();
        self.log.size() - 1
    }

    pub fn checkpoint(&self) -> String {
        self.log.checkpoint(&self.register).unwrap()
    }
}
