//! Audit events and proofs from untrusted bytes: canonical parsing never panics and accepts
//! only bytes that re-serialise to themselves; proof verification never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollguard_audit::{merkle, Event};

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = Event::from_canonical(data) {
        assert_eq!(e.canonical(), data);
    }
    // Split the input into a leaf, sizes and proof hashes of whatever lengths arrive.
    if data.len() >= 16 {
        let index = u64::from_le_bytes(data[..8].try_into().unwrap());
        let size = u64::from_le_bytes(data[8..16].try_into().unwrap());
        let rest = &data[16..];
        let hashes: Vec<&[u8]> = rest.chunks(32).collect();
        if let Some((first, proof)) = hashes.split_first() {
            let _ = merkle::verify_inclusion(first, index, size, proof, first);
            let _ = merkle::verify_consistency(index, size, first, first, proof);
            let _ = merkle::verify_subtree_inclusion(first, index, index / 2, size, proof, first);
            let _ = merkle::verify_subtree_consistency(index, size, size.wrapping_add(index), proof, first, first);
        }
    }
});
