//! The outbox and shared security state on a SQLite transaction.

use super::{db_err, Tx};
use crate::state::*;
use crate::Result;
use rusqlite::{params, Connection, OptionalExtension};

/// Inserts an outbox event on `conn` (shared with the bulk import's transaction).
pub(crate) fn append_event(conn: &Connection, body: &[u8]) -> Result<u64> {
    conn.prepare_cached("INSERT INTO audit_outbox (body) VALUES (?1)")
        .and_then(|mut st| st.execute([body]))
        .map_err(db_err)?;
    super::inserted_id(conn)
}

impl StateRead for Tx<'_> {
    fn key_epoch(&self) -> Result<u64> {
        self.conn
            .prepare_cached("SELECT next FROM counters WHERE name = 'key_epoch'")
            .and_then(|mut st| st.query_row([], |r| r.get(0)))
            .map_err(db_err)
    }

    fn outbox(&self, limit: usize) -> Result<Vec<OutboxEvent>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, body FROM audit_outbox ORDER BY id LIMIT ?1")
            .map_err(db_err)?;
        let rows = stmt
            .query_map([limit], |r| Ok(OutboxEvent { id: r.get::<_, u64>(0)?, body: r.get(1)? }))
            .map_err(db_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        Ok(rows)
    }

    fn outbox_len(&self) -> Result<u64> {
        self.conn.query_row("SELECT count(*) FROM audit_outbox", [], |r| r.get(0)).map_err(db_err)
    }

    fn audit_state(&self) -> Result<Option<AuditState>> {
        self.conn
            .prepare_cached(
                "SELECT log_id, size, root, frontier, checkpoint_size, checkpoint FROM audit_state WHERE id = 0",
            )
            .and_then(|mut st| {
                st.query_row([], |r| {
                    Ok(AuditState {
                        log_id: r.get(0)?,
                        size: r.get::<_, u64>(1)?,
                        root: r.get(2)?,
                        frontier: r.get(3)?,
                        checkpoint_size: r.get::<_, u64>(4)?,
                        checkpoint: r.get(5)?,
                    })
                })
                .optional()
            })
            .map_err(db_err)
    }

    fn log_position(&self, reader: &str) -> Result<Option<u64>> {
        self.conn
            .prepare_cached("SELECT position FROM log_positions WHERE reader = ?1")
            .and_then(|mut st| st.query_row([reader], |r| r.get(0)).optional())
            .map_err(db_err)
    }

    fn reads_held(&self, principal: &str, ids: &[u64]) -> Result<(u64, Vec<(u64, i64)>)> {
        let held: u64 = self
            .conn
            .prepare_cached("SELECT held FROM read_counts WHERE principal = ?1")
            .and_then(|mut st| st.query_row([principal], |r| r.get(0)).optional())
            .map_err(db_err)?
            .unwrap_or(0);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT read_at FROM read_charges WHERE principal = ?1 AND elector_id = ?2")
            .map_err(db_err)?;
        let mut seen = Vec::new();
        for &id in ids {
            if let Some(at) =
                stmt.query_row(params![principal, id], |r| r.get(0)).optional().map_err(db_err)?
            {
                seen.push((id, at));
            }
        }
        Ok((held, seen))
    }

    fn reads_since(&self, principal: &str, since_ms: i64) -> Result<u64> {
        self.conn
            .prepare_cached("SELECT count(*) FROM read_charges WHERE principal = ?1 AND read_at >= ?2")
            .and_then(|mut st| st.query_row(params![principal, since_ms], |r| r.get(0)))
            .map_err(db_err)
    }

    fn area_reads(&self, principal: &str, area: i64, since_ms: i64) -> Result<u64> {
        self.conn
            .prepare_cached(
                "SELECT count(*) FROM area_charges WHERE principal = ?1 AND area = ?2 AND read_at >= ?3",
            )
            .and_then(|mut st| st.query_row(params![principal, area, since_ms], |r| r.get(0)))
            .map_err(db_err)
    }

    fn district_reads(
        &self,
        principal: &str,
        (authority, area): (&str, i64),
        since_ms: i64,
    ) -> Result<Option<(u64, u64)>> {
        self.conn
            .prepare_cached(
                "SELECT electors, (SELECT count(*) FROM area_charges \
                 WHERE principal = ?1 AND area = ?3 AND read_at >= ?4) \
                 FROM district_sizes WHERE authority = ?2 AND area = ?3",
            )
            .and_then(|mut st| {
                st.query_row(params![principal, authority.to_ascii_uppercase(), area, since_ms], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
            })
            .map_err(db_err)
    }

    fn authorities_without_district_sizes(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT code FROM authorities a \
                 WHERE (EXISTS (SELECT 1 FROM ix_number b WHERE b.authority_id = a.id) \
                 OR EXISTS (SELECT 1 FROM legacy_electors l WHERE l.authority_id = a.id)) \
                 AND NOT EXISTS (SELECT 1 FROM district_sizes d WHERE d.authority = a.code) ORDER BY code",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map([], |r| r.get(0))
            .map_err(db_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        Ok(rows)
    }

    fn throttle(&self, key: &str) -> Result<Option<Throttle>> {
        self.conn
            .prepare_cached("SELECT tokens, updated_at FROM throttles WHERE key = ?1")
            .and_then(|mut st| {
                st.query_row([key], |r| Ok(Throttle { tokens: r.get(0)?, updated_ms: r.get(1)? })).optional()
            })
            .map_err(db_err)
    }
}

impl StateWrite for Tx<'_> {
    fn append_event(&mut self, body: &[u8]) -> Result<u64> {
        append_event(self.conn, body)
    }

    fn remove_outbox(&mut self, ids: &[u64]) -> Result<u64> {
        let mut stmt = self.conn.prepare_cached("DELETE FROM audit_outbox WHERE id = ?1").map_err(db_err)?;
        let mut n = 0;
        for &id in ids {
            n += stmt.execute([id]).map_err(db_err)? as u64;
        }
        Ok(n)
    }

    fn set_audit_state(&mut self, s: &AuditState) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO audit_state (id, log_id, size, root, frontier, checkpoint_size, checkpoint, updated_at) \
                 VALUES (0, ?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO UPDATE SET log_id = excluded.log_id, \
                 size = excluded.size, root = excluded.root, frontier = excluded.frontier, \
                 checkpoint_size = excluded.checkpoint_size, checkpoint = excluded.checkpoint, \
                 updated_at = excluded.updated_at",
            )
            .and_then(|mut st| {
                st.execute(params![
                    s.log_id,
                    s.size,
                    s.root,
                    s.frontier,
                    s.checkpoint_size,
                    s.checkpoint,
                    super::now_secs()
                ])
            })
            .map_err(db_err)?;
        Ok(())
    }

    fn set_log_position(&mut self, reader: &str, position: u64, now_ms: i64) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO log_positions (reader, position, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (reader) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at",
            )
            .and_then(|mut st| st.execute(params![reader, position, now_ms]))
            .map_err(db_err)?;
        Ok(())
    }

    fn forget_reads_before(&mut self, principal: &str, before_ms: i64) -> Result<()> {
        let gone = self
            .conn
            .prepare_cached("DELETE FROM read_charges WHERE principal = ?1 AND read_at < ?2")
            .and_then(|mut st| st.execute(params![principal, before_ms]))
            .map_err(db_err)?;
        if gone > 0 {
            self.conn
                .prepare_cached("UPDATE read_counts SET held = max(held - ?2, 0) WHERE principal = ?1")
                .and_then(|mut st| st.execute(params![principal, gone]))
                .map_err(db_err)?;
        }
        Ok(())
    }

    fn record_reads(&mut self, principal: &str, fresh: &[u64], again: &[u64], at_ms: i64) -> Result<()> {
        let mut insert = self
            .conn
            .prepare_cached("INSERT INTO read_charges (principal, elector_id, read_at) VALUES (?1, ?2, ?3)")
            .map_err(db_err)?;
        for &id in fresh {
            insert.execute(params![principal, id, at_ms]).map_err(db_err)?;
        }
        let mut touch = self
            .conn
            .prepare_cached(
                "UPDATE read_charges SET read_at = max(read_at, ?3) WHERE principal = ?1 AND elector_id = ?2",
            )
            .map_err(db_err)?;
        for &id in again {
            touch.execute(params![principal, id, at_ms]).map_err(db_err)?;
        }
        if !fresh.is_empty() {
            self.conn
                .prepare_cached(
                    "INSERT INTO read_counts (principal, held) VALUES (?1, ?2) \
                     ON CONFLICT (principal) DO UPDATE SET held = held + excluded.held",
                )
                .and_then(|mut st| st.execute(params![principal, fresh.len()]))
                .map_err(db_err)?;
        }
        Ok(())
    }

    fn record_area_reads(
        &mut self,
        principal: &str,
        reads: &[(u64, i64)],
        at_ms: i64,
        forget_before_ms: i64,
    ) -> Result<Vec<(i64, u64)>> {
        self.conn
            .prepare_cached("DELETE FROM area_charges WHERE principal = ?1 AND read_at < ?2")
            .and_then(|mut st| st.execute(params![principal, forget_before_ms]))
            .map_err(db_err)?;
        let mut insert = self
            .conn
            .prepare_cached(
                "INSERT INTO area_charges (principal, area, elector_id, read_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (principal, area, elector_id) DO NOTHING",
            )
            .map_err(db_err)?;
        let mut touch = self
            .conn
            .prepare_cached(
                "UPDATE area_charges SET read_at = max(read_at, ?4) \
                 WHERE principal = ?1 AND area = ?2 AND elector_id = ?3",
            )
            .map_err(db_err)?;
        let mut new: Vec<(i64, u64)> = Vec::new();
        for &(id, area) in reads {
            if insert.execute(params![principal, area, id, at_ms]).map_err(db_err)? == 1 {
                match new.iter_mut().find(|(a, _)| *a == area) {
                    Some((_, n)) => *n += 1,
                    None => new.push((area, 1)),
                }
            } else {
                touch.execute(params![principal, area, id, at_ms]).map_err(db_err)?;
            }
        }
        Ok(new)
    }

    fn set_throttle(&mut self, key: &str, t: &Throttle) -> Result<()> {
        // A bucket untouched for a day is full again: its row says nothing a missing one
        // would not, so names tried once do not pile up.
        self.conn
            .prepare_cached("DELETE FROM throttles WHERE updated_at < ?1")
            .and_then(|mut st| st.execute([t.updated_ms - 86_400_000]))
            .map_err(db_err)?;
        self.conn
            .prepare_cached(
                "INSERT INTO throttles (key, tokens, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at",
            )
            .and_then(|mut st| st.execute(params![key, t.tokens, t.updated_ms]))
            .map_err(db_err)?;
        Ok(())
    }
}
