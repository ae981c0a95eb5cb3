//! Any bytes as a message, and as an mbox: the scanner must never panic, and a report's
//! findings stay bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollguard_mail::{source::split_mbox, ScanConfig, Scanner};

fuzz_target!(|data: &[u8]| {
    let scanner = Scanner::new(ScanConfig {
        protected_domains: vec!["parliament.uk".into()],
        organisations: vec![("BBC News".into(), vec!["bbc.co.uk".into()])],
        ..ScanConfig::default()
    });
    let r = scanner.scan("fuzz", data, false);
    assert!(r.findings.len() <= 200);
    for m in split_mbox(data) {
        let _ = scanner.scan("fuzz#mbox", &m, false);
    }
});
