//! Key rotation with the register in use: KEK rotation rewraps data keys, data-key
//! rotation re-seals rows in resumable batches. Nothing becomes unreadable on the way.

mod common;

use common::*;
use rollguard_sealing::FileKeyring;
use rollguard_store::{RegisterStore, SqliteStore};
use rollguard_vault::{Vault, VaultError};

#[test]
fn kek_rotation_rewraps_every_data_key_and_destroys_the_old_kek() {
    let mut f = Fixture::new();
    f.import(&to_csv(&generated(200, 21))).unwrap();
    let old_keyring_copy = std::fs::read(f.keyring_path()).unwrap();
    let old_kek = f.vault.keyring().current();
    let r = f.vault.rotate_kek().unwrap();
    assert_eq!(r.removed, vec![old_kek.clone()]);
    assert_eq!(r.rewrapped, 2);
    for k in f.vault.store().data_keys().unwrap() {
        assert_eq!(k.kek_id, r.new_kek.0);
    }
    assert!(f.vault.elector(100).is_ok(), "reads go on in the same process");
    f.reopen();
    assert!(f.vault.elector(100).is_ok(), "and after reopening");
    assert_eq!(f.vault.keyring().kek_ids(), vec![r.new_kek.clone()]);

    // A stolen copy of the old keyring no longer opens the register.
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("stale.keyring");
    std::fs::write(&stale, old_keyring_copy).unwrap();
    std::fs::set_permissions(&stale, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let store = SqliteStore::open(&f.db_path()).unwrap();
    assert!(matches!(
        Vault::open(store, Box::new(FileKeyring::open(&stale, None).unwrap())),
        Err(VaultError::Keyring(_))
    ));
}

#[test]
fn data_key_rotation_reseals_resumably_and_retires_the_old_generation() {
    let mut f = Fixture::new();
    f.import(&to_csv(&generated(1200, 22))).unwrap();
    let original_address = f.vault.elector(5).unwrap().entry.address;
    let mut text = f.vault.elector(5).unwrap().entry.to_text();
    text.address_lines[0] = "3 Linden Grove".into();
    f.vault.amend(5, &text, day("2026-05-05"), today()).unwrap(); // history rows are resealed too
    let before: Vec<_> = (1..=1200).map(|id| f.vault.elector(id).unwrap().entry).collect();

    let generation = f.vault.rotate_data_key(AUTHORITY).unwrap();
    assert_eq!(generation, 2);
    // A new write during the rotation is sealed under the new generation at once.
    let mut newcomer = generated(1, 77)[0].clone();
    newcomer.elector_number = "ZZ-1".into();
    newcomer.nino.clear();
    let new_id = f.vault.add(AUTHORITY, &newcomer, today(), today(), false).unwrap();
    assert_eq!(f.vault.store().elector(new_id).unwrap().unwrap().key_generation, 2);

    // Interrupted after 500 rows: everything still reads, from either generation.
    let first = f.vault.reseal(AUTHORITY, 200, Some(500), &|_| {}).unwrap();
    assert_eq!((first.resealed, first.retired), (500, 0));
    f.reopen();
    for (i, want) in before.iter().enumerate() {
        assert_eq!(&f.vault.elector(i as u64 + 1).unwrap().entry, want);
    }
    // Resumed: the rest, then the old generation is retired.
    let rest = f.vault.reseal(AUTHORITY, 200, None, &|_| {}).unwrap();
    assert_eq!(rest.resealed, 1200 + 1 - 500, "1200 current rows and one history row");
    assert_eq!(rest.retired, 1);
    let keys = f.vault.store().data_keys().unwrap();
    assert!(keys.iter().any(|k| k.generation == 1 && k.retired));
    assert!(f.vault.store().rows_not_sealed_with(AUTHORITY, 2, 0, 10).unwrap().is_empty());
    for (i, want) in before.iter().enumerate() {
        assert_eq!(&f.vault.elector(i as u64 + 1).unwrap().entry, want);
    }
    assert_eq!(f.vault.history(5).unwrap()[0].entry.address, original_address, "history row resealed intact");
}

#[test]
fn a_keyring_with_loose_permissions_is_refused() {
    let f = Fixture::new();
    std::fs::set_permissions(f.keyring_path(), std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let err = FileKeyring::open(&f.keyring_path(), None).unwrap_err();
    assert!(err.to_string().contains("chmod 600"), "{err}");
}

#[test]
fn kek_rotation_rewraps_system_keys_too() {
    use rollguard_sealing::{KekId, KeyBytes, Keyring, WrapContext, WrappedKey};
    use rollguard_store::{AccessStore, SystemKeyRecord, SYSTEM_KEY_AUTHORITY};
    let mut f = Fixture::new();
    let ctx = WrapContext { authority: SYSTEM_KEY_AUTHORITY, purpose: "totp-seal", generation: 1 };
    let key = KeyBytes::random();
    let w = f.vault.keyring().wrap(&key, &ctx).unwrap();
    let store_path = f.db_path();
    let mut side = SqliteStore::open(&store_path).unwrap();
    side.put_system_key(&SystemKeyRecord {
        purpose: "totp-seal".into(),
        kek_id: w.kek.0.clone(),
        wrapped: w.bytes,
    })
    .unwrap();
    f.vault.rotate_kek().unwrap();
    let k = side.system_key("totp-seal").unwrap().unwrap();
    assert_ne!(k.kek_id, w.kek.0, "rewrapped under the new KEK");
    let keyring = FileKeyring::open(&f.keyring_path(), None).unwrap();
    let back = keyring.unwrap(&WrappedKey { kek: KekId(k.kek_id), bytes: k.wrapped }, &ctx).unwrap();
    assert_eq!(back.expose(), key.expose());
}
