//! Tampering with a stored log is caught: a changed byte, a deleted event, two events
//! swapped, a cut tail, an older copy restored after newer checkpoints were witnessed, and a
//! fork (two different trees signed at one size). Each is reported with where it starts,
//! and a tampered log is not opened for appending.

mod common;

use common::*;
use rollguard_audit::*;
use rollguard_store::{AuditStore, SqliteAuditStore};
use std::path::{Path, PathBuf};

fn event(i: u64) -> Event {
    Event::new(1_800_000_000_000 + i64::try_from(i).unwrap(), Kind::ElectorRead, Outcome::Success)
        .principal("officer-ann")
        .authority("E07000001")
        .electors([1000 + i])
}

struct Log {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Log {
    /// A log of `n` events with checkpoints signed at each size in `at`.
    fn new(n: u64, at: &[u64]) -> (Self, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let log = Pipe::open(&path).unwrap();
        let mut notes = Vec::new();
        for i in 0..n {
            log.append(event(i));
            if at.contains(&(i + 1)) {
                notes.push(log.checkpoint());
            }
        }
        (Self { _dir: dir, path }, notes)
    }

    fn raw(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.path).unwrap()
    }

    fn verify(&self, witnessed: &[String]) -> Result<Report, VerifyError> {
        let store = SqliteAuditStore::open(&self.path).unwrap();
        replay(&store, &signer().verifier(), witnessed)
    }
}

fn body(log: &Log, i: i64) -> Vec<u8> {
    log.raw().query_row("SELECT body FROM audit_events WHERE idx = ?1", [i], |r| r.get(0)).unwrap()
}

fn set_body(log: &Log, i: i64, b: &[u8]) {
    log.raw().execute("UPDATE audit_events SET body = ?2 WHERE idx = ?1", rusqlite::params![i, b]).unwrap();
}

#[test]
fn an_untouched_log_verifies_with_its_checkpoints() {
    let (log, notes) = Log::new(100, &[50, 100]);
    let r = log.verify(&notes).unwrap();
    assert_eq!(r.tree.size(), 100);
    assert_eq!((r.checkpoints, r.witnessed), (2, 2));
}

#[test]
fn one_changed_byte_is_caught() {
    let (log, _) = Log::new(100, &[50, 100]);
    // Still a well-formed event at its own index, but elector 1070 became 1071.
    let b = String::from_utf8(body(&log, 70)).unwrap().replace("[1070]", "[1071]");
    set_body(&log, 70, b.as_bytes());
    let e = log.verify(&[]).unwrap_err();
    assert_eq!(e, VerifyError::Diverged { from: 50, size: 100 });
    assert_eq!(e.first_divergent_index(), Some(50));
    // A byte that breaks the canonical form is pinned to its event.
    let mut raw = body(&log, 20);
    raw[3] ^= 0x20;
    set_body(&log, 20, &raw);
    assert!(matches!(log.verify(&[]).unwrap_err(), VerifyError::Malformed { index: 20, .. }));
}

#[test]
fn a_deleted_event_is_caught_at_its_index() {
    let (log, _) = Log::new(40, &[40]);
    log.raw().execute("DELETE FROM audit_events WHERE idx = 17", []).unwrap();
    assert_eq!(log.verify(&[]).unwrap_err(), VerifyError::Missing { index: 17 });
}

#[test]
fn two_swapped_events_are_caught() {
    let (log, _) = Log::new(40, &[40]);
    let (a, b) = (body(&log, 10), body(&log, 11));
    set_body(&log, 10, &b);
    set_body(&log, 11, &a);
    assert_eq!(log.verify(&[]).unwrap_err(), VerifyError::OutOfPlace { index: 10, claimed: 11 });
}

#[test]
fn a_cut_tail_is_caught() {
    let (log, _) = Log::new(100, &[100]);
    log.raw().execute("DELETE FROM audit_events WHERE idx >= 95", []).unwrap();
    assert_eq!(log.verify(&[]).unwrap_err(), VerifyError::Truncated { len: 95, size: 100 });
}

fn copy_db(from: &Path, to: &Path) {
    let src = rusqlite::Connection::open(from).unwrap();
    src.execute("VACUUM INTO ?1", [to.to_str().unwrap()]).unwrap();
}

#[test]
fn restoring_an_older_copy_is_caught_by_a_witnessed_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let log = Pipe::open(&path).unwrap();
    for i in 0..50 {
        log.append(event(i));
    }
    log.checkpoint();
    let old = dir.path().join("old.db");
    copy_db(&path, &old);
    for i in 50..120 {
        log.append(event(i));
    }
    let witnessed = log.checkpoint();
    // The older copy is consistent with itself…
    let store = SqliteAuditStore::open(&old).unwrap();
    assert!(replay(&store, &signer().verifier(), &[]).is_ok());
    // …but not with what the witness holds.
    assert_eq!(
        replay(&store, &signer().verifier(), &[witnessed]).unwrap_err(),
        VerifyError::Truncated { len: 50, size: 120 }
    );
}

#[test]
fn a_fork_is_caught() {
    // Two logs under the same key agree for 30 events, then differ.
    let (a, _) = Log::new(60, &[30, 60]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fork.db");
    let fork = Pipe::open(&path).unwrap();
    for i in 0..60 {
        let e = if i < 30 { event(i) } else { event(i).detail("forked", "yes") };
        fork.append(e);
    }
    let other_head = fork.checkpoint();
    assert_eq!(a.verify(&[other_head]).unwrap_err(), VerifyError::Diverged { from: 30, size: 60 });
}

#[test]
fn a_tampered_log_is_not_opened_for_appending() {
    let (log, _) = Log::new(20, &[20]);
    log.raw().execute("DELETE FROM audit_events WHERE idx = 3", []).unwrap();
    let r = Pipe::open(&log.path);
    assert!(matches!(r, Err(LogError::Verify(VerifyError::Missing { index: 3 }))));
}

#[test]
fn a_checkpoint_from_another_key_is_refused() {
    let (log, notes) = Log::new(10, &[10]);
    let stranger = NoteSigner::from_seed(ORIGIN, &[1u8; 32]).unwrap();
    let store = SqliteAuditStore::open(&log.path).unwrap();
    assert!(matches!(replay(&store, &stranger.verifier(), &[]), Err(VerifyError::Checkpoint { .. })));
    // And a forged witnessed note (the log's own checkpoint text, another key) is refused.
    let text = format!("{}\n", notes[0].split("\n\n").next().unwrap());
    let forged = stranger.sign(&text).unwrap();
    assert!(matches!(log.verify(&[forged]), Err(VerifyError::Checkpoint { .. })));
}

#[test]
fn concurrent_commits_are_all_sequenced_once_in_one_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let pipe = Pipe::open_with(&path, true).unwrap();
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let register = pipe.register.clone();
            std::thread::spawn(move || {
                for i in 0..250 {
                    let body = event(t * 1000 + i).canonical();
                    register.write(move |tx| tx.append_event(&body).map(|_| ())).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    pipe.log.drain(&pipe.register).unwrap();
    let note = pipe.checkpoint();
    let store = SqliteAuditStore::open(&path).unwrap();
    assert_eq!(store.len().unwrap(), 2000);
    let r = replay(&store, &signer().verifier(), &[note]).unwrap();
    // Each event once: every (thread, i) appears exactly one time.
    let mut seen = std::collections::BTreeSet::new();
    store
        .scan(0, 2000, &mut |e| {
            let ev = Event::from_canonical(&e.body).unwrap();
            assert!(seen.insert(ev.electors[0]), "event for elector {} twice", ev.electors[0]);
            Ok(())
        })
        .unwrap();
    assert_eq!(seen.len(), 2000);
    // Inclusion proofs from the live tree verify against the signed head.
    let cp = Checkpoint::open(&store.checkpoints().unwrap()[0].note, &signer().verifier()).unwrap();
    for i in [0u64, 999, 1999] {
        let proof = r.tree.inclusion_proof(i, cp.size).unwrap();
        merkle_leaf_verifies(&r, i, &proof, &cp);
    }
}

fn merkle_leaf_verifies(r: &Report, i: u64, proof: &[[u8; 32]], cp: &Checkpoint) {
    let leaf = r.tree.leaf(i).unwrap();
    rollguard_audit::merkle::verify_inclusion(leaf, i, cp.size, proof, &cp.root).unwrap();
}
