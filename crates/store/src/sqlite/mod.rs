//! The embedded default: one SQLite file in WAL mode, with numbered migrations.
//!
//! A [`SqliteStore`] is one connection. Its transactions are [`Tx`] values that begin with
//! `BEGIN DEFERRED` (reads) or `BEGIN IMMEDIATE` (writes, so the one writer lock is taken up
//! front and a transaction is never refused half-way) and end with `COMMIT`, or `ROLLBACK`
//! when dropped. A write group is one `BEGIN IMMEDIATE` with a savepoint per unit.

mod access;
pub mod audit;
pub mod baseline;
mod daily;
mod detection;
mod electors;
mod errors;
mod import;
mod legacy;
mod migrate;
mod plans;
mod proposals;
mod rows;
mod state;

pub use baseline::PlainBaseline;
pub(crate) use errors::db_err;

use crate::{ImportSession, ReadTx, Result, Store, StoreError, WriteGroup, WriteTx};
use rusqlite::Connection;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// An id from outside (a request path, a command line) as SQLite's rowid, or `None` above
/// `i64::MAX`: no row can have such an id, so a lookup by it finds nothing, as for any other
/// id that names no row (rather than failing to bind it).
pub(crate) fn key(id: u64) -> Option<i64> {
    i64::try_from(id).ok()
}

/// The id SQLite gave the row just inserted on `conn`. The ids it chooses are positive; a
/// negative one means the table holds rows Rollguard never wrote.
pub(crate) fn inserted_id(conn: &Connection) -> Result<u64> {
    let id = conn.last_insert_rowid();
    u64::try_from(id).map_err(|_| StoreError::Corrupt(format!("a new row was given the negative id {id}")))
}

const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Prepared statements kept per connection: more than the store has.
pub(crate) const STATEMENT_CACHE: usize = 256;

/// Connection settings shared by the sealed store and the plain baseline, so benchmarks
/// compare like with like.
pub(crate) fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // First: another process opening the same new file may hold the lock that switching to
    // WAL needs, and without a timeout that is an immediate "database is locked".
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // 16 KiB pages: fewer B-tree levels for the blind indexes, about 15% faster bulk loads
    // than the 4 KiB default on the benchmark. Takes effect only on a new database.
    conn.pragma_update(None, "page_size", 16384)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // What a change removes (a superseded row, old index entries, a legacy row moved by the
    // upgrade) is overwritten with zeros, not left in free pages for a stolen file to give up.
    conn.pragma_update(None, "secure_delete", "ON")?;
    // Sorts and temporary indexes stay in memory, never in temporary files.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // 256 MiB of page cache.
    conn.pragma_update(None, "cache_size", -262_144)?;
    // The store prepares some eighty statements; the default cache keeps 16, so a server's
    // mix of use cases would parse most of them again on every call.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// Sampled planner statistics after a bulk load, so searches pick the blind index that
/// narrows most rather than the authority index. Sampling keeps it to milliseconds.
pub(crate) const REFRESH_STATISTICS: &str = "PRAGMA analysis_limit = 1000; ANALYZE;";

/// Authority (id, code) pairs, so reads and searches need no query to translate them.
/// Reloaded on a miss, since another process may have added an authority; a pair never
/// changes once made.
#[derive(Default)]
pub(crate) struct AuthorityCache(RefCell<Vec<(i64, String)>>);

pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    authorities: AuthorityCache,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        let named = |e: rusqlite::Error| errors::opening(path, e);
        let mut conn = Connection::open(path).map_err(named)?;
        // Switching a new file to WAL can be refused outright, without the busy handler, while
        // another process does the same; both steps are idempotent, so they are retried.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match configure(&conn).map_err(named).and_then(|()| migrate::run(&mut conn)) {
                Err(StoreError::Busy(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => return Err(e),
                Ok(()) => break,
            }
        }
        Ok(Self { conn, path: path.to_owned(), authorities: AuthorityCache::default() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checkpoints the WAL into the main file, e.g. before measuring its size.
    pub fn checkpoint(&self) -> Result<()> {
        self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").map_err(db_err)
    }

    fn begin(&self, sql: &'static str, end: End) -> Result<Tx<'_>> {
        run_cached(&self.conn, sql)?;
        Ok(Tx { conn: &self.conn, cache: &self.authorities, end, open: true })
    }
}

impl Store for SqliteStore {
    fn read(&mut self) -> Result<Box<dyn ReadTx + '_>> {
        Ok(Box::new(self.begin("BEGIN DEFERRED", End::Transaction)?))
    }

    fn write(&mut self) -> Result<Box<dyn WriteTx + '_>> {
        Ok(Box::new(self.begin("BEGIN IMMEDIATE", End::Transaction)?))
    }

    fn write_group(&mut self) -> Result<Box<dyn WriteGroup + '_>> {
        run_cached(&self.conn, "BEGIN IMMEDIATE")?;
        Ok(Box::new(Group { conn: &self.conn, cache: &self.authorities, open: true }))
    }

    fn begin_import(&mut self) -> Result<Box<dyn ImportSession + '_>> {
        import::begin(&self.conn, &self.authorities)
    }

    fn backup_to(&mut self, path: &Path) -> Result<()> {
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

    fn free_bytes(&self) -> Option<u64> {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let fs = rustix::fs::statvfs(dir).ok()?;
        Some(fs.f_bavail.saturating_mul(fs.f_frsize))
    }
}

/// Runs a statement without parameters from the connection's statement cache: the
/// savepoints of a write group's units are parsed once, not once a unit.
fn run_cached(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql).and_then(|mut st| st.execute([])).map(|_| ()).map_err(db_err)
}

/// How a transaction ends.
#[derive(Clone, Copy)]
enum End {
    Transaction,
    /// A unit of a write group.
    Savepoint,
}

/// A transaction on one connection; every register, access, detection and state operation
/// is a method of it.
pub(crate) struct Tx<'c> {
    pub(crate) conn: &'c Connection,
    cache: &'c AuthorityCache,
    end: End,
    open: bool,
}

impl Tx<'_> {
    fn reload_authorities(&self) -> Result<()> {
        let mut stmt = self.conn.prepare_cached("SELECT id, code FROM authorities").map_err(db_err)?;
        let all = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db_err)?
            .collect::<rusqlite::Result<Vec<(i64, String)>>>()
            .map_err(db_err)?;
        *self.cache.0.borrow_mut() = all;
        Ok(())
    }

    /// Looks `find` up in the cached authorities, reloading them once on a miss.
    fn cached_authority<T>(&self, find: impl Fn(&[(i64, String)]) -> Option<T>) -> Result<Option<T>> {
        if let Some(found) = find(&self.cache.0.borrow()) {
            return Ok(Some(found));
        }
        self.reload_authorities()?;
        Ok(find(&self.cache.0.borrow()))
    }

    pub(crate) fn authority_id(&self, code: &str) -> Result<i64> {
        self.cached_authority(|all| all.iter().find(|(_, c)| c == code).map(|(id, _)| *id))?
            .ok_or_else(|| StoreError::UnknownAuthority(code.to_owned()))
    }

    pub(crate) fn authority_code(&self, id: i64) -> Result<String> {
        self.cached_authority(|all| all.iter().find(|(i, _)| *i == id).map(|(_, c)| c.clone()))?
            .ok_or_else(|| StoreError::Corrupt(format!("row refers to unknown authority {id}")))
    }

    /// Every change to authorities or keys raises the epoch, in the same transaction.
    pub(crate) fn bump_key_epoch(&self) -> Result<()> {
        self.conn
            .execute("UPDATE counters SET next = next + 1 WHERE name = 'key_epoch'", [])
            .map_err(db_err)?;
        Ok(())
    }
}

impl ReadTx for Tx<'_> {}

impl WriteTx for Tx<'_> {
    fn commit(mut self: Box<Self>) -> Result<()> {
        self.open = false;
        let sql = match self.end {
            End::Transaction => "COMMIT",
            End::Savepoint => "RELEASE unit",
        };
        let done = run_cached(self.conn, sql);
        if done.is_err() {
            // A commit that failed but left the transaction open must not leave it open.
            self.open = true;
        }
        done
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        // Failures are ignored: a transaction the database already gave up needs no undoing.
        let _ = match self.end {
            End::Transaction => self.conn.execute_batch("ROLLBACK"),
            End::Savepoint if self.conn.is_autocommit() => Ok(()),
            End::Savepoint => self.conn.execute_batch("ROLLBACK TO unit; RELEASE unit"),
        };
    }
}

/// One `BEGIN IMMEDIATE` holding many units, each a savepoint.
struct Group<'c> {
    conn: &'c Connection,
    cache: &'c AuthorityCache,
    open: bool,
}

impl WriteGroup for Group<'_> {
    fn unit(&mut self) -> Result<Box<dyn WriteTx + '_>> {
        if self.conn.is_autocommit() {
            return Err(StoreError::Unavailable("the group's transaction was rolled back".into()));
        }
        run_cached(self.conn, "SAVEPOINT unit")?;
        Ok(Box::new(Tx { conn: self.conn, cache: self.cache, end: End::Savepoint, open: true }))
    }

    fn is_lost(&self) -> bool {
        self.conn.is_autocommit()
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        self.open = false;
        if self.conn.is_autocommit() {
            return Err(StoreError::Unavailable("the group's transaction was rolled back".into()));
        }
        let done = run_cached(self.conn, "COMMIT");
        if done.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        done
    }
}

impl Drop for Group<'_> {
    fn drop(&mut self) {
        if self.open && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}
