//! The store's transaction contract, against real SQLite files: written over `dyn Store` so
//! every store implementation can be held to it.

use rollguard_register::{Date, Nation};
use rollguard_store::runtime::Connector;
use rollguard_store::*;
use std::sync::Arc;

fn connector(path: std::path::PathBuf) -> Connector {
    Arc::new(move || Ok(Box::new(SqliteStore::open(&path)?) as Box<dyn Store>))
}

fn authority(code: &str) -> AuthorityRecord {
    AuthorityRecord { code: code.into(), name: format!("Authority {code}"), nation: Nation::England }
}

fn row(id: u64, authority: &str) -> ElectorRow {
    ElectorRow {
        id,
        authority: authority.into(),
        version: 1,
        valid_from: Date::from_calendar_date(2026, time::Month::May, 1).unwrap(),
        valid_to: None,
        recorded_at: 1,
        deleted: false,
        key_generation: 1,
        sealed: vec![1; 252],
    }
}

/// The index entries of an elector with `nino` (references as the vault makes them are
/// permutations; any distinct numbers do here).
fn entries(id: u64, nino: Option<i64>) -> Vec<IndexEntry> {
    let mut out = vec![
        IndexEntry { table: IndexTable::Number, value: id.try_into().unwrap(), reference: id },
        IndexEntry { table: IndexTable::Identity, value: i64::try_from(id).unwrap() * 7, reference: id },
    ];
    if let Some(n) = nino {
        out.push(IndexEntry { table: IndexTable::Nino, value: n, reference: id + 1_000_000 });
    }
    out
}

fn setup(store: &mut dyn Store, code: &str) {
    let mut tx = store.write().unwrap();
    tx.create_authority(&authority(code)).unwrap();
    tx.commit().unwrap();
}

#[test]
fn a_dropped_write_transaction_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("r.db")).unwrap();
    setup(&mut store, "E1");
    {
        let mut tx = store.write().unwrap();
        tx.insert_elector(&row(1, "E1"), &entries(1, None)).unwrap();
        tx.append_event(b"{}").unwrap();
        assert!(tx.elector(1).unwrap().is_some(), "a transaction sees its own changes");
    }
    let tx = store.read().unwrap();
    assert!(tx.elector(1).unwrap().is_none());
    assert_eq!(tx.outbox_len().unwrap(), 0);
}

#[test]
fn a_commit_is_seen_by_other_connections_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let mut a = SqliteStore::open(&path).unwrap();
    let mut b = SqliteStore::open(&path).unwrap();
    setup(&mut a, "E1");
    let snapshot = b.read().unwrap();
    assert!(snapshot.elector(1).unwrap().is_none());
    let mut tx = a.write().unwrap();
    tx.insert_elector(&row(1, "E1"), &entries(1, None)).unwrap();
    tx.commit().unwrap();
    // A read transaction is a snapshot: it started before the commit.
    assert!(snapshot.elector(1).unwrap().is_none());
    drop(snapshot);
    assert!(b.read().unwrap().elector(1).unwrap().is_some());
    drop((a, b));
    let mut again = SqliteStore::open(&path).unwrap();
    assert_eq!(again.read().unwrap().elector(1).unwrap().unwrap().authority, "E1");
}

#[test]
fn conflicts_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("r.db")).unwrap();
    setup(&mut store, "E1");
    let mut tx = store.write().unwrap();
    assert!(matches!(tx.create_authority(&authority("E1")), Err(StoreError::AuthorityExists(_))));
    tx.create_principal("officer.adaeze", PrincipalKind::Human, 1).unwrap();
    assert!(matches!(
        tx.create_principal("officer.adaeze", PrincipalKind::Human, 1),
        Err(StoreError::PrincipalExists(_))
    ));
    tx.insert_elector(&row(1, "E1"), &entries(1, Some(42))).unwrap();
    assert!(matches!(
        tx.insert_elector(&row(2, "E1"), &entries(2, Some(42))),
        Err(StoreError::DuplicateNino)
    ));
    let mut stale = row(1, "E1");
    stale.version = 3;
    assert!(matches!(
        tx.supersede_elector(&stale, &entries(1, Some(42)), &entries(1, Some(42))),
        Err(StoreError::VersionConflict { id: 1, expected: 2 })
    ));
    assert!(matches!(
        tx.insert_elector(&row(3, "E9"), &entries(3, None)),
        Err(StoreError::UnknownAuthority(_))
    ));
}

#[test]
fn units_of_a_group_fail_alone_and_commit_together() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("r.db")).unwrap();
    setup(&mut store, "E1");
    let mut group = store.write_group().unwrap();
    {
        let mut u = group.unit().unwrap();
        u.insert_elector(&row(1, "E1"), &entries(1, Some(1))).unwrap();
        u.commit().unwrap();
    }
    {
        // This unit fails half-way and is dropped: its first insert goes too.
        let mut u = group.unit().unwrap();
        u.insert_elector(&row(2, "E1"), &entries(2, Some(2))).unwrap();
        assert!(u.insert_elector(&row(3, "E1"), &entries(3, Some(1))).is_err());
    }
    {
        let mut u = group.unit().unwrap();
        u.insert_elector(&row(4, "E1"), &entries(4, Some(4))).unwrap();
        u.commit().unwrap();
    }
    assert!(!group.is_lost());
    group.commit().unwrap();
    let tx = store.read().unwrap();
    let present: Vec<bool> = (1..=4).map(|id| tx.elector(id).unwrap().is_some()).collect();
    assert_eq!(present, [true, false, false, true]);
}

#[test]
fn concurrent_writers_through_the_grouped_register_all_commit_durably() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    setup(&mut SqliteStore::open(&path).unwrap(), "E1");
    let register =
        Register::open(connector(path.clone()), RegisterConfig { readers: 2, grouped: true, max_group: 64 })
            .unwrap();
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let reg = register.clone();
            std::thread::spawn(move || {
                for i in 0..50u64 {
                    let id = t * 1000 + i + 1;
                    reg.write(move |tx| -> Result<()> {
                        tx.insert_elector(&row(id, "E1"), &entries(id, Some(id.try_into().unwrap())))?;
                        tx.append_event(format!("{{\"elector\":{id}}}").as_bytes())?;
                        Ok(())
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    register.close();
    let mut store = SqliteStore::open(&path).unwrap();
    let tx = store.read().unwrap();
    assert_eq!(tx.count_electors("E1").unwrap(), 400);
    assert_eq!(tx.outbox_len().unwrap(), 400);
}

#[test]
fn submitted_units_are_each_atomic_and_each_told_their_own_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    setup(&mut SqliteStore::open(&path).unwrap(), "E1");
    let register =
        Register::open(connector(path.clone()), RegisterConfig { readers: 1, grouped: true, max_group: 16 })
            .unwrap();
    // Many units queued before any is waited for; every third fails after writing.
    let pending: Vec<_> = (1..=60u64)
        .map(|id| {
            register.submit(move |tx| -> Result<u64> {
                tx.insert_elector(&row(id, "E1"), &entries(id, Some(id.try_into().unwrap())))?;
                tx.append_event(format!("{{\"elector\":{id}}}").as_bytes())?;
                if id.is_multiple_of(3) {
                    return Err(StoreError::Query(format!("unit {id} gives up")));
                }
                Ok(id)
            })
        })
        .collect();
    let outcomes: Vec<Result<u64>> = pending.into_iter().map(|p| p.wait()).collect();
    for (i, o) in outcomes.iter().enumerate() {
        let id = i as u64 + 1;
        match o {
            Ok(v) => assert_eq!(*v, id),
            Err(StoreError::Query(m)) => assert!(id.is_multiple_of(3) && m.contains(&id.to_string()), "{m}"),
            Err(e) => panic!("unit {id}: {e}"),
        }
    }
    register.close();
    let mut store = SqliteStore::open(&path).unwrap();
    let tx = store.read().unwrap();
    assert_eq!(tx.count_electors("E1").unwrap(), 40, "the failed units left nothing");
    assert_eq!(tx.outbox_len().unwrap(), 40, "nor any event");
}

#[test]
fn two_concurrent_adds_with_one_nino_give_one_elector_and_one_typed_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    setup(&mut SqliteStore::open(&path).unwrap(), "E1");
    let register =
        Register::open(connector(path.clone()), RegisterConfig { readers: 1, grouped: true, max_group: 8 })
            .unwrap();
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let outcomes: Vec<Result<()>> = (1..=2u64)
        .map(|id| {
            let (reg, barrier) = (register.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                reg.write(move |tx| tx.insert_elector(&row(id, "E1"), &entries(id, Some(777))))
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().any(|o| matches!(o, Err(StoreError::DuplicateNino))));
}

#[test]
fn outbox_ids_are_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("r.db")).unwrap();
    let mut tx = store.write().unwrap();
    let a = tx.append_event(b"a").unwrap();
    let b = tx.append_event(b"b").unwrap();
    assert_eq!(tx.remove_outbox(&[a, b]).unwrap(), 2);
    let c = tx.append_event(b"c").unwrap();
    assert!(c > b, "{c} after {b}");
    tx.commit().unwrap();
    assert_eq!(store.read().unwrap().outbox(10).unwrap(), vec![OutboxEvent { id: c, body: b"c".to_vec() }]);
}

#[test]
fn the_key_epoch_rises_with_every_change_to_authorities_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("r.db")).unwrap();
    let start = store.read().unwrap().key_epoch().unwrap();
    setup(&mut store, "E1");
    let after_authority = store.read().unwrap().key_epoch().unwrap();
    assert!(after_authority > start);
    let mut tx = store.write().unwrap();
    tx.insert_data_key(&DataKeyRecord {
        authority: "E1".into(),
        purpose: KeyPurpose::Seal,
        generation: 1,
        kek_id: "kek-1".into(),
        wrapped: vec![0; 60],
        retired: false,
    })
    .unwrap();
    tx.put_system_key(&SystemKeyRecord { purpose: "p".into(), kek_id: "kek-1".into(), wrapped: vec![1; 60] })
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(store.read().unwrap().key_epoch().unwrap(), after_authority + 2);
}

#[test]
fn district_reads_count_each_readers_new_electors_per_district_and_forget_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("r.db")).unwrap();
    let mut tx = store.write().unwrap();
    // Electors 1 and 2 are in the district whose blind index is 77, 3 in 78.
    let new = tx.record_area_reads("officer.adaeze", &[(1, 77), (2, 77), (3, 78)], 1_000, 0).unwrap();
    assert_eq!(new, [(77, 2), (78, 1)]);
    assert_eq!(tx.record_area_reads("officer.bola", &[(1, 77)], 1_000, 0).unwrap(), [(77, 1)]);
    // Re-reading is not new, but moves the read on.
    assert_eq!(tx.record_area_reads("officer.adaeze", &[(2, 77)], 5_000, 0).unwrap(), []);
    assert_eq!(tx.area_reads("officer.adaeze", 77, 0).unwrap(), 2, "each reader's own");
    assert_eq!(tx.area_reads("officer.adaeze", 77, 1_001).unwrap(), 1);
    // Reads before the window are forgotten when the next are recorded.
    assert_eq!(tx.record_area_reads("officer.adaeze", &[(4, 77)], 9_000, 2_000).unwrap(), [(77, 1)]);
    assert_eq!(tx.area_reads("officer.adaeze", 77, 0).unwrap(), 2, "2 and 4");
    assert_eq!(tx.area_reads("officer.adaeze", 78, 0).unwrap(), 0);
    assert_eq!(tx.area_reads("officer.bola", 77, 0).unwrap(), 1, "another reader's are its own");
}

#[test]
fn reads_count_distinct_electors_in_the_window_and_rereads_move_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("r.db")).unwrap();
    let mut tx = store.write().unwrap();
    tx.record_reads("officer.adaeze", &[1, 2, 3], &[], 1_000).unwrap();
    tx.record_reads("officer.adaeze", &[], &[3], 5_000).unwrap();
    tx.record_reads("officer.bola", &[9], &[], 1_000).unwrap();
    assert_eq!(tx.reads_held("officer.adaeze", &[3, 4]).unwrap(), (3, vec![(3, 5_000)]));
    // A shorter window counts the records last read inside it.
    assert_eq!(tx.reads_since("officer.adaeze", 1_000).unwrap(), 3);
    assert_eq!(tx.reads_since("officer.adaeze", 1_001).unwrap(), 1);
    assert_eq!(tx.reads_since("officer.bola", 5_001).unwrap(), 0);
    // Reads before the window's start are forgotten; the re-read of 3 moved it on.
    tx.forget_reads_before("officer.adaeze", 2_000).unwrap();
    assert_eq!(tx.reads_held("officer.adaeze", &[1, 3]).unwrap(), (1, vec![(3, 5_000)]));
    tx.record_reads("officer.adaeze", &[5], &[], 6_000).unwrap();
    assert_eq!(tx.reads_held("officer.adaeze", &[]).unwrap().0, 2);
    assert_eq!(tx.reads_held("officer.bola", &[]).unwrap().0, 1);
    // The count survives the transaction and a new connection.
    tx.commit().unwrap();
    drop(store);
    let mut store = SqliteStore::open(&dir.path().join("r.db")).unwrap();
    let tx = store.read().unwrap();
    assert_eq!(tx.reads_held("officer.adaeze", &[5]).unwrap(), (2, vec![(5, 6_000)]));
}

#[test]
fn two_processes_opening_a_new_register_at_once_migrate_it_once() {
    // Repeated: the race between the first opens of a new file is narrow.
    for _ in 0..20 {
        opening_a_new_register_at_once_migrates_it_once();
    }
}

fn opening_a_new_register_at_once_migrates_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = Arc::new(dir.path().join("r.db"));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || SqliteStore::open(&path).map(|_| ()))
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    let conn = rusqlite::Connection::open(&*path).unwrap();
    let (rows, versions): (u32, u32) = conn
        .query_row("SELECT count(*), count(DISTINCT version) FROM schema_migrations", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(rows, versions, "each migration applied once");
}

#[test]
fn processes_opening_a_new_audit_log_at_once_all_open_it() {
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = Arc::new(dir.path().join("r.db.audit"));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || rollguard_store::SqliteAuditStore::open(&path).map(|_| ()))
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
    }
}
