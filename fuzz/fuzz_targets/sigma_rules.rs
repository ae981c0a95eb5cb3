//! Sigma rule files from untrusted text (a rules directory anyone with write access to can
//! change): loading must never panic, every refusal names a line inside the file, and any
//! rule that loads can be run over an event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollguard_detect::{Engine, Observed, RuleSet};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let set = RuleSet::from_sources([("fuzz.yml", text)]);
    // Lines as YAML and editors count them: CR, LF or CRLF ends one.
    let lines = text.replace("\r\n", "\n").split(['\n', '\r']).count().max(1);
    for e in &set.errors {
        assert_eq!(e.file, "fuzz.yml");
        assert!(e.line <= lines + 1, "line {} of a {lines}-line file: {e}", e.line);
    }
    let mut engine = Engine::new(set);
    let ev = Observed {
        kind: "elector.read".into(),
        outcome: "success",
        principal: Some("officer-ann".into()),
        client: Some("192.0.2.1".into()),
        electors: vec![1, 2, 3],
        detail: vec![("results".into(), "3".into())],
        time_ms: 1_800_000_000_000,
        ..Default::default()
    };
    for i in 0..3 {
        let mut e = ev.clone();
        e.time_ms += i;
        let _ = engine.observe(&e);
    }
});
