//! The outbox and the sequencer: no event is sequenced twice or skipped, a crash between
//! the two steps loses nothing, two processes sequencing into one log interleave safely, and
//! a register refuses a log that is missing, older, foreign or changed.

mod common;

use common::*;
use rollguard_audit::*;
use rollguard_store::{AuditStore, SqliteAuditStore};
use std::collections::BTreeSet;

fn event(i: u64) -> Event {
    Event::new(1_800_000_000_000 + i64::try_from(i).unwrap(), Kind::ElectorWrite, Outcome::Success)
        .principal("officer-ann")
        .electors([i])
}

fn commit(register: &rollguard_store::Register, i: u64) {
    let body = event(i).canonical();
    register.write(move |tx| tx.append_event(&body).map(|_| ())).unwrap();
}

/// The electors of every event in the log, checking each appears once.
fn electors_once(path: &std::path::Path) -> BTreeSet<u64> {
    let store = SqliteAuditStore::open(path).unwrap();
    let report = replay(&store, &signer().verifier(), &[]).unwrap();
    let mut seen = BTreeSet::new();
    store
        .scan(0, report.tree.size(), &mut |e| {
            let ev = Event::from_canonical(&e.body).unwrap();
            for id in ev.electors {
                assert!(seen.insert(id), "elector {id} sequenced twice");
            }
            Ok(())
        })
        .unwrap();
    seen
}

#[test]
fn a_rolled_back_event_is_never_sequenced_and_a_committed_one_always_is() {
    let dir = tempfile::tempdir().unwrap();
    let pipe = Pipe::open(&dir.path().join("audit.db")).unwrap();
    commit(&pipe.register, 1);
    let dropped: Result<(), rollguard_store::StoreError> = pipe.register.write(|tx| {
        tx.append_event(&event(2).canonical())?;
        Err(rollguard_store::StoreError::Busy("the use case failed after writing its event".into()))
    });
    assert!(dropped.is_err());
    commit(&pipe.register, 3);
    pipe.log.drain(&pipe.register).unwrap();
    assert_eq!(electors_once(&pipe.log_path), BTreeSet::from([1, 3]));
    assert_eq!(pipe.register.read(|tx| tx.outbox_len()).unwrap(), 0);
}

#[test]
fn a_crash_between_appending_to_the_log_and_recording_it_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let pipe = Pipe::open(&path).unwrap();
    for i in 0..10 {
        commit(&pipe.register, i);
    }
    // The first half of a pass, then the process dies: the log has the events, the register
    // still has them in its outbox and does not know the log grew.
    let state = pipe.register.read(|tx| tx.audit_state()).unwrap().unwrap();
    let batch = pipe.register.read(|tx| tx.outbox(100)).unwrap();
    let events: Vec<(Vec<u8>, u64)> = batch
        .iter()
        .enumerate()
        .map(|(i, e)| (sequencer::at_index(&e.body, state.size + i as u64).unwrap(), e.id))
        .collect();
    SqliteAuditStore::open(&path).unwrap().append(state.size, &events).unwrap();
    drop(pipe);

    // Restarted: opening the log finishes the pass before anything else.
    let pipe = Pipe::open(&path).unwrap();
    assert_eq!(pipe.register.read(|tx| tx.outbox_len()).unwrap(), 0);
    assert_eq!(pipe.register.read(|tx| tx.audit_state()).unwrap().unwrap().size, state.size + 10);
    for i in 10..15 {
        commit(&pipe.register, i);
    }
    pipe.log.drain(&pipe.register).unwrap();
    assert_eq!(electors_once(&path), (0..15).collect());
}

#[test]
fn two_processes_sequencing_into_one_log_append_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    // The "server": its own log handle and grouped register; the "console": another
    // connection to each, sequencing with only the register's frontier.
    let server = Pipe::open_with(&path, true).unwrap();
    let console_register = register(&path.with_extension("register"), false);
    let mut console_log = SqliteAuditStore::open(&path).unwrap();
    let committer = {
        let register = server.register.clone();
        std::thread::spawn(move || {
            for i in 0..300 {
                commit(&register, i);
            }
        })
    };
    let console = std::thread::spawn(move || {
        for i in 1000..1300 {
            commit(&console_register, i);
            sequencer::sequence(&console_register, &mut console_log, 7).unwrap();
        }
    });
    for _ in 0..200 {
        server.log.sequence(&server.register).unwrap();
    }
    committer.join().unwrap();
    console.join().unwrap();
    server.log.drain(&server.register).unwrap();
    let expected: BTreeSet<u64> = (0..300).chain(1000..1300).collect();
    assert_eq!(electors_once(&path), expected);
    // The server's own tree caught up with what the console appended.
    assert_eq!(server.log.size(), 600);
}

#[test]
fn a_deleted_log_is_refused_not_replaced_by_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let pipe = Pipe::open(&path).unwrap();
    for i in 0..5 {
        pipe.append(event(i));
    }
    drop(pipe);
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    match Pipe::open(&path) {
        Err(LogError::Mismatch(m)) => assert!(m.contains("has sequenced 5 events"), "{m}"),
        Err(e) => panic!("refused for the wrong reason: {e}"),
        Ok(_) => panic!("a deleted log was replaced by a new one"),
    }
}

#[test]
fn an_older_copy_of_the_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let pipe = Pipe::open(&path).unwrap();
    for i in 0..5 {
        pipe.append(event(i));
    }
    let old = dir.path().join("old.db");
    rusqlite::Connection::open(&path).unwrap().execute("VACUUM INTO ?1", [old.to_str().unwrap()]).unwrap();
    for i in 5..9 {
        pipe.append(event(i));
    }
    drop(pipe);
    std::fs::rename(&old, &path).unwrap();
    let _ = std::fs::remove_file(format!("{}-wal", path.display()));
    match Pipe::open(&path) {
        Err(LogError::Mismatch(m)) => assert!(m.contains("holds 5 events") && m.contains("9"), "{m}"),
        Err(e) => panic!("refused for the wrong reason: {e}"),
        Ok(_) => panic!("an older copy of the log was accepted"),
    }
}

#[test]
fn another_registers_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ours = Pipe::open(&dir.path().join("ours.db")).unwrap();
    ours.append(event(1));
    let theirs = Pipe::open(&dir.path().join("theirs.db")).unwrap();
    theirs.append(event(1));
    drop((ours, theirs));
    std::fs::copy(dir.path().join("theirs.db"), dir.path().join("ours.db")).unwrap();
    match Pipe::open(&dir.path().join("ours.db")) {
        Err(LogError::Mismatch(m)) => assert!(m.contains("another register"), "{m}"),
        Err(e) => panic!("refused for the wrong reason: {e}"),
        Ok(_) => panic!("a foreign log was accepted"),
    }
}

#[test]
fn a_log_rewritten_below_what_the_register_sequenced_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let pipe = Pipe::open(&path).unwrap();
    for i in 0..6 {
        pipe.append(event(i));
    }
    drop(pipe);
    // Rewritten consistently (still canonical, right index), but not what was sequenced;
    // no checkpoint covers it, so only the register's record catches it.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let body: Vec<u8> =
        conn.query_row("SELECT body FROM audit_events WHERE idx = 4", [], |r| r.get(0)).unwrap();
    let edited = String::from_utf8(body).unwrap().replace("\"electors\":[4]", "\"electors\":[7]");
    conn.execute("UPDATE audit_events SET body = ?1 WHERE idx = 4", [edited.as_bytes()]).unwrap();
    drop(conn);
    match Pipe::open(&path) {
        Err(LogError::Mismatch(m)) => assert!(m.contains("first 6 events"), "{m}"),
        Err(e) => panic!("refused for the wrong reason: {e}"),
        Ok(_) => panic!("a rewritten log was accepted"),
    }
}

#[test]
fn a_reader_waiting_on_the_log_is_woken_by_every_batch_and_never_misses_one() {
    let dir = tempfile::tempdir().unwrap();
    let pipe = Pipe::open(&dir.path().join("audit.db")).unwrap();
    for i in 1..=200u64 {
        let log = pipe.log.clone();
        let start = pipe.log.size();
        // A lost wake would leave the waiter to its ten seconds and return false.
        let waiter = std::thread::spawn(move || log.wait_for(start + 1, std::time::Duration::from_secs(10)));
        commit(&pipe.register, i);
        pipe.log.sequence(&pipe.register).unwrap();
        assert!(waiter.join().unwrap(), "the waiter for event {i} was not woken");
    }
    assert!(
        !pipe.log.wait_for(pipe.log.size() + 1, std::time::Duration::from_millis(20)),
        "nothing more came"
    );
}

#[test]
fn the_tree_grown_from_the_sequencers_own_hashes_is_the_tree_of_the_stored_log() {
    let dir = tempfile::tempdir().unwrap();
    let pipe = Pipe::open(&dir.path().join("audit.db")).unwrap();
    for i in 1..=300u64 {
        commit(&pipe.register, i);
        if i % 7 == 0 {
            pipe.log.sequence(&pipe.register).unwrap();
        }
    }
    pipe.log.drain(&pipe.register).unwrap();
    let store = SqliteAuditStore::open(&pipe.log_path).unwrap();
    let stored = replay(&store, &signer().verifier(), &[]).unwrap().tree;
    assert_eq!(pipe.log.size(), 300);
    for size in [1, 7, 150, 299, 300] {
        assert_eq!(pipe.log.root_at(size), stored.root_at(size), "root at size {size}");
    }
    let state = pipe.register.read(|tx| tx.audit_state()).unwrap().unwrap();
    assert_eq!(state.root.as_slice(), stored.root_at(300).as_slice());
}
