//! Key rotation with the register in use: KEK rotation rewraps data keys, data-key
//! rotation re-seals rows in resumable batches. Nothing becomes unreadable on the way.

mod common;

use common::*;
use rollguard_sealing::FileKeyring;
use rollguard_store::{SqliteStore, Store};
use rollguard_vault::VaultError;

#[test]
fn kek_rotation_rewraps_every_data_key_and_destroys_the_old_kek() {
    let mut f = Fixture::new();
    f.import(&to_csv(&generated(200, 21))).unwrap();
    let old_keyring_copy = std::fs::read(f.keyring_path()).unwrap();
    let old_kek = f.vault.current_kek();
    let r = f.vault.rotate_kek().unwrap();
    assert_eq!(r.removed.iter().map(|k| k.0.clone()).collect::<Vec<_>>(), vec![old_kek.clone()]);
    assert_eq!(r.rewrapped, 2);
    for k in f.vault.read(|_, tx| Ok(tx.data_keys()?)).unwrap() {
        assert_eq!(k.kek_id, r.new_kek.0);
    }
    let id = f.id(100);
    assert!(f.vault.elector(id).is_ok(), "reads go on in the same process");
    f.reopen();
    assert!(f.vault.elector(id).is_ok(), "and after reopening");
    assert_eq!(f.vault.kek_ids(), vec![r.new_kek.0.clone()]);

    // A stolen copy of the old keyring no longer opens the register.
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("stale.keyring");
    std::fs::write(&stale, old_keyring_copy).unwrap();
    std::fs::set_permissions(&stale, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    assert!(matches!(
        TestVault::open(&f.db_path(), Box::new(FileKeyring::open(&stale, None).unwrap())),
        Err(VaultError::Keyring(_))
    ));
}

#[test]
fn data_key_rotation_reseals_resumably_and_retires_the_old_generation() {
    let mut f = Fixture::new();
    let ids = f.import(&to_csv(&generated(1200, 22))).unwrap().ids;
    let five = ids[4];
    let original_address = f.vault.elector(five).unwrap().entry.address;
    let mut text = f.vault.elector(five).unwrap().entry.to_text();
    text.address_lines[0] = "3 Linden Grove".into();
    f.vault.amend(five, &text, day("2026-05-05"), today()).unwrap(); // history rows are resealed too
    let before: Vec<_> = ids.iter().map(|id| f.vault.elector(*id).unwrap().entry).collect();

    let generation = f.vault.rotate_data_key(AUTHORITY).unwrap();
    assert_eq!(generation, 2);
    // A new write during the rotation is sealed under the new generation at once.
    let mut newcomer = generated(1, 77)[0].clone();
    newcomer.elector_number = "ZZ-1".into();
    newcomer.nino.clear();
    let new_id = f.vault.add(AUTHORITY, &newcomer, today(), today(), false).unwrap();
    assert_eq!(f.vault.read(|_, tx| Ok(tx.elector(new_id)?)).unwrap().unwrap().key_generation, 2);

    // Interrupted after 500 rows: everything still reads, from either generation.
    let first = f.vault.reseal(AUTHORITY, 200, Some(500)).unwrap();
    assert_eq!((first.resealed, first.retired), (500, 0));
    f.reopen();
    for (i, want) in before.iter().enumerate() {
        assert_eq!(&f.vault.elector(ids[i]).unwrap().entry, want);
    }
    // Resumed: the rest, then the old generation is retired.
    let rest = f.vault.reseal(AUTHORITY, 200, None).unwrap();
    assert_eq!(rest.resealed, 1200 + 1 - 500, "1200 current rows and one history row");
    assert_eq!(rest.retired, 1);
    let keys = f.vault.read(|_, tx| Ok(tx.data_keys()?)).unwrap();
    assert!(keys.iter().any(|k| k.generation == 1 && k.retired));
    assert!(f.vault.read(|_, tx| Ok(tx.rows_not_sealed_with(AUTHORITY, 2, 0, 10)?)).unwrap().is_empty());
    for (i, want) in before.iter().enumerate() {
        assert_eq!(&f.vault.elector(ids[i]).unwrap().entry, want);
    }
    assert_eq!(
        f.vault.history(five).unwrap()[0].entry.address,
        original_address,
        "history row resealed intact"
    );
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
    use rollguard_sealing::{KekId, Keyring, WrapContext, WrappedKey};
    use rollguard_store::SYSTEM_KEY_AUTHORITY;
    let mut f = Fixture::new();
    let ctx = WrapContext { authority: SYSTEM_KEY_AUTHORITY, purpose: "totp-seal", generation: 1 };
    let before = f.vault.read(|_, tx| Ok(tx.system_key("totp-seal")?)).unwrap().unwrap();
    let keyring = FileKeyring::open(&f.keyring_path(), None).unwrap();
    let key = keyring
        .unwrap(&WrappedKey { kek: KekId(before.kek_id.clone()), bytes: before.wrapped }, &ctx)
        .unwrap();
    f.vault.rotate_kek().unwrap();
    let mut side = SqliteStore::open(&f.db_path()).unwrap();
    let k = side.read().unwrap().system_key("totp-seal").unwrap().unwrap();
    assert_ne!(k.kek_id, before.kek_id, "rewrapped under the new KEK");
    let keyring = FileKeyring::open(&f.keyring_path(), None).unwrap();
    let back = keyring.unwrap(&WrappedKey { kek: KekId(k.kek_id), bytes: k.wrapped }, &ctx).unwrap();
    assert_eq!(back.expose(), key.expose());
    // The registry key, bound to its own wrapping, survives the rotation too.
    f.reopen();
    assert!(f.vault.read(|v, tx| v.registry(tx)).is_ok());
}

#[test]
fn a_process_that_meets_a_kek_rotated_by_another_reads_its_keyring_again() {
    let mut f = Fixture::new();
    f.import(&to_csv(&generated(50, 23))).unwrap();
    // A second process over the same register and keyring file, which can reopen its keyring.
    let path = f.keyring_path();
    let reopen: rollguard_vault::KeyringOpener =
        Box::new(
            move || Ok(Box::new(FileKeyring::open(&path, None)?) as Box<dyn rollguard_sealing::Keyring>),
        );
    let other_register = rollguard_store::runtime::Register::single(connector(&f.db_path())).unwrap();
    let other = rollguard_vault::Keys::open(
        Box::new(FileKeyring::open(&f.keyring_path(), None).unwrap()),
        Some(reopen),
        &other_register,
    )
    .unwrap();
    let id = f.id(7);
    f.vault.rotate_kek().unwrap();
    // Its next transaction sees a newer key epoch under a KEK it does not hold.
    let (tx_done, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let got = other_register.read(|tx| -> rollguard_vault::Result<_> {
            let vault = other.vault(tx)?;
            Ok(vault.elector(tx, id)?.entry)
        });
        let _ = tx_done.send(got.is_ok());
    });
    let read = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the reload finishes (no lock held across it)");
    assert!(read, "the entry reads under the rewrapped key");
}
