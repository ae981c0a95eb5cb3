//! The audit log in its own SQLite file beside the register (`<register>.audit`). Any
//! process may append: each append is one `BEGIN IMMEDIATE` transaction that first checks
//! the log still ends where the appender thinks, so two sequencers never interleave.

use super::db_err;
use crate::audit::*;
use crate::{Result, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit_events (
    idx        INTEGER PRIMARY KEY,
    body       BLOB    NOT NULL
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
    path: PathBuf,
}

impl SqliteAuditStore {
    /// Opens the log at `path`, creating it if `create` (and refusing a missing file
    /// otherwise, so a deleted log is never silently replaced by an empty one).
    pub fn open_or_create(path: &Path, create: bool) -> Result<Self> {
        if !create && !path.exists() {
            return Err(StoreError::Unavailable(format!("the audit log {} does not exist", path.display())));
        }
        let named = |e: rusqlite::Error| super::errors::opening(path, e);
        let conn = Connection::open(path).map_err(named)?;
        // As for the register: a new file's first opens race to switch it to WAL, so the
        // (idempotent) set-up is retried while another process holds the lock.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match set_up(&conn).map_err(named) {
                Err(StoreError::Busy(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => return Err(e),
                Ok(()) => break,
            }
        }
        Ok(Self { conn, path: path.to_owned() })
    }

    /// Opens (creating if needed) the log at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_or_create(path, true)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The error, naming this file where the database's own message would not.
    fn err(&self, e: rusqlite::Error) -> StoreError {
        match db_err(e) {
            StoreError::Corrupt(m) => StoreError::Corrupt(format!("audit log {}: {m}", self.path.display())),
            StoreError::Unavailable(m) => {
                StoreError::Unavailable(format!("audit log {}: {m}", self.path.display()))
            }
            other => other,
        }
    }

    fn length(&self) -> Result<u64> {
        self.conn
            .prepare_cached("SELECT coalesce(max(idx) + 1, 0) FROM audit_events")
            .and_then(|mut st| st.query_row([], |r| r.get(0)))
            .map_err(|e| self.err(e))
    }
}

impl AuditStore for SqliteAuditStore {
    fn append(&mut self, first: u64, events: &[(Vec<u8>, u64)]) -> Result<()> {
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let len = self.length()?;
        if len != first {
            return Err(StoreError::Busy(format!(
                "another process appended to the audit log (it now holds {len} events, not {first})"
            )));
        }
        {
            let mut stmt = tx
                .prepare_cached("INSERT INTO audit_events (idx, body, outbox_id) VALUES (?1, ?2, ?3)")
                .map_err(|e| self.err(e))?;
            for (idx, (body, outbox)) in (first..).zip(events) {
                stmt.execute(params![idx, body, outbox]).map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }

    fn len(&self) -> Result<u64> {
        self.length()
    }

    fn scan(&self, from: u64, to: u64, each: &mut dyn FnMut(StoredEvent) -> Result<()>) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT idx, body FROM audit_events WHERE idx >= ?1 AND idx < ?2 ORDER BY idx")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query(index_range(from, to)).map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let index: u64 = r.get(0).map_err(|e| self.err(e))?;
            let body: Vec<u8> = r.get(1).map_err(|e| self.err(e))?;
            each(StoredEvent { index, body })?;
        }
        Ok(())
    }

    fn holding(&self, outbox_ids: &[u64]) -> Result<Vec<u64>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM audit_events WHERE outbox_id = ?1")
            .map_err(|e| self.err(e))?;
        let mut held = Vec::new();
        for &id in outbox_ids {
            if stmt.exists([id]).map_err(|e| self.err(e))? {
                held.push(id);
            }
        }
        Ok(held)
    }

    fn outbox_ids(&self, from: u64, to: u64) -> Result<Vec<(u64, Option<u64>)>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT idx, outbox_id FROM audit_events WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(index_range(from, to), |r| Ok((r.get::<_, u64>(0)?, r.get::<_, Option<u64>>(1)?)))
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM audit_meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.conn
            .execute("INSERT OR REPLACE INTO audit_meta (key, value) VALUES (?1, ?2)", params![key, value])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn put_checkpoint(&mut self, c: &StoredCheckpoint) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO audit_checkpoints (size, note, created_at) VALUES (?1, ?2, ?3)",
                params![c.size, c.note, c.created_at],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>> {
        let mut stmt = self
            .conn
            .prepare("SELECT size, note, created_at FROM audit_checkpoints ORDER BY size")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(StoredCheckpoint { size: r.get::<_, u64>(0)?, note: r.get(1)?, created_at: r.get(2)? })
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    fn describe(&self) -> String {
        format!("audit log {}", self.path.display())
    }
}

/// `[from, to)` as bounds on `idx`, which never exceeds `i64::MAX`: a bound past it is the same
/// as `i64::MAX` (so `to = u64::MAX` means "to the end" and such a `from` finds nothing).
fn index_range(from: u64, to: u64) -> [i64; 2] {
    [i64::try_from(from).unwrap_or(i64::MAX), i64::try_from(to).unwrap_or(i64::MAX)]
}

/// Settings and schema of a log file, the schema under the write lock so two processes
/// never both add the outbox column.
fn set_up(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(super::STATEMENT_CACHE);
    conn.pragma_update(None, "page_size", 16384)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // Every append is on disk before it is acknowledged.
    conn.pragma_update(None, "synchronous", "FULL")?;
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(SCHEMA)?;
    // Logs written before the outbox have no outbox_id column.
    let has_outbox = tx.query_row(
        "SELECT count(*) FROM pragma_table_info('audit_events') WHERE name = 'outbox_id'",
        [],
        |r| r.get::<_, i64>(0),
    )? > 0;
    if !has_outbox {
        tx.execute_batch(
            "ALTER TABLE audit_events ADD COLUMN outbox_id INTEGER; \
             CREATE INDEX IF NOT EXISTS audit_events_by_outbox ON audit_events (outbox_id);",
        )?;
    }
    tx.commit()
}
