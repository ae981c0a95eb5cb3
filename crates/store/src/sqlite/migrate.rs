//! Numbered schema migrations, applied in order, each in its own transaction.

use crate::StoreError;
use rusqlite::Connection;

const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../../migrations/0001_initial.sql")),
    (2, include_str!("../../migrations/0002_access.sql")),
    (3, include_str!("../../migrations/0003_passkeys.sql")),
    (4, include_str!("../../migrations/0004_detection.sql")),
];

pub(crate) fn run(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
        .map_err(|e| StoreError::Migration { version: 0, reason: e.to_string() })?;
    let current: u32 = conn
        .query_row("SELECT coalesce(max(version), 0) FROM schema_migrations", [], |r| r.get(0))
        .map_err(|e| StoreError::Migration { version: 0, reason: e.to_string() })?;
    let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if current > known {
        return Err(StoreError::SchemaTooNew { found: current, known });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let fail = |e: rusqlite::Error| StoreError::Migration { version: *version, reason: e.to_string() };
        let tx = conn.transaction().map_err(fail)?;
        tx.execute_batch(sql).map_err(fail)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            rusqlite::params![version, super::now_secs()],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
    }
    Ok(())
}
