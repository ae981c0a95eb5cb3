//! `rollguard bench mail`: messages scanned per second on one core, over the labelled
//! fixtures and (with `--dir`) a corpus of your own, and precision and recall on the labels.

use crate::context::Result;
use crate::output::say;
use rollguard_mail::fixtures::corpus;
use rollguard_mail::{ScanConfig, Scanner, Verdict};
use std::time::Instant;

fn config() -> ScanConfig {
    ScanConfig {
        protected_domains: vec!["parliament.uk".into(), "bbc.co.uk".into()],
        organisations: vec![("BBC News".into(), vec!["bbc.co.uk".into(), "bbc.com".into()])],
        ..ScanConfig::default()
    }
}

/// Precision and recall of one yes/no question over the labelled set.
fn pr(pairs: &[(bool, bool)]) -> (f64, f64, usize, usize, usize) {
    let tp = pairs.iter().filter(|(l, p)| *l && *p).count();
    let fp = pairs.iter().filter(|(l, p)| !*l && *p).count();
    let fn_ = pairs.iter().filter(|(l, p)| *l && !*p).count();
    let precision = if tp + fp == 0 { 1.0 } else { tp as f64 / (tp + fp) as f64 };
    let recall = if tp + fn_ == 0 { 1.0 } else { tp as f64 / (tp + fn_) as f64 };
    (precision, recall, tp, fp, fn_)
}

pub fn run(messages: u64, corpus_dir: Option<&std::path::Path>) -> Result<()> {
    let scanner = Scanner::new(config());
    let fixtures = corpus();
    // Precision and recall on the labels.
    let mut tracking = Vec::new();
    let mut dangerous = Vec::new();
    for f in &fixtures {
        let r = scanner.scan(&f.name, f.eml.as_bytes(), false);
        tracking.push((f.tracking, r.findings.iter().any(|x| x.kind.is_tracking())));
        dangerous.push((f.dangerous, r.verdict == Verdict::Dangerous));
    }
    say!("rollguard bench mail: {} labelled fixtures", fixtures.len());
    for (what, pairs) in [("tracking", &tracking), ("dangerous", &dangerous)] {
        let (p, r, tp, fp, fn_) = pr(pairs);
        say!("  {what:<10} precision {p:.3}  recall {r:.3}  (true positives {tp}, false positives {fp}, false negatives {fn_})");
    }
    // Throughput: the fixtures (and the given corpus) round-robin, one thread.
    let mut bodies: Vec<Vec<u8>> = fixtures.iter().map(|f| f.eml.clone().into_bytes()).collect();
    if let Some(dir) = corpus_dir {
        let before = bodies.len();
        rollguard_mail::walk(&[dir.to_owned()], &mut |m| bodies.push(m.bytes), &mut |_| {});
        say!("  plus {} messages from {}", bodies.len() - before, dir.display());
    }
    let bytes: usize = bodies.iter().map(Vec::len).sum();
    let n = usize::try_from(messages).unwrap_or(usize::MAX).max(bodies.len());
    for b in &bodies {
        let _ = scanner.scan("warm", b, false);
    }
    let started = Instant::now();
    let mut findings = 0usize;
    for i in 0..n {
        findings += scanner.scan("bench", &bodies[i % bodies.len()], false).findings.len();
    }
    let secs = started.elapsed().as_secs_f64();
    say!(
        "  {n} scans in {secs:.2} s on one thread: {:.0} messages/s (mean message {:.1} KB; {findings} findings)",
        n as f64 / secs,
        bytes as f64 / bodies.len() as f64 / 1000.0
    );
    Ok(())
}
