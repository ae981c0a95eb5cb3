//! Baselines on a SQLite transaction.

use super::{db_err, Tx};
use crate::baseline::*;
use crate::Result;
use rusqlite::{params, OptionalExtension};

impl BaselineRead for Tx<'_> {
    fn peer_days(&self, peer_group: &str, from_day: i64, to_day: i64) -> Result<Vec<PeerDay>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT principal, day, records FROM daily_reads \
                 WHERE peer_group = ?1 AND day >= ?2 AND day <= ?3",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![peer_group, from_day, to_day], |r| {
                Ok(PeerDay { principal: r.get(0)?, day: r.get(1)?, records: r.get(2)? })
            })
            .map_err(db_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        Ok(rows)
    }
}

impl BaselineWrite for Tx<'_> {
    fn add_daily_reads(
        &mut self,
        principal: &str,
        (day, forget_before): (i64, i64),
        peer_group: &str,
        records: u64,
    ) -> Result<DailyReads> {
        let updated = self
            .conn
            .prepare_cached(
                "UPDATE daily_reads SET records = records + ?3 WHERE principal = ?1 AND day = ?2 \
                 RETURNING records, threshold, alerted",
            )
            .and_then(|mut st| {
                st.query_row(params![principal, day, records], |r| {
                    Ok(DailyReads { records: r.get(0)?, threshold: r.get(1)?, alerted: r.get(2)? })
                })
                .optional()
            })
            .map_err(db_err)?;
        if let Some(d) = updated {
            return Ok(d);
        }
        self.conn
            .prepare_cached("DELETE FROM daily_reads WHERE principal = ?1 AND day < ?2")
            .and_then(|mut st| st.execute(params![principal, forget_before]))
            .map_err(db_err)?;
        self.conn
            .prepare_cached(
                "INSERT INTO daily_reads (principal, day, peer_group, records) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut st| st.execute(params![principal, day, peer_group, records]))
            .map_err(db_err)?;
        Ok(DailyReads { records, threshold: None, alerted: false })
    }

    fn set_daily_threshold(
        &mut self,
        principal: &str,
        day: i64,
        threshold: u64,
        alerted: bool,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE daily_reads SET threshold = ?3, alerted = ?4 WHERE principal = ?1 AND day = ?2",
            )
            .and_then(|mut st| st.execute(params![principal, day, threshold, alerted]))
            .map_err(db_err)?;
        Ok(())
    }
}
