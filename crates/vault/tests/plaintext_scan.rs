//! A stolen database file, its WAL, or a backup reveals no name, address, date of birth or
//! NINO: every byte is searched for every imported elector's personal values.

mod common;

use common::*;
use rollguard_register::{Postcode, ValidationErrors};
use rollguard_store::sqlite::baseline::PlainRow;
use rollguard_store::sqlite::PlainBaseline;
use std::path::Path;

/// Byte strings an attacker would grep for. Short values are left out: a 3-letter surname
/// occurs by chance in megabytes of ciphertext, which would make the test flaky, not stricter.
fn needles(entries: &[rollguard_register::EntryText]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for t in entries {
        let mut push = |s: &str| {
            if s.len() >= 5 {
                out.push(s.as_bytes().to_vec());
            }
        };
        push(&t.surname);
        push(&format!("{} {}", t.given_names, t.surname));
        push(&t.address_lines[0]);
        let pc = Postcode::parse("p", &t.postcode).unwrap();
        push(pc.as_str());
        push(&pc.as_str().replace(' ', ""));
        push(&t.date_of_birth);
        push(&t.nino);
        push(&t.email);
        push(&t.phone);
    }
    out.sort();
    out.dedup();
    out
}

/// Every file in `dir` (database, -wal, -shm, backups, temporary files), concatenated.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            bytes.extend(std::fs::read(&p).unwrap());
            bytes.push(0);
        }
    }
    bytes
}

fn hits(haystack: &[u8], needles: &[Vec<u8>]) -> Vec<String> {
    // Index the haystack by 5-byte prefix so thousands of needles scan in one pass.
    let mut by_prefix: std::collections::HashMap<&[u8], Vec<&Vec<u8>>> = std::collections::HashMap::new();
    for n in needles {
        by_prefix.entry(&n[..5]).or_default().push(n);
    }
    let mut found = Vec::new();
    for i in 0..haystack.len().saturating_sub(5) {
        if let Some(cands) = by_prefix.get(&haystack[i..i + 5]) {
            for n in cands {
                if haystack[i..].starts_with(n) {
                    found.push(String::from_utf8_lossy(n).into_owned());
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn database_wal_and_backup_hold_no_personal_plaintext() {
    let mut f = Fixture::new();
    let entries = generated(3000, 42);
    let ids = f.import(&to_csv(&entries)).unwrap().ids;
    // Exercise every write path: amendment, deletion, an application, key rotation.
    let mut text = f.vault.elector(ids[0]).unwrap().entry.to_text();
    text.address_lines[0] = "77 Heronsgate Mews".into();
    f.vault.amend(ids[0], &text, day("2026-06-01"), today()).unwrap();
    f.vault.delete(ids[1], rollguard_register::DeletionReason::MovedAway, day("2026-06-02")).unwrap();
    let mut applicant = entries[10].clone();
    applicant.elector_number.clear();
    applicant.nino = "JZ987654A".into();
    applicant.surname = "Fairweather".into();
    let app = f.vault.receive_application(AUTHORITY, &applicant, today(), today()).unwrap();
    f.vault.check_identity(app, rollguard_register::IdentityRoute::NationalMatch).unwrap();
    f.vault.rotate_data_key(AUTHORITY).unwrap();
    f.vault.reseal(AUTHORITY, 500, Some(1000)).unwrap();
    f.vault.backup(&f.db_dir.path().join("backup.db")).unwrap();

    let mut needles = needles(&entries);
    needles.push(b"Heronsgate".to_vec());
    needles.push(b"Fairweather".to_vec());
    needles.push(b"JZ987654A".to_vec());
    let files: Vec<String> = std::fs::read_dir(f.db_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files.iter().any(|n| n.ends_with("-wal")),
        "the WAL should exist while the store is open: {files:?}"
    );
    let found = hits(&all_bytes(f.db_dir.path()), &needles);
    assert!(found.is_empty(), "plaintext personal data on disk: {found:?}");
}

#[test]
fn the_scan_does_find_plaintext_in_an_unsealed_database() {
    // The control: the same scan over plain SQLite holding the same people finds them, so a
    // clean result above means sealed, not a blind scanner.
    let dir = tempfile::tempdir().unwrap();
    let entries = generated(300, 42);
    let mut plain = PlainBaseline::create(&dir.path().join("plain.db")).unwrap();
    let table = rollguard_register::FranchiseTable::default_for(rollguard_register::Nation::England);
    let mut rows = entries.iter().enumerate().map(|(i, t)| {
        let (e, _): (_, _) = t.validate(&table, today()).map_err(|e: ValidationErrors| e).unwrap();
        PlainRow {
            id: i as u64 + 1,
            name: format!("{} {}", e.name.given_names, e.name.surname),
            surname: Some(e.name.surname.clone()),
            address: e.address.lines.join(", "),
            postcode: Some(e.address.postcode.to_string()),
            number: e.number.to_string(),
            identity: format!("{i}"),
            ..Default::default()
        }
    });
    plain.import(&mut rows).unwrap();
    let found = hits(&all_bytes(dir.path()), &needles(&entries));
    assert!(found.len() > 300, "control scan found only {} values", found.len());
}
