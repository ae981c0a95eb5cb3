//! The register's disk fills while the server runs: readiness says so, every refusal names
//! the condition, nothing acknowledged is lost, and service resumes by itself when space
//! returns. The register lives on a small tmpfs of its own.

mod common;

use common::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf, #[allow(dead_code)] tempfile::TempDir);

impl Tmpfs {
    /// None only outside CI, where mounting needs a privilege the developer may not have.
    fn mount(megabytes: u32) -> Option<Self> {
        let point = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(point.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Self(point.path().to_owned(), point)),
            other if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("skipped outside CI: cannot mount a tmpfs ({other:?}); CI runs this as root");
                None
            }
            other => panic!("mounting a tmpfs for the disk-full test failed (CI runs as root): {other:?}"),
        }
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes a file that takes every free byte of the file system `dir` is on.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 64 * 1024];
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    // Whatever fits in less than a block, too.
    for size in [4096usize, 512, 1] {
        while f.write_all(&block[..size]).is_ok() {}
    }
    let _ = f.sync_all();
    path
}

#[test]
fn a_full_disk_is_reported_by_name_loses_nothing_acknowledged_and_is_recovered_from() {
    let Some(fs) = Tmpfs::mount(24) else { return };
    capture_logs();
    let p = prepare_register_in(
        fs.path(),
        &accounts_config(),
        std::sync::Arc::new(rollguard_service::SystemClock),
        |_, _, _| {},
    );
    let s = serve_prepared(
        p,
        test_config(),
        accounts_config(),
        None,
        rollguard_server::detection::DetectionConfig::default(),
        rollguard_service::Policy::default(),
        std::sync::Arc::new(rollguard_service::SystemClock),
    );
    let (token, _) = s.session();
    let auth = bearer(&token);
    let h = [("authorization", auth.as_str())];
    assert_eq!(s.get("/readyz", &[]).status, 200);
    let ids: Vec<u64> = s.e1.iter().map(|(id, _)| *id).collect();
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    let mut amended = 0usize;
    let amend = |n: usize| {
        let id = ids[n % ids.len()];
        let value = format!("{n} Heron Way");
        let r = s.send(
            "PATCH",
            &format!("/api/v1/authorities/E1/electors/{id}"),
            &h,
            Some(json!({"set": {"address_line_1": value}})),
        );
        (id, value, r)
    };
    let mut n = 0;
    for _ in 0..5 {
        let (id, value, r) = amend(n);
        assert_eq!(r.status, 200, "{}", r.text);
        acked.insert(id, value);
        amended += 1;
        n += 1;
    }

    let filler = fill(fs.path());
    // SQLite may still fit a few changes into space its files already hold; the disk is full
    // once a change is refused.
    let mut refusal = None;
    for _ in 0..20_000 {
        let (id, value, r) = amend(n);
        n += 1;
        match r.status {
            200 => {
                acked.insert(id, value);
                amended += 1;
            }
            503 => {
                refusal = Some(r);
                break;
            }
            other => panic!("a change on a full disk answered {other}: {}", r.text),
        }
    }
    let refusal = refusal.expect("a change is refused once the disk is full");
    eprintln!("{amended} changes acknowledged before the full disk refused one");
    assert_eq!(refusal.header("content-type"), Some("application/problem+json"));
    assert!(refusal.body["type"].as_str().unwrap().ends_with("storage-full"), "{}", refusal.text);
    assert!(refusal.header("retry-after").is_some(), "{:?}", refusal.headers);
    let ready = s.get("/readyz", &[]);
    assert_eq!(ready.status, 503, "{}", ready.text);
    assert!(ready.text.contains("storage-full"), "{}", ready.text);
    // A read must record its event first, so it is refused too, without personal data.
    let read = s.get(&format!("/api/v1/authorities/E1/electors/{}", ids[0]), &h);
    assert_eq!(read.status, 503, "{}", read.text);
    assert!(!read.text.contains(&s.e1[0].1.surname));

    std::fs::remove_file(&filler).unwrap();
    wait_until("readiness after space returns", || s.get("/readyz", &[]).status == 200);
    let (id, value, r) = amend(n);
    assert_eq!(r.status, 200, "{}", r.text);
    acked.insert(id, value);
    amended += 1;
    for (id, value) in &acked {
        let r = s.get(&format!("/api/v1/authorities/E1/electors/{id}"), &h);
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["fields"]["address_line_1"], value.as_str(), "elector {id}");
    }
    // Each acknowledged change has its event in the log, and no refused one does.
    let events = audit_events(&s);
    let changes = events
        .iter()
        .filter(|e| {
            e.kind == rollguard_audit::Kind::ElectorWrite
                && e.detail.get("change").map(String::as_str) == Some("amended")
        })
        .count();
    assert_eq!(changes, amended);
    assert!(!logs().contains("Heron Way"), "no personal data in the server's log lines");
}
