//! Every change is a version with an effective date: the register as it stood on any past
//! date can be rebuilt, and deletions and amendments keep what came before.

mod common;

use common::*;
use rollguard_register::{DeletionReason, IdentityRoute, RejectionReason};
use rollguard_vault::{RegisterKind, VaultError};

fn numbers(v: &[rollguard_vault::Elector]) -> Vec<String> {
    v.iter().map(|e| e.entry.number.to_string()).collect()
}

fn entry(number: &str, surname: &str, line1: &str) -> rollguard_register::EntryText {
    rollguard_register::EntryText {
        elector_number: number.into(),
        surname: surname.into(),
        given_names: "Robin".into(),
        address_lines: [line1.into(), "Ashby".into(), String::new(), String::new(), String::new()],
        postcode: "LE65 1AA".into(),
        date_of_birth: "1970-04-02".into(),
        ..Default::default()
    }
}

#[test]
fn register_on_a_past_date_is_rebuilt_from_versions() {
    let mut f = Fixture::new();
    let a = f
        .vault
        .add(AUTHORITY, &entry("AA-1", "Pemberton", "1 Mill Lane"), day("2026-01-10"), today(), false)
        .unwrap();
    let b = f
        .vault
        .add(AUTHORITY, &entry("AA-2", "Okafor", "2 Mill Lane"), day("2026-02-10"), today(), false)
        .unwrap();
    let mut moved = f.vault.elector(a).unwrap().entry.to_text();
    moved.address_lines[0] = "9 Heron Way".into();
    f.vault.amend(a, &moved, day("2026-03-01"), today()).unwrap();
    f.vault.delete(b, DeletionReason::MovedAway, day("2026-04-01")).unwrap();

    assert!(f.vault.register_on(AUTHORITY, day("2026-01-09")).unwrap().is_empty());
    assert_eq!(numbers(&f.vault.register_on(AUTHORITY, day("2026-01-10")).unwrap()), ["AA-1"]);
    let feb = f.vault.register_on(AUTHORITY, day("2026-02-15")).unwrap();
    assert_eq!(numbers(&feb), ["AA-1", "AA-2"]);
    assert_eq!(feb[0].entry.address.lines[0], "1 Mill Lane", "before the move");
    let march = f.vault.register_on(AUTHORITY, day("2026-03-01")).unwrap();
    assert_eq!(march[0].entry.address.lines[0], "9 Heron Way", "the move took effect on 1 March");
    assert_eq!(
        numbers(&f.vault.register_on(AUTHORITY, day("2026-04-01")).unwrap()),
        ["AA-1"],
        "deleted on 1 April"
    );

    let history = f.vault.history(b).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].change, "deleted:moved-away");
    assert!(history[1].deleted);
    assert_eq!(history[0].valid_to, Some(day("2026-04-01")));
    let amended = f.vault.history(a).unwrap();
    assert_eq!(amended[1].change, "amended:address", "names the field, never the value");
}

#[test]
fn deleted_entries_cannot_be_amended_or_deleted_again() {
    let mut f = Fixture::new();
    let a = f
        .vault
        .add(AUTHORITY, &entry("AA-1", "Pemberton", "1 Mill Lane"), day("2026-01-10"), today(), false)
        .unwrap();
    f.vault.delete(a, DeletionReason::Deceased, day("2026-02-01")).unwrap();
    assert!(matches!(
        f.vault.delete(a, DeletionReason::Deceased, day("2026-02-02")),
        Err(VaultError::Lifecycle(_))
    ));
    let text = f.vault.elector(a).unwrap().entry.to_text();
    assert!(matches!(f.vault.amend(a, &text, day("2026-02-03"), today()), Err(VaultError::Lifecycle(_))));
}

#[test]
fn an_amendment_cannot_backdate_before_the_current_version_or_change_nothing() {
    let mut f = Fixture::new();
    let a = f
        .vault
        .add(AUTHORITY, &entry("AA-1", "Pemberton", "1 Mill Lane"), day("2026-03-10"), today(), false)
        .unwrap();
    let mut text = f.vault.elector(a).unwrap().entry.to_text();
    assert!(matches!(f.vault.amend(a, &text, day("2026-03-11"), today()), Err(VaultError::NothingChanged)));
    text.surname = "Fairweather".into();
    assert!(matches!(
        f.vault.amend(a, &text, day("2026-03-01"), today()),
        Err(VaultError::EffectiveBeforeCurrent)
    ));
}

#[test]
fn duplicates_are_detected_by_nino_and_by_identity() {
    let mut f = Fixture::new();
    let mut first = entry("AA-1", "Pemberton", "1 Mill Lane");
    first.nino = "AB123456C".into();
    let a = f.vault.add(AUTHORITY, &first, today(), today(), false).unwrap();
    // Same NINO on someone else.
    let mut other = entry("AA-2", "Okafor", "2 Mill Lane");
    other.nino = "AB 12 34 56 C".into();
    assert!(
        matches!(f.vault.add(AUTHORITY, &other, today(), today(), true), Err(VaultError::DuplicateNino { existing }) if existing == a)
    );
    // Same person (accents and case differ), no NINO: a possible duplicate unless allowed.
    let same = entry("AA-3", "PEMBERTÓN", "1 Mill Lane");
    assert!(matches!(
        f.vault.add(AUTHORITY, &same, today(), today(), false),
        Err(VaultError::PossibleDuplicate { .. })
    ));
    f.vault.add(AUTHORITY, &same, today(), today(), true).unwrap();
}

#[test]
fn search_uses_blind_indexes_and_normalises_the_query() {
    let mut f = Fixture::new();
    f.vault.add(AUTHORITY, &entry("AA-1", "O'Brien", "1 Mill Lane"), today(), today(), false).unwrap();
    f.vault.add(AUTHORITY, &entry("AA-2", "Obrien", "3 Mill Lane"), today(), today(), false).unwrap();
    let mut anon = entry("AA-3", "Obrien", "5 Mill Lane");
    anon.anonymous = "Y".into();
    f.vault.add(AUTHORITY, &anon, today(), today(), false).unwrap();
    let q = rollguard_vault::Search {
        surname: Some("o'brien".into()),
        postcode: Some("le651aa".into()),
        ..Default::default()
    };
    let found = f.vault.search(AUTHORITY, &q).unwrap();
    assert_eq!(numbers(&found), ["AA-1", "AA-2"], "an anonymous entry cannot be found by name");
    let by_number = rollguard_vault::Search { elector_number: Some("AA-3".into()), ..Default::default() };
    assert_eq!(numbers(&f.vault.search(AUTHORITY, &by_number).unwrap()), ["AA-3"]);
    assert!(matches!(f.vault.search(AUTHORITY, &Default::default()), Err(VaultError::EmptySearch)));
    let bad = rollguard_vault::Search { postcode: Some("XX".into()), ..Default::default() };
    assert!(matches!(f.vault.search(AUTHORITY, &bad), Err(VaultError::Invalid(_))));
}

#[test]
fn publication_withholds_anonymous_entries_and_open_register_opt_outs() {
    let mut f = Fixture::new();
    f.vault.add(AUTHORITY, &entry("AA-1", "Pemberton", "1 Mill Lane"), today(), today(), false).unwrap();
    let mut anon = entry("AA-2", "Hidden", "2 Mill Lane");
    anon.anonymous = "Y".into();
    f.vault.add(AUTHORITY, &anon, today(), today(), false).unwrap();
    let mut opted = entry("AA-3", "Private", "3 Mill Lane");
    opted.open_register_opt_out = "Y".into();
    f.vault.add(AUTHORITY, &opted, today(), today(), false).unwrap();

    let mut full = Vec::new();
    assert_eq!(f.vault.export(AUTHORITY, RegisterKind::Full, &mut full).unwrap(), 3);
    let full = String::from_utf8(full).unwrap();
    assert!(full.contains("AA-2,N,,,"), "{full}");
    assert!(!full.contains("Hidden") && !full.contains("2 Mill Lane"));
    assert!(full.contains("Private"));
    let mut open = Vec::new();
    assert_eq!(f.vault.export(AUTHORITY, RegisterKind::Open, &mut open).unwrap(), 1);
    let open = String::from_utf8(open).unwrap();
    assert!(open.contains("Pemberton") && !open.contains("Private") && !open.contains("AA-2"));
}

#[test]
fn an_application_goes_received_identity_checked_added() {
    let mut f = Fixture::new();
    let mut applicant = entry("", "Fairweather", "8 Mill Lane");
    applicant.nino = "JZ987654A".into();
    let app = f.vault.receive_application(AUTHORITY, &applicant, today(), today()).unwrap();
    assert_eq!(f.vault.application(app).unwrap().applicant.surname, "Fairweather");
    assert!(matches!(
        f.vault.add_from_application(app, None, today(), today(), false),
        Err(VaultError::NumberRequired)
    ));
    let number = "AB-7".parse().unwrap();
    assert!(
        matches!(
            f.vault.add_from_application(app, Some(&number), today(), today(), false),
            Err(VaultError::Lifecycle(_))
        ),
        "identity must be checked first"
    );
    f.vault.check_identity(app, IdentityRoute::DocumentaryEvidence).unwrap();
    let id = f.vault.add_from_application(app, Some(&number), today(), today(), false).unwrap();
    assert_eq!(f.vault.elector(id).unwrap().entry.number.to_string(), "AB-7");
    assert_eq!(f.vault.application(app).unwrap().status.code(), "added");
    // The NINO hash came along: the same NINO cannot be registered again.
    let mut again = entry("AB-8", "Other", "9 Mill Lane");
    again.nino = "JZ987654A".into();
    assert!(matches!(
        f.vault.add(AUTHORITY, &again, today(), today(), true),
        Err(VaultError::DuplicateNino { .. })
    ));

    let second =
        f.vault.receive_application(AUTHORITY, &entry("", "Later", "1 Heron Way"), today(), today()).unwrap();
    f.vault.reject_application(second, RejectionReason::NotResident, today()).unwrap();
    assert!(f.vault.check_identity(second, IdentityRoute::LocalData).is_err());
    assert!(matches!(
        f.vault.receive_application(AUTHORITY, &entry("", "Sm1th", "x"), today(), today()),
        Err(VaultError::Invalid(_))
    ));
}

#[test]
fn rows_survive_reopening_the_store() {
    let mut f = Fixture::new();
    let id = f.import(&to_csv(&generated(50, 11))).unwrap().ids[16];
    let before = f.vault.elector(id).unwrap().entry;
    f.reopen();
    assert_eq!(f.vault.elector(id).unwrap().entry, before);
}

#[test]
fn an_invalid_amendment_names_the_field_and_changes_nothing() {
    let mut f = Fixture::new();
    let a = f
        .vault
        .add(AUTHORITY, &entry("AA-1", "Pemberton", "1 Mill Lane"), day("2026-01-10"), today(), false)
        .unwrap();
    let before = f.vault.history(a).unwrap();
    let mut text = f.vault.elector(a).unwrap().entry.to_text();
    text.postcode = "NOT A POSTCODE".into();
    text.date_of_birth = "1970-02-30".into();
    match f.vault.amend(a, &text, day("2026-02-01"), today()) {
        Err(VaultError::Invalid(errs)) => {
            let fields: Vec<&str> = errs.0.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, ["postcode", "date_of_birth"]);
            assert!(!errs.to_string().contains("NOT A POSTCODE"));
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    let after = f.vault.history(a).unwrap();
    assert_eq!(after.len(), before.len(), "no new version");
    assert_eq!(after[0].entry, before[0].entry);
}
