//! Opening attacker-controlled ciphertext never panics and never yields plaintext.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollguard_sealing::{FieldContext, KeyBytes, SealKey};
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static KEY: OnceLock<SealKey> = OnceLock::new();
    let key = KEY.get_or_init(|| SealKey::new(&KeyBytes::from_slice(&[7u8; 32]).unwrap()));
    let ctx = FieldContext { authority: "E07000001", record: 1, field: "name", version: 1 };
    assert!(key.open(&ctx, data).is_err(), "forged ciphertext opened");
});
