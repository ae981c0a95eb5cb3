//! `rollguard mail scan --campaigns` through the binary.

use std::process::Command;

#[test]
fn campaigns_against_a_protected_group_are_reported_and_bad_group_files_named() {
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("mailboxes");
    let mut group = String::from("# members\n");
    for i in 0..12u64 {
        let to = format!("member{i}@parliament.uk");
        group.push_str(&format!("{to}\n"));
        let token: String =
            format!("{:x}", (i + 7).wrapping_mul(0x9E3779B97F4A7C15)).chars().chain("Qz".chars()).collect();
        let msg = format!(
            "From: \"BBC News\" <desk@bbc-news-desk.com>\r\nTo: {to}\r\nSubject: Comment?\r\nContent-Type: text/html\r\n\r\n<p>A question for you.</p><img src=\"http://198.51.100.23/t/{token}/s.gif\" width=\"1\" height=\"1\">\r\n"
        );
        let mbox_dir = mail.join(format!("m{i}"));
        std::fs::create_dir_all(&mbox_dir).unwrap();
        std::fs::write(mbox_dir.join("1.eml"), msg).unwrap();
    }
    let group_file = dir.path().join("group.txt");
    std::fs::write(&group_file, &group).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rollguard"))
        .args([
            "mail",
            "scan",
            "--campaigns",
            "--min-targets",
            "10",
            "--format",
            "json",
            "--organisation",
            "BBC News=bbc.co.uk",
        ])
        .arg("--protected-group")
        .arg(&group_file)
        .arg(&mail)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["messages"].as_array().unwrap().len(), 12);
    let c = &v["campaigns"][0];
    assert_eq!(c["kind"], "reconnaissance");
    assert_eq!(c["confidence"], "high");
    assert_eq!(c["protected_recipients"].as_array().unwrap().len(), 12);

    std::fs::write(&group_file, "member1@parliament.uk\nnot an address\n").unwrap();
    let bad = Command::new(env!("CARGO_BIN_EXE_rollguard"))
        .args(["mail", "scan", "--campaigns"])
        .arg("--protected-group")
        .arg(&group_file)
        .arg(&mail)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("group.txt:2: \"not an address\" is not an e-mail address"), "{err}");
}

#[test]
fn neutralise_writes_a_new_file_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.eml");
    let msg = "From: a@x.example\r\nTo: b@parliament.uk\r\nSubject: s\r\nContent-Type: text/html\r\n\r\n<p>Hello</p><img src=\"http://198.51.100.23/t/a8F3kQ9zX2mP7vL1Zq4w/s.gif\" width=\"1\" height=\"1\">\r\n";
    std::fs::write(&input, msg).unwrap();
    let output = dir.path().join("out.eml");
    let run = |o: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_rollguard"))
            .args(["mail", "neutralise"])
            .arg(&input)
            .arg(o)
            .output()
            .unwrap()
    };
    let first = run(&output);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(String::from_utf8_lossy(&first.stdout).contains("1 images removed"));
    assert_eq!(std::fs::read_to_string(&input).unwrap(), msg, "original kept");
    let again = run(&output);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists; not overwriting"));
    let onto_input = run(&input);
    assert!(!onto_input.status.success());
}

#[test]
fn fixtures_are_written_with_labels_and_bench_mail_reports_precision_and_recall() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fixtures");
    let w =
        Command::new(env!("CARGO_BIN_EXE_rollguard")).args(["mail", "fixtures"]).arg(&out).output().unwrap();
    assert!(w.status.success(), "{}", String::from_utf8_lossy(&w.stderr));
    let labels = std::fs::read_to_string(out.join("labels.csv")).unwrap();
    assert_eq!(labels.lines().count(), 1 + 114);
    assert!(labels.contains("apt31-00.eml,true,true,"));
    // Scanning the written files gives the labels back.
    let scan = Command::new(env!("CARGO_BIN_EXE_rollguard"))
        .args([
            "mail",
            "scan",
            "--format",
            "json",
            "--organisation",
            "BBC News=bbc.co.uk,bbc.com",
            "--protected-domain",
            "parliament.uk",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let reports: serde_json::Value = serde_json::from_slice(&scan.stdout).unwrap();
    let dangerous = reports.as_array().unwrap().iter().filter(|r| r["verdict"] == "dangerous").count();
    assert_eq!(
        dangerous,
        labels.lines().filter(|l| l.contains(",true,true,") || l.contains(",false,true,")).count()
    );
    let again =
        Command::new(env!("CARGO_BIN_EXE_rollguard")).args(["mail", "fixtures"]).arg(&out).output().unwrap();
    assert!(!again.status.success(), "refuses a non-empty directory");
    let bench = Command::new(env!("CARGO_BIN_EXE_rollguard"))
        .args(["bench", "mail", "--samples", "200"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&bench.stdout);
    assert!(bench.status.success() && text.contains("precision") && text.contains("messages/s"), "{text}");
}
