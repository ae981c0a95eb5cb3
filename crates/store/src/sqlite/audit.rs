//! The audit log in its own SQLite file beside the register, so appending events never waits
//! for a register transaction and the other way round.

use super::db_err;
use crate::audit::*;
use crate::{Result, StoreError};
use rusqlite::{params, Connection};
use std::path::Path;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit_events (
    idx   INTEGER PRIMARY KEY,
    body  BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    size        INTEGER PRIMARY KEY,
    note        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
";

pub struct SqliteAuditStore {
    conn: Connection,
    /// Held by the one process that appends (see [`SqliteAuditStore::open_writer`]).
    _writer_lock: Option<std::fs::File>,
}

impl SqliteAuditStore {
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db_err)?;
        // Every append is on disk before it is acknowledged.
        conn.pragma_update(None, "synchronous", "FULL").map_err(db_err)?;
        conn.pragma_update(None, "page_size", 16384).map_err(db_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(db_err)?;
        conn.execute_batch(SCHEMA).map_err(db_err)?;
        Ok(Self { conn, _writer_lock: None })
    }

    /// Opens the log for appending. Only one process may append at a time (its in-memory
    /// tree must be the log's), so this takes an exclusive lock on `<path>.lock` for as long
    /// as the store lives, and fails at once if another process holds it.
    pub fn open_writer(path: &Path) -> Result<Self> {
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::Io(format!("{}: {e}", Path::new(&lock_path).display())))?;
        lock.try_lock().map_err(|_| {
            StoreError::Io(format!(
                "the audit log {} is being written by another process (a running `rollguard serve`?); \
                 use the HTTP API while it runs, or stop it first",
                path.display()
            ))
        })?;
        let mut store = Self::open(path)?;
        store._writer_lock = Some(lock);
        Ok(store)
    }
}

impl AuditStore for SqliteAuditStore {
    fn append(&mut self, first: u64, bodies: &[Vec<u8>]) -> Result<()> {
        let tx = self.conn.transaction().map_err(db_err)?;
        let len: i64 = tx
            .query_row("SELECT coalesce(max(idx) + 1, 0) FROM audit_events", [], |r| r.get(0))
            .map_err(db_err)?;
        if len as u64 != first {
            return Err(StoreError::Corrupt(format!(
                "audit append at {first}, but the log holds {len} events"
            )));
        }
        {
            let mut stmt =
                tx.prepare_cached("INSERT INTO audit_events (idx, body) VALUES (?1, ?2)").map_err(db_err)?;
            for (i, b) in bodies.iter().enumerate() {
                stmt.execute(params![(first + i as u64) as i64, b]).map_err(db_err)?;
            }
        }
        tx.commit().map_err(db_err)
    }

    fn len(&self) -> Result<u64> {
        let n: i64 = self
            .conn
            .query_row("SELECT coalesce(max(idx) + 1, 0) FROM audit_events", [], |r| r.get(0))
            .map_err(db_err)?;
        Ok(n as u64)
    }

    fn scan(&self, from: u64, to: u64, each: &mut dyn FnMut(StoredEvent) -> Result<()>) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT idx, body FROM audit_events WHERE idx >= ?1 AND idx < ?2 ORDER BY idx")
            .map_err(db_err)?;
        let mut rows = stmt.query(params![from as i64, to.min(i64::MAX as u64) as i64]).map_err(db_err)?;
        while let Some(r) = rows.next().map_err(db_err)? {
            let index: i64 = r.get(0).map_err(db_err)?;
            let body: Vec<u8> = r.get(1).map_err(db_err)?;
            each(StoredEvent { index: index as u64, body })?;
        }
        Ok(())
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        self.conn
            .query_row("SELECT value FROM audit_meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(db_err)
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.conn
            .execute("INSERT OR REPLACE INTO audit_meta (key, value) VALUES (?1, ?2)", params![key, value])
            .map_err(db_err)?;
        Ok(())
    }

    fn put_checkpoint(&mut self, c: &StoredCheckpoint) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO audit_checkpoints (size, note, created_at) VALUES (?1, ?2, ?3)",
                params![c.size as i64, c.note, c.created_at],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>> {
        let mut stmt = self
            .conn
            .prepare("SELECT size, note, created_at FROM audit_checkpoints ORDER BY size")
            .map_err(db_err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(StoredCheckpoint {
                    size: r.get::<_, i64>(0)? as u64,
                    note: r.get(1)?,
                    created_at: r.get(2)?,
                })
            })
            .map_err(db_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        Ok(rows)
    }
}
