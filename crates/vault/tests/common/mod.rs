//! Test fixtures: a real SQLite register with a real file keyring in separate temporary
//! directories, filled from the synthetic generator.
#![allow(dead_code)]

use rollguard_register::{parse_date, Date, EntryText, FranchiseTable, Nation};
use rollguard_sealing::FileKeyring;
use rollguard_store::SqliteStore;
use rollguard_vault::{ImportOptions, Vault, CSV_COLUMNS};
use std::path::PathBuf;
use tempfile::TempDir;

pub const AUTHORITY: &str = "E07000001";

pub struct Fixture {
    pub db_dir: TempDir,
    pub key_dir: TempDir,
    pub vault: Vault<SqliteStore>,
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
        let store = SqliteStore::open(&db_dir.path().join("register.db")).unwrap();
        let mut vault = Vault::open(store, Box::new(keyring)).unwrap();
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
        let store = SqliteStore::open(&self.db_path()).unwrap();
        self.vault = Vault::open(store, Box::new(keyring)).unwrap();
    }

    pub fn import(
        &mut self,
        csv: &str,
    ) -> Result<rollguard_vault::ImportReport, rollguard_vault::VaultError> {
        let opts = ImportOptions {
            source_name: "electors.csv".into(),
            effective: day("2026-01-01"),
            today: today(),
        };
        self.vault.import_csv(AUTHORITY, csv.as_bytes(), &opts, &|_| {})
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

pub fn count_electors(f: &Fixture) -> i64 {
    f.raw().query_row("SELECT count(*) FROM electors", [], |r| r.get(0)).unwrap()
}
