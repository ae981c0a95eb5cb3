//! Detection at the console and the 2021 replay, through the `rollguard` binary.

use std::path::Path;
use std::process::{Command, Output};

fn rollguard(db: &Path, keyring: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rollguard"))
        .arg("--db")
        .arg(db)
        .arg("--keyring")
        .arg(keyring)
        .args(args)
        .env_remove("ROLLGUARD_KEYRING_PASSPHRASE")
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_2021_replay_passes_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("replay.json");
    let out = Command::new(env!("CARGO_BIN_EXE_rollguard"))
        // Alert timings are a benchmark (docs/benchmarks.md, a release build), not a timed
        // test: here they are reported, and an alert must still come.
        .args(["replay", "2021", "--electors", "5000", "--no-timing-targets", "--json"])
        .arg(&json)
        .arg("--dir")
        .arg(dir.path().join("work"))
        .output()
        .unwrap();
    let text = ok(out);
    assert!(text.contains("| 3b | records returned before the cut-off"), "{text}");
    let steps: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(names, ["1", "2", "2b", "3a", "3b", "3c", "4", "5", "5b", "6"]);
    for s in &steps {
        assert_eq!(s["pass"], true, "step {} missed: {}", s["step"], s["measured"]);
    }
    // The alerts reached the JSON-lines sink, and the bulk read is among them.
    let alerts = std::fs::read_to_string(dir.path().join("work/alerts.jsonl")).unwrap();
    assert!(alerts.contains("Bulk read of personal data by one principal"), "{alerts}");
}

#[test]
fn the_patient_replay_stops_paced_readers_and_leaves_the_staffs_weeks_alone() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("patient.json");
    let out = Command::new(env!("CARGO_BIN_EXE_rollguard"))
        .args(["replay", "patient", "--electors", "5000", "--json"])
        .arg(&json)
        .arg("--dir")
        .arg(dir.path().join("work"))
        .output()
        .unwrap();
    let text = ok(out);
    let steps: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(names, ["P1", "P2", "P3", "P4", "L1", "L2", "L3"], "{text}");
    for s in &steps {
        assert_eq!(s["pass"], true, "step {} missed: {}", s["step"], s["measured"]);
    }
}

#[test]
fn rules_check_names_each_refused_rule_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (db, keyring) = (dir.path().join("r.db"), dir.path().join("k"));
    let rules = dir.path().join("rules");
    ok(rollguard(&db, &keyring, &["rules", "export", rules.to_str().unwrap()]));
    let good = ok(rollguard(&db, &keyring, &["rules", "check", rules.to_str().unwrap()]));
    assert!(good.contains("19 rules loaded, 0 refused"), "{good}");
    std::fs::write(
        rules.join("typo.yml"),
        "title: typo\nlogsource:\n  product: rollguard\ndetection:\n  s:\n    kindd: elector.read\n  condition: s\n",
    )
    .unwrap();
    let out = rollguard(&db, &keyring, &["rules", "check", rules.to_str().unwrap()]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("typo.yml:6: unknown field 'kindd'"), "{text}");
    assert!(text.contains("19 rules loaded, 1 refused"), "{text}");
}

#[test]
fn canaries_and_watermarked_console_exports_trace_back_to_their_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (db, keyring) = (dir.path().join("r.db"), keys.path().join("k"));
    ok(rollguard(&db, &keyring, &["init", "--authority", "E1", "--authority-name", "Test"]));
    let csv = dir.path().join("reg.csv");
    ok(rollguard(&db, &keyring, &["generate", "3000", "--seed", "7", "--out", csv.to_str().unwrap()]));
    // The import plants its own canaries (about 3 at one per thousand); five more later.
    let imported = ok(rollguard(&db, &keyring, &["import", csv.to_str().unwrap(), "--authority", "E1"]));
    let at_import: usize = imported
        .lines()
        .find_map(|l| l.strip_prefix("Planted ")?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let planted = ok(rollguard(&db, &keyring, &["canary", "plant", "--authority", "E1", "--count", "5"]));
    assert!(planted.contains("Planted 5 canary electors"), "{planted}");
    let count = ok(rollguard(&db, &keyring, &["canary", "count"]));
    assert!(count.contains(&format!("E1: {} canaries", at_import + 5)), "{imported}\n{count}");
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.csv");
    for (recipient, out) in [("Party A", &a), ("Party B", &b)] {
        let out = out.to_str().unwrap();
        let args = ["export", "--authority", "E1", "--kind", "full", "--recipient", recipient, "--out", out];
        ok(rollguard(&db, &keyring, &args));
    }
    let supply_a = std::fs::read_to_string(&a).unwrap();
    // Canaries are never supplied: 3,000 imported + 10 watermark entries, not the 5 canaries.
    assert_eq!(supply_a.lines().count() - 1, 3000 + 10);
    // A leak of Party A's supply, cut to every third line and reordered, names Party A only.
    let mut lines: Vec<&str> = supply_a.lines().skip(1).step_by(3).collect();
    lines.reverse();
    let leak = dir.path().join("leak.txt");
    std::fs::write(&leak, lines.join("\n").to_uppercase()).unwrap();
    let traced = ok(rollguard(&db, &keyring, &["leak", "trace", leak.to_str().unwrap(), "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&traced).unwrap();
    let recipients: Vec<&str> =
        v.as_array().unwrap().iter().map(|s| s["recipient"].as_str().unwrap()).collect();
    assert_eq!(recipients, ["Party A"], "{traced}");
    // A file with no watermark names nobody.
    let clean = dir.path().join("clean.txt");
    std::fs::write(&clean, std::fs::read_to_string(&csv).unwrap()).unwrap();
    let none = ok(rollguard(&db, &keyring, &["leak", "trace", clean.to_str().unwrap()]));
    assert!(none.contains("No watermark entry"), "{none}");
    // Neither the canary plant nor the exports put canary ids in the audit log's plant event.
    let verify = ok(rollguard(&db, &keyring, &["audit", "verify"]));
    assert!(verify.contains("verified"), "{verify}");
}

#[test]
fn mail_scan_reports_json_and_names_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let msg = "From: \"Sarah Whitlock, BBC News\" <s.whitlock@bbc-news-desk.com>\r\nTo: mp@parliament.uk\r\nSubject: Request for comment\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<p>Comment?</p><img src=\"http://198.51.100.23/t/a8F3kQ9zX2mP7vL1Zq4w/s.gif\" width=\"1\" height=\"1\">\r\n";
    std::fs::write(dir.path().join("m.eml"), msg).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rollguard"))
        .args([
            "mail",
            "scan",
            "--format",
            "json",
            "--protected-domain",
            "bbc.co.uk",
            "--organisation",
            "BBC News=bbc.co.uk,bbc.com",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let reports: serde_json::Value = serde_json::from_str(&ok(out)).unwrap();
    assert_eq!(reports[0]["verdict"], "dangerous");
    let kinds: Vec<&str> =
        reports[0]["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"tracking-pixel") && kinds.contains(&"display-name-impersonation"), "{kinds:?}");
    let bad = Command::new(env!("CARGO_BIN_EXE_rollguard"))
        .args(["mail", "scan", "--organisation", "no-equals-sign"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--organisation \"no-equals-sign\""));
}

#[test]
fn bad_detection_flags_are_named_and_the_register_is_not_touched() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (db, keyring) = (dir.path().join("r.db"), keys.path().join("k"));
    ok(rollguard(&db, &keyring, &["init", "--authority", "E1", "--authority-name", "Test"]));
    let before = std::fs::read(&db).unwrap();
    let audit = dir.path().join("r.db.audit");
    let log_before = std::fs::read(&audit).unwrap();
    let cases: [(&[&str], &str); 11] = [
        (
            &["--budget", "registration-staff=lots/1h"],
            "--budget registration-staff=lots/1h: `lots` is not a whole number",
        ),
        (&["--budget", "registration-staff=600/1w"], "window `1w`"),
        (&["--export-window", "*=mon-fry@09-17"], "--export-window *=mon-fry@09-17: unknown day"),
        (&["--export-window", "*=mon-fri@17-09"], "must end after it starts"),
        (&["--alert-sink", "pager:0800"], "unknown kind `pager`"),
        (&["--canvass", "2026-07-01"], "--canvass 2026-07-01: expected FROM..TO"),
        (&["--canvass", "2026-11-30..2026-07-01"], "the canvass ends before it starts"),
        (&["--canvass", "2026-07-01..2026-13-01"], "--canvass TO"),
        (&["--canvass-budget", "registration-staff=5000/1d"], "--canvass-budget needs --canvass FROM..TO"),
        (&["--baseline-factor", "1"], "--baseline-factor 1: give 2 to 20"),
        (&["--district-share", "140"], "--district-share 140: give a share from 1 to 100"),
    ];
    for (flags, want) in cases {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(flags);
        let out = rollguard(&db, &keyring, &args);
        assert!(!out.status.success(), "{flags:?} should be refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{flags:?}: {err}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), before, "the register is unchanged");
    assert_eq!(std::fs::read(&audit).unwrap(), log_before, "the audit log is unchanged");
}
