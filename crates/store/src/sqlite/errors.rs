//! SQLite's result codes as typed [`StoreError`]s. SQLite's messages name tables and
//! columns, never bound values, so they may be kept.

use crate::StoreError;
use rusqlite::ErrorCode;
use std::path::Path;

pub(crate) fn db_err(e: rusqlite::Error) -> StoreError {
    // A stored integer that does not fit what it is read as (a negative id or count read as
    // `u64`): Rollguard never writes one, so the row is damaged. Named by column, not value.
    if let rusqlite::Error::IntegralValueOutOfRange(column, _) = e {
        return StoreError::Corrupt(format!("the integer in result column {column} is out of range"));
    }
    let message = e.to_string();
    let Some(code) = e.sqlite_error_code() else {
        return StoreError::Query(message);
    };
    match code {
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => StoreError::Busy(message),
        ErrorCode::DiskFull => StoreError::Full,
        ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => StoreError::Corrupt(message),
        ErrorCode::ConstraintViolation => match unique_constraint(&message) {
            Some(name) => StoreError::Unique(name),
            None => StoreError::Query(message),
        },
        ErrorCode::CannotOpen
        | ErrorCode::ReadOnly
        | ErrorCode::SystemIoFailure
        | ErrorCode::PermissionDenied
        | ErrorCode::NoLargeFileSupport
        | ErrorCode::OutOfMemory => StoreError::Unavailable(message),
        _ => StoreError::Query(message),
    }
}

/// `UNIQUE constraint failed: principals.name` → `principals.name`.
fn unique_constraint(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("UNIQUE constraint failed: ")
        .or_else(|| message.strip_prefix("PRIMARY KEY constraint failed: "))?;
    Some(rest.trim().to_owned())
}

/// An error while opening `path`, naming the file.
pub(crate) fn opening(path: &Path, e: rusqlite::Error) -> StoreError {
    match db_err(e) {
        StoreError::Corrupt(m) => StoreError::Corrupt(format!("{}: {m}", path.display())),
        StoreError::Unavailable(m) => StoreError::Unavailable(format!("{}: {m}", path.display())),
        StoreError::Query(m) => StoreError::Unavailable(format!("{}: {m}", path.display())),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_violations_name_the_constraint_not_the_value() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (name TEXT UNIQUE); INSERT INTO t VALUES ('Okafor');").unwrap();
        let e = db_err(conn.execute("INSERT INTO t VALUES ('Okafor')", []).unwrap_err());
        match e {
            StoreError::Unique(c) => {
                assert_eq!(c, "t.name");
            }
            other => panic!("expected a unique violation, got {other:?}"),
        }
    }

    #[test]
    fn a_negative_id_read_back_is_damage_and_an_id_past_i64_max_names_no_row() {
        use crate::Store;
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::SqliteStore::open(&dir.path().join("register.db")).unwrap();
        let read = store.read().unwrap();
        assert!(read.elector(u64::MAX).unwrap().is_none());
        assert!(read.application(1 << 63).unwrap().is_none());
        drop(read);
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let e = db_err(conn.query_row("SELECT -7", [], |r| r.get::<_, u64>(0)).unwrap_err());
        match e {
            StoreError::Corrupt(m) => assert!(!m.contains('7'), "{m}"),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn a_file_that_is_not_a_database_is_named_as_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("register.db");
        std::fs::write(&path, vec![0x5a; 64 * 1024]).unwrap();
        let e = crate::SqliteStore::open(&path).err().expect("not a database");
        match e {
            StoreError::Corrupt(m) => assert!(m.contains("register.db"), "{m}"),
            other => panic!("expected Corrupt naming the file, got {other:?}"),
        }
    }
}
