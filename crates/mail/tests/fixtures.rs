//! The labelled fixtures: every expected finding is found, and the verdicts match the labels
//! (so precision and recall on them are measured, not assumed: `rollguard bench mail`).

use rollguard_mail::fixtures::corpus;
use rollguard_mail::{ScanConfig, Scanner, Verdict};

#[test]
fn every_fixture_gets_its_findings_and_its_label() {
    let scanner = Scanner::new(ScanConfig {
        protected_domains: vec!["parliament.uk".into(), "bbc.co.uk".into()],
        organisations: vec![("BBC News".into(), vec!["bbc.co.uk".into(), "bbc.com".into()])],
        ..ScanConfig::default()
    });
    let all = corpus();
    assert_eq!(all.len(), 114);
    for f in &all {
        let r = scanner.scan(&f.name, f.eml.as_bytes(), false);
        let found: Vec<_> = r.findings.iter().map(|x| x.kind).collect();
        for k in &f.kinds {
            assert!(found.contains(k), "{}: {k:?} not in {found:?}", f.name);
        }
        let tracking = found.iter().any(|k| k.is_tracking());
        assert_eq!(tracking, f.tracking, "{}: tracking {tracking}, {found:?}", f.name);
        assert_eq!(r.verdict == Verdict::Dangerous, f.dangerous, "{}: {:?} {found:?}", f.name, r.verdict);
    }
}
