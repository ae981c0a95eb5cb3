//! Test fixtures: a real SQLite register with a real file keyring in separate temporary
//! directories, filled from the synthetic generator. [`TestVault`] runs each vault call in
//! a transaction of its own (committed on success), as a use case would.
#![allow(dead_code)]

use rollguard_register::{
    parse_date, Date, DeletionReason, ElectorNumber, EntryText, FranchiseTable, IdentityRoute, Nation,
    RejectionReason,
};
use rollguard_sealing::{FileKeyring, Keyring};
use rollguard_store::runtime::Connector;
use rollguard_store::{ReadTx, Register, SqliteStore, Store, WriteTx};
use rollguard_vault::{
    ApplicationView, Elector, ImportOptions, ImportReport, KekRotation, Keys, RegisterKind, ReindexReport,
    ResealReport, Search, Vault, VaultError, CSV_COLUMNS,
};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tempfile::TempDir;

pub const AUTHORITY: &str = "E07000001";
/// When tests write (Unix seconds).
pub const NOW: i64 = 1_795_000_000;

type Result<T> = std::result::Result<T, VaultError>;

pub fn connector(path: &Path) -> Connector {
    let path = path.to_owned();
    Arc::new(move || Ok(Box::new(SqliteStore::open(&path)?) as Box<dyn Store>))
}

/// The vault as the tests drive it.
pub struct TestVault {
    pub register: Register,
    pub keys: Keys,
    /// A connection for the tests' own write transactions.
    conn: RefCell<Box<dyn Store>>,
}

impl TestVault {
    pub fn open(db: &Path, keyring: Box<dyn Keyring>) -> Result<Self> {
        let register = Register::single(connector(db))?;
        let keys = Keys::open(keyring, None, &register)?;
        Ok(Self { conn: RefCell::new(register.connect()?), register, keys })
    }

    pub fn read<T>(&self, f: impl FnOnce(&Vault, &dyn ReadTx) -> Result<T>) -> Result<T> {
        let mut store = self.conn.borrow_mut();
        let tx = store.read()?;
        let vault = self.keys.vault(&*tx)?;
        f(&vault, &*tx)
    }

    pub fn write<T>(&self, f: impl FnOnce(&Vault, &mut dyn WriteTx) -> Result<T>) -> Result<T> {
        let mut store = self.conn.borrow_mut();
        let mut tx = store.write()?;
        let vault = self.keys.vault(&*tx)?;
        let out = f(&vault, &mut *tx)?;
        tx.commit()?;
        Ok(out)
    }

    pub fn create_authority(&mut self, code: &str, name: &str, nation: Nation) -> Result<String> {
        let keys = &self.keys;
        self.write(|_, tx| keys.create_authority(tx, code, name, nation))
    }

    pub fn elector(&self, id: u64) -> Result<Elector> {
        self.read(|v, tx| v.elector(tx, id))
    }

    pub fn history(&self, id: u64) -> Result<Vec<Elector>> {
        self.read(|v, tx| v.history(tx, id))
    }

    pub fn reindex(&self, authority: &str, batch: usize, max_batches: Option<u64>) -> Result<ReindexReport> {
        let vault = self.read(|_, tx| self.keys.vault(tx))?;
        vault.reindex(&self.register, authority, batch, max_batches)
    }

    pub fn search(&self, authority: &str, q: &Search) -> Result<Vec<Elector>> {
        self.read(|v, tx| v.search(tx, authority, q))
    }

    pub fn register_on(&self, authority: &str, date: Date) -> Result<Vec<Elector>> {
        self.read(|v, tx| v.register_on(tx, authority, date))
    }

    pub fn add(
        &mut self,
        authority: &str,
        text: &EntryText,
        effective: Date,
        today: Date,
        allow: bool,
    ) -> Result<u64> {
        self.write(|v, tx| v.add(tx, authority, text, effective, today, NOW, allow))
    }

    pub fn amend(&mut self, id: u64, text: &EntryText, effective: Date, today: Date) -> Result<u32> {
        self.write(|v, tx| v.amend(tx, id, text, effective, today, NOW, None).map(|a| a.version))
    }

    pub fn delete(&mut self, id: u64, reason: DeletionReason, effective: Date) -> Result<u32> {
        self.write(|v, tx| v.delete(tx, id, reason, effective, NOW).map(|(_, version)| version))
    }

    pub fn export(&self, authority: &str, kind: RegisterKind, out: &mut dyn std::io::Write) -> Result<u64> {
        let electors = self.read(|v, tx| v.current_register(tx, authority))?;
        rollguard_vault::write_register(&electors, kind, out)
    }

    pub fn receive_application(
        &mut self,
        authority: &str,
        text: &EntryText,
        on: Date,
        today: Date,
    ) -> Result<u64> {
        self.write(|v, tx| v.receive_application(tx, authority, text, on, today, NOW))
    }

    pub fn application(&self, id: u64) -> Result<ApplicationView> {
        self.read(|v, tx| v.application(tx, id))
    }

    pub fn check_identity(&mut self, id: u64, route: IdentityRoute) -> Result<()> {
        self.write(|v, tx| v.check_identity(tx, id, route, NOW))
    }

    pub fn reject_application(&mut self, id: u64, reason: RejectionReason, on: Date) -> Result<()> {
        self.write(|v, tx| v.reject_application(tx, id, reason, on, NOW))
    }

    pub fn add_from_application(
        &mut self,
        id: u64,
        number: Option<&ElectorNumber>,
        on: Date,
        today: Date,
        allow: bool,
    ) -> Result<u64> {
        self.write(|v, tx| v.add_from_application(tx, id, number, on, today, NOW, allow))
    }

    pub fn import_csv(&mut self, authority: &str, csv: &[u8], opts: &ImportOptions) -> Result<ImportReport> {
        let vault = {
            let mut conn = self.conn.borrow_mut();
            let tx = conn.read()?;
            self.keys.vault(&*tx)?
        };
        let mut store = self.register.connect()?;
        vault.import_csv(
            store.as_mut(),
            authority,
            csv,
            opts,
            &|n, first| format!("{{\"import\":{n},\"first\":{first}}}").into_bytes(),
            &|_| {},
        )
    }

    pub fn rotate_data_key(&mut self, authority: &str) -> Result<u32> {
        let keys = &self.keys;
        self.write(|_, tx| keys.rotate_data_key(tx, authority))
    }

    pub fn reseal(&mut self, authority: &str, batch: usize, max: Option<u64>) -> Result<ResealReport> {
        self.keys.reseal(&self.register, authority, batch, max, &|_| {})
    }

    pub fn rotate_kek(&mut self) -> Result<KekRotation> {
        self.keys.rotate_kek(&self.register, b"{}".to_vec())
    }

    pub fn backup(&self, path: &Path) -> Result<()> {
        Ok(self.register.connect()?.backup_to(path)?)
    }

    pub fn current_kek(&self) -> String {
        self.keys.keyring().current().0
    }

    pub fn kek_ids(&self) -> Vec<String> {
        self.keys.keyring().kek_ids().into_iter().map(|k| k.0).collect()
    }
}

pub struct Fixture {
    pub db_dir: TempDir,
    pub key_dir: TempDir,
    pub vault: TestVault,
}

pub fn day(s: &str) -> Date {
    parse_date("test", s).unwrap()
}

pub fn today() -> Date {
    day("2026-11-24")
}

impl Fixture {
    pub fn new() -> Self {
        let db_dir = tempfile::tempdir().unwrap();
        let key_dir = tempfile::tempdir().unwrap();
        let keyring = FileKeyring::create(&key_dir.path().join("rollguard.keyring"), None).unwrap();
        let mut vault = TestVault::open(&db_dir.path().join("register.db"), Box::new(keyring)).unwrap();
        vault.create_authority(AUTHORITY, "Ashby Vale", Nation::England).unwrap();
        Self { db_dir, key_dir, vault }
    }

    pub fn db_path(&self) -> PathBuf {
        self.db_dir.path().join("register.db")
    }

    pub fn keyring_path(&self) -> PathBuf {
        self.key_dir.path().join("rollguard.keyring")
    }

    /// Reopens the vault from disk (new store connection, keyring read again).
    pub fn reopen(&mut self) {
        let keyring = FileKeyring::open(&self.keyring_path(), None).unwrap();
        self.vault = TestVault::open(&self.db_path(), Box::new(keyring)).unwrap();
    }

    pub fn import(&mut self, csv: &str) -> std::result::Result<ImportReport, VaultError> {
        self.import_into(AUTHORITY, csv)
    }

    pub fn import_into(
        &mut self,
        authority: &str,
        csv: &str,
    ) -> std::result::Result<ImportReport, VaultError> {
        let opts = ImportOptions {
            source_name: "electors.csv".into(),
            effective: day("2026-01-01"),
            today: today(),
            now: NOW,
            canaries_per_100k: 0,
        };
        self.vault.import_csv(authority, csv.as_bytes(), &opts)
    }

    /// Raw SQL access, as an attacker with the database file would have.
    pub fn raw(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.db_path()).unwrap()
    }
}

pub fn generated(n: usize, seed: u64) -> Vec<EntryText> {
    rollguard_synth::Generator::new(seed, FranchiseTable::default_for(Nation::England), today())
        .take(n)
        .collect()
}

pub fn to_csv(entries: &[EntryText]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_COLUMNS.iter().map(|c| c.name)).unwrap();
    for t in entries {
        w.write_record(CSV_COLUMNS.iter().map(|c| (c.get)(t))).unwrap();
    }
    String::from_utf8(w.into_inner().unwrap()).unwrap()
}

impl Fixture {
    /// The id of the `n`th elector imported into a new fixture (ids are a keyed permutation
    /// of the sequence, which starts at 1).
    pub fn id(&self, n: u64) -> u64 {
        self.vault.keys.current().elector_id(self.authority_number(), n).unwrap()
    }

    /// The store's number for the fixture's authority (the cluster of its ids).
    pub fn authority_number(&self) -> u64 {
        self.raw().query_row("SELECT id FROM authorities WHERE code = ?1", [AUTHORITY], |r| r.get(0)).unwrap()
    }
}

pub fn count_electors(f: &Fixture) -> i64 {
    f.raw().query_row("SELECT count(*) FROM electors", [], |r| r.get(0)).unwrap()
}
