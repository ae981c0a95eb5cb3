//! Four-eyes proposals on a SQLite transaction.

use super::{db_err, Tx};
use crate::proposals::*;
use crate::Result;
use rusqlite::{params, OptionalExtension, Row};

const COLUMNS: &str =
    "id, action, target, detail, proposed_by, proposed_at, decided_by, decided_at, decision";

fn from_row(r: &Row<'_>) -> rusqlite::Result<ProposalRecord> {
    Ok(ProposalRecord {
        id: r.get::<_, u64>(0)?,
        action: r.get(1)?,
        target: r.get(2)?,
        detail: r.get(3)?,
        proposed_by: r.get(4)?,
        proposed_at: r.get(5)?,
        decided_by: r.get(6)?,
        decided_at: r.get(7)?,
        decision: r.get(8)?,
    })
}

impl ProposalRead for Tx<'_> {
    fn proposal(&self, id: u64) -> Result<Option<ProposalRecord>> {
        let Some(id) = super::key(id) else { return Ok(None) };
        self.conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM proposals WHERE id = ?1"))
            .and_then(|mut st| st.query_row([id], from_row).optional())
            .map_err(db_err)
    }

    fn proposals(&self, limit: usize) -> Result<Vec<ProposalRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM proposals ORDER BY id DESC LIMIT ?1"))
            .map_err(db_err)?;
        let rows = stmt
            .query_map([limit], from_row)
            .map_err(db_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        Ok(rows)
    }
}

impl ProposalWrite for Tx<'_> {
    fn insert_proposal(&mut self, p: &ProposalRecord) -> Result<u64> {
        self.conn
            .prepare_cached(
                "INSERT INTO proposals (action, target, detail, proposed_by, proposed_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut st| {
                st.execute(params![p.action, p.target, p.detail, p.proposed_by, p.proposed_at])
            })
            .map_err(db_err)?;
        super::inserted_id(self.conn)
    }

    fn decide_proposal(&mut self, id: u64, by: &str, decision: &str, at: i64) -> Result<bool> {
        let Some(id) = super::key(id) else { return Ok(false) };
        let n = self
            .conn
            .prepare_cached(
                "UPDATE proposals SET decided_by = ?2, decision = ?3, decided_at = ?4 \
                 WHERE id = ?1 AND decided_at IS NULL",
            )
            .and_then(|mut st| st.execute(params![id, by, decision, at]))
            .map_err(db_err)?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SqliteStore, Store};

    #[test]
    fn a_proposal_is_decided_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("r.db")).unwrap();
        let mut tx = store.write().unwrap();
        let p = ProposalRecord {
            id: 0,
            action: "grant".into(),
            target: "officer-ann".into(),
            detail: "registration-staff@E1".into(),
            proposed_by: "admin-ada".into(),
            proposed_at: 100,
            decided_by: None,
            decided_at: None,
            decision: None,
        };
        let id = tx.insert_proposal(&p).unwrap();
        assert_eq!(tx.proposal(id).unwrap(), Some(ProposalRecord { id, ..p.clone() }));
        assert!(tx.decide_proposal(id, "admin-bea", "approved", 200).unwrap());
        assert!(!tx.decide_proposal(id, "admin-cat", "refused", 300).unwrap(), "decided once");
        let now = tx.proposal(id).unwrap().unwrap();
        assert_eq!(
            (now.decided_by.as_deref(), now.decision.as_deref(), now.decided_at),
            (Some("admin-bea"), Some("approved"), Some(200))
        );
        assert_eq!(tx.proposals(10).unwrap().len(), 1);
        assert_eq!(tx.proposal(id + 1).unwrap(), None);
    }
}
