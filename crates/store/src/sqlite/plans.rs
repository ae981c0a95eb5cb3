//! The widths of each authority's bucketed blind indexes, and a re-size's progress.

use super::db_err;
use crate::rows::{IndexPlan, IndexTable, Resize};
use crate::{Result, StoreError};
use rusqlite::{params, Connection};

pub(crate) fn index_plans(conn: &Connection, authority_id: i64) -> Result<Vec<IndexPlan>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT kind, bits, target_bits, resize_cursor FROM index_plans WHERE authority_id = ?1",
        )
        .map_err(db_err)?;
    let rows = stmt
        .query_map(params![authority_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, u32>(1)?,
                r.get::<_, Option<u32>>(2)?,
                r.get::<_, u64>(3)?,
            ))
        })
        .map_err(db_err)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(db_err)?;
    rows.into_iter()
        .map(|(kind, bits, target, cursor)| {
            let table = IndexTable::from_code(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("index plan for an unknown index {kind:?}")))?;
            Ok(IndexPlan { table, bits, resize: target.map(|target| Resize { target, cursor }) })
        })
        .collect()
}

pub(crate) fn set_index_plan(conn: &Connection, authority_id: i64, plan: &IndexPlan) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO index_plans (authority_id, kind, bits, target_bits, resize_cursor) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (authority_id, kind) DO UPDATE SET bits = excluded.bits, target_bits = excluded.target_bits, \
         resize_cursor = excluded.resize_cursor",
    )
    .and_then(|mut st| {
        st.execute(params![
            authority_id,
            plan.table.code(),
            plan.bits,
            plan.resize.map(|r| r.target),
            plan.resize.map_or(0, |r| r.cursor),
        ])
    })
    .map_err(db_err)?;
    Ok(())
}
