//! The legacy layout's rows (before schema 10) on a SQLite transaction.

use super::rows::{date_col, opt_date_col, table_name};
use super::{db_err, Tx};
use crate::legacy::*;
use crate::rows::IndexTable;
use crate::Result;
use rollguard_register::{format_date, Date};
use rusqlite::{params, OptionalExtension, Row};

const COLUMNS: &str =
    "id, authority_id, version, valid_from, recorded_at, deleted, change, franchise, flags, \
     absent_vote, absent_vote_expires, key_gen, s_number, s_name, s_previous, s_address, s_dob, s_overseas, \
     s_contact, b_nino";

fn legacy_table(t: IndexTable) -> String {
    format!("legacy_{}", table_name(t).replace("ix_", "bi_"))
}

fn from_row(row: &Row<'_>, with_valid_to: bool) -> rusqlite::Result<(i64, LegacyRow)> {
    Ok((
        row.get(1)?,
        LegacyRow {
            id: row.get::<_, u64>(0)?,
            authority: String::new(),
            version: row.get(2)?,
            valid_from: date_col(row, 3)?,
            valid_to: if with_valid_to { Some(date_col(row, 20)?) } else { None },
            recorded_at: row.get(4)?,
            deleted: row.get(5)?,
            change: row.get(6)?,
            franchise: row.get(7)?,
            flags: row.get(8)?,
            absent_vote: row.get(9)?,
            absent_vote_expires: opt_date_col(row, 10)?,
            key_generation: row.get(11)?,
            sealed: LegacySealed {
                number: row.get(12)?,
                name: row.get(13)?,
                previous_names: row.get(14)?,
                address: row.get(15)?,
                date_of_birth: row.get(16)?,
                overseas: row.get(17)?,
                contact: row.get(18)?,
            },
            nino: row.get(19)?,
        },
    ))
}

impl Tx<'_> {
    fn legacy_rows(
        &self,
        sql: &str,
        p: &[&dyn rusqlite::ToSql],
        with_valid_to: bool,
    ) -> Result<Vec<LegacyRow>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(db_err)?;
        let rows = stmt
            .query_map(p, |r| from_row(r, with_valid_to))
            .map_err(db_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err)?;
        rows.into_iter()
            .map(|(aid, mut r)| {
                r.authority = self.authority_code(aid)?;
                Ok(r)
            })
            .collect()
    }
}

impl LegacyRead for Tx<'_> {
    fn legacy_pending(&self) -> Result<bool> {
        self.conn.query_row("SELECT EXISTS (SELECT 1 FROM legacy_electors)", [], |r| r.get(0)).map_err(db_err)
    }

    fn legacy_elector(&self, id: u64) -> Result<Option<LegacyRow>> {
        let Some(id) = super::key(id) else { return Ok(None) };
        let sql = format!("SELECT {COLUMNS} FROM legacy_electors WHERE id = ?1");
        Ok(self.legacy_rows(&sql, &[&id], false)?.pop())
    }

    fn legacy_history(&self, id: u64) -> Result<Vec<LegacyRow>> {
        let Some(current) = self.legacy_elector(id)? else { return Ok(Vec::new()) };
        let sql =
            format!("SELECT {COLUMNS}, valid_to FROM legacy_elector_history WHERE id = ?1 ORDER BY version");
        let mut out = self.legacy_rows(&sql, &[&current.id], true)?;
        out.push(current);
        Ok(out)
    }

    fn legacy_find(&self, authority: &str, table: IndexTable, value: i64) -> Result<Vec<u64>> {
        let aid = self.authority_id(authority)?;
        let sql = format!(
            "SELECT b.elector_id FROM {} b CROSS JOIN legacy_electors e ON e.id = b.elector_id \
             WHERE b.authority_id = ?1 AND b.value = ?2 AND e.deleted = 0 LIMIT 20000",
            legacy_table(table)
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(db_err)?;
        let ids = stmt
            .query_map(params![aid, value], |r| r.get::<_, u64>(0))
            .map_err(db_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        Ok(ids)
    }

    fn legacy_registered(
        &self,
        authority: &str,
        date: Option<Date>,
        visit: &mut dyn FnMut(LegacyRow) -> Result<()>,
    ) -> Result<u64> {
        let aid = self.authority_id(authority)?;
        let d = date.map_or_else(|| "9999-12-31".to_owned(), format_date);
        let mut n = 0;
        let current = format!(
            "SELECT {COLUMNS} FROM legacy_electors WHERE authority_id = ?1 AND valid_from <= ?2 AND deleted = 0"
        );
        for r in self.legacy_rows(&current, &[&aid, &d], false)? {
            visit(r)?;
            n += 1;
        }
        if date.is_some() {
            let past = format!(
                "SELECT {COLUMNS}, valid_to FROM legacy_elector_history \
                 WHERE authority_id = ?1 AND valid_from <= ?2 AND valid_to > ?2 AND deleted = 0"
            );
            for r in self.legacy_rows(&past, &[&aid, &d], true)? {
                visit(r)?;
                n += 1;
            }
        }
        Ok(n)
    }

    fn legacy_batch(&self, limit: usize) -> Result<Vec<u64>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM legacy_electors ORDER BY id LIMIT ?1")
            .map_err(db_err)?;
        let ids = stmt
            .query_map([limit], |r| r.get::<_, u64>(0))
            .map_err(db_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        Ok(ids)
    }

    fn legacy_watermark(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT legacy_below FROM layout_upgrade WHERE id = 0", [], |r| r.get(0))
            .optional()
            .map_err(db_err)
            .map(Option::unwrap_or_default)
    }
}

impl LegacyWrite for Tx<'_> {
    fn legacy_remove(&mut self, id: u64) -> Result<()> {
        let Some(key) = super::key(id) else { return Ok(()) };
        for t in IndexTable::ALL {
            // The legacy index tables are keyed by value first: find each entry through the
            // row's own copy of its values instead of scanning.
            let column = match t {
                IndexTable::DateOfBirth => "dob",
                other => other.code(),
            };
            let sql = format!(
                "DELETE FROM {} WHERE (authority_id, value, elector_id) IN \
                 (SELECT authority_id, b_{column}, id FROM legacy_electors WHERE id = ?1)",
                legacy_table(t)
            );
            self.conn.execute(&sql, [key]).map_err(db_err)?;
        }
        self.conn.execute("DELETE FROM legacy_elector_history WHERE id = ?1", [key]).map_err(db_err)?;
        self.conn.execute("DELETE FROM legacy_electors WHERE id = ?1", [key]).map_err(db_err)?;
        Ok(())
    }

    fn legacy_remap_references(&mut self, new_id: &dyn Fn(u64) -> u64) -> Result<u64> {
        let below = self.legacy_watermark()?;
        self.conn
            .execute_batch("CREATE TEMP TABLE IF NOT EXISTS legacy_map (old INTEGER PRIMARY KEY, new INTEGER NOT NULL); DELETE FROM temp.legacy_map;")
            .map_err(db_err)?;
        for table in ["read_charges", "area_charges", "applications"] {
            let sql = format!(
                "SELECT DISTINCT elector_id FROM {table} WHERE elector_id < ?1 \
                 AND NOT EXISTS (SELECT 1 FROM electors e WHERE e.id = {table}.elector_id)"
            );
            let old: Vec<u64> = {
                let mut stmt = self.conn.prepare(&sql).map_err(db_err)?;
                let ids = stmt
                    .query_map([below], |r| r.get::<_, u64>(0))
                    .map_err(db_err)?
                    .collect::<rusqlite::Result<_>>()
                    .map_err(db_err)?;
                ids
            };
            let mut insert = self
                .conn
                .prepare("INSERT OR IGNORE INTO temp.legacy_map (old, new) VALUES (?1, ?2)")
                .map_err(db_err)?;
            for id in old {
                insert.execute(params![id, new_id(id)]).map_err(db_err)?;
            }
        }
        let mut changed = 0u64;
        for table in ["read_charges", "area_charges", "applications"] {
            // A reader who read an elector both before and after it moved keeps one charge.
            changed += self
                .conn
                .execute(
                    &format!(
                        "UPDATE OR IGNORE {table} SET elector_id = (SELECT new FROM temp.legacy_map WHERE old = elector_id) \
                         WHERE elector_id IN (SELECT old FROM temp.legacy_map)"
                    ),
                    [],
                )
                .map_err(db_err)? as u64;
            self.conn
                .execute(
                    &format!("DELETE FROM {table} WHERE elector_id IN (SELECT old FROM temp.legacy_map)"),
                    [],
                )
                .map_err(db_err)?;
        }
        self.conn
            .execute_batch(
                "UPDATE read_counts SET held = (SELECT count(*) FROM read_charges c WHERE c.principal = read_counts.principal); \
                 DELETE FROM temp.legacy_map;",
            )
            .map_err(db_err)?;
        Ok(changed)
    }
}
