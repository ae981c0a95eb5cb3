//! A leaked file is whatever the leaker made of it: tracing must never panic, and a mark is
//! reported only on a line that holds its names and postcode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollguard_vault::registry::{trace, Mark, Registry, SupplyRecord};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mark = Mark {
        elector_number: "AB-12".into(),
        surname: "Quillfeather".into(),
        given_names: "Ada Rose".into(),
        address_lines: vec!["4 Mill Lane".into()],
        postcode: "LE65 1AA".into(),
    };
    let registry = Registry {
        canaries: vec![],
        supplies: vec![SupplyRecord {
            id: "s1".into(),
            recipient: "Party A".into(),
            authority: "E1".into(),
            kind: "full".into(),
            made_at: 0,
            made_by: "fuzz".into(),
            marks: vec![mark],
        }],
        tickets: vec![],
    };
    for s in trace(&text, &registry) {
        for f in &s.found {
            let line = text.lines().nth(f.line - 1).expect("reported line exists").to_lowercase();
            assert!(line.contains("quillfeather"));
        }
    }
});
