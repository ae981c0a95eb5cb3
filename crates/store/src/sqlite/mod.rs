//! The embedded default: one SQLite file in WAL mode, with numbered migrations.

pub mod baseline;
mod migrate;

pub use baseline::PlainBaseline;

mod access;
pub mod audit;
mod detection;

use crate::*;
use rollguard_register::{format_date, parse_date, Nation};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

pub(crate) fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Connection settings shared by the sealed store and the plain baseline, so benchmarks
/// compare like with like.
pub(crate) fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // 16 KiB pages: fewer B-tree levels for the blind indexes, about 15% faster bulk loads
    // than the 4 KiB default on the benchmark. Takes effect only on a new database.
    conn.pragma_update(None, "page_size", 16384)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Sorts and temporary indexes stay in memory, never in temporary files.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -262_144)?; // 256 MiB
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(())
}

/// A rollback journal in place of the WAL for the length of a bulk import, when no other
/// connection has the database open. In WAL mode every page of a large import is written twice:
/// into the WAL at commit, then into the database at the checkpoint. A rollback journal records
/// only the pages that existed before the transaction, so the import's new pages are written
/// once (docs/benchmarks.md). All or nothing holds either way. With another connection open the
/// switch is refused at once and the import runs in WAL mode. Dropping the guard restores WAL.
pub(crate) struct BulkJournal<'c> {
    conn: &'c Connection,
    switched: bool,
}

impl<'c> BulkJournal<'c> {
    pub(crate) fn enter(conn: &'c Connection) -> Result<Self> {
        // Without waiting: another connection holds its lock for as long as it is open.
        conn.busy_timeout(std::time::Duration::ZERO).map_err(db_err)?;
        let mode = conn.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get::<_, String>(0));
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
        let switched = matches!(mode, Ok(m) if m.eq_ignore_ascii_case("delete"));
        Ok(Self { conn, switched })
    }
}

impl Drop for BulkJournal<'_> {
    fn drop(&mut self) {
        if self.switched {
            // If this fails the database stays in rollback mode until the next open, which
            // sets WAL again.
            let _ = self.conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0));
        }
    }
}

const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Sampled planner statistics after a bulk load, so searches pick the blind index that
/// narrows most rather than the authority index. Sampling keeps it to milliseconds.
pub(crate) const REFRESH_STATISTICS: &str = "PRAGMA analysis_limit = 1000; ANALYZE;";

pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    /// Authority (id, code) pairs, so reads and searches need no query to translate them.
    /// Reloaded on a miss, since another process may have added an authority.
    authorities: std::cell::RefCell<Vec<(i64, String)>>,
}

const ELECTOR_COLUMNS: &str =
    "id, authority_id, version, valid_from, recorded_at, deleted, change, franchise, flags, \
     absent_vote, absent_vote_expires, key_gen, s_number, s_name, s_previous, s_address, s_dob, s_overseas, \
     s_contact, b_surname, b_postcode, b_dob, b_number, b_nino, b_identity";

/// ELECTOR_COLUMNS qualified with `e.`, for joins with the blind-index tables.
static E_COLUMNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    ELECTOR_COLUMNS.split(", ").map(|c| format!("e.{c}")).collect::<Vec<_>>().join(", ")
});

const INSERT_ELECTOR: &str = "INSERT INTO electors (id, authority_id, version, valid_from, recorded_at, deleted, \
     change, franchise, flags, absent_vote, absent_vote_expires, key_gen, s_number, s_name, s_previous, s_address, \
     s_dob, s_overseas, s_contact, b_surname, b_postcode, b_dob, b_number, b_nino, b_identity) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)";

fn insert_elector_with(
    stmt: &mut rusqlite::CachedStatement<'_>,
    authority_id: i64,
    r: &ElectorRow,
) -> Result<()> {
    stmt.execute(params![
        r.id as i64,
        authority_id,
        r.version,
        format_date(r.valid_from),
        r.recorded_at,
        r.deleted,
        r.change,
        r.franchise,
        r.flags.bits(),
        r.absent_vote,
        r.absent_vote_expires.map(format_date),
        r.key_generation,
        r.sealed.number,
        r.sealed.name,
        r.sealed.previous_names,
        r.sealed.address,
        r.sealed.date_of_birth,
        r.sealed.overseas,
        r.sealed.contact,
        r.blind.surname,
        r.blind.postcode,
        r.blind.date_of_birth,
        r.blind.number,
        r.blind.nino,
        r.blind.identity,
    ])
    .map_err(db_err)?;
    Ok(())
}

/// Blind-index kinds. Each lives in its own table `bi_<kind>` keyed (authority, value,
/// elector), narrow enough that a bulk load appends about 4M entries a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Number,
    Surname,
    Postcode,
    Dob,
    Nino,
    Identity,
}

impl Kind {
    const ALL: [Kind; 6] =
        [Kind::Number, Kind::Surname, Kind::Postcode, Kind::Dob, Kind::Nino, Kind::Identity];

    fn value(self, b: &BlindIndexes) -> Option<i64> {
        match self {
            Kind::Number => Some(b.number),
            Kind::Surname => b.surname,
            Kind::Postcode => b.postcode,
            Kind::Dob => b.date_of_birth,
            Kind::Nino => b.nino,
            Kind::Identity => Some(b.identity),
        }
    }

    fn table(self) -> &'static str {
        match self {
            Kind::Number => "bi_number",
            Kind::Surname => "bi_surname",
            Kind::Postcode => "bi_postcode",
            Kind::Dob => "bi_dob",
            Kind::Nino => "bi_nino",
            Kind::Identity => "bi_identity",
        }
    }
}

/// The (kind, value) pairs a row contributes to the blind-index tables.
fn blind_entries(b: &BlindIndexes) -> impl Iterator<Item = (Kind, i64)> + '_ {
    Kind::ALL.into_iter().filter_map(|k| k.value(b).map(|v| (k, v)))
}

fn insert_blind(conn: &Connection, authority_id: i64, r: &ElectorRow) -> Result<()> {
    for (k, v) in blind_entries(&r.blind) {
        let sql = format!("INSERT INTO {} (authority_id, value, elector_id) VALUES (?1, ?2, ?3)", k.table());
        conn.prepare_cached(&sql)
            .and_then(|mut st| st.execute(params![authority_id, v, r.id as i64]))
            .map_err(db_err)?;
    }
    Ok(())
}

fn delete_blind(conn: &Connection, authority_id: i64, id: u64, b: &BlindIndexes) -> Result<()> {
    for (k, v) in blind_entries(b) {
        let sql =
            format!("DELETE FROM {} WHERE authority_id = ?1 AND value = ?2 AND elector_id = ?3", k.table());
        conn.prepare_cached(&sql)
            .and_then(|mut st| st.execute(params![authority_id, v, id as i64]))
            .map_err(db_err)?;
    }
    Ok(())
}

/// Whether a current, undeleted entry of the authority (other than `except`) has this value.
fn blind_match_exists(
    conn: &Connection,
    authority_id: i64,
    k: Kind,
    value: i64,
    except: Option<u64>,
) -> Result<bool> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {} b CROSS JOIN electors e ON e.id = b.elector_id \
         WHERE b.authority_id = ?1 AND b.value = ?2 AND e.deleted = 0 AND e.id != ?3)",
        k.table()
    );
    conn.prepare_cached(&sql)
        .and_then(|mut st| {
            st.query_row(params![authority_id, value, except.map(|v| v as i64).unwrap_or(-1)], |r| r.get(0))
        })
        .map_err(db_err)
}

/// Inserts a new current entry with its blind indexes, refusing a NINO already registered.
/// Runs inside the caller's write transaction, so the check and the insert are one step.
fn insert_current(
    conn: &Connection,
    authority_id: i64,
    row: &ElectorRow,
    replacing: Option<u64>,
) -> Result<()> {
    if let Some(nino) = row.blind.nino {
        if !row.deleted && blind_match_exists(conn, authority_id, Kind::Nino, nino, replacing)? {
            return Err(StoreError::DuplicateNino);
        }
    }
    let mut stmt = conn.prepare_cached(INSERT_ELECTOR).map_err(db_err)?;
    insert_elector_with(&mut stmt, authority_id, row)?;
    insert_blind(conn, authority_id, row)
}

/// Rows per multi-row INSERT when bulk-loading blind indexes.
const LOAD_BATCH: usize = 128;

/// Loads sorted (value, id) pairs of one kind with multi-row statements, binding the
/// authority once: B-tree appends in key order instead of one random insert per row.
/// `OR IGNORE` cannot drop anything (each pair carries a fresh elector id, so no key repeats),
/// but a statement that cannot abort needs no statement journal: without it SQLite copied
/// every page the statement touched, and the load took 16% more instructions (docs/benchmarks.md).
fn load_sorted(conn: &Connection, authority_id: i64, k: Kind, pairs: &[(i64, i64)]) -> Result<()> {
    let rows: Vec<String> =
        (0..LOAD_BATCH).map(|i| format!("(?1, ?{}, ?{})", 2 + 2 * i, 3 + 2 * i)).collect();
    let sql = format!(
        "INSERT OR IGNORE INTO {} (authority_id, value, elector_id) VALUES {}",
        k.table(),
        rows.join(", ")
    );
    let mut many = conn.prepare_cached(&sql).map_err(db_err)?;
    let mut chunks = pairs.chunks_exact(LOAD_BATCH);
    let mut values: Vec<i64> = Vec::with_capacity(1 + LOAD_BATCH * 2);
    for chunk in &mut chunks {
        values.clear();
        values.push(authority_id);
        for (v, id) in chunk {
            values.extend([*v, *id]);
        }
        many.execute(rusqlite::params_from_iter(values.iter())).map_err(db_err)?;
    }
    let one = format!("INSERT INTO {} (authority_id, value, elector_id) VALUES (?1, ?2, ?3)", k.table());
    let mut one = conn.prepare_cached(&one).map_err(db_err)?;
    for (v, id) in chunks.remainder() {
        one.execute(params![authority_id, v, id]).map_err(db_err)?;
    }
    Ok(())
}

fn date_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Date> {
    let s: String = row.get(idx)?;
    parse_date("date", &s)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e)))
}

fn opt_date_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Date>> {
    let s: Option<String> = row.get(idx)?;
    s.map(|s| {
        parse_date("date", &s).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
        })
    })
    .transpose()
}

/// Reads the ELECTOR_COLUMNS layout; `valid_to` is read from column 25 when present.
fn elector_from_row(row: &Row<'_>, authority: &str, with_valid_to: bool) -> rusqlite::Result<ElectorRow> {
    Ok(ElectorRow {
        id: row.get::<_, i64>(0)? as u64,
        authority: authority.to_owned(),
        version: row.get(2)?,
        valid_from: date_col(row, 3)?,
        valid_to: if with_valid_to { Some(date_col(row, 25)?) } else { None },
        recorded_at: row.get(4)?,
        deleted: row.get(5)?,
        change: row.get(6)?,
        franchise: row.get(7)?,
        flags: EntryFlags::from_bits(row.get(8)?),
        absent_vote: row.get(9)?,
        absent_vote_expires: opt_date_col(row, 10)?,
        key_generation: row.get(11)?,
        sealed: SealedFields {
            number: row.get(12)?,
            name: row.get(13)?,
            previous_names: row.get(14)?,
            address: row.get(15)?,
            date_of_birth: row.get(16)?,
            overseas: row.get(17)?,
            contact: row.get(18)?,
        },
        blind: BlindIndexes {
            surname: row.get(19)?,
            postcode: row.get(20)?,
            date_of_birth: row.get(21)?,
            number: row.get(22)?,
            nino: row.get(23)?,
            identity: row.get(24)?,
        },
    })
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(db_err)?;
        configure(&conn).map_err(db_err)?;
        let mut store = Self { conn, path: path.to_owned(), authorities: Default::default() };
        migrate::run(&mut store.conn)?;
        store.reload_authorities()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn reload_authorities(&self) -> Result<()> {
        let mut stmt = self.conn.prepare_cached("SELECT id, code FROM authorities").map_err(db_err)?;
        let all = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db_err)?
            .collect::<rusqlite::Result<Vec<(i64, String)>>>()
            .map_err(db_err)?;
        *self.authorities.borrow_mut() = all;
        Ok(())
    }

    /// Looks `find` up in the cached authorities, reloading them once on a miss.
    fn cached_authority<T>(&self, find: impl Fn(&[(i64, String)]) -> Option<T>) -> Result<Option<T>> {
        if let Some(found) = find(&self.authorities.borrow()) {
            return Ok(Some(found));
        }
        self.reload_authorities()?;
        Ok(find(&self.authorities.borrow()))
    }

    fn authority_id(&self, code: &str) -> Result<i64> {
        self.cached_authority(|all| all.iter().find(|(_, c)| c == code).map(|(id, _)| *id))?
            .ok_or_else(|| StoreError::UnknownAuthority(code.to_owned()))
    }

    fn authority_code(&self, id: i64) -> Result<String> {
        self.cached_authority(|all| all.iter().find(|(i, _)| *i == id).map(|(_, c)| c.clone()))?
            .ok_or_else(|| StoreError::Corrupt(format!("row refers to unknown authority {id}")))
    }

    fn visit_electors(
        &self,
        sql: &str,
        params: &[&dyn rusqlite::ToSql],
        authority: &str,
        with_valid_to: bool,
        visit: &mut dyn FnMut(ElectorRow) -> Result<()>,
    ) -> Result<u64> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(db_err)?;
        let mut rows = stmt.query(params).map_err(db_err)?;
        let mut n = 0;
        while let Some(row) = rows.next().map_err(db_err)? {
            visit(elector_from_row(row, authority, with_valid_to).map_err(db_err)?)?;
            n += 1;
        }
        Ok(n)
    }

    /// Current entries of an authority (deleted ones too), in id order, so the row fetches
    /// that follow read the table sequentially.
    fn authority_ids(&self, authority_id: i64) -> Result<Vec<i64>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT elector_id FROM bi_number WHERE authority_id = ?1")
            .map_err(db_err)?;
        let mut ids: Vec<i64> = stmt
            .query_map(params![authority_id], |r| r.get(0))
            .map_err(db_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// How many index entries hold `value`, counting no further than `cap`.
    fn count_capped(&self, authority_id: i64, k: Kind, value: i64, cap: u64) -> Result<u64> {
        let sql = format!(
            "SELECT count(*) FROM (SELECT 1 FROM {} WHERE authority_id = ?1 AND value = ?2 LIMIT ?3)",
            k.table()
        );
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut st| st.query_row(params![authority_id, value, cap as i64], |r| r.get::<_, i64>(0)))
            .map(|n| n as u64)
            .map_err(db_err)
    }

    /// Visits the current rows of `authority` that pass `filter`, a condition on `electors`
    /// that may use `?2` for `param`.
    fn visit_current(
        &self,
        authority: &str,
        filter: &str,
        param: Option<&String>,
        visit: &mut dyn FnMut(ElectorRow) -> Result<()>,
    ) -> Result<u64> {
        let aid = self.authority_id(authority)?;
        let sql = format!("SELECT {ELECTOR_COLUMNS} FROM electors WHERE id = ?1 AND {filter}");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(db_err)?;
        let mut n = 0;
        for id in self.authority_ids(aid)? {
            let row = match param {
                Some(p) => {
                    stmt.query_row(params![id, p], |r| elector_from_row(r, authority, false)).optional()
                }
                None => stmt.query_row(params![id], |r| elector_from_row(r, authority, false)).optional(),
            }
            .map_err(db_err)?;
            if let Some(row) = row {
                visit(row)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Checkpoints the WAL into the main file, e.g. before measuring its size.
    pub fn checkpoint(&self) -> Result<()> {
        self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").map_err(db_err)
    }

    fn application_from_row(&self, row: &Row<'_>) -> rusqlite::Result<(ApplicationRow, i64)> {
        Ok((
            ApplicationRow {
                id: row.get::<_, i64>(0)? as u64,
                authority: String::new(),
                status: row.get(2)?,
                route: row.get(3)?,
                received_on: date_col(row, 4)?,
                determined_on: opt_date_col(row, 5)?,
                outcome: row.get(6)?,
                elector_id: row.get::<_, Option<i64>>(7)?.map(|v| v as u64),
                key_generation: row.get(8)?,
                sealed_application: row.get(9)?,
                nino: row.get(10)?,
                recorded_at: row.get(11)?,
            },
            row.get(1)?,
        ))
    }

    fn write_application(
        conn: &Connection,
        authority_id: i64,
        r: &ApplicationRow,
        insert: bool,
    ) -> Result<()> {
        let sql = if insert {
            "INSERT INTO applications (id, authority_id, status, route, received_on, determined_on, outcome, \
             elector_id, key_gen, s_application, b_nino, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        } else {
            "UPDATE applications SET authority_id = ?2, status = ?3, route = ?4, received_on = ?5, determined_on = ?6, \
             outcome = ?7, elector_id = ?8, key_gen = ?9, s_application = ?10, b_nino = ?11, recorded_at = ?12 WHERE id = ?1"
        };
        let n = conn
            .execute(
                sql,
                params![
                    r.id as i64,
                    authority_id,
                    r.status,
                    r.route,
                    format_date(r.received_on),
                    r.determined_on.map(format_date),
                    r.outcome,
                    r.elector_id.map(|v| v as i64),
                    r.key_generation,
                    r.sealed_application,
                    r.nino,
                    r.recorded_at,
                ],
            )
            .map_err(db_err)?;
        if n == 0 {
            return Err(StoreError::UnknownApplication(r.id));
        }
        Ok(())
    }
}

impl RegisterStore for SqliteStore {
    fn create_authority(&mut self, a: &AuthorityRecord) -> Result<()> {
        if self.authority(&a.code)?.is_some() {
            return Err(StoreError::AuthorityExists(a.code.clone()));
        }
        self.conn
            .execute(
                "INSERT INTO authorities (code, name, nation, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![a.code, a.name, a.nation.code(), now_secs()],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn authority(&self, code: &str) -> Result<Option<AuthorityRecord>> {
        self.conn
            .prepare_cached("SELECT code, name, nation FROM authorities WHERE code = ?1")
            .and_then(|mut s| {
                s.query_row([code], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?))).optional()
            })
            .map_err(db_err)?
            .map(|(code, name, nation)| {
                let nation: Nation =
                    nation.parse().map_err(|_| StoreError::Corrupt("unknown nation".into()))?;
                Ok(AuthorityRecord { code, name, nation })
            })
            .transpose()
    }

    fn authorities(&self) -> Result<Vec<AuthorityRecord>> {
        let mut stmt = self.conn.prepare("SELECT code FROM authorities ORDER BY code").map_err(db_err)?;
        let codes: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .map_err(db_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        codes.iter().map(|c| self.authority(c).map(|a| a.expect("listed authority exists"))).collect()
    }

    fn data_keys(&self) -> Result<Vec<DataKeyRecord>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT a.code, k.purpose, k.generation, k.kek_id, k.wrapped, k.retired_at IS NOT NULL \
                 FROM data_keys k JOIN authorities a ON a.id = k.authority_id ORDER BY a.code, k.purpose, k.generation",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map([], |r| {
                let purpose: String = r.get(1)?;
                Ok(DataKeyRecord {
                    authority: r.get(0)?,
                    purpose: if purpose == "seal" { KeyPurpose::Seal } else { KeyPurpose::Index },
                    generation: r.get(2)?,
                    kek_id: r.get(3)?,
                    wrapped: r.get(4)?,
                    retired: r.get(5)?,
                })
            })
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db_err)
    }

    fn insert_data_key(&mut self, k: &DataKeyRecord) -> Result<()> {
        let aid = self.authority_id(&k.authority)?;
        self.conn
            .execute(
                "INSERT INTO data_keys (authority_id, purpose, generation, kek_id, wrapped, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![aid, k.purpose.code(), k.generation, k.kek_id, k.wrapped, now_secs()],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn rewrap_data_keys(&mut self, keys: &[DataKeyRecord]) -> Result<()> {
        let mut ids = Vec::with_capacity(keys.len());
        for k in keys {
            ids.push(self.authority_id(&k.authority)?);
        }
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err)?;
        for (k, aid) in keys.iter().zip(ids) {
            let n = tx
                .execute(
                    "UPDATE data_keys SET kek_id = ?4, wrapped = ?5 WHERE authority_id = ?1 AND purpose = ?2 AND generation = ?3",
                    params![aid, k.purpose.code(), k.generation, k.kek_id, k.wrapped],
                )
                .map_err(db_err)?;
            if n != 1 {
                return Err(StoreError::Corrupt(format!(
                    "data key {}/{}/{} missing",
                    k.authority,
                    k.purpose.code(),
                    k.generation
                )));
            }
        }
        tx.commit().map_err(db_err)
    }

    fn retire_data_key(&mut self, authority: &str, purpose: KeyPurpose, generation: u32) -> Result<()> {
        let aid = self.authority_id(authority)?;
        self.conn
            .execute(
                "UPDATE data_keys SET retired_at = ?4 WHERE authority_id = ?1 AND purpose = ?2 AND generation = ?3",
                params![aid, purpose.code(), generation, now_secs()],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn reserve_ids(&mut self, kind: IdKind, count: u64) -> Result<u64> {
        let name = match kind {
            IdKind::Elector => "elector",
            IdKind::Application => "application",
        };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err)?;
        let first: i64 = tx
            .query_row("SELECT next FROM counters WHERE name = ?1", [name], |r| r.get(0))
            .map_err(db_err)?;
        tx.execute("UPDATE counters SET next = next + ?2 WHERE name = ?1", params![name, count as i64])
            .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(first as u64)
    }

    fn begin_import(&mut self) -> Result<Box<dyn ImportSession + '_>> {
        self.reload_authorities()?;
        let authorities = self.authorities.borrow().iter().map(|(id, code)| (code.clone(), *id)).collect();
        let conn = &self.conn;
        let journal = BulkJournal::enter(conn)?;
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate).map_err(db_err)?;
        let first: i64 = tx
            .query_row("SELECT next FROM counters WHERE name = 'elector'", [], |r| r.get(0))
            .map_err(db_err)?;
        Ok(Box::new(SqliteImport {
            tx,
            first_id: first as u64,
            inserted: 0,
            authorities,
            pending: Default::default(),
            _journal: journal,
        }))
    }

    fn insert_elector(&mut self, row: &ElectorRow) -> Result<()> {
        let aid = self.authority_id(&row.authority)?;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err)?;
        insert_current(&tx, aid, row, None)?;
        tx.commit().map_err(db_err)
    }

    fn elector(&self, id: u64) -> Result<Option<ElectorRow>> {
        let sql = format!("SELECT {ELECTOR_COLUMNS} FROM electors WHERE id = ?1");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(db_err)?;
        let found = stmt
            .query_row([id as i64], |r| Ok((r.get::<_, i64>(1)?, elector_from_row(r, "", false)?)))
            .optional()
            .map_err(db_err)?;
        match found {
            Some((aid, mut row)) => {
                row.authority = self.authority_code(aid)?;
                Ok(Some(row))
            }
            None => Ok(None),
        }
    }

    fn find_electors(&self, authority: &str, q: &BlindQuery) -> Result<Vec<ElectorRow>> {
        let aid = self.authority_id(authority)?;
        // Drive by the given criterion with the fewest entries (a common surname can match
        // thousands, a postcode a few dozen); check the rest on the row itself.
        let criteria = [
            (Kind::Number, "b_number", q.number),
            (Kind::Postcode, "b_postcode", q.postcode),
            (Kind::Dob, "b_dob", q.date_of_birth),
            (Kind::Surname, "b_surname", q.surname),
        ];
        let mut drive: Option<(u64, Kind, i64)> = None;
        for (k, _, v) in criteria {
            let Some(v) = v else { continue };
            // Counting stops just past the best so far: a common surname is never fully counted.
            let cap = drive.map_or(10_000, |(best, _, _)| best + 1);
            let n = self.count_capped(aid, k, v, cap)?;
            if drive.is_none_or(|(best, _, _)| n < best) {
                drive = Some((n, k, v));
            }
        }
        let Some((_, drive_kind, drive_value)) = drive else {
            return Ok(Vec::new());
        };
        let mut sql = format!(
            "SELECT {} FROM {} b CROSS JOIN electors e ON e.id = b.elector_id \
             WHERE b.authority_id = ?1 AND b.value = ?2 AND e.deleted = 0",
            *E_COLUMNS,
            drive_kind.table()
        );
        let mut values: Vec<i64> = vec![aid, drive_value];
        for (k, col, v) in criteria {
            if let (Some(v), true) = (v, k != drive_kind) {
                values.push(v);
                sql.push_str(&format!(" AND e.{col} = ?{}", values.len()));
            }
        }
        sql.push_str(" LIMIT 10001");
        let params: Vec<&dyn rusqlite::ToSql> = values.iter().map(|v| v as &dyn rusqlite::ToSql).collect();
        let mut out = Vec::new();
        self.visit_electors(&sql, &params, authority, false, &mut |r| {
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }

    fn possible_duplicates(&self, authority: &str, identity: i64, nino: Option<i64>) -> Result<Vec<u64>> {
        let aid = self.authority_id(authority)?;
        let mut ids = Vec::new();
        for (k, v) in [(Kind::Identity, Some(identity)), (Kind::Nino, nino)] {
            let Some(v) = v else { continue };
            let sql = format!(
                "SELECT b.elector_id FROM {} b CROSS JOIN electors e ON e.id = b.elector_id \
                 WHERE b.authority_id = ?1 AND b.value = ?2 AND e.deleted = 0",
                k.table()
            );
            let mut stmt = self.conn.prepare_cached(&sql).map_err(db_err)?;
            for id in stmt.query_map(params![aid, v], |r| r.get::<_, i64>(0)).map_err(db_err)? {
                ids.push(id.map_err(db_err)? as u64);
            }
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    fn supersede_elector(&mut self, row: &ElectorRow) -> Result<()> {
        let aid = self.authority_id(&row.authority)?;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err)?;
        let moved = tx
            .execute(
                &format!(
                    "INSERT INTO elector_history ({ELECTOR_COLUMNS}, valid_to) SELECT {ELECTOR_COLUMNS}, ?3 \
                     FROM electors WHERE id = ?1 AND version = ?2"
                ),
                params![row.id as i64, row.version - 1, format_date(row.valid_from)],
            )
            .map_err(db_err)?;
        if moved != 1 {
            return Err(StoreError::VersionConflict { id: row.id, expected: row.version - 1 });
        }
        let old: BlindIndexes = tx
            .query_row(
                "SELECT b_surname, b_postcode, b_dob, b_number, b_nino, b_identity FROM electors WHERE id = ?1",
                [row.id as i64],
                |r| {
                    Ok(BlindIndexes {
                        surname: r.get(0)?,
                        postcode: r.get(1)?,
                        date_of_birth: r.get(2)?,
                        number: r.get(3)?,
                        nino: r.get(4)?,
                        identity: r.get(5)?,
                    })
                },
            )
            .map_err(db_err)?;
        delete_blind(&tx, aid, row.id, &old)?;
        tx.execute("DELETE FROM electors WHERE id = ?1", [row.id as i64]).map_err(db_err)?;
        insert_current(&tx, aid, row, Some(row.id))?;
        tx.commit().map_err(db_err)
    }

    fn elector_history(&self, id: u64) -> Result<Vec<ElectorRow>> {
        let Some(current) = self.elector(id)? else { return Err(StoreError::UnknownElector(id)) };
        let sql =
            format!("SELECT {ELECTOR_COLUMNS}, valid_to FROM elector_history WHERE id = ?1 ORDER BY version");
        let mut out = Vec::new();
        self.visit_electors(&sql, &[&(id as i64)], &current.authority, true, &mut |r| {
            out.push(r);
            Ok(())
        })?;
        out.push(current);
        Ok(out)
    }

    fn registered_on(
        &self,
        authority: &str,
        date: Date,
        visit: &mut dyn FnMut(ElectorRow) -> Result<()>,
    ) -> Result<u64> {
        let aid = self.authority_id(authority)?;
        let d = format_date(date);
        let n = self.visit_current(authority, "valid_from <= ?2 AND deleted = 0", Some(&d), visit)?;
        let past = format!(
            "SELECT {ELECTOR_COLUMNS}, valid_to FROM elector_history \
             WHERE authority_id = ?1 AND valid_from <= ?2 AND valid_to > ?2 AND deleted = 0"
        );
        Ok(n + self.visit_electors(&past, &[&aid, &d], authority, true, visit)?)
    }

    fn current_registered(
        &self,
        authority: &str,
        visit: &mut dyn FnMut(ElectorRow) -> Result<()>,
    ) -> Result<u64> {
        self.visit_current(authority, "deleted = 0", None, visit)
    }

    fn rows_not_sealed_with(
        &self,
        authority: &str,
        generation: u32,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ElectorRow>> {
        let aid = self.authority_id(authority)?;
        let mut out = Vec::new();
        let (after, limit_i) = (after as i64, limit as i64);
        // Walk ids upwards from the cursor: each batch carries on where the last one ended.
        let cur = format!(
            "SELECT {ELECTOR_COLUMNS} FROM electors \
             WHERE id > ?3 AND authority_id = ?1 AND key_gen != ?2 ORDER BY id LIMIT ?4"
        );
        self.visit_electors(&cur, &[&aid, &generation, &after, &limit_i], authority, false, &mut |r| {
            out.push(r);
            Ok(())
        })?;
        if out.len() < limit {
            let rest = (limit - out.len()) as i64;
            let hist = format!(
                "SELECT {ELECTOR_COLUMNS}, valid_to FROM elector_history \
                 WHERE authority_id = ?1 AND key_gen != ?2 ORDER BY id, version LIMIT ?3"
            );
            self.visit_electors(&hist, &[&aid, &generation, &rest], authority, true, &mut |r| {
                out.push(r);
                Ok(())
            })?;
        }
        Ok(out)
    }

    fn reseal_rows(&mut self, rows: &[ElectorRow], expected: &[u32]) -> Result<u64> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err)?;
        let mut n = 0;
        for (r, old_gen) in rows.iter().zip(expected) {
            let table = if r.valid_to.is_some() { "elector_history" } else { "electors" };
            let sql = format!(
                "UPDATE {table} SET key_gen = ?3, s_number = ?4, s_name = ?5, s_previous = ?6, s_address = ?7, \
                 s_dob = ?8, s_overseas = ?9, s_contact = ?10 WHERE id = ?1 AND version = ?2 AND key_gen = ?11"
            );
            n += tx
                .execute(
                    &sql,
                    params![
                        r.id as i64,
                        r.version,
                        r.key_generation,
                        r.sealed.number,
                        r.sealed.name,
                        r.sealed.previous_names,
                        r.sealed.address,
                        r.sealed.date_of_birth,
                        r.sealed.overseas,
                        r.sealed.contact,
                        old_gen,
                    ],
                )
                .map_err(db_err)? as u64;
        }
        tx.commit().map_err(db_err)?;
        Ok(n)
    }

    fn insert_application(&mut self, row: &ApplicationRow) -> Result<()> {
        let aid = self.authority_id(&row.authority)?;
        Self::write_application(&self.conn, aid, row, true)
    }

    fn application(&self, id: u64) -> Result<Option<ApplicationRow>> {
        let found = self
            .conn
            .prepare_cached(
                "SELECT id, authority_id, status, route, received_on, determined_on, outcome, elector_id, key_gen, \
                 s_application, b_nino, recorded_at FROM applications WHERE id = ?1",
            )
            .and_then(|mut s| s.query_row([id as i64], |r| self.application_from_row(r)).optional())
            .map_err(db_err)?;
        match found {
            Some((mut row, aid)) => {
                row.authority = self.authority_code(aid)?;
                Ok(Some(row))
            }
            None => Ok(None),
        }
    }

    fn update_application(&mut self, row: &ApplicationRow) -> Result<()> {
        let aid = self.authority_id(&row.authority)?;
        Self::write_application(&self.conn, aid, row, false)
    }

    fn determine_application_added(
        &mut self,
        determined: &ApplicationRow,
        elector: &ElectorRow,
    ) -> Result<()> {
        let aid = self.authority_id(&determined.authority)?;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err)?;
        Self::write_application(&tx, aid, determined, false)?;
        insert_current(&tx, aid, elector, None)?;
        tx.commit().map_err(db_err)
    }

    fn count_electors(&self, authority: &str) -> Result<u64> {
        let aid = self.authority_id(authority)?;
        self.conn
            .query_row(
                "SELECT count(*) FROM bi_number b CROSS JOIN electors e ON e.id = b.elector_id \
                 WHERE b.authority_id = ?1 AND e.deleted = 0",
                params![aid],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(db_err)
    }

    fn backup_to(&self, path: &Path) -> Result<()> {
        if path.exists() {
            return Err(StoreError::Io(format!("{} already exists; refusing to overwrite", path.display())));
        }
        let target = path.to_str().ok_or_else(|| StoreError::Io("backup path is not UTF-8".into()))?;
        self.conn.execute("VACUUM INTO ?1", [target]).map_err(db_err)?;
        Ok(())
    }

    fn describe(&self) -> String {
        format!("SQLite database {}", self.path.display())
    }
}

struct SqliteImport<'c> {
    // Declared before the journal guard: an abandoned transaction rolls back before the
    // journal mode is restored.
    tx: rusqlite::Transaction<'c>,
    first_id: u64,
    inserted: u64,
    authorities: std::collections::HashMap<String, i64>,
    /// Blind-index entries gathered per (authority, kind), loaded sorted at commit.
    pending: std::collections::BTreeMap<(i64, Kind), Vec<(i64, i64)>>,
    _journal: BulkJournal<'c>,
}

impl SqliteImport<'_> {
    fn aid(&self, code: &str) -> Result<i64> {
        self.authorities.get(code).copied().ok_or_else(|| StoreError::UnknownAuthority(code.to_owned()))
    }
}

impl ImportSession for SqliteImport<'_> {
    fn first_id(&self) -> u64 {
        self.first_id
    }

    fn authority_has_rows(&self, authority: &str) -> Result<bool> {
        let aid = self.aid(authority)?;
        self.tx
            .query_row("SELECT EXISTS (SELECT 1 FROM bi_number WHERE authority_id = ?1)", params![aid], |r| {
                r.get(0)
            })
            .map_err(db_err)
    }

    fn insert_batch(&mut self, rows: &[ElectorRow]) -> Result<()> {
        // One statement lookup and one index-list lookup per kind per batch, not per row: the
        // writer is the import's one serial stage.
        let mut aids = Vec::with_capacity(rows.len());
        for row in rows {
            match aids.last() {
                Some(&(code, aid)) if code == row.authority.as_str() => aids.push((code, aid)),
                _ => aids.push((row.authority.as_str(), self.aid(&row.authority)?)),
            }
        }
        let mut stmt = self.tx.prepare_cached(INSERT_ELECTOR).map_err(db_err)?;
        for (row, &(_, aid)) in rows.iter().zip(&aids) {
            insert_elector_with(&mut stmt, aid, row)?;
        }
        // Runs of rows of one authority (in practice, the whole batch).
        let mut start = 0;
        while start < rows.len() {
            let aid = aids[start].1;
            let end = start + aids[start..].iter().take_while(|a| a.1 == aid).count();
            for k in Kind::ALL {
                let list = self.pending.entry((aid, k)).or_default();
                list.extend(
                    rows[start..end].iter().filter_map(|r| k.value(&r.blind).map(|v| (v, r.id as i64))),
                );
            }
            start = end;
        }
        self.inserted += rows.len() as u64;
        Ok(())
    }

    fn identity_exists(&self, authority: &str, identity: i64) -> Result<bool> {
        blind_match_exists(&self.tx, self.aid(authority)?, Kind::Identity, identity, None)
    }

    fn nino_exists(&self, authority: &str, nino: i64) -> Result<bool> {
        blind_match_exists(&self.tx, self.aid(authority)?, Kind::Nino, nino, None)
    }

    fn commit(mut self: Box<Self>) -> Result<u64> {
        // A helper thread sorts each kind's entries while this one loads the kind before.
        let pending = std::mem::take(&mut self.pending);
        let (sorted_tx, sorted_rx) = std::sync::mpsc::sync_channel::<((i64, Kind), Vec<(i64, i64)>)>(1);
        let tx = &self.tx;
        std::thread::scope(|scope| -> Result<()> {
            let sorted_rx = sorted_rx;
            std::thread::Builder::new()
                .name("rg-import-sort".into())
                .spawn_scoped(scope, move || {
                    for (key, mut pairs) in pending {
                        pairs.sort_unstable();
                        if sorted_tx.send((key, pairs)).is_err() {
                            return;
                        }
                    }
                })
                .map_err(|e| StoreError::Io(format!("starting the index sorter: {e}")))?;
            for ((aid, k), pairs) in sorted_rx.iter() {
                // Sorted, two rows with the same NINO or identity sit side by side.
                let duplicate = match k {
                    Kind::Nino => Some(DuplicateKind::Nino),
                    Kind::Identity => Some(DuplicateKind::Identity),
                    _ => None,
                };
                if let Some(dk) = duplicate {
                    if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
                        let (a, b) = (w[0].1 as u64, w[1].1 as u64);
                        return Err(StoreError::DuplicateInImport {
                            kind: dk,
                            first: a.min(b),
                            second: a.max(b),
                        });
                    }
                }
                load_sorted(tx, aid, k, &pairs)?;
            }
            Ok(())
        })?;
        let next = self.first_id + self.inserted;
        self.tx
            .execute("UPDATE counters SET next = max(next, ?1) WHERE name = 'elector'", [next as i64])
            .map_err(db_err)?;
        self.tx.execute_batch(REFRESH_STATISTICS).map_err(db_err)?;
        self.tx.commit().map_err(db_err)?;
        Ok(self.inserted)
    }
}
