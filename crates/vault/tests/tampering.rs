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

fn sealed(f: &Fixture, id: u64) -> Vec<u8> {
    f.raw().query_row("SELECT sealed FROM electors WHERE id = ?1", [id], |r| r.get(0)).unwrap()
}

fn set_sealed(f: &Fixture, id: u64, value: &[u8]) {
    f.raw().execute("UPDATE electors SET sealed = ?2 WHERE id = ?1", rusqlite::params![id, value]).unwrap();
}

#[test]
fn a_flipped_byte_anywhere_in_a_sealed_entry_fails_the_read() {
    let f = fixture_with(5);
    let id = f.id(3);
    let original = sealed(&f, id);
    for at in [0, 11, 12, original.len() / 2, original.len() - 17, original.len() - 1] {
        let mut bad = original.clone();
        bad[at] ^= 0x20;
        set_sealed(&f, id, &bad);
        assert_open_fails(&f, id);
    }
    set_sealed(&f, id, &original);
    assert!(f.vault.elector(id).is_ok(), "restoring the value restores the read");
}

#[test]
fn a_ciphertext_swapped_between_records_fails() {
    let f = fixture_with(5);
    let (a, b) = (f.id(2), f.id(4));
    set_sealed(&f, a, &sealed(&f, b));
    assert_open_fails(&f, a);
    assert!(f.vault.elector(b).is_ok());
}

#[test]
fn an_old_version_replayed_as_current_fails() {
    let mut f = fixture_with(3);
    let id = f.id(1);
    let mut text = f.vault.elector(id).unwrap().entry.to_text();
    text.address_lines[0] = "9 Alder Way".into();
    f.vault.amend(id, &text, day("2026-03-01"), today()).unwrap();
    // Copy version 1's sealed entry over version 2's.
    let old: Vec<u8> = f
        .raw()
        .query_row("SELECT sealed FROM elector_history WHERE id = ?1 AND version = 1", [id], |r| r.get(0))
        .unwrap();
    set_sealed(&f, id, &old);
    assert_open_fails(&f, id);
}

#[test]
fn a_truncated_ciphertext_fails() {
    let f = fixture_with(2);
    let id = f.id(1);
    let whole = sealed(&f, id);
    set_sealed(&f, id, &whole[..whole.len() - 16]);
    assert_open_fails(&f, id);
    set_sealed(&f, id, &whole[..10]);
    assert_open_fails(&f, id);
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
    let (id, other) = (f.id(2), f.id(3));
    let e = f.vault.elector(id).unwrap();
    set_sealed(&f, id, &sealed(&f, other));
    let msg = format!("{} {:?}", f.vault.elector(id).unwrap_err(), f.vault.elector(id).unwrap_err());
    assert!(!msg.contains(&e.entry.name.surname));
    assert!(!msg.contains(e.entry.address.postcode.as_str()));
}
