//! Detection's responses and the sealed registry on a SQLite transaction.

use super::{db_err, Tx};
use crate::detection::*;
use crate::Result;
use rusqlite::{params, OptionalExtension, Row};

const COLUMNS: &str = "id, action, subject, rule, alert_seq, created_at, reversed_at, reversed_by";

fn from_row(r: &Row<'_>) -> rusqlite::Result<ResponseRecord> {
    Ok(ResponseRecord {
        id: r.get::<_, u64>(0)?,
        action: r.get(1)?,
        subject: r.get(2)?,
        rule: r.get(3)?,
        alert_seq: r.get::<_, Option<u64>>(4)?,
        created_at: r.get(5)?,
        reversed_at: r.get(6)?,
        reversed_by: r.get(7)?,
    })
}

impl DetectionRead for Tx<'_> {
    fn responses(&self, limit: usize) -> Result<Vec<ResponseRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM detection_responses ORDER BY id DESC LIMIT ?1"))
            .map_err(db_err)?;
        let rows = stmt
            .query_map([limit], from_row)
            .map_err(db_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        Ok(rows)
    }

    fn response(&self, id: u64) -> Result<Option<ResponseRecord>> {
        let Some(id) = super::key(id) else { return Ok(None) };
        self.conn
            .query_row(&format!("SELECT {COLUMNS} FROM detection_responses WHERE id = ?1"), [id], from_row)
            .optional()
            .map_err(db_err)
    }

    fn response_in_force(&self, action: &str, subject: Option<&str>) -> Result<bool> {
        self.conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM detection_responses \
                 WHERE action = ?1 AND subject IS ?2 AND reversed_at IS NULL)",
            )
            .and_then(|mut st| st.query_row(params![action, subject], |r| r.get(0)))
            .map_err(db_err)
    }

    fn registry_blob(&self, name: &str) -> Result<Option<Vec<u8>>> {
        registry_blob(self.conn, name)
    }
}

pub(super) fn registry_blob(conn: &rusqlite::Connection, name: &str) -> Result<Option<Vec<u8>>> {
    conn.query_row("SELECT sealed FROM sealed_registry WHERE name = ?1", [name], |r| r.get(0))
        .optional()
        .map_err(db_err)
}

pub(super) fn put_registry_blob(
    conn: &rusqlite::Connection,
    name: &str,
    sealed: &[u8],
    now: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO sealed_registry (name, sealed, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
        params![name, sealed, now],
    )
    .map_err(db_err)?;
    Ok(())
}

impl DetectionWrite for Tx<'_> {
    fn insert_response(&mut self, r: &ResponseRecord) -> Result<u64> {
        self.conn
            .execute(
                "INSERT INTO detection_responses (action, subject, rule, alert_seq, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![r.action, r.subject, r.rule, r.alert_seq, r.created_at],
            )
            .map_err(db_err)?;
        super::inserted_id(self.conn)
    }

    fn reverse_response(&mut self, id: u64, by: &str, at: i64) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "UPDATE detection_responses SET reversed_at = ?2, reversed_by = ?3 WHERE id = ?1 AND reversed_at IS NULL",
                params![id, at, by],
            )
            .map_err(db_err)?;
        Ok(n == 1)
    }

    fn put_registry_blob(&mut self, name: &str, sealed: &[u8], now: i64) -> Result<()> {
        put_registry_blob(self.conn, name, sealed, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(action: &str, subject: Option<&str>) -> ResponseRecord {
        ResponseRecord {
            id: 0,
            action: action.into(),
            subject: subject.map(str::to_owned),
            rule: "r".into(),
            alert_seq: None,
            created_at: 1,
            reversed_at: None,
            reversed_by: None,
        }
    }

    // An export freeze must survive any number of later responses: reading only the newest
    // ones once let an old freeze lapse on restart.
    #[test]
    fn an_old_freeze_stays_in_force_behind_many_newer_responses() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::SqliteStore::open(&dir.path().join("r.db")).unwrap();
        let mut store = crate::Store::write(&mut store).unwrap();
        assert!(!store.response_in_force("freeze_exports", None).unwrap());
        let freeze = store.insert_response(&record("freeze_exports", None)).unwrap();
        for _ in 0..10_050 {
            store.insert_response(&record("suspend_principal", Some("officer.jones"))).unwrap();
        }
        assert!(store.response_in_force("freeze_exports", None).unwrap());
        assert!(store.response_in_force("suspend_principal", Some("officer.jones")).unwrap());
        assert!(!store.response_in_force("suspend_principal", Some("officer.patel")).unwrap());
        assert!(!store.response_in_force("suspend_principal", None).unwrap());
        assert!(store.reverse_response(freeze, "admin.okafor", 2).unwrap());
        assert!(!store.response_in_force("freeze_exports", None).unwrap());
    }
}
