//! The layout upgrade on a register written in the legacy layout: the test writes legacy
//! rows as the earlier Rollguard did (one AEAD value per field, flags and full-width blind
//! indexes in the clear), then moves them.

use crate::{codec, Keys, Search, Vault};
use rollguard_register::normalise::{date_key, identity_key, name_key, number_key, postcode_key};
use rollguard_register::{format_date, EntryText, FranchiseTable, Nation};
use rollguard_sealing::{FileKeyring, IndexKind};
use rollguard_store::{Register, SqliteStore, Store};
use std::sync::Arc;

const AUTHORITY: &str = "E07000001";

fn today() -> rollguard_register::Date {
    rollguard_register::parse_date("d", "2026-12-01").unwrap()
}

struct Legacy {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    register: Register,
    keys: Keys,
    entries: Vec<EntryText>,
}

fn open(db: &std::path::Path, keyring: &std::path::Path) -> (Register, Keys) {
    let path = db.to_owned();
    let register =
        Register::single(Arc::new(move || Ok(Box::new(SqliteStore::open(&path)?) as Box<dyn Store>)))
            .unwrap();
    let keys = Keys::open(Box::new(FileKeyring::open(keyring, None).unwrap()), None, &register).unwrap();
    (register, keys)
}

/// A register whose `n` electors (ids 1..=n) are in the legacy tables; the first has a
/// second version.
fn legacy_register(n: usize) -> Legacy {
    let dir = tempfile::tempdir().unwrap();
    let (db, keyring) = (dir.path().join("r.db"), dir.path().join("k.keyring"));
    FileKeyring::create(&keyring, None).unwrap();
    let (register, keys) = open(&db, &keyring);
    {
        let mut store = SqliteStore::open(&db).unwrap();
        let mut tx = store.write().unwrap();
        keys.create_authority(&mut *tx, AUTHORITY, "Ashby Vale", Nation::England).unwrap();
        tx.commit().unwrap();
    }
    let vault = register.read(|tx| keys.vault(tx)).unwrap();
    let table = FranchiseTable::default_for(Nation::England);
    let entries: Vec<EntryText> =
        rollguard_synth::Generator::new(3, table.clone(), today()).take(n).collect();
    let conn = rusqlite::Connection::open(&db).unwrap();
    for (i, text) in entries.iter().enumerate() {
        let id = i as u64 + 1;
        write_legacy(&conn, &vault, id, 1, text, None);
    }
    conn.execute("UPDATE counters SET next = ?1 WHERE name = 'elector'", [i64::try_from(n).unwrap() + 1])
        .unwrap();
    conn.execute("UPDATE layout_upgrade SET legacy_below = ?1", [i64::try_from(n).unwrap() + 1]).unwrap();
    // Elector 1 moved house: version 1 goes to history, version 2 is current.
    let mut moved = entries[0].clone();
    moved.address_lines[0] = "9 Alder Way".into();
    conn.execute(
        "INSERT INTO legacy_elector_history SELECT id, version, authority_id, valid_from, '2026-06-01', recorded_at, \
         deleted, change, franchise, flags, absent_vote, absent_vote_expires, key_gen, s_number, s_name, s_previous, \
         s_address, s_dob, s_overseas, s_contact, b_surname, b_postcode, b_dob, b_number, b_nino, b_identity \
         FROM legacy_electors WHERE id = 1",
        [],
    )
    .unwrap();
    for t in ["number", "surname", "postcode", "dob", "nino", "identity"] {
        conn.execute(&format!("DELETE FROM legacy_bi_{t} WHERE elector_id = 1"), []).unwrap();
    }
    conn.execute("DELETE FROM legacy_electors WHERE id = 1", []).unwrap();
    write_legacy(&conn, &vault, 1, 2, &moved, Some("2026-06-01"));
    let mut all = entries;
    all[0] = moved;
    drop(conn);
    Legacy { _dir: dir, db, register, keys, entries: all }
}

/// One current legacy row and its index entries, sealed field by field as before schema 10.
fn write_legacy(
    conn: &rusqlite::Connection,
    vault: &Vault,
    id: u64,
    version: u32,
    text: &EntryText,
    from: Option<&str>,
) {
    let keys = vault.keys(AUTHORITY).unwrap();
    let (e, nino) = text.validate(&keys.table, today()).unwrap();
    let seal =
        |field: &str, plain: &str| keys.active().seal(&keys.ctx(id, field, version), plain.as_bytes()).0;
    let b = |kind, v: &str| keys.index.blind(kind, v).0;
    let nino = nino.map(|n| b(IndexKind::Nino, n.normalised()));
    let personal = !e.anonymous;
    let (surname, postcode) = (
        b(IndexKind::Surname, &name_key(&e.name.surname)),
        b(IndexKind::Postcode, &postcode_key(&e.address.postcode)),
    );
    let dob = e.date_of_birth.map(|d| b(IndexKind::DateOfBirth, &date_key(d)));
    let number = b(IndexKind::ElectorNumber, &number_key(&e.number));
    let identity = b(IndexKind::Identity, &identity_key(&e.name, e.date_of_birth, &e.address));
    conn.execute(
        "INSERT INTO legacy_electors VALUES (?1, 1, ?2, ?3, 1700000000, 0, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
         ?16, ?17, ?18, ?19, ?20, ?21)",
        rusqlite::params![
            id,
            version,
            from.unwrap_or("2026-01-01"),
            if version == 1 { "added" } else { "amended:address" },
            e.franchise.as_str(),
            i64::from(e.open_register_opt_out) | (i64::from(e.anonymous) << 1),
            e.absent_vote.as_ref().map(|a| a.kind.code()),
            e.absent_vote.as_ref().and_then(|a| a.expires).map(format_date),
            seal("number", &codec::number(&e.number)),
            seal("name", &codec::name(&e.name)),
            codec::previous_names(&e.previous_names).map(|p| seal("previous_names", &p)),
            seal("address", &codec::address(&e.address)),
            codec::dates(e.date_of_birth, e.attainer_date).map(|d| seal("date_of_birth", &d)),
            e.overseas.as_ref().map(|o| seal("overseas", &codec::overseas(o))),
            codec::contact(&e.contact).map(|c| seal("contact", &c)),
            personal.then_some(surname),
            personal.then_some(postcode),
            dob.filter(|_| personal),
            number,
            nino,
            identity,
        ],
    )
    .unwrap();
    let mut entries = vec![("number", Some(number)), ("identity", Some(identity)), ("nino", nino)];
    if personal {
        entries.extend([("surname", Some(surname)), ("postcode", Some(postcode)), ("dob", dob)]);
    }
    for (t, v) in entries {
        if let Some(v) = v {
            conn.execute(&format!("INSERT INTO legacy_bi_{t} VALUES (1, ?1, ?2)"), rusqlite::params![v, id])
                .unwrap();
        }
    }
}

fn read_all(l: &Legacy, ids: &[u64]) -> Vec<rollguard_register::ElectorEntry> {
    let vault = l.keys.current();
    l.register
        .read(|tx| {
            ids.iter().map(|id| vault.elector(tx, *id).map(|e| e.entry)).collect::<crate::Result<Vec<_>>>()
        })
        .unwrap()
}

#[test]
fn an_interrupted_upgrade_reads_every_entry_throughout_and_resumes_to_the_sealed_layout() {
    let l = legacy_register(300);
    let table = FranchiseTable::default_for(Nation::England);
    let want: Vec<_> = l.entries.iter().map(|t| t.validate(&table, today()).unwrap().0).collect();
    let old_ids: Vec<u64> = (1..=300).collect();
    assert_eq!(read_all(&l, &old_ids), want, "legacy rows read before the upgrade");
    let event = Arc::new(|n: u64| format!("{{\"moved\":{n}}}").into_bytes());
    let vault = l.keys.current();
    // Elector 250 is a canary, recorded under its legacy id.
    {
        let mut store = SqliteStore::open(&l.db).unwrap();
        let mut tx = store.write().unwrap();
        vault.record_canaries(&mut *tx, AUTHORITY, &[250], 1).unwrap();
        tx.commit().unwrap();
    }
    let canaries = |l: &Legacy| {
        l.register.read(|tx| Ok::<_, crate::VaultError>(vault.registry(tx)?.canary_ids())).unwrap()
    };
    let canary = vault.moved_id(250).unwrap();
    let first = vault.upgrade_layout(&l.register, 100, Some(1), event.clone()).unwrap();
    assert_eq!((first.moved, first.finished), (100, false));
    // Before elector 250 moves, the canary is known by both ids, and the widths are planned.
    let mut both = canaries(&l);
    both.sort_unstable();
    assert_eq!(both, vec![250, canary]);
    let plans = l.register.read(|tx| Ok::<_, crate::VaultError>(tx.index_plans(AUTHORITY)?)).unwrap();
    assert_eq!(plans.len(), 3, "every bucketed index has a width before the first entry moves");
    // Half-way: old ids, new ids and searches all find every entry.
    assert_eq!(read_all(&l, &old_ids), want);
    let new_ids: Vec<u64> = old_ids.iter().map(|id| vault.moved_id(*id).unwrap()).collect();
    assert_eq!(read_all(&l, &new_ids), want);
    // An unmoved entry answers to its old id and its new one, never to the new one with other
    // cluster bits or beyond 2^47.
    let unmoved = *new_ids.last().unwrap();
    for alias in [unmoved | 1 << crate::SEQUENCE_BITS, unmoved | 1 << 47] {
        let read = l.register.read(|tx| vault.elector(tx, alias));
        assert!(matches!(read, Err(crate::VaultError::UnknownElector(_))), "{alias}: {read:?}");
    }
    let search = |t: &EntryText| Search {
        surname: Some(t.surname.clone()),
        postcode: Some(t.postcode.clone()),
        ..Default::default()
    };
    for (i, t) in l.entries.iter().enumerate().step_by(37) {
        let found = l.register.read(|tx| vault.search(tx, AUTHORITY, &search(t))).unwrap();
        assert!(found.iter().any(|e| e.id == new_ids[i]), "entry {} found mid-upgrade", i + 1);
    }
    // Imports and re-seals wait for the upgrade, and store nothing meanwhile.
    let before: i64 = rusqlite::Connection::open(&l.db)
        .unwrap()
        .query_row("SELECT count(*) FROM electors", [], |r| r.get(0))
        .unwrap();
    let opts = crate::ImportOptions {
        source_name: "late.csv".into(),
        effective: today(),
        today: today(),
        now: 1,
        canaries_per_100k: 0,
    };
    let csv = "elector_number,surname,given_names,address_line_1,postcode\nZZ-1,Okafor,Chidi,6 Mill Lane,LE65 1AA\n";
    let late = l
        .register
        .bulk(|store| vault.import_csv(store, AUTHORITY, csv.as_bytes(), &opts, &|_, _| Vec::new(), &|_| {}));
    assert!(matches!(late, Err(crate::VaultError::UpgradePending)), "{late:?}");
    let reseal = l.keys.reseal(&l.register, AUTHORITY, 100, None, &|_| {});
    assert!(matches!(reseal, Err(crate::VaultError::UpgradePending)), "{reseal:?}");
    let after: i64 = rusqlite::Connection::open(&l.db)
        .unwrap()
        .query_row("SELECT count(*) FROM electors", [], |r| r.get(0))
        .unwrap();
    assert_eq!(before, after, "the refused import stored nothing");
    let rest = vault.upgrade_layout(&l.register, 100, None, event).unwrap();
    assert_eq!((rest.moved, rest.finished), (200, true));
    assert_eq!(canaries(&l), vec![canary], "the legacy id is forgotten at the end");
    assert_eq!(read_all(&l, &new_ids), want);
    let history = l.register.read(|tx| vault.history(tx, new_ids[0])).unwrap();
    assert_eq!(history.len(), 2, "the earlier version moved with it");
    assert_eq!(history[1].change, "amended:address");
    let conn = rusqlite::Connection::open(&l.db).unwrap();
    let left: i64 = conn.query_row("SELECT count(*) FROM legacy_electors", [], |r| r.get(0)).unwrap();
    let clear: i64 = conn.query_row("SELECT count(*) FROM legacy_bi_surname", [], |r| r.get(0)).unwrap();
    assert_eq!((left, clear), (0, 0), "nothing is left in the legacy layout");
    let stored: i64 =
        conn.query_row("SELECT count(*) FROM electors WHERE id <= 300", [], |r| r.get(0)).unwrap();
    assert!(stored <= 1, "ids no longer follow the register's order ({stored} at or below 300)");
}

#[test]
fn a_register_whose_first_sealed_ids_were_flat_keeps_the_flat_scheme_for_every_new_id() {
    let dir = tempfile::tempdir().unwrap();
    let (db, keyring) = (dir.path().join("r.db"), dir.path().join("k.keyring"));
    FileKeyring::create(&keyring, None).unwrap();
    let (register, keys) = open(&db, &keyring);
    let clustered = keys.current();
    assert!(matches!(clustered.ids, Some(crate::IdScheme::Clustered(_))), "a new register clusters its ids");
    // As the build of 2026-12-02 left a register: with an `elector-ids` key.
    let flat_key = crate::purpose::FLAT_ELECTOR_IDS;
    let w = keys
        .keyring()
        .wrap(&rollguard_sealing::KeyBytes::random(), &crate::keys::system_wrap(flat_key))
        .unwrap();
    let record =
        rollguard_store::SystemKeyRecord { purpose: flat_key.into(), kek_id: w.kek.0, wrapped: w.bytes };
    register.write(move |tx| Ok::<_, crate::VaultError>(tx.put_system_key(&record)?)).unwrap();
    drop((register, keys));
    let (_register, keys) = open(&db, &keyring);
    let flat = keys.current();
    assert!(matches!(flat.ids, Some(crate::IdScheme::Flat(_))), "the flat scheme is kept");
    let (a, b) = (flat.elector_id(1, 5).unwrap(), flat.elector_id(7, 5).unwrap());
    assert_eq!(a, b, "the authority plays no part in a flat id");
    assert_eq!(flat.elector_sequence(a), Some(5));
    assert_ne!(a, clustered.elector_id(1, 5).unwrap());
}
