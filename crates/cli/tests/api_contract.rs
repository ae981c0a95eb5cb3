//! The HTTP API as a client generated from `openapi.json` meets it: schemathesis runs every
//! check it has (its stateful phase included) against a real `rollguard serve`, signed in as
//! an administrator who also holds every other role, and must find nothing. The run is
//! bounded and seeded, so it is the same run every time.

mod common;

use common::*;
use serde_json::json;
use std::process::Command;

/// A person holding every role everywhere, enrolled over HTTP; their session token.
fn everyone_session(env: &Env, s: &Serving) -> String {
    let roles = ["administrator", "registration-staff", "supplies-officer", "security-analyst"];
    let mut args = vec!["user", "add", "officer-all"];
    let grants: Vec<String> = roles.iter().map(|r| format!("{r}@*")).collect();
    for g in &grants {
        args.extend(["--grant", g.as_str()]);
    }
    let out = env.ok(&args);
    let secret = out.split_whitespace().find(|w| w.starts_with("rge_")).expect("an enrolment secret");
    let (status, body) = s.send(
        "POST",
        "/api/v1/auth/enrol/start",
        "",
        Some(json!({"name": "officer-all", "enrolment_secret": secret})),
    );
    assert_eq!(status, 200, "{body}");
    let started: serde_json::Value = serde_json::from_str(&body).unwrap();
    let raw =
        totp_rs::Secret::Encoded(started["totp_secret"].as_str().unwrap().to_owned()).to_bytes().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let code = rollguard_access::TotpSecret::from_bytes(raw).code_at(now);
    let (status, body) = s.send(
        "POST",
        "/api/v1/auth/enrol/finish",
        "",
        Some(json!({"challenge": started["challenge"], "password": "tidal-copper-meadow-58", "code": code})),
    );
    assert_eq!(status, 200, "{body}");
    let done: serde_json::Value = serde_json::from_str(&body).unwrap();
    done["session_token"].as_str().unwrap().to_owned()
}

/// Runs schemathesis against the server with `session`, over the operations `filter` picks.
fn schemathesis(env: &Env, s: &Serving, session: &str, filter: &[&str]) -> String {
    let (examples, seed) = examples_and_seed();
    let config = manifest_dir().join("../../tests/schemathesis/schemathesis.toml");
    let report = env._db_dir.path().join("schemathesis");
    // Through the interpreter, so a freshly installed schemathesis needs no shim on PATH.
    // Run from the test's own directory: schemathesis keeps a cache where it runs.
    let out = Command::new("python3")
        .current_dir(env._db_dir.path())
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(&config)
        .args(["run", &format!("http://127.0.0.1:{}/openapi.json", s.port)])
        .args(["--checks", "all", "--max-examples", &examples.to_string(), "--seed", &seed])
        .args(["--workers", "1", "--generation-database", "none", "--no-color", "--request-timeout", "10"])
        // Under the per-principal request rate, so the checks meet the API rather than its limiter.
        .args(["--rate-limit", "90/s"])
        .args(["--header", &format!("Authorization: Bearer {session}")])
        .args(filter)
        .arg("--report-dir")
        .arg(&report)
        .output()
        .expect("schemathesis is installed by scripts/setup");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let log = std::fs::read_to_string(env.serve_log()).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(40).collect();
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{text}\n{}\nthe server log's last lines:\n{}",
        String::from_utf8_lossy(&out.stderr),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
    assert!(text.contains("Tested:"), "{text}");
    let summary = text.lines().skip_while(|l| !l.contains("SUMMARY")).collect::<Vec<_>>().join("\n");
    eprintln!("{summary}");
    text
}

/// Examples per operation: 25 in the suite; ROLLGUARD_API_EXAMPLES and ROLLGUARD_API_SEED
/// run a longer or different search by hand.
fn examples_and_seed() -> (u32, String) {
    let examples = std::env::var("ROLLGUARD_API_EXAMPLES").ok().and_then(|v| v.parse().ok()).unwrap_or(25);
    (examples, std::env::var("ROLLGUARD_API_SEED").unwrap_or_else(|_| "20261201".into()))
}

#[test]
fn a_client_generated_from_the_openapi_document_finds_no_failure() {
    let (env, _token) = register_with_sync(50);
    let s = env.serve(&[]);
    let session = everyone_session(&env, &s);
    // Every operation but the two that can end the session the others run in: logout, and
    // the actions on a principal (the run finds its own name among the principals).
    let ending = ["/api/v1/auth/logout", "/api/v1/admin/principals/{name}/actions"];
    let text = schemathesis(&env, &s, &session, &["--exclude-path", ending[0], "--exclude-path", ending[1]]);
    assert!(!text.contains("Authentication failed"), "the session lasted the whole run:\n{text}");
    // Those two on their own, last.
    schemathesis(&env, &s, &session, &["--include-path", ending[1], "--include-path", ending[0]]);
    // The server stayed up throughout.
    assert_eq!(s.get("/readyz", "").0, 200);
}
