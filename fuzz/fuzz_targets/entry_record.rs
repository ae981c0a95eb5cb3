//! A sealed entry's plaintext from untrusted bytes (a corrupted or hostile register under a
//! stolen key): unpadding and decoding never panic, and what decodes re-encodes to a record
//! that decodes to the same entry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollguard_register::{FranchiseTable, Nation};
use rollguard_sealing::unpad;
use rollguard_vault::record;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static TABLE: OnceLock<FranchiseTable> = OnceLock::new();
    let table = TABLE.get_or_init(|| FranchiseTable::default_for(Nation::England));
    for bytes in [Some(data), unpad(data)].into_iter().flatten() {
        if let Ok(r) = record::decode(bytes, table) {
            let again = record::decode(&record::encode(&r.entry, &r.change, r.nino), table).expect("re-encoded");
            assert!(again.entry == r.entry && again.change == r.change && again.nino == r.nino);
        }
    }
});
