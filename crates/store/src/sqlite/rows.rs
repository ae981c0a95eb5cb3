//! How an elector row is laid out in SQLite: its columns, the blind-index tables, and the
//! conversions both ways. Shared by single writes and the bulk import.

use crate::rows::*;
use crate::sqlite::db_err;
use crate::{Result, StoreError};
use rollguard_register::Date;
use rusqlite::{params, Connection, Row};

pub(crate) const ELECTOR_COLUMNS: &str =
    "id, authority_id, version, valid_from, recorded_at, deleted, key_gen, sealed";

/// ELECTOR_COLUMNS qualified with `e.`, for joins with the blind-index tables.
pub(crate) const E_COLUMNS: &str =
    "e.id, e.authority_id, e.version, e.valid_from, e.recorded_at, e.deleted, e.key_gen, e.sealed";

pub(crate) const INSERT_ELECTOR: &str =
    "INSERT INTO electors (id, authority_id, version, valid_from, recorded_at, \
     deleted, key_gen, sealed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// The Julian day of 1970-01-01: dates are stored as days since then (two bytes, not ten).
const EPOCH_JULIAN_DAY: i32 = 2_440_588;

pub(crate) fn day_number(d: Date) -> i32 {
    d.to_julian_day() - EPOCH_JULIAN_DAY
}

fn day_from(idx: usize, n: i32) -> rusqlite::Result<Date> {
    Date::from_julian_day(n + EPOCH_JULIAN_DAY).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Integer, Box::new(e))
    })
}

pub(crate) fn insert_elector_with(
    stmt: &mut rusqlite::CachedStatement<'_>,
    authority_id: i64,
    r: &ElectorRow,
) -> Result<()> {
    stmt.execute(params![
        r.id,
        authority_id,
        r.version,
        day_number(r.valid_from),
        r.recorded_at,
        r.deleted,
        r.key_generation,
        r.sealed,
    ])
    .map_err(db_err)?;
    Ok(())
}

pub(crate) fn table_name(t: IndexTable) -> &'static str {
    match t {
        IndexTable::Number => "ix_number",
        IndexTable::Surname => "ix_surname",
        IndexTable::Postcode => "ix_postcode",
        IndexTable::DateOfBirth => "ix_dob",
        IndexTable::Nino => "ix_nino",
        IndexTable::Identity => "ix_identity",
    }
}

pub(crate) fn insert_entries(conn: &Connection, authority_id: i64, entries: &[IndexEntry]) -> Result<()> {
    for e in entries {
        let sql = format!(
            "INSERT OR IGNORE INTO {} (authority_id, value, ref) VALUES (?1, ?2, ?3)",
            table_name(e.table)
        );
        conn.prepare_cached(&sql)
            .and_then(|mut st| st.execute(params![authority_id, e.value, e.reference]))
            .map_err(db_err)?;
    }
    Ok(())
}

pub(crate) fn delete_entries(conn: &Connection, authority_id: i64, entries: &[IndexEntry]) -> Result<()> {
    for e in entries {
        let sql = format!(
            "DELETE FROM {} WHERE authority_id = ?1 AND value = ?2 AND ref = ?3",
            table_name(e.table)
        );
        conn.prepare_cached(&sql)
            .and_then(|mut st| st.execute(params![authority_id, e.value, e.reference]))
            .map_err(db_err)?;
    }
    Ok(())
}

/// Whether any entry of the authority holds `value` in `table`.
pub(crate) fn entry_exists(
    conn: &Connection,
    authority_id: i64,
    table: IndexTable,
    value: i64,
) -> Result<bool> {
    let sql =
        format!("SELECT EXISTS (SELECT 1 FROM {} WHERE authority_id = ?1 AND value = ?2)", table_name(table));
    conn.prepare_cached(&sql)
        .and_then(|mut st| st.query_row(params![authority_id, value], |r| r.get(0)))
        .map_err(db_err)
}

/// Inserts a new current entry with its index entries, refusing a NINO already registered.
/// Runs inside the caller's write transaction, so the check and the insert are one step.
pub(crate) fn insert_current(
    conn: &Connection,
    authority_id: i64,
    row: &ElectorRow,
    index: &[IndexEntry],
) -> Result<()> {
    for e in index.iter().filter(|e| e.table == IndexTable::Nino) {
        if entry_exists(conn, authority_id, IndexTable::Nino, e.value)? {
            return Err(StoreError::DuplicateNino);
        }
    }
    let mut stmt = conn.prepare_cached(INSERT_ELECTOR).map_err(db_err)?;
    insert_elector_with(&mut stmt, authority_id, row)?;
    insert_entries(conn, authority_id, index)
}

/// Rows per multi-row INSERT when bulk-loading blind indexes.
pub(crate) const LOAD_BATCH: usize = 128;

/// Loads sorted (value, reference) pairs of one table with multi-row statements, binding the
/// authority once: B-tree appends in key order instead of one random insert per row.
/// `OR IGNORE` cannot drop anything (each pair carries a fresh reference, so no key repeats),
/// but a statement that cannot abort needs no statement journal: without it SQLite copied
/// every page the statement touched, and the load took 16% more instructions (docs/benchmarks.md).
pub(crate) fn load_sorted(
    conn: &Connection,
    authority_id: i64,
    t: IndexTable,
    pairs: &[(i64, u64)],
) -> Result<()> {
    let rows: Vec<String> =
        (0..LOAD_BATCH).map(|i| format!("(?1, ?{}, ?{})", 2 + 2 * i, 3 + 2 * i)).collect();
    let sql = format!(
        "INSERT OR IGNORE INTO {} (authority_id, value, ref) VALUES {}",
        table_name(t),
        rows.join(", ")
    );
    let mut many = conn.prepare_cached(&sql).map_err(db_err)?;
    let mut chunks = pairs.chunks_exact(LOAD_BATCH);
    let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(1 + LOAD_BATCH * 2);
    for chunk in &mut chunks {
        values.clear();
        values.push(&authority_id);
        for (v, id) in chunk {
            values.extend([v as &dyn rusqlite::ToSql, id]);
        }
        many.execute(rusqlite::params_from_iter(values.iter())).map_err(db_err)?;
    }
    let one = format!("INSERT INTO {} (authority_id, value, ref) VALUES (?1, ?2, ?3)", table_name(t));
    let mut one = conn.prepare_cached(&one).map_err(db_err)?;
    for (v, id) in chunks.remainder() {
        one.execute(params![authority_id, v, id]).map_err(db_err)?;
    }
    Ok(())
}

pub(crate) fn date_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Date> {
    let s: String = row.get(idx)?;
    rollguard_register::parse_date("date", &s)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e)))
}

pub(crate) fn opt_date_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Date>> {
    let s: Option<String> = row.get(idx)?;
    s.map(|s| {
        rollguard_register::parse_date("date", &s).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
        })
    })
    .transpose()
}

/// Reads the ELECTOR_COLUMNS layout; `valid_to` is read from column 8 when present.
pub(crate) fn elector_from_row(
    row: &Row<'_>,
    authority: &str,
    with_valid_to: bool,
) -> rusqlite::Result<ElectorRow> {
    Ok(ElectorRow {
        id: row.get::<_, u64>(0)?,
        authority: authority.to_owned(),
        version: row.get(2)?,
        valid_from: day_from(3, row.get(3)?)?,
        valid_to: if with_valid_to { Some(day_from(8, row.get(8)?)?) } else { None },
        recorded_at: row.get(4)?,
        deleted: row.get(5)?,
        key_generation: row.get(6)?,
        sealed: row.get(7)?,
    })
}
