//! The PKCS#11 keyring against a real SoftHSM2 token (installed by scripts/test and .ci/run).

use rollguard_sealing::{open_keyring, KeyBytes, KeyringError, KeyringSpec, WrapContext};
use std::path::{Path, PathBuf};
use std::process::Command;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A fresh SoftHSM2 token in a temporary directory, with its own configuration file.
fn fresh_token(dir: &Path, label: &str, pin: &str) -> PathBuf {
    assert!(
        Path::new(MODULE).exists(),
        "SoftHSM2 is not installed ({MODULE} missing); scripts/test installs it (apt-get install softhsm2)"
    );
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let out = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args(["--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", "so-pin-unused-9"])
        .output()
        .expect("softhsm2-util runs");
    assert!(out.status.success(), "init-token failed: {}", String::from_utf8_lossy(&out.stderr));
    conf
}

fn ctx() -> WrapContext<'static> {
    WrapContext { authority: "E07000001", purpose: "seal", generation: 1 }
}

// One test function: the PKCS#11 library is initialised once per process.
#[test]
fn pkcs11_keyring_wraps_rotates_and_refuses_tampering_in_softhsm2() {
    let dir = tempfile::tempdir().unwrap();
    let conf = fresh_token(dir.path(), "rollguard-test", "4711-user-pin");
    // SAFETY-free in edition 2021: the library reads its configuration at load time.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    std::env::set_var("RG_TEST_HSM_PIN", "4711-user-pin");
    let spec =
        KeyringSpec::parse(&format!("pkcs11:module={MODULE};token=rollguard-test;pin-env=RG_TEST_HSM_PIN"))
            .unwrap();

    let ring = open_keyring(&spec, None).unwrap();
    assert!(ring.describe().contains("rollguard-test"));
    let first = ring.current();
    let dek = KeyBytes::random();
    let wrapped = ring.wrap(&dek, &ctx()).unwrap();
    assert_eq!(ring.unwrap(&wrapped, &ctx()).unwrap(), dek, "round trip");
    assert!(!wrapped.bytes.windows(32).any(|w| w == dek.expose()), "wrapped bytes contain the key");

    // Tampering and a different context are refused by the token's GCM check.
    let mut bad = wrapped.clone();
    bad.bytes[15] ^= 0x80;
    assert!(matches!(ring.unwrap(&bad, &ctx()), Err(KeyringError::Unwrap { .. })));
    let other = WrapContext { authority: "E07000002", ..ctx() };
    assert!(matches!(ring.unwrap(&wrapped, &other), Err(KeyringError::Unwrap { .. })));

    // The KEK persists in the token: a second open finds it and unwraps.
    drop(ring);
    let mut ring = open_keyring(&spec, None).unwrap();
    assert_eq!(ring.current(), first);
    assert_eq!(ring.unwrap(&wrapped, &ctx()).unwrap(), dek);

    // Rotation: a new current KEK, old wraps still open until the old KEK is destroyed.
    let second = ring.add_kek().unwrap();
    assert_ne!(second, first);
    let rewrapped = ring.wrap(&dek, &ctx()).unwrap();
    assert_eq!(rewrapped.kek, second);
    assert_eq!(ring.unwrap(&wrapped, &ctx()).unwrap(), dek);
    ring.remove_kek(&first).unwrap();
    assert!(matches!(ring.unwrap(&wrapped, &ctx()), Err(KeyringError::UnknownKek(_))));
    assert_eq!(ring.unwrap(&rewrapped, &ctx()).unwrap(), dek);

    // A wrong PIN is refused (once no session of this process is logged in).
    drop(ring);
    std::env::set_var("RG_TEST_HSM_PIN", "not-the-pin");
    let err = open_keyring(&spec, None).err().expect("wrong PIN must fail");
    assert!(err.to_string().contains("PIN"), "{err}");
}
