//! [`DetectionStore`] over the register's SQLite database.

use super::{db_err, SqliteStore};
use crate::detection::*;
use crate::Result;
use rusqlite::{params, OptionalExtension, Row};

const COLUMNS: &str = "id, action, subject, rule, alert_seq, created_at, reversed_at, reversed_by";

fn from_row(r: &Row<'_>) -> rusqlite::Result<ResponseRecord> {
    Ok(ResponseRecord {
        id: r.get::<_, i64>(0)? as u64,
        action: r.get(1)?,
        subject: r.get(2)?,
        rule: r.get(3)?,
        alert_seq: r.get::<_, Option<i64>>(4)?.map(|s| s as u64),
        created_at: r.get(5)?,
        reversed_at: r.get(6)?,
        reversed_by: r.get(7)?,
    })
}

impl DetectionStore for SqliteStore {
    fn insert_response(&mut self, r: &ResponseRecord) -> Result<u64> {
        self.conn
            .execute(
                "INSERT INTO detection_responses (action, subject, rule, alert_seq, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![r.action, r.subject, r.rule, r.alert_seq.map(|s| s as i64), r.created_at],
            )
            .map_err(db_err)?;
        Ok(self.conn.last_insert_rowid() as u64)
    }

    fn responses(&self, limit: usize) -> Result<Vec<ResponseRecord>> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM detection_responses ORDER BY id DESC LIMIT ?1"))
            .map_err(db_err)?;
        let rows = stmt
            .query_map([limit as i64], from_row)
            .map_err(db_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        Ok(rows)
    }

    fn response(&self, id: u64) -> Result<Option<ResponseRecord>> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM detection_responses WHERE id = ?1"),
                [id as i64],
                from_row,
            )
            .optional()
            .map_err(db_err)
    }

    fn response_in_force(&self, action: &str, subject: Option<&str>) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM detection_responses \
                 WHERE action = ?1 AND subject IS ?2 AND reversed_at IS NULL)",
                params![action, subject],
                |r| r.get(0),
            )
            .map_err(db_err)
    }

    fn reverse_response(&mut self, id: u64, by: &str, at: i64) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "UPDATE detection_responses SET reversed_at = ?2, reversed_by = ?3 WHERE id = ?1 AND reversed_at IS NULL",
                params![id as i64, at, by],
            )
            .map_err(db_err)?;
        Ok(n == 1)
    }

    fn registry_blob(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row("SELECT sealed FROM sealed_registry WHERE name = ?1", [name], |r| r.get(0))
            .optional()
            .map_err(db_err)
    }

    fn update_registry_blob(
        &mut self,
        name: &str,
        change: &mut dyn FnMut(Option<Vec<u8>>) -> Result<Vec<u8>>,
    ) -> Result<()> {
        let tx =
            self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db_err)?;
        let current: Option<Vec<u8>> = tx
            .query_row("SELECT sealed FROM sealed_registry WHERE name = ?1", [name], |r| r.get(0))
            .optional()
            .map_err(db_err)?;
        let next = change(current)?;
        tx.execute(
            "INSERT INTO sealed_registry (name, sealed, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
            params![name, next, super::now_secs()],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)
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
        let mut store = SqliteStore::open(&dir.path().join("r.db")).unwrap();
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
