//! The baseline a user would build instead of Rollguard: the same register CSV loaded with
//! the `sqlite3` shell's `.import` into one plain table, then indexed on surname, postcode,
//! date of birth, elector number and NINO, in WAL mode with `synchronous=FULL`.

use crate::context::Result;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// What the shell baseline took: wall seconds for the load and its indexes, and bytes on disk.
pub(crate) struct ShellBaseline {
    pub secs: f64,
    pub bytes: u64,
}

fn shell(db: &Path, script: &str) -> Result<()> {
    let mut child = Command::new("sqlite3")
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running the sqlite3 shell (apt-get install sqlite3): {e}"))?;
    child.stdin.take().ok_or("sqlite3 shell: no stdin")?.write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() || !out.stderr.is_empty() {
        return Err(format!(
            "sqlite3 shell on {}: {}",
            db.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(())
}

/// Loads the register CSV files `csvs` (each with the same header) into `dir/shell.db` as one
/// file, as a user would, timing the load and indexing.
pub(crate) fn run(dir: &Path, csvs: &[&[u8]]) -> Result<ShellBaseline> {
    let csv_path = dir.join("shell.csv");
    let db = dir.join("shell.db");
    for f in ["shell.db", "shell.db-wal", "shell.db-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(&csv_path)?);
    for (i, csv) in csvs.iter().enumerate() {
        // The header once, from the first file.
        let body = if i == 0 { 0 } else { csv.iter().position(|b| *b == b'\n').map_or(csv.len(), |p| p + 1) };
        out.write_all(&csv[body..])?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    let script = format!(
        "PRAGMA journal_mode = WAL;\nPRAGMA synchronous = FULL;\n.mode csv\n.import '{}' electors\n\
         CREATE INDEX electors_surname ON electors (surname);\n\
         CREATE INDEX electors_postcode ON electors (postcode);\n\
         CREATE INDEX electors_dob ON electors (date_of_birth);\n\
         CREATE INDEX electors_number ON electors (elector_number);\n\
         CREATE INDEX electors_nino ON electors (nino);\n",
        csv_path.display()
    );
    let started = Instant::now();
    shell(&db, &script)?;
    let secs = started.elapsed().as_secs_f64();
    shell(&db, "PRAGMA wal_checkpoint(TRUNCATE);\n")?;
    std::fs::remove_file(&csv_path)?;
    let bytes = ["shell.db", "shell.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum();
    Ok(ShellBaseline { secs, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_baseline_loads_every_row_and_builds_its_five_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let csvs: Vec<Vec<u8>> = [300, 200]
            .into_iter()
            .map(|n| {
                let mut csv = Vec::new();
                crate::commands::write_generated(
                    n,
                    4,
                    rollguard_register::Nation::England,
                    crate::bench::today(),
                    &mut csv,
                    |_| {},
                )
                .unwrap();
                csv
            })
            .collect();
        let csvs: Vec<&[u8]> = csvs.iter().map(Vec::as_slice).collect();
        let b = run(dir.path(), &csvs).unwrap();
        assert!(b.bytes > 0 && b.secs > 0.0);
        let conn = rusqlite::Connection::open(dir.path().join("shell.db")).unwrap();
        let rows: i64 = conn.query_row("SELECT count(*) FROM electors", [], |r| r.get(0)).unwrap();
        let indexes: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'electors'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!((rows, indexes), (500, 5));
        assert!(!dir.path().join("shell.csv").exists(), "the CSV copy is removed");
    }
}
