//! Numbered schema migrations, applied in order, each in its own transaction.

use crate::StoreError;
use rusqlite::{Connection, TransactionBehavior};

const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../../migrations/0001_initial.sql")),
    (2, include_str!("../../migrations/0002_access.sql")),
    (3, include_str!("../../migrations/0003_passkeys.sql")),
    (4, include_str!("../../migrations/0004_detection.sql")),
    (5, include_str!("../../migrations/0005_outbox_and_state.sql")),
    (6, include_str!("../../migrations/0006_baselines.sql")),
    (7, include_str!("../../migrations/0007_district_coverage.sql")),
    (8, include_str!("../../migrations/0008_area_charges.sql")),
    (9, include_str!("../../migrations/0009_proposals.sql")),
    (10, include_str!("../../migrations/0010_sealed_layout.sql")),
];

pub(crate) fn run(conn: &mut Connection) -> Result<(), StoreError> {
    let setup = |e: rusqlite::Error| StoreError::Migration { version: 0, reason: e.to_string() };
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .map_err(|e| match super::db_err(e) {
        StoreError::Query(reason) => StoreError::Migration { version: 0, reason },
        other => other,
    })?;
    let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    loop {
        // Each step re-reads the version under the write lock, so two processes opening a
        // new register at once apply every migration exactly once.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(setup)?;
        let current: u32 = tx
            .query_row("SELECT coalesce(max(version), 0) FROM schema_migrations", [], |r| r.get(0))
            .map_err(setup)?;
        if current > known {
            return Err(StoreError::SchemaTooNew { found: current, known });
        }
        let Some((version, sql)) = MIGRATIONS.iter().find(|(v, _)| *v > current) else {
            return Ok(());
        };
        let fail = |e: rusqlite::Error| StoreError::Migration { version: *version, reason: e.to_string() };
        tx.execute_batch(sql).map_err(fail)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            rusqlite::params![version, super::now_secs()],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
    }
}
