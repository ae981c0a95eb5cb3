//! Signed notes, checkpoints and verifier keys from untrusted bytes (a witness's file, an
//! HTTP body): parsing and verifying must never panic, and nothing verifies without the key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollguard_audit::{Checkpoint, NoteSigner, NoteVerifier};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = NoteVerifier::parse(text);
    let _ = Checkpoint::parse(text);
    let signer = NoteSigner::from_seed("rollguard.fuzz/audit", &[9u8; 32]).expect("valid name");
    let verifier = signer.verifier();
    if let Ok(cp) = Checkpoint::open(text, &verifier) {
        // Only a note this key signed opens; its text must be exactly what was signed.
        let resigned = signer.sign(&cp.text()).expect("checkpoint text is signable");
        assert_eq!(Checkpoint::open(&resigned, &verifier).expect("re-signed opens"), cp);
    }
});
