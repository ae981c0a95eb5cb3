//! An attacker with write access to the database cannot make Rollguard return altered or
//! misplaced personal data: every change to a sealed value is an error, never plaintext
//! or garbage.

mod common;

use common::*;
use rollguard_sealing::FileKeyring;
use rollguard_vault::VaultError;

fn fixture_with(n: usize) -> Fixture {
    let mut f = Fixture::new();
    f.import(&to_csv(&generated(n, 3))).unwrap();
    f
}

fn assert_open_fails(f: &Fixture, id: u64) {
    match f.vault.elector(id) {
        Err(VaultError::Open(_)) => {}
        other => panic!("elector {id} should fail to open, got {other:?}"),
    }
}

#[test]
fn a_flipped_byte_in_any_sealed_column_fails_the_read() {
    let f = fixture_with(5);
    for col in ["s_number", "s_name", "s_address", "s_dob"] {
        let conn = f.raw();
        let original: Vec<u8> =
            conn.query_row(&format!("SELECT {col} FROM electors WHERE id = 3"), [], |r| r.get(0)).unwrap();
        let mut bad = original.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x20;
        conn.execute(&format!("UPDATE electors SET {col} = ?1 WHERE id = 3"), [&bad]).unwrap();
        assert_open_fails(&f, 3);
        conn.execute(&format!("UPDATE electors SET {col} = ?1 WHERE id = 3"), [&original]).unwrap();
        assert!(f.vault.elector(3).is_ok(), "restoring {col} restores the read");
    }
}

#[test]
fn a_ciphertext_swapped_between_records_fails() {
    let f = fixture_with(5);
    f.raw()
        .execute("UPDATE electors SET s_name = (SELECT s_name FROM electors WHERE id = 4) WHERE id = 2", [])
        .unwrap();
    assert_open_fails(&f, 2);
    assert!(f.vault.elector(4).is_ok());
}

#[test]
fn a_ciphertext_swapped_between_fields_fails() {
    let f = fixture_with(5);
    f.raw().execute("UPDATE electors SET s_name = s_address, s_address = s_name WHERE id = 2", []).unwrap();
    assert_open_fails(&f, 2);
}

#[test]
fn an_old_version_replayed_as_current_fails() {
    let mut f = fixture_with(3);
    let mut text = f.vault.elector(1).unwrap().entry.to_text();
    text.address_lines[0] = "9 Alder Way".into();
    f.vault.amend(1, &text, day("2026-03-01"), today()).unwrap();
    // Copy version 1's sealed address over version 2's.
    f.raw()
        .execute(
            "UPDATE electors SET s_address = (SELECT s_address FROM elector_history WHERE id = 1 AND version = 1) WHERE id = 1",
            [],
        )
        .unwrap();
    assert_open_fails(&f, 1);
}

#[test]
fn a_truncated_ciphertext_fails() {
    let f = fixture_with(2);
    f.raw().execute("UPDATE electors SET s_name = substr(s_name, 1, 10) WHERE id = 1", []).unwrap();
    assert_open_fails(&f, 1);
}

#[test]
fn the_wrong_keyring_cannot_open_the_register() {
    let f = fixture_with(2);
    let other_dir = tempfile::tempdir().unwrap();
    let other = FileKeyring::create(&other_dir.path().join("other.keyring"), None).unwrap();
    match TestVault::open(&f.db_path(), Box::new(other)) {
        Err(VaultError::Keyring(e)) => assert!(e.to_string().contains("no key-encryption key"), "{e}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a foreign keyring opened the register"),
    }
}

#[test]
fn a_tampered_wrapped_data_key_is_refused() {
    let f = fixture_with(2);
    let conn = f.raw();
    let mut wrapped: Vec<u8> =
        conn.query_row("SELECT wrapped FROM data_keys WHERE purpose = 'seal'", [], |r| r.get(0)).unwrap();
    wrapped[20] ^= 0x01;
    conn.execute("UPDATE data_keys SET wrapped = ?1 WHERE purpose = 'seal'", [&wrapped]).unwrap();
    let keyring = FileKeyring::open(&f.keyring_path(), None).unwrap();
    assert!(matches!(TestVault::open(&f.db_path(), Box::new(keyring)), Err(VaultError::Keyring(_))));
}

#[test]
fn a_data_key_moved_to_another_authority_is_refused() {
    let mut f = fixture_with(1);
    f.vault.create_authority("W06000001", "Other", rollguard_register::Nation::Wales).unwrap();
    // Give the second authority the first authority's wrapped seal key.
    f.raw()
        .execute(
            "UPDATE data_keys SET wrapped = (SELECT wrapped FROM data_keys k JOIN authorities a ON a.id = k.authority_id \
             WHERE a.code = 'E07000001' AND k.purpose = 'seal') \
             WHERE purpose = 'seal' AND authority_id = (SELECT id FROM authorities WHERE code = 'W06000001')",
            [],
        )
        .unwrap();
    let keyring = FileKeyring::open(&f.keyring_path(), None).unwrap();
    assert!(matches!(TestVault::open(&f.db_path(), Box::new(keyring)), Err(VaultError::Keyring(_))));
}

#[test]
fn errors_from_tampering_carry_no_personal_data() {
    let f = fixture_with(3);
    let e = f.vault.elector(2).unwrap();
    f.raw().execute("UPDATE electors SET s_name = s_address WHERE id = 2", []).unwrap();
    let msg = format!("{} {:?}", f.vault.elector(2).unwrap_err(), f.vault.elector(2).unwrap_err());
    assert!(!msg.contains(&e.entry.name.surname));
    assert!(!msg.contains(e.entry.address.postcode.as_str()));
}
