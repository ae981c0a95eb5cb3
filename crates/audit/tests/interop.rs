//! Interop: a checkpoint and an inclusion proof made by Rollguard verify with an independent
//! implementation written from the specs alone (`tests/interop/verify_checkpoint.py`, Python
//! with hashlib and `cryptography`), and a tampered one does not.

use base64::Engine as _;
mod common;

use rollguard_audit::*;
use rollguard_store::{AuditStore, SqliteAuditStore};
use std::path::Path;
use std::process::Command;

fn script() -> std::path::PathBuf {
    manifest_dir().join("../../tests/interop/verify_checkpoint.py")
}

fn run(fixture: &serde_json::Value, dir: &Path, name: &str) -> std::process::Output {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(fixture).unwrap()).unwrap();
    Command::new("python3").arg(script()).arg(&path).output().expect("python3 runs")
}

#[test]
fn an_independent_verifier_accepts_our_checkpoint_and_proofs_and_refuses_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let signer = NoteSigner::from_seed("rollguard.example/audit", &[5u8; 32]).unwrap();
    let vkey = signer.verifier().vkey();
    let register = common::register(&dir.path().join("a.register"), false);
    let log =
        AuditLog::open(&register, common::log_connector(&dir.path().join("a.db")), signer, &[]).unwrap();
    for i in 0..37u64 {
        let body =
            Event::new(1_800_000_000_000 + i64::try_from(i).unwrap(), Kind::ElectorRead, Outcome::Success)
                .principal("officer-ann")
                .electors([i])
                .canonical();
        register.write(move |tx| tx.append_event(&body).map(|_| ())).unwrap();
    }
    log.drain(&register).unwrap();
    let note = log.checkpoint(&register).unwrap();
    let store = SqliteAuditStore::open(&dir.path().join("a.db")).unwrap();
    let b64 = |h: &[u8]| base64::engine::general_purpose::STANDARD.encode(h);
    for index in [0u64, 17, 36] {
        let proof = log.inclusion_proof(index, 37).unwrap();
        let mut body = None;
        store
            .scan(index, index + 1, &mut |e| {
                body = Some(String::from_utf8(e.body).unwrap());
                Ok(())
            })
            .unwrap();
        let fixture = serde_json::json!({
            "vkey": vkey, "checkpoint": note, "index": index, "event": body.unwrap(),
            "proof": proof.iter().map(|h| b64(h)).collect::<Vec<_>>(),
        });
        let out = run(&fixture, dir.path(), "ok.json");
        assert!(out.status.success(), "index {index}: {}", String::from_utf8_lossy(&out.stderr));
        // A changed event, a changed proof or a changed checkpoint each fail.
        let mut bad_event = fixture.clone();
        bad_event["event"] =
            serde_json::json!(fixture["event"].as_str().unwrap().replace("officer-ann", "officer-bob"));
        let mut bad_proof = fixture.clone();
        bad_proof["proof"][0] = serde_json::json!(b64(&[0u8; 32]));
        let mut bad_note = fixture.clone();
        bad_note["checkpoint"] = serde_json::json!(note.replacen("\n37\n", "\n38\n", 1));
        for (what, f) in [("event", bad_event), ("proof", bad_proof), ("checkpoint", bad_note)] {
            let out = run(&f, dir.path(), "bad.json");
            assert!(!out.status.success(), "a tampered {what} was accepted");
        }
    }
}

/// The crate's directory, read when the test runs (cargo sets it) rather than when it was
/// compiled, so a build shared between checkouts never points at another one.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
}
