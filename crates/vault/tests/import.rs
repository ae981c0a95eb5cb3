//! Import is all or nothing: one bad row stores nothing, and the error names file, line
//! and field without echoing the value.

mod common;

use common::*;
use rollguard_vault::VaultError;

fn import_err(f: &mut Fixture, csv: &str) -> rollguard_vault::ImportError {
    match f.import(csv) {
        Err(VaultError::Import(e)) => e,
        other => panic!("expected an import error, got {other:?}"),
    }
}

#[test]
fn one_bad_row_leaves_the_database_unchanged_and_names_the_line() {
    let mut f = Fixture::new();
    f.import(&to_csv(&generated(10, 1))).unwrap();
    let before = count_electors(&f);
    let mut entries = generated(5000, 2);
    entries[4321].postcode = "NOT A POSTCODE".into();
    let e = import_err(&mut f, &to_csv(&entries));
    assert_eq!(e.line, 4321 + 2, "header is line 1");
    assert_eq!(e.field.as_deref(), Some("postcode"));
    assert_eq!(e.source_name, "electors.csv");
    let msg = e.to_string();
    assert!(msg.starts_with("electors.csv:4323: postcode:"), "{msg}");
    assert!(!msg.contains("NOT A POSTCODE"));
    assert_eq!(count_electors(&f), before, "nothing of the failed import is stored");
    // And the counter did not move: the next import starts where the last good one ended.
    let r = f.import(&to_csv(&generated(3, 9)[..])).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.first_sequence, 11);
}

#[test]
fn duplicate_nino_within_the_file_names_both_lines() {
    let mut f = Fixture::new();
    let mut entries = generated(50, 4);
    entries[30].nino = "AB123456C".into();
    entries[7].nino = "ab 12 34 56 c".into();
    let e = import_err(&mut f, &to_csv(&entries));
    assert_eq!((e.line, e.field.as_deref()), (32, Some("nino")));
    assert!(e.reason.contains("line 9"), "{}", e.reason);
    assert_eq!(count_electors(&f), 0);
}

#[test]
fn duplicates_of_stored_electors_are_refused() {
    let mut f = Fixture::new();
    let entries = generated(20, 5);
    f.import(&to_csv(&entries)).unwrap();
    // Same person again (new number): caught by the identity blind index.
    let mut again = entries[3].clone();
    again.elector_number = "ZZ-1".into();
    again.nino.clear();
    let e = import_err(&mut f, &to_csv(&[again]));
    assert_eq!(e.field.as_deref(), Some("surname"));
    // Same NINO, different person: caught by the unique NINO index.
    let mut other = generated(1, 99)[0].clone();
    other.elector_number = "ZZ-2".into();
    other.nino = entries.iter().find(|t| !t.nino.is_empty()).unwrap().nino.clone();
    let e = import_err(&mut f, &to_csv(&[other]));
    assert_eq!(e.field.as_deref(), Some("nino"));
    assert_eq!(count_electors(&f), 20);
}

#[test]
fn header_problems_are_reported_on_line_one() {
    let mut f = Fixture::new();
    let e = import_err(&mut f, "elector_number,surname,given_names,address_line_1,postcode,shoe_size\n");
    assert_eq!((e.line, e.field.as_deref()), (1, Some("shoe_size")));
    let e = import_err(&mut f, "elector_number,surname,given_names,address_line_1\nAA-1,X,Y,Z\n");
    assert_eq!((e.line, e.field.as_deref()), (1, Some("postcode")));
    let e = import_err(&mut f, "elector_number,surname,surname,given_names,address_line_1,postcode\n");
    assert_eq!((e.line, e.field.as_deref()), (1, Some("surname")));
}

#[test]
fn ragged_rows_and_bad_utf8_are_named() {
    let mut f = Fixture::new();
    let csv = "elector_number,surname,given_names,address_line_1,postcode\nAA-1,Smith,Jo,1 Mill Lane,M1 1AE\nAA-2,Smith,Jo\n";
    let e = import_err(&mut f, csv);
    assert_eq!(e.line, 3);
    assert!(e.reason.contains("fields"), "{}", e.reason);
    let mut bytes = b"elector_number,surname,given_names,address_line_1,postcode\nAA-1,Sm".to_vec();
    bytes.extend([0xff, 0xfe]);
    bytes.extend(b"th,Jo,1 Mill Lane,M1 1AE\n");
    let opts = rollguard_vault::ImportOptions {
        source_name: "x.csv".into(),
        effective: today(),
        today: today(),
        now: NOW,
        canaries_per_100k: 0,
    };
    match f.vault.import_csv(AUTHORITY, bytes.as_slice(), &opts) {
        Err(VaultError::Import(e)) => assert_eq!((e.line, e.field.as_deref()), (2, Some("surname"))),
        other => panic!("{other:?}"),
    }
    assert_eq!(count_electors(&f), 0);
}

#[test]
fn a_good_import_round_trips_every_field() {
    let mut f = Fixture::new();
    let entries = generated(400, 6);
    let r = f.import(&to_csv(&entries)).unwrap();
    assert_eq!(r.imported, 400);
    let table = rollguard_register::FranchiseTable::default_for(rollguard_register::Nation::England);
    for (i, t) in entries.iter().enumerate() {
        let (want, _) = t.validate(&table, today()).unwrap();
        let got = f.vault.elector(r.ids[i]).unwrap();
        assert_eq!(got.entry, want, "elector {}", i);
    }
}

#[test]
fn registered_on_column_sets_the_effective_date() {
    let mut f = Fixture::new();
    let csv = "elector_number,surname,given_names,address_line_1,postcode,registered_on\n\
               AA-1,Pemberton,Ada,4 Mill Lane,LE65 1AA,2025-05-01\n\
               AA-2,Okafor,Chidi,6 Mill Lane,LE65 1AA,\n";
    let ids = f.import(csv).unwrap().ids;
    assert_eq!(f.vault.elector(ids[0]).unwrap().valid_from, day("2025-05-01"));
    assert_eq!(f.vault.elector(ids[1]).unwrap().valid_from, day("2026-01-01"));
    let e = import_err(&mut f, "elector_number,surname,given_names,address_line_1,postcode,registered_on\nAA-3,Lee,Al,1 Way,LE65 1AA,01/05/2025\n");
    assert_eq!((e.line, e.field.as_deref()), (2, Some("registered_on")));
}

#[test]
fn the_earliest_bad_line_is_reported_whatever_thread_finds_it() {
    let mut f = Fixture::new();
    let mut entries = generated(12_000, 7);
    entries[9_000].date_of_birth = "not a date".into();
    entries[3_000].postcode = "nowhere".into();
    entries[11_500].surname = "B4d".into();
    for _ in 0..3 {
        let e = import_err(&mut f, &to_csv(&entries));
        assert_eq!((e.line, e.field.as_deref()), (3_002, Some("postcode")));
    }
    assert_eq!(count_electors(&f), 0);
}

#[test]
fn a_large_import_stopped_early_by_the_writer_does_not_hang() {
    let mut f = Fixture::new();
    let stored = generated(5, 8);
    f.import(&to_csv(&stored)).unwrap();
    // Row 10 repeats a stored elector; 30,000 rows follow it.
    let mut entries = generated(30_000, 9);
    entries[10] = stored[2].clone();
    entries[10].elector_number = "ZZ-9".into();
    entries[10].nino.clear();
    let e = import_err(&mut f, &to_csv(&entries));
    assert_eq!((e.line, e.field.as_deref()), (12, Some("surname")));
    assert_eq!(count_electors(&f), 5);
}

#[test]
fn duplicate_identities_within_the_file_name_both_lines() {
    let mut f = Fixture::new();
    let mut entries = generated(10_000, 10);
    entries[7_777] = entries[1_234].clone();
    entries[7_777].elector_number = "ZZ-1".into();
    entries[7_777].nino.clear();
    let e = import_err(&mut f, &to_csv(&entries));
    assert_eq!((e.line, e.field.as_deref()), (7_779, Some("surname")));
    assert!(e.reason.contains("line 1236"), "{}", e.reason);
    assert_eq!(count_electors(&f), 0);
}

fn journal_mode(conn: &rusqlite::Connection) -> String {
    conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap()
}

#[test]
fn a_bulk_import_returns_the_database_to_wal_mode_whether_it_succeeds_or_fails() {
    let mut f = Fixture::new();
    f.import(&to_csv(&generated(200, 1))).unwrap();
    assert_eq!(journal_mode(&f.raw()), "wal");
    let mut bad = generated(300, 2);
    bad[250].date_of_birth = "2026-13-40".into();
    import_err(&mut f, &to_csv(&bad));
    assert_eq!(journal_mode(&f.raw()), "wal");
    assert_eq!(count_electors(&f), 200);
    // No journal file is left behind either.
    let leftovers: Vec<_> = std::fs::read_dir(f.db_dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with("-journal"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn an_import_while_another_connection_has_the_database_open_runs_in_wal_mode_without_waiting() {
    let mut f = Fixture::new();
    let reader = f.raw();
    let before: i64 = reader.query_row("SELECT count(*) FROM electors", [], |r| r.get(0)).unwrap();
    let started = std::time::Instant::now();
    f.import(&to_csv(&generated(500, 3))).unwrap();
    // The switch to a rollback journal is refused at once, not after the 10 s busy timeout.
    assert!(started.elapsed() < std::time::Duration::from_secs(8), "{:?}", started.elapsed());
    assert_eq!(journal_mode(&reader), "wal");
    let after: i64 = reader.query_row("SELECT count(*) FROM electors", [], |r| r.get(0)).unwrap();
    assert_eq!((before, after), (0, 500));
}

#[test]
fn canaries_planted_by_an_import_are_spread_among_its_rows_and_look_like_their_neighbours() {
    let mut f = Fixture::new();
    let entries = generated(3_000, 8);
    let opts = rollguard_vault::ImportOptions {
        source_name: "electors.csv".into(),
        effective: day("2026-01-01"),
        today: today(),
        now: NOW,
        canaries_per_100k: 1_000,
    };
    let r = f.vault.import_csv(AUTHORITY, to_csv(&entries).as_bytes(), &opts).unwrap();
    assert_eq!(r.imported, 3_000, "the report counts the file's rows");
    assert!(r.canaries > 5, "about 30 expected at 1%, got {}", r.canaries);
    let canaries: Vec<u64> = f.vault.read(|v, tx| Ok(v.registry(tx)?.canary_ids())).unwrap();
    assert_eq!(canaries.len() as u64, r.canaries);
    assert_eq!(count_electors(&f), 3_000 + i64::try_from(r.canaries).unwrap());
    // Their sequence numbers are spread through the run, not its last ones, and the ids
    // built from them are as unordered as every other id.
    let last = r.first_sequence + 3_000 + r.canaries - 1;
    let keys = f.vault.keys.current();
    let mut sequences: Vec<u64> = canaries.iter().map(|id| keys.elector_sequence(*id).unwrap()).collect();
    sequences.sort_unstable();
    assert!(
        sequences[0] < r.first_sequence + 1_000 && sequences[sequences.len() - 1] > r.first_sequence + 2_000,
        "{sequences:?}"
    );
    assert!(sequences.iter().all(|&s| s >= r.first_sequence && s <= last));
    assert!(canaries.iter().all(|id| !r.ids.contains(id)), "the report's ids are the file's rows");
    let real_postcodes: std::collections::HashSet<String> =
        entries.iter().map(|e| e.postcode.replace(' ', "").to_ascii_uppercase()).collect();
    for &id in &canaries {
        let c = f.vault.elector(id).unwrap();
        let previous = keys.elector_id(f.authority_number(), keys.elector_sequence(id).unwrap() - 1).unwrap();
        let before = f.vault.elector(previous).unwrap();
        // The same dates as the entry before it, and numbered as an interim addition after it.
        assert_eq!(c.valid_from, before.valid_from);
        assert_eq!(c.entry.number.district, before.entry.number.district);
        assert_eq!(c.entry.number.number, before.entry.number.number);
        assert!(c.entry.number.suffix.is_some());
        let pc = c.entry.address.postcode.to_string().replace(' ', "");
        assert!(!real_postcodes.contains(&pc), "canary {id} shares a real postcode");
    }
    // Stored exactly as their neighbours: the same recorded time.
    let conn = f.raw();
    let times: std::collections::HashSet<i64> = conn
        .prepare("SELECT DISTINCT recorded_at FROM electors")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(times.len(), 1, "{times:?}");
    // And their stored lengths are their neighbours' lengths.
    let lengths: std::collections::HashSet<i64> = conn
        .prepare("SELECT DISTINCT length(sealed) FROM electors")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(lengths.len() <= 2, "{lengths:?}");
}

#[test]
fn each_authority_s_rows_sit_together_in_id_order_while_ids_within_it_stay_unordered() {
    let mut f = Fixture::new();
    f.vault.create_authority("E07000002", "Brook Hollow", rollguard_register::Nation::England).unwrap();
    let first = f.import(&to_csv(&generated(1_500, 1))).unwrap();
    let second = f.import_into("E07000002", &to_csv(&generated(1_500, 2))).unwrap();
    // A later import into the first authority goes to its region, not among the second's.
    let again = f.import(&to_csv(&generated(500, 3))).unwrap();
    let owners: Vec<i64> = f
        .raw()
        .prepare("SELECT authority_id FROM electors ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(owners.len(), 3_500);
    let changes = owners.windows(2).filter(|w| w[0] != w[1]).count();
    assert_eq!(changes, 1, "in id order, the rows of one authority are followed by the other's");
    let (lo, hi) = (first.ids.iter().max().unwrap(), second.ids.iter().min().unwrap());
    assert!(lo < hi && again.ids.iter().all(|id| id < hi));
    // Within an authority, consecutive rows of the file still get unordered ids.
    let rises = first.ids.windows(2).filter(|w| w[1] > w[0]).count();
    assert!((650..=850).contains(&rises), "{rises} of 1,499 steps go up");
}

#[test]
fn an_import_past_the_last_id_names_the_first_row_without_one_and_stores_nothing() {
    let mut f = Fixture::new();
    f.import(&to_csv(&generated(10, 1))).unwrap();
    let before = count_electors(&f);
    // Two sequence numbers left before the 36-bit space runs out.
    f.raw().execute("UPDATE counters SET next = ?1 WHERE name = 'elector'", [(1i64 << 36) - 2]).unwrap();
    let e = import_err(&mut f, &to_csv(&generated(5, 2)));
    assert_eq!(e.line, 4, "the third row (line 4) is the first without an id");
    assert!(e.reason.contains("exhausted"), "{e}");
    assert_eq!(count_electors(&f), before, "nothing of the failed import is stored");
}
