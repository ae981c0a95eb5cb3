//! The `rollguard` binary end to end: real files, real SQLite, real keyrings.

mod common;

use common::*;
use std::process::Command;

const CSV: &str = "elector_number,surname,given_names,address_line_1,address_line_2,postcode,date_of_birth,nino,open_register_opt_out\n\
AA-1,Pemberton,Ada Rose,4 Mill Lane,Ashby,LE65 1AA,1980-03-14,AB123456C,N\n\
AA-2,Okafor,Chidi,6 Mill Lane,Ashby,LE65 1AA,1975-11-02,,Y\n";

#[test]
fn init_import_search_export_and_a_bad_import_that_changes_nothing() {
    let env = Env::file();
    let out = env.ok(&["init", "--authority", "E07000001", "--authority-name", "Ashby Vale"]);
    assert!(out.contains("register database") && out.contains("keyring"), "{out}");
    assert!(!out.contains("WARNING"), "database and keyring are in separate directories");
    let work = tempfile::tempdir().unwrap();
    let good = write(work.path(), "good.csv", CSV);
    env.ok(&["import", good.to_str().unwrap(), "--authority", "E07000001"]);

    let found = env.ok(&["elector", "search", "--authority", "E07000001", "--surname", "pemberton"]);
    assert!(found.contains("Pemberton, Ada Rose") && found.contains("AA-1"), "{found}");

    let bad_csv = format!("{CSV}AA-3,Smith,Jo,1 Mill Lane,Ashby,LE65 1AA,2090-01-01,,N\n")
        .replace("AA-1,", "AA-9,")
        .replace("AB123456C", "");
    let bad = write(work.path(), "bad.csv", &bad_csv);
    let err = env.fails(&["import", bad.to_str().unwrap(), "--authority", "E07000001"]);
    assert!(err.contains("bad.csv:4: date_of_birth: is in the future"), "{err}");
    assert!(!err.contains("2090"), "the value is not echoed: {err}");
    let list = env.ok(&["authority", "list"]);
    assert!(list.contains("2 electors"), "the bad import stored nothing: {list}");

    let open = env.ok(&["export", "--authority", "E07000001", "--kind", "open"]);
    // Okafor (AA-2) opted out. The supply's watermark entries carry generated names, so the
    // check is by elector number, which marks never share with a real entry.
    assert!(open.contains("Pemberton"), "{open}");
    assert!(!open.lines().any(|l| l.split(',').any(|f| f == "AA-2")), "{open}");
    let history = env.ok(&["register", "at", "2000-01-01", "--authority", "E07000001"]);
    assert_eq!(history.lines().count(), 1, "only the header: nobody was registered in 2000");
}

#[test]
fn malformed_arguments_are_named_and_store_nothing() {
    let env = Env::file();
    env.ok(&["init", "--authority", "E07000001"]);
    let err = env.fails(&["elector", "add", "--authority", "E07000001", "--set", "shoe_size=9"]);
    assert!(err.contains("unknown column `shoe_size`") && err.contains("postcode"), "{err}");
    let err = env.fails(&["elector", "add", "--authority", "E07000001", "--set", "surname"]);
    assert!(err.contains("expected column=value"), "{err}");
    let err = env.fails(&[
        "elector",
        "add",
        "--authority",
        "E07000001",
        "--set",
        "elector_number=AA-1",
        "--set",
        "surname=Okafor",
        "--set",
        "given_names=Chidi",
        "--set",
        "address_line_1=6 Mill Lane",
        "--set",
        "postcode=LE65 9ZZZ",
    ]);
    assert!(err.contains("postcode") && err.contains("BS 7666") && !err.contains("9ZZZ"), "{err}");
    let err = env.fails(&["register", "at", "24/11/2026", "--authority", "E07000001"]);
    assert!(err.contains("DATE") && err.contains("YYYY-MM-DD"), "{err}");
    assert!(env.ok(&["authority", "list"]).contains(" 0 electors"), "nothing was stored");
}

#[test]
fn a_keyring_readable_by_others_stops_rollguard() {
    let env = Env::file();
    env.ok(&["init", "--authority", "E07000001"]);
    std::fs::set_permissions(&env.keyring, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let err = env.fails(&["authority", "list"]);
    assert!(err.contains("readable or writable by group or others") && err.contains("chmod 600"), "{err}");
}

#[test]
fn init_warns_when_keyring_sits_beside_the_database() {
    let mut env = Env::file();
    env.keyring = env.db.with_file_name("rollguard.keyring").display().to_string();
    let out = env.ok(&["init"]);
    assert!(out.contains("WARNING: the keyring is in the same directory as the database"), "{out}");
}

#[test]
fn init_refuses_to_overwrite_a_register_or_keyring() {
    let env = Env::file();
    env.ok(&["init"]);
    let err = env.fails(&["init"]);
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn a_passphrase_keyring_needs_its_passphrase() {
    let mut env = Env::file();
    env.extra.push(("ROLLGUARD_KEYRING_PASSPHRASE".into(), "a long and private phrase".into()));
    env.ok(&["init", "--authority", "E07000001"]);
    env.ok(&["authority", "list"]);
    env.extra.clear();
    let err = env.fails(&["authority", "list"]);
    assert!(err.contains("protected by a passphrase"), "{err}");
    env.extra.push(("ROLLGUARD_KEYRING_PASSPHRASE".into(), "wrong".into()));
    let err = env.fails(&["authority", "list"]);
    assert!(err.contains("wrong passphrase"), "{err}");
}

#[test]
fn generate_is_deterministic_for_a_seed() {
    let env = Env::file();
    let a = env.ok(&["generate", "300", "--seed", "5", "--today", "2026-11-24"]);
    let b = env.ok(&["generate", "300", "--seed", "5", "--today", "2026-11-24"]);
    let c = env.ok(&["generate", "300", "--seed", "6", "--today", "2026-11-24"]);
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.lines().count(), 301);
}

#[test]
fn help_lists_every_subcommand() {
    let env = Env::file();
    let help = env.ok(&["--help"]);
    for cmd in
        ["init", "import", "export", "elector", "register", "generate", "keys", "demo", "bench", "backup"]
    {
        assert!(help.contains(cmd), "--help lacks {cmd}");
    }
    let import = env.ok(&["import", "--help"]);
    assert!(import.contains("address_line_1") && import.contains("all or nothing"));
}

const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";

#[test]
fn the_register_runs_on_a_pkcs11_keyring_in_softhsm2() {
    assert!(
        std::path::Path::new(SOFTHSM).exists(),
        "SoftHSM2 missing: scripts/test installs it (apt-get install softhsm2)"
    );
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = write(
        dir.path(),
        "softhsm2.conf",
        &format!("directories.tokendir = {}\nobjectstore.backend = file\n", tokens.display()),
    );
    let init = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args(["--init-token", "--free", "--label", "rollguard", "--pin", "31415926", "--so-pin", "27182818"])
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));

    let mut env = Env::file();
    env.keyring = format!("pkcs11:module={SOFTHSM};token=rollguard;pin-env=TEST_HSM_PIN");
    env.extra.push(("SOFTHSM2_CONF".into(), conf.display().to_string()));
    env.extra.push(("TEST_HSM_PIN".into(), "31415926".into()));
    let out = env.ok(&["init", "--authority", "E07000001"]);
    assert!(out.contains("PKCS#11 token \"rollguard\""), "{out}");
    let csv = write(dir.path(), "e.csv", CSV);
    env.ok(&["import", csv.to_str().unwrap(), "--authority", "E07000001"]);
    let (ada, chidi) = (env.elector_id("AA-1").to_string(), env.elector_id("AA-2").to_string());
    assert!(env.ok(&["elector", "show", &ada]).contains("Ada Rose Pemberton"));
    let rotated = env.ok(&["keys", "rotate"]);
    assert!(rotated.contains("Rewrapped 2 data keys"), "{rotated}");
    assert!(env.ok(&["elector", "show", &chidi]).contains("Okafor"));

    env.extra[1].1 = "00000000".into();
    let err = env.fails(&["elector", "show", &ada]);
    assert!(err.contains("PIN"), "{err}");
}

#[test]
fn people_and_tokens_are_managed_at_the_console_with_no_default_credentials() {
    let env = Env::file();
    env.ok(&["init", "--authority", "E07000001", "--authority-name", "Ashby Vale"]);
    let out = env.ok(&["user", "list"]);
    assert!(out.trim().is_empty(), "no accounts exist until someone adds one: {out}");
    let out = env.ok(&["user", "add", "admin-ada", "--grant", "administrator@*"]);
    let secret =
        out.split_whitespace().find(|w| w.starts_with("rge_")).expect("an enrolment secret is printed");
    assert_eq!(secret.len(), 47);
    let out = env.ok(&["user", "list"]);
    assert!(
        out.contains("admin-ada") && out.contains("not enrolled") && out.contains("administrator@*"),
        "{out}"
    );
    let err = env.fails(&["user", "add", "officer-x", "--grant", "root@E07000001"]);
    assert!(err.contains("unknown role `root`"), "{err}");
    let err = env.fails(&[
        "token",
        "create",
        "admin-ada",
        "--permission",
        "elector:read",
        "--authority",
        "E07000001",
    ]);
    assert!(err.contains("service account"), "{err}");
    env.ok(&["user", "add", "ems-sync", "--service", "--grant", "registration-staff@E07000001"]);
    let out =
        env.ok(&["token", "create", "ems-sync", "--permission", "elector:read", "--authority", "E07000001"]);
    assert!(out.contains("rgt_"), "{out}");
    let out = env.ok(&["token", "list"]);
    assert!(out.contains("active") && !out.contains("rgt_"), "tokens are listed, never shown again: {out}");
    env.ok(&["token", "revoke", "1"]);
    assert!(env.ok(&["token", "list"]).contains("revoked"));
    // The database holds neither the enrolment secret nor the token.
    let bytes = std::fs::read(&env.db).unwrap();
    assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
}

#[test]
fn serve_refuses_plain_http_off_loopback() {
    let env = Env::file();
    env.ok(&["init", "--authority", "E07000001", "--authority-name", "Ashby Vale"]);
    let err = env.fails(&["serve", "--listen", "0.0.0.0:0"]);
    assert!(err.contains("--tls-cert") && err.contains("loopback"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let cert = write(dir.path(), "c.pem", "not a certificate");
    let key = write(dir.path(), "k.pem", "not a key");
    let err = env.fails(&[
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(err.contains("c.pem"), "{err}");
    let err = env.fails(&["serve", "--listen", "127.0.0.1:0", "--public-url", "localhost"]);
    assert!(err.contains("--public-url"), "{err}");
}

#[test]
fn audit_checkpoints_are_signed_verified_offline_and_tampering_is_reported() {
    let env = Env::file();
    env.ok(&["init", "--authority", "E07000001", "--authority-name", "Ashby Vale"]);
    let vkey = env.ok(&["audit", "key"]).trim().to_owned();
    assert!(vkey.starts_with("rollguard.local/audit+"), "{vkey}");
    let dir = tempfile::tempdir().unwrap();
    let witnessed = dir.path().join("cp.txt");
    let note = env.ok(&["audit", "checkpoint", "--out", witnessed.to_str().unwrap()]);
    // One event so far: the authority init created, with its keys.
    assert!(note.starts_with("rollguard.local/audit\n1\n"), "{note}");
    let out = env.ok(&["audit", "verify", "--checkpoint", witnessed.to_str().unwrap()]);
    assert!(out.contains("1 events verified") && out.contains("1 witnessed"), "{out}");
    // Bad arguments are named.
    let err = env.fails(&["audit", "scope", "--principal", "x", "--from", "yesterday"]);
    assert!(err.contains("--from") && err.contains("RFC 3339"), "{err}");
    let err = env.fails(&["audit", "scope"]);
    assert!(err.contains("--principal") && err.contains("--elector"), "{err}");
    let err = env.fails(&["audit", "proof", "--index", "99"]);
    assert!(err.contains("99"), "{err}");
    let err = env.fails(&["audit", "verify", "--vkey", "not-a-key"]);
    assert!(err.contains("verifier key"), "{err}");
    // An auditor with only the log and the key.
    let out = env.ok(&["audit", "verify", "--vkey", &vkey]);
    assert!(out.contains("verified"), "{out}");
    // A witnessed checkpoint from another log under another key is refused by name.
    let forged = note.replace("rollguard.local/audit\n1\n", "rollguard.local/audit\n5\n");
    let forged_path = write(dir.path(), "forged.txt", &forged);
    let err = env.fails(&["audit", "verify", "--checkpoint", forged_path.to_str().unwrap()]);
    assert!(err.contains("does NOT verify") && err.contains("signature"), "{err}");
    // Rewriting the stored checkpoint is caught too.
    let audit_db = format!("{}.audit", env.db.display());
    let conn = rusqlite::Connection::open(&audit_db).unwrap();
    conn.execute("UPDATE audit_checkpoints SET note = replace(note, char(10) || '1' || char(10), char(10) || '3' || char(10))", [])
        .unwrap();
    drop(conn);
    let err = env.fails(&["audit", "verify"]);
    assert!(err.contains("does NOT verify"), "{err}");
}

#[test]
fn reads_through_the_server_are_scoped_and_proved_from_the_audit_log() {
    let env = Env::file();
    env.ok(&["init", "--authority", "E07000001", "--authority-name", "Ashby Vale"]);
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("g.csv");
    env.ok(&["generate", "30", "--seed", "4", "--out", csv.to_str().unwrap()]);
    env.ok(&["import", csv.to_str().unwrap(), "--authority", "E07000001"]);
    env.ok(&["user", "add", "sync-e1", "--service", "--grant", "registration-staff@E07000001"]);
    let out =
        env.ok(&["token", "create", "sync-e1", "--permission", "elector:read", "--authority", "E07000001"]);
    let token = out.split_whitespace().find(|w| w.starts_with("rgt_")).unwrap().to_owned();
    // An older copy of the audit log, for the restore check at the end.
    let audit_db = format!("{}.audit", env.db.display());
    let older = dir.path().join("older.audit");
    rusqlite::Connection::open(&audit_db)
        .unwrap()
        .execute("VACUUM INTO ?1", [older.to_str().unwrap()])
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = Child(
        Command::new(env!("CARGO_BIN_EXE_rollguard"))
            .arg("--db")
            .arg(&env.db)
            .arg("--keyring")
            .arg(&env.keyring)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--insecure-cookies"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed().as_secs() < 30, "server did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let numbers = numbers_in(&csv);
    let [third, fifth, seventh] = [2, 4, 6].map(|i| env.elector_id(&numbers[i]));
    for id in [third, fifth] {
        let (status, body) = http_get(port, &format!("/api/v1/authorities/E07000001/electors/{id}"), &token);
        assert_eq!(status, 200, "{body}");
    }
    // While the server runs, the console works too, and its events join the same log.
    env.ok(&["elector", "show", &third.to_string()]);
    env.ok(&["elector", "amend", &seventh.to_string(), "--set", "address_line_1=2 Kingfisher Close"]);
    let out =
        env.ok(&["token", "create", "sync-e1", "--permission", "elector:read", "--authority", "E07000001"]);
    assert!(out.contains("rgt_"), "{out}");
    // Killed, not stopped: nothing it acknowledged may be lost.
    drop(server);
    // Whatever the server had not yet sequenced waits in the register's outbox; the next
    // command to open the register sequences it.
    env.ok(&["audit", "checkpoint"]);
    let events = audit_events(&env);
    let by_console = |kind: &str| {
        events
            .iter()
            .any(|e| e["kind"] == kind && e["principal"].as_str().is_some_and(|p| p.starts_with("console:")))
    };
    assert!(by_console("elector.write"), "the console's amendment is in the log");
    assert!(by_console("token.change"), "the console's token is in the log");
    let amended =
        events.iter().find(|e| e["kind"] == "elector.write" && e["electors"][0] == seventh).unwrap();
    assert_eq!(amended["authority"], "E07000001", "the console's amendment names its authority");

    let scope = env.ok(&["audit", "scope", "--principal", "sync-e1"]);
    let rows: Vec<&str> = scope.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{scope}");
    let mut read: Vec<&str> = rows.iter().map(|r| r.split(',').next().unwrap()).collect();
    read.sort_unstable();
    let mut want = [third.to_string(), fifth.to_string()];
    want.sort_unstable();
    assert_eq!(read, want, "{scope}");
    // Notification letters: names only through the keyring, and the reveal is audited.
    let letters = env.ok(&["audit", "scope", "--principal", "sync-e1", "--notify"]);
    assert_eq!(letters.lines().count(), 3, "{letters}");
    assert!(letters.starts_with("elector_id,authority,elector_number,name,address,postcode"), "{letters}");
    let scope_all = env.ok(&["audit", "scope", "--elector", &fifth.to_string()]);
    assert!(
        scope_all.lines().any(|l| l.contains(",console:")),
        "the notification read is audited: {scope_all}"
    );
    let console_read = env.ok(&["audit", "scope", "--elector", &third.to_string()]);
    assert!(console_read.lines().any(|l| l.contains(",console:")), "{console_read}");
    let who = env.ok(&["audit", "scope", "--elector", &fifth.to_string(), "--format", "json"]);
    let who: serde_json::Value = serde_json::from_str(&who).unwrap();
    // The console's search that found the id comes first; then the token's read.
    let by_token =
        who.as_array().unwrap().iter().find(|r| r["principal"] == "sync-e1").expect("the token's read");
    let event = by_token["event"].as_u64().unwrap();
    // The proof verifies with the independent verifier.
    let proof = env.ok(&["audit", "proof", "--index", &event.to_string()]);
    let fixture = write(dir.path(), "proof.json", &proof);
    let script = manifest_dir().join("../../tests/interop/verify_checkpoint.py");
    let py = Command::new("python3").arg(script).arg(&fixture).output().unwrap();
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    // `audit tail` streams events as JSON lines.
    let mut tail = Command::new(env!("CARGO_BIN_EXE_rollguard"))
        .arg("--db")
        .arg(&env.db)
        .arg("--keyring")
        .arg(&env.keyring)
        .args(["audit", "tail", "--last", "2"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(tail.stdout.take().unwrap()));
    for _ in 0..2 {
        let line = lines.next().unwrap().unwrap();
        let e: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(e["v"], 1);
    }
    tail.kill().unwrap();
    tail.wait().unwrap();
    // A witness keeps the latest checkpoint; a server restarted on the older copy of the log
    // refuses to start.
    let witness = dir.path().join("witness");
    std::fs::create_dir(&witness).unwrap();
    env.ok(&["audit", "checkpoint", "--out", witness.join("checkpoint-latest").to_str().unwrap()]);
    let current = dir.path().join("current.audit");
    std::fs::copy(&audit_db, &current).unwrap();
    std::fs::copy(&older, &audit_db).unwrap();
    let refused = env.run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--insecure-cookies",
        "--witness-dir",
        witness.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("does not verify") && err.contains("older copy"), "{err}");
    std::fs::copy(&current, &audit_db).unwrap();
    // Rewriting who was read is caught, and names where.
    let conn = rusqlite::Connection::open(&audit_db).unwrap();
    let changed = conn
        .execute(
            "UPDATE audit_events SET body = CAST(replace(CAST(body AS TEXT), ?1, ?2) AS BLOB)",
            [format!("\"electors\":[{fifth}]"), format!("\"electors\":[{}]", fifth + 1)],
        )
        .unwrap();
    assert_eq!(
        changed,
        conn.query_row("SELECT count(*) FROM audit_events", [], |r| r.get::<_, usize>(0)).unwrap()
    );
    drop(conn);
    let err = env.fails(&["audit", "verify"]);
    assert!(err.contains("does NOT verify") && err.contains("among indexes"), "{err}");
}

#[test]
fn audit_scope_names_the_applications_read_as_well_as_the_electors() {
    let env = Env::file();
    env.ok(&["init", "--authority", "E07000001", "--authority-name", "Ashby Vale"]);
    let sets = [
        "surname=Pemberton",
        "given_names=Ada Rose",
        "address_line_1=1 Mill Lane",
        "address_line_2=Ashby",
        "postcode=LE65 1AA",
        "date_of_birth=1980-02-01",
    ];
    let mut args = vec!["application", "receive", "--authority", "E07000001"];
    for s in &sets {
        args.extend(["--set", s]);
    }
    let out = env.ok(&args);
    let id = out.split_whitespace().last().unwrap().trim_end_matches('.').to_owned();
    env.ok(&["application", "show", &id]);
    let user = format!("console:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
    let scope = env.ok(&["audit", "scope", "--principal", &user]);
    let lines: Vec<&str> = scope.lines().collect();
    assert_eq!(lines[0], "elector_id,application_id,time,principal,kind,authority,event");
    // The read is listed; receiving it was a write, not a read.
    assert_eq!(lines.len(), 2, "{scope}");
    assert!(lines[1].starts_with(&format!(",{id},")) && lines[1].contains(",application.read,"), "{scope}");
    let who = env.ok(&["audit", "scope", "--application", &id, "--format", "json"]);
    let who: serde_json::Value = serde_json::from_str(&who).unwrap();
    assert_eq!(who.as_array().unwrap().len(), 1, "{who}");
    assert_eq!(who[0]["application_id"].as_u64(), id.parse().ok());
    assert_eq!(who[0]["elector_id"], serde_json::Value::Null);
    assert_eq!(env.ok(&["audit", "scope", "--application", "999"]).lines().count(), 1);
}

#[test]
fn a_canary_density_out_of_range_is_named_and_imports_nothing() {
    let env = Env::file();
    env.ok(&["init", "--authority", "E07000001", "--authority-name", "Ashby Vale"]);
    let work = tempfile::tempdir().unwrap();
    let good = write(work.path(), "good.csv", CSV);
    let before = std::fs::read(&env.db).unwrap();
    for bad in ["500", "-1", "lots"] {
        let flag = format!("--canaries-per-thousand={bad}");
        let err = env.fails(&["import", good.to_str().unwrap(), "--authority", "E07000001", &flag]);
        assert!(err.contains("canaries-per-thousand"), "{bad}: {err}");
    }
    assert_eq!(std::fs::read(&env.db).unwrap(), before, "nothing was imported");
    let found = env.ok(&["elector", "search", "--authority", "E07000001", "--surname", "pemberton"]);
    assert!(!found.contains("Pemberton"), "{found}");
}
