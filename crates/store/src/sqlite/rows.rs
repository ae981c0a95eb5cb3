//! How an elector row is laid out in SQLite: its columns, the blind-index tables, and the
//! conversions both ways. Shared by single writes and the bulk import.

use crate::rows::*;
use crate::sqlite::db_err;
use crate::{Result, StoreError};
use rollguard_register::{format_date, parse_date, Date};
use rusqlite::{params, Connection, Row};

pub(crate) const ELECTOR_COLUMNS: &str =
    "id, authority_id, version, valid_from, recorded_at, deleted, change, franchise, flags, \
     absent_vote, absent_vote_expires, key_gen, s_number, s_name, s_previous, s_address, s_dob, s_overseas, \
     s_contact, b_surname, b_postcode, b_dob, b_number, b_nino, b_identity";

/// ELECTOR_COLUMNS qualified with `e.`, for joins with the blind-index tables.
pub(crate) static E_COLUMNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    ELECTOR_COLUMNS.split(", ").map(|c| format!("e.{c}")).collect::<Vec<_>>().join(", ")
});

pub(crate) const INSERT_ELECTOR: &str = "INSERT INTO electors (id, authority_id, version, valid_from, recorded_at, deleted, \
     change, franchise, flags, absent_vote, absent_vote_expires, key_gen, s_number, s_name, s_previous, s_address, \
     s_dob, s_overseas, s_contact, b_surname, b_postcode, b_dob, b_number, b_nino, b_identity) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)";

pub(crate) fn insert_elector_with(
    stmt: &mut rusqlite::CachedStatement<'_>,
    authority_id: i64,
    r: &ElectorRow,
) -> Result<()> {
    stmt.execute(params![
        r.id,
        authority_id,
        r.version,
        format_date(r.valid_from),
        r.recorded_at,
        r.deleted,
        r.change,
        r.franchise,
        r.flags.bits(),
        r.absent_vote,
        r.absent_vote_expires.map(format_date),
        r.key_generation,
        r.sealed.number,
        r.sealed.name,
        r.sealed.previous_names,
        r.sealed.address,
        r.sealed.date_of_birth,
        r.sealed.overseas,
        r.sealed.contact,
        r.blind.surname,
        r.blind.postcode,
        r.blind.date_of_birth,
        r.blind.number,
        r.blind.nino,
        r.blind.identity,
    ])
    .map_err(db_err)?;
    Ok(())
}

/// Blind-index kinds. Each lives in its own table `bi_<kind>` keyed (authority, value,
/// elector), narrow enough that a bulk load appends about 4M entries a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    Number,
    Surname,
    Postcode,
    Dob,
    Nino,
    Identity,
}

impl Kind {
    pub(crate) const ALL: [Kind; 6] =
        [Kind::Number, Kind::Surname, Kind::Postcode, Kind::Dob, Kind::Nino, Kind::Identity];

    pub(crate) fn value(self, b: &BlindIndexes) -> Option<i64> {
        match self {
            Kind::Number => Some(b.number),
            Kind::Surname => b.surname,
            Kind::Postcode => b.postcode,
            Kind::Dob => b.date_of_birth,
            Kind::Nino => b.nino,
            Kind::Identity => Some(b.identity),
        }
    }

    pub(crate) fn table(self) -> &'static str {
        match self {
            Kind::Number => "bi_number",
            Kind::Surname => "bi_surname",
            Kind::Postcode => "bi_postcode",
            Kind::Dob => "bi_dob",
            Kind::Nino => "bi_nino",
            Kind::Identity => "bi_identity",
        }
    }
}

/// The (kind, value) pairs a row contributes to the blind-index tables.
fn blind_entries(b: &BlindIndexes) -> impl Iterator<Item = (Kind, i64)> + '_ {
    Kind::ALL.into_iter().filter_map(|k| k.value(b).map(|v| (k, v)))
}

fn insert_blind(conn: &Connection, authority_id: i64, r: &ElectorRow) -> Result<()> {
    for (k, v) in blind_entries(&r.blind) {
        let sql = format!("INSERT INTO {} (authority_id, value, elector_id) VALUES (?1, ?2, ?3)", k.table());
        conn.prepare_cached(&sql)
            .and_then(|mut st| st.execute(params![authority_id, v, r.id]))
            .map_err(db_err)?;
    }
    Ok(())
}

pub(crate) fn delete_blind(conn: &Connection, authority_id: i64, id: u64, b: &BlindIndexes) -> Result<()> {
    for (k, v) in blind_entries(b) {
        let sql =
            format!("DELETE FROM {} WHERE authority_id = ?1 AND value = ?2 AND elector_id = ?3", k.table());
        conn.prepare_cached(&sql)
            .and_then(|mut st| st.execute(params![authority_id, v, id]))
            .map_err(db_err)?;
    }
    Ok(())
}

/// Whether a current, undeleted entry of the authority (other than `except`) has this value.
/// `except` binds as NULL when there is none, and `e.id IS NOT NULL` excludes no entry.
pub(crate) fn blind_match_exists(
    conn: &Connection,
    authority_id: i64,
    k: Kind,
    value: i64,
    except: Option<u64>,
) -> Result<bool> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {} b CROSS JOIN electors e ON e.id = b.elector_id \
         WHERE b.authority_id = ?1 AND b.value = ?2 AND e.deleted = 0 AND e.id IS NOT ?3)",
        k.table()
    );
    conn.prepare_cached(&sql)
        .and_then(|mut st| st.query_row(params![authority_id, value, except], |r| r.get(0)))
        .map_err(db_err)
}

/// Inserts a new current entry with its blind indexes, refusing a NINO already registered.
/// Runs inside the caller's write transaction, so the check and the insert are one step.
pub(crate) fn insert_current(
    conn: &Connection,
    authority_id: i64,
    row: &ElectorRow,
    replacing: Option<u64>,
) -> Result<()> {
    if let Some(nino) = row.blind.nino {
        if !row.deleted && blind_match_exists(conn, authority_id, Kind::Nino, nino, replacing)? {
            return Err(StoreError::DuplicateNino);
        }
    }
    let mut stmt = conn.prepare_cached(INSERT_ELECTOR).map_err(db_err)?;
    insert_elector_with(&mut stmt, authority_id, row)?;
    insert_blind(conn, authority_id, row)
}

/// Rows per multi-row INSERT when bulk-loading blind indexes.
pub(crate) const LOAD_BATCH: usize = 128;

/// Loads sorted (value, id) pairs of one kind with multi-row statements, binding the
/// authority once: B-tree appends in key order instead of one random insert per row.
/// `OR IGNORE` cannot drop anything (each pair carries a fresh elector id, so no key repeats),
/// but a statement that cannot abort needs no statement journal: without it SQLite copied
/// every page the statement touched, and the load took 16% more instructions (docs/benchmarks.md).
pub(crate) fn load_sorted(conn: &Connection, authority_id: i64, k: Kind, pairs: &[(i64, u64)]) -> Result<()> {
    let rows: Vec<String> =
        (0..LOAD_BATCH).map(|i| format!("(?1, ?{}, ?{})", 2 + 2 * i, 3 + 2 * i)).collect();
    let sql = format!(
        "INSERT OR IGNORE INTO {} (authority_id, value, elector_id) VALUES {}",
        k.table(),
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
    let one = format!("INSERT INTO {} (authority_id, value, elector_id) VALUES (?1, ?2, ?3)", k.table());
    let mut one = conn.prepare_cached(&one).map_err(db_err)?;
    for (v, id) in chunks.remainder() {
        one.execute(params![authority_id, v, id]).map_err(db_err)?;
    }
    Ok(())
}

pub(crate) fn date_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Date> {
    let s: String = row.get(idx)?;
    parse_date("date", &s)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e)))
}

pub(crate) fn opt_date_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Date>> {
    let s: Option<String> = row.get(idx)?;
    s.map(|s| {
        parse_date("date", &s).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
        })
    })
    .transpose()
}

/// Reads the ELECTOR_COLUMNS layout; `valid_to` is read from column 25 when present.
pub(crate) fn elector_from_row(
    row: &Row<'_>,
    authority: &str,
    with_valid_to: bool,
) -> rusqlite::Result<ElectorRow> {
    Ok(ElectorRow {
        id: row.get::<_, u64>(0)?,
        authority: authority.to_owned(),
        version: row.get(2)?,
        valid_from: date_col(row, 3)?,
        valid_to: if with_valid_to { Some(date_col(row, 25)?) } else { None },
        recorded_at: row.get(4)?,
        deleted: row.get(5)?,
        change: row.get(6)?,
        franchise: row.get(7)?,
        flags: EntryFlags::from_bits(row.get(8)?),
        absent_vote: row.get(9)?,
        absent_vote_expires: opt_date_col(row, 10)?,
        key_generation: row.get(11)?,
        sealed: SealedFields {
            number: row.get(12)?,
            name: row.get(13)?,
            previous_names: row.get(14)?,
            address: row.get(15)?,
            date_of_birth: row.get(16)?,
            overseas: row.get(17)?,
            contact: row.get(18)?,
        },
        blind: BlindIndexes {
            surname: row.get(19)?,
            postcode: row.get(20)?,
            date_of_birth: row.get(21)?,
            number: row.get(22)?,
            nino: row.get(23)?,
            identity: row.get(24)?,
        },
    })
}
