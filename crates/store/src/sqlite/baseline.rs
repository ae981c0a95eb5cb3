//! The benchmark baseline: the same rows in plain SQLite, same engine, same settings, same
//! table shape and indexes, but plaintext columns instead of sealed ones and plain values
//! instead of blind indexes. It exists only so `rollguard bench` can report the cost of
//! security as a ratio; it is never used to hold a register.

use super::{configure, db_err};
use crate::Result;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use std::path::Path;

const SCHEMA: &str = "
CREATE TABLE electors (
    id INTEGER PRIMARY KEY, authority_id INTEGER NOT NULL, version INTEGER NOT NULL, valid_from TEXT NOT NULL,
    recorded_at INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, change TEXT NOT NULL, franchise TEXT NOT NULL,
    flags INTEGER NOT NULL, absent_vote TEXT, absent_vote_expires TEXT, key_gen INTEGER NOT NULL,
    number TEXT NOT NULL, name TEXT NOT NULL, previous TEXT, address TEXT NOT NULL, dob TEXT, overseas TEXT,
    contact TEXT, surname TEXT, postcode TEXT, nino TEXT, identity TEXT NOT NULL
);
CREATE TABLE plain_index (
    authority_id INTEGER NOT NULL,
    kind         INTEGER NOT NULL,
    value        TEXT    NOT NULL,
    elector_id   INTEGER NOT NULL,
    PRIMARY KEY (authority_id, kind, value, elector_id)
) WITHOUT ROWID;
";

/// One entry in plaintext, shaped like a sealed row.
#[derive(Clone, Default)]
pub struct PlainRow {
    pub id: u64,
    pub valid_from: String,
    pub franchise: String,
    pub flags: i64,
    pub absent_vote: Option<String>,
    pub absent_vote_expires: Option<String>,
    pub number: String,
    pub name: String,
    pub previous: Option<String>,
    pub address: String,
    pub dob: Option<String>,
    pub overseas: Option<String>,
    pub contact: Option<String>,
    pub surname: Option<String>,
    pub postcode: Option<String>,
    pub nino: Option<String>,
    pub identity: String,
}

pub struct PlainBaseline {
    conn: Connection,
}

impl PlainBaseline {
    pub fn create(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(db_err)?;
        configure(&conn).map_err(db_err)?;
        conn.execute_batch(SCHEMA).map_err(db_err)?;
        Ok(Self { conn })
    }

    /// Inserts every row in one transaction and bulk-loads the index entries sorted, as the
    /// sealed import does.
    pub fn import(&mut self, rows: &mut dyn Iterator<Item = PlainRow>) -> Result<u64> {
        let journal = super::import::BulkJournal::enter(&self.conn)?;
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Deferred).map_err(db_err)?;
        let mut n = 0;
        let mut pending: [Vec<(String, u64)>; 6] = Default::default();
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO electors (id, authority_id, version, valid_from, recorded_at, deleted, change, franchise, \
                     flags, absent_vote, absent_vote_expires, key_gen, number, name, previous, address, dob, overseas, \
                     contact, surname, postcode, nino, identity) \
                     VALUES (?1, 1, 1, ?2, ?3, 0, 'added', ?4, ?5, ?6, ?7, 1, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
                )
                .map_err(db_err)?;
            let now = super::now_secs();
            for r in rows {
                stmt.execute(params![
                    r.id,
                    r.valid_from,
                    now,
                    r.franchise,
                    r.flags,
                    r.absent_vote,
                    r.absent_vote_expires,
                    r.number,
                    r.name,
                    r.previous,
                    r.address,
                    r.dob,
                    r.overseas,
                    r.contact,
                    r.surname,
                    r.postcode,
                    r.nino,
                    r.identity,
                ])
                .map_err(db_err)?;
                let id = r.id;
                let values = [Some(r.number), r.surname, r.postcode, r.dob, r.nino, Some(r.identity)];
                for (slot, v) in pending.iter_mut().zip(values) {
                    if let Some(v) = v {
                        slot.push((v, id));
                    }
                }
                n += 1;
            }
        }
        for (kind, mut pairs) in (1..).zip(pending) {
            pairs.sort_unstable();
            load_plain_sorted(&tx, kind, &pairs)?;
        }
        tx.execute_batch(super::REFRESH_STATISTICS).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        drop(journal);
        Ok(n)
    }

    /// A point read of every column, as the sealed store's `elector`.
    pub fn get(&self, id: u64) -> Result<Option<(String, String, String)>> {
        self.conn
            .prepare_cached("SELECT number, name, address, dob, previous, overseas, contact, franchise, flags FROM electors WHERE id = ?1")
            .and_then(|mut s| s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional())
            .map_err(db_err)
    }

    /// Equality search on surname and postcode, driven by the postcode (the more selective),
    /// as the sealed search chooses for these registers.
    pub fn find(&self, surname: &str, postcode: &str) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT e.name, e.address FROM plain_index p CROSS JOIN electors e ON e.id = p.elector_id \
                 WHERE p.authority_id = 1 AND p.kind = 3 AND p.value = ?2 AND e.deleted = 0 AND e.surname = ?1",
            )
            .map_err(db_err)?;
        let rows = stmt.query_map([surname, postcode], |r| Ok((r.get(0)?, r.get(1)?))).map_err(db_err)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db_err)
    }

    pub fn checkpoint(&self) -> Result<()> {
        self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").map_err(db_err)
    }
}

/// The plaintext twin of the sealed store's sorted multi-row load.
fn load_plain_sorted(conn: &Connection, kind: i64, pairs: &[(String, u64)]) -> Result<()> {
    const BATCH: usize = 128;
    let sql = format!(
        "INSERT INTO plain_index (authority_id, kind, value, elector_id) VALUES {}",
        vec!["(1, ?, ?, ?)"; BATCH].join(", ")
    );
    let mut many = conn.prepare_cached(&sql).map_err(db_err)?;
    let mut chunks = pairs.chunks_exact(BATCH);
    for chunk in &mut chunks {
        let params: Vec<&dyn rusqlite::ToSql> =
            chunk.iter().flat_map(|(v, id)| [&kind as &dyn rusqlite::ToSql, v, id]).collect();
        many.execute(params.as_slice()).map_err(db_err)?;
    }
    let mut one = conn
        .prepare_cached(
            "INSERT INTO plain_index (authority_id, kind, value, elector_id) VALUES (1, ?1, ?2, ?3)",
        )
        .map_err(db_err)?;
    for (v, id) in chunks.remainder() {
        one.execute(params![kind, v, id]).map_err(db_err)?;
    }
    Ok(())
}
