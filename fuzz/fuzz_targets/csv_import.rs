//! Register CSV: any bytes either parse and validate, or give an error naming a line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollguard_register::{parse_date, FranchiseTable, Nation};

fuzz_target!(|data: &[u8]| {
    let table = FranchiseTable::default_for(Nation::Wales);
    let today = parse_date("today", "2026-11-24").unwrap();
    let result = rollguard_vault::read_entries(data, "fuzz.csv", |line, text, _| {
        assert!(line >= 2, "data rows start after the header");
        if let Err(errs) = text.validate(&table, today) {
            assert!(!errs.is_empty());
            for e in &errs.0 {
                assert!(!e.field.is_empty());
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        assert!(e.to_string().starts_with("fuzz.csv:"));
    }
});
