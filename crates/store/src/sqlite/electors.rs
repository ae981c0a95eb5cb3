//! The register's reads and writes on a SQLite transaction.

use super::plans::{index_plans, set_index_plan};
use super::rows::*;
use super::{db_err, now_secs, Tx};
use crate::rows::*;
use crate::{RegisterRead, RegisterWrite, Result, StoreError};
use rollguard_register::{format_date, Date, Nation};
use rusqlite::{params, OptionalExtension, Row};

impl Tx<'_> {
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
        let mut stmt =
            self.conn.prepare_cached("SELECT ref FROM ix_number WHERE authority_id = ?1").map_err(db_err)?;
        let mut ids: Vec<i64> = stmt
            .query_map(params![authority_id], |r| r.get(0))
            .map_err(db_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// Visits the current rows of `authority` that pass `filter`, a condition on `electors`
    /// that may use `?2` for `param`.
    fn visit_current(
        &self,
        authority: &str,
        filter: &str,
        param: Option<&i32>,
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

    fn write_application(&self, authority_id: i64, r: &ApplicationRow, insert: bool) -> Result<()> {
        let sql = if insert {
            "INSERT INTO applications (id, authority_id, status, route, received_on, determined_on, outcome, \
             elector_id, key_gen, s_application, b_nino, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        } else {
            "UPDATE applications SET authority_id = ?2, status = ?3, route = ?4, received_on = ?5, determined_on = ?6, \
             outcome = ?7, elector_id = ?8, key_gen = ?9, s_application = ?10, b_nino = ?11, recorded_at = ?12 WHERE id = ?1"
        };
        let n = self
            .conn
            .prepare_cached(sql)
            .and_then(|mut st| {
                st.execute(params![
                    r.id,
                    authority_id,
                    r.status,
                    r.route,
                    format_date(r.received_on),
                    r.determined_on.map(format_date),
                    r.outcome,
                    r.elector_id,
                    r.key_generation,
                    r.sealed_application,
                    r.nino,
                    r.recorded_at,
                ])
            })
            .map_err(db_err)?;
        if n == 0 {
            return Err(StoreError::UnknownApplication(r.id));
        }
        Ok(())
    }
}

fn application_from_row(row: &Row<'_>) -> rusqlite::Result<(ApplicationRow, i64)> {
    Ok((
        ApplicationRow {
            id: row.get::<_, u64>(0)?,
            authority: String::new(),
            status: row.get(2)?,
            route: row.get(3)?,
            received_on: date_col(row, 4)?,
            determined_on: opt_date_col(row, 5)?,
            outcome: row.get(6)?,
            elector_id: row.get::<_, Option<u64>>(7)?,
            key_generation: row.get(8)?,
            sealed_application: row.get(9)?,
            nino: row.get(10)?,
            recorded_at: row.get(11)?,
        },
        row.get(1)?,
    ))
}

impl RegisterRead for Tx<'_> {
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

    fn authority_number(&self, code: &str) -> Result<u64> {
        let id = self.authority_id(code)?;
        u64::try_from(id).map_err(|_| StoreError::Corrupt(format!("authority {code} has a negative number")))
    }

    fn authorities(&self) -> Result<Vec<AuthorityRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT code, name, nation FROM authorities ORDER BY code")
            .map_err(db_err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
            .map_err(db_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err)?;
        rows.into_iter()
            .map(|(code, name, nation)| {
                let nation: Nation = nation
                    .parse()
                    .map_err(|_| StoreError::Corrupt(format!("authority {code}: unknown nation")))?;
                Ok(AuthorityRecord { code, name, nation })
            })
            .collect()
    }

    fn data_keys(&self) -> Result<Vec<DataKeyRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached(
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

    fn elector(&self, id: u64) -> Result<Option<ElectorRow>> {
        let Some(id) = super::key(id) else { return Ok(None) };
        let sql = format!("SELECT {ELECTOR_COLUMNS} FROM electors WHERE id = ?1");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(db_err)?;
        let found = stmt
            .query_row([id], |r| Ok((r.get::<_, i64>(1)?, elector_from_row(r, "", false)?)))
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

    fn electors(&self, ids: &[u64]) -> Result<Vec<ElectorRow>> {
        let mut sorted: Vec<i64> = ids.iter().filter_map(|id| super::key(*id)).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let sql = format!("SELECT {ELECTOR_COLUMNS} FROM electors WHERE id = ?1");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(db_err)?;
        let mut out = Vec::with_capacity(sorted.len());
        for id in sorted {
            let found = stmt
                .query_row([id], |r| Ok((r.get::<_, i64>(1)?, elector_from_row(r, "", false)?)))
                .optional()
                .map_err(db_err)?;
            if let Some((aid, mut row)) = found {
                row.authority = self.authority_code(aid)?;
                out.push(row);
            }
        }
        Ok(out)
    }

    fn index_references(
        &self,
        authority: &str,
        table: IndexTable,
        value: i64,
        limit: usize,
    ) -> Result<Vec<u64>> {
        let aid = self.authority_id(authority)?;
        let sql =
            format!("SELECT ref FROM {} WHERE authority_id = ?1 AND value = ?2 LIMIT ?3", table_name(table));
        let mut stmt = self.conn.prepare_cached(&sql).map_err(db_err)?;
        let refs = stmt
            .query_map(params![aid, value, limit], |r| r.get::<_, u64>(0))
            .map_err(db_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        Ok(refs)
    }

    fn index_count(&self, authority: &str, table: IndexTable, value: i64, cap: u64) -> Result<u64> {
        let aid = self.authority_id(authority)?;
        let sql = format!(
            "SELECT count(*) FROM (SELECT 1 FROM {} WHERE authority_id = ?1 AND value = ?2 LIMIT ?3)",
            table_name(table)
        );
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut st| st.query_row(params![aid, value, cap], |r| r.get(0)))
            .map_err(db_err)
    }

    fn index_plans(&self, authority: &str) -> Result<Vec<IndexPlan>> {
        let aid = self.authority_id(authority)?;
        index_plans(self.conn, aid)
    }

    fn current_rows_after(&self, authority: &str, after: u64, limit: usize) -> Result<Vec<ElectorRow>> {
        let aid = self.authority_id(authority)?;
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {E_COLUMNS} FROM ix_number b CROSS JOIN electors e ON e.id = b.ref \
             WHERE b.authority_id = ?1 AND b.ref > ?2 ORDER BY b.ref LIMIT ?3"
        );
        let mut out = Vec::new();
        self.visit_electors(&sql, &[&aid, &after, &limit], authority, false, &mut |r| {
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }

    fn elector_history(&self, id: u64) -> Result<Vec<ElectorRow>> {
        let Some(current) = self.elector(id)? else { return Err(StoreError::UnknownElector(id)) };
        let sql =
            format!("SELECT {ELECTOR_COLUMNS}, valid_to FROM elector_history WHERE id = ?1 ORDER BY version");
        let mut out = Vec::new();
        self.visit_electors(&sql, &[&id], &current.authority, true, &mut |r| {
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
        let d = day_number(date);
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
        // Walk ids upwards from the cursor: each batch carries on where the last one ended.
        let cur = format!(
            "SELECT {ELECTOR_COLUMNS} FROM electors \
             WHERE id > ?3 AND authority_id = ?1 AND key_gen != ?2 ORDER BY id LIMIT ?4"
        );
        self.visit_electors(&cur, &[&aid, &generation, &after, &limit], authority, false, &mut |r| {
            out.push(r);
            Ok(())
        })?;
        if out.len() < limit {
            let rest = limit - out.len();
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

    fn application(&self, id: u64) -> Result<Option<ApplicationRow>> {
        let Some(id) = super::key(id) else { return Ok(None) };
        let found = self
            .conn
            .prepare_cached(
                "SELECT id, authority_id, status, route, received_on, determined_on, outcome, elector_id, key_gen, \
                 s_application, b_nino, recorded_at FROM applications WHERE id = ?1",
            )
            .and_then(|mut s| s.query_row([id], application_from_row).optional())
            .map_err(db_err)?;
        match found {
            Some((mut row, aid)) => {
                row.authority = self.authority_code(aid)?;
                Ok(Some(row))
            }
            None => Ok(None),
        }
    }

    fn count_electors(&self, authority: &str) -> Result<u64> {
        let aid = self.authority_id(authority)?;
        self.conn
            .query_row(
                "SELECT (SELECT count(*) FROM ix_number b CROSS JOIN electors e ON e.id = b.ref \
                 WHERE b.authority_id = ?1 AND e.deleted = 0) \
                 + (SELECT count(*) FROM legacy_electors WHERE authority_id = ?1 AND deleted = 0)",
                params![aid],
                |r| r.get(0),
            )
            .map_err(db_err)
    }
}

impl RegisterWrite for Tx<'_> {
    fn create_authority(&mut self, a: &AuthorityRecord) -> Result<()> {
        let inserted = self.conn.execute(
            "INSERT INTO authorities (code, name, nation, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![a.code, a.name, a.nation.code(), now_secs()],
        );
        match inserted.map_err(db_err) {
            Ok(_) => self.bump_key_epoch(),
            Err(StoreError::Unique(_)) => Err(StoreError::AuthorityExists(a.code.clone())),
            Err(e) => Err(e),
        }
    }

    fn insert_data_key(&mut self, k: &DataKeyRecord) -> Result<()> {
        let aid = self.authority_id(&k.authority)?;
        self.conn
            .execute(
                "INSERT INTO data_keys (authority_id, purpose, generation, kek_id, wrapped, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![aid, k.purpose.code(), k.generation, k.kek_id, k.wrapped, now_secs()],
            )
            .map_err(db_err)?;
        self.bump_key_epoch()
    }

    fn rewrap_data_keys(&mut self, keys: &[DataKeyRecord]) -> Result<()> {
        for k in keys {
            let aid = self.authority_id(&k.authority)?;
            let n = self
                .conn
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
        self.bump_key_epoch()
    }

    fn retire_data_key(&mut self, authority: &str, purpose: KeyPurpose, generation: u32) -> Result<()> {
        let aid = self.authority_id(authority)?;
        self.conn
            .execute(
                "UPDATE data_keys SET retired_at = ?4 WHERE authority_id = ?1 AND purpose = ?2 AND generation = ?3",
                params![aid, purpose.code(), generation, now_secs()],
            )
            .map_err(db_err)?;
        self.bump_key_epoch()
    }

    fn reserve_ids(&mut self, kind: IdKind, count: u64) -> Result<u64> {
        let name = match kind {
            IdKind::Elector => "elector",
            IdKind::Application => "application",
        };
        let first: u64 = self
            .conn
            .prepare_cached("UPDATE counters SET next = next + ?2 WHERE name = ?1 RETURNING next - ?2")
            .and_then(|mut st| st.query_row(params![name, count], |r| r.get(0)))
            .map_err(db_err)?;
        Ok(first)
    }

    fn insert_elector(&mut self, row: &ElectorRow, index: &[IndexEntry]) -> Result<()> {
        let aid = self.authority_id(&row.authority)?;
        insert_current(self.conn, aid, row, index)
    }

    fn supersede_elector(
        &mut self,
        row: &ElectorRow,
        remove: &[IndexEntry],
        add: &[IndexEntry],
    ) -> Result<()> {
        let aid = self.authority_id(&row.authority)?;
        let moved = self
            .conn
            .prepare_cached(&format!(
                "INSERT INTO elector_history ({ELECTOR_COLUMNS}, valid_to) SELECT {ELECTOR_COLUMNS}, ?3 \
                 FROM electors WHERE id = ?1 AND version = ?2"
            ))
            .and_then(|mut st| st.execute(params![row.id, row.version - 1, day_number(row.valid_from)]))
            .map_err(db_err)?;
        if moved != 1 {
            return Err(StoreError::VersionConflict { id: row.id, expected: row.version - 1 });
        }
        delete_entries(self.conn, aid, remove)?;
        self.conn.execute("DELETE FROM electors WHERE id = ?1", [row.id]).map_err(db_err)?;
        insert_current(self.conn, aid, row, add)
    }

    fn insert_history(&mut self, row: &ElectorRow) -> Result<()> {
        let aid = self.authority_id(&row.authority)?;
        let valid_to =
            row.valid_to.ok_or_else(|| StoreError::Corrupt("a history row without valid_to".into()))?;
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO elector_history ({ELECTOR_COLUMNS}, valid_to) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ))
            .and_then(|mut st| {
                st.execute(params![
                    row.id,
                    aid,
                    row.version,
                    day_number(row.valid_from),
                    row.recorded_at,
                    row.deleted,
                    row.key_generation,
                    row.sealed,
                    day_number(valid_to),
                ])
            })
            .map_err(db_err)?;
        Ok(())
    }

    fn set_index_plan(&mut self, authority: &str, plan: &IndexPlan) -> Result<()> {
        let aid = self.authority_id(authority)?;
        set_index_plan(self.conn, aid, plan)
    }

    fn replace_index_entries(
        &mut self,
        authority: &str,
        remove: &[IndexEntry],
        add: &[IndexEntry],
    ) -> Result<()> {
        let aid = self.authority_id(authority)?;
        delete_entries(self.conn, aid, remove)?;
        insert_entries(self.conn, aid, add)
    }

    fn reseal_rows(&mut self, rows: &[ElectorRow], expected: &[u32]) -> Result<u64> {
        let mut n = 0;
        for (r, old_gen) in rows.iter().zip(expected) {
            let table = if r.valid_to.is_some() { "elector_history" } else { "electors" };
            let sql = format!(
                "UPDATE {table} SET key_gen = ?3, sealed = ?4 WHERE id = ?1 AND version = ?2 AND key_gen = ?5"
            );
            n += self
                .conn
                .prepare_cached(&sql)
                .and_then(|mut st| st.execute(params![r.id, r.version, r.key_generation, r.sealed, old_gen]))
                .map_err(db_err)? as u64;
        }
        Ok(n)
    }

    fn insert_application(&mut self, row: &ApplicationRow) -> Result<()> {
        let aid = self.authority_id(&row.authority)?;
        self.write_application(aid, row, true)
    }

    fn update_application(&mut self, row: &ApplicationRow) -> Result<()> {
        let aid = self.authority_id(&row.authority)?;
        self.write_application(aid, row, false)
    }
}
