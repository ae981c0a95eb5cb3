//! `rollguard mail scan --campaigns` through the binary.

use std::process::Command;

#[test]
fn campaigns_against_a_protected_group_are_reported_and_bad_group_files_named() {
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("mailboxes");
    let mut group = String::from("# members\n");
    for i in 0..12 {
        let to = format!("member{i}@parliament.uk");
        group.push_str(&format!("{to}\n"));
        let token: String = format!("{:x}", (i as u64 + 7).wrapping_mul(0x9E3779B97F4A7C15))
            .chars()
            .chain("Qz".chars())
            .collect();
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
