//! Sigma detection semantics: selections, modifiers, conditions, and refusals that name
//! the file, line and reason.

use rollguard_detect::{Engine, Observed, RuleSet};

fn ev(kind: &'static str) -> Observed {
    Observed { kind, outcome: "success", time_ms: 1_800_000_000_000, ..Default::default() }
}

fn with(mut e: Observed, f: impl FnOnce(&mut Observed)) -> Observed {
    f(&mut e);
    e
}

fn rule(detection: &str) -> String {
    format!("title: test rule\nid: t-1\nlogsource:\n  product: rollguard\ndetection:\n{detection}")
}

fn fires(detection: &str, e: &Observed) -> bool {
    let set = RuleSet::from_sources([("test.yml", rule(detection).as_str())]);
    assert!(set.errors.is_empty(), "rule refused: {:?}", set.errors);
    !Engine::new(set).observe(e).is_empty()
}

fn refusal(text: &str) -> String {
    let set = RuleSet::from_sources([("rules/bad.yml", text)]);
    assert!(set.is_empty(), "rule should be refused");
    assert_eq!(set.errors.len(), 1, "{:?}", set.errors);
    set.errors[0].to_string()
}

#[test]
fn plain_values_match_whole_values_case_insensitively() {
    let d = "  sel:\n    principal: Officer-Ann\n  condition: sel\n";
    assert!(fires(d, &with(ev("auth.mfa"), |e| e.principal = Some("officer-ann".into()))));
    assert!(!fires(d, &with(ev("auth.mfa"), |e| e.principal = Some("officer-anne".into()))));
    assert!(!fires(d, &ev("auth.mfa")), "an absent field matches nothing");
}

#[test]
fn a_list_of_values_is_or_and_all_makes_it_and() {
    let any = "  sel:\n    fields:\n      - surname\n      - postcode\n  condition: sel\n";
    let all = "  sel:\n    fields|all:\n      - surname\n      - postcode\n  condition: sel\n";
    let one = with(ev("elector.write"), |e| e.fields = vec!["surname".into()]);
    let both = with(ev("elector.write"), |e| e.fields = vec!["postcode".into(), "surname".into()]);
    assert!(fires(any, &one) && fires(any, &both));
    assert!(!fires(all, &one) && fires(all, &both));
}

#[test]
fn string_modifiers_and_wildcards() {
    let e = with(ev("register.export"), |e| e.detail = vec![("recipient".into(), "Party of the Sea".into())]);
    assert!(fires("  s:\n    detail.recipient|contains: OF THE\n  condition: s\n", &e));
    assert!(fires("  s:\n    detail.recipient|startswith: party\n  condition: s\n", &e));
    assert!(fires("  s:\n    detail.recipient|endswith: sea\n  condition: s\n", &e));
    assert!(!fires("  s:\n    detail.recipient|endswith: party\n  condition: s\n", &e));
    assert!(fires("  s:\n    detail.recipient: 'party * sea'\n  condition: s\n", &e));
    assert!(fires("  s:\n    detail.recipient: 'Party of th? Sea'\n  condition: s\n", &e));
    assert!(!fires("  s:\n    detail.recipient|cased: party of the sea\n  condition: s\n", &e));
    // An escaped wildcard is literal.
    let star = with(ev("register.export"), |e| e.detail = vec![("recipient".into(), "a*b".into())]);
    assert!(fires("  s:\n    detail.recipient: 'a\\*b'\n  condition: s\n", &star));
    assert!(!fires("  s:\n    detail.recipient: 'a\\*b'\n  condition: s\n", &e));
}

#[test]
fn regex_cidr_exists_and_numeric_modifiers() {
    let e = with(ev("auth.mfa"), |e| {
        e.client = Some("10.20.30.40".into());
        e.principal = Some("svc-print".into());
        e.detail = vec![("results".into(), "150".into())];
        e.electors = vec![5, 9];
    });
    assert!(fires("  s:\n    principal|re: '^svc-[a-z]+$'\n  condition: s\n", &e));
    assert!(!fires("  s:\n    principal|re: '^SVC-'\n  condition: s\n", &e), "re is case-sensitive");
    assert!(fires("  s:\n    principal|re|i: '^SVC-'\n  condition: s\n", &e));
    assert!(fires("  s:\n    client|cidr: 10.0.0.0/8\n  condition: s\n", &e));
    assert!(!fires("  s:\n    client|cidr: 192.168.0.0/16\n  condition: s\n", &e));
    assert!(fires("  s:\n    authority|exists: false\n  condition: s\n", &e));
    assert!(fires("  s:\n    authority: null\n  condition: s\n", &e));
    assert!(!fires("  s:\n    client|exists: false\n  condition: s\n", &e));
    assert!(fires("  s:\n    detail.results|gt: 149\n  condition: s\n", &e));
    assert!(!fires("  s:\n    detail.results|gt: 150\n  condition: s\n", &e));
    assert!(fires("  s:\n    detail.results|gte: 150\n  condition: s\n", &e));
    assert!(fires("  s:\n    elector_count|lte: 2\n  condition: s\n", &e));
    assert!(!fires("  s:\n    elector_count|lt: 2\n  condition: s\n", &e));
    // A list field matches if any element matches.
    assert!(fires("  s:\n    electors: 9\n  condition: s\n", &e));
    assert!(fires("  s:\n    principal|neq: officer-ann\n  condition: s\n", &e));
}

#[test]
fn conditions_combine_selections() {
    let d = "  a:\n    kind: elector.read\n  b:\n    outcome: refused\n  filter_svc:\n    principal|startswith: svc-\n  condition: (a or b) and not filter_svc\n";
    assert!(fires(d, &ev("elector.read")));
    assert!(fires(d, &with(ev("auth.mfa"), |e| e.outcome = "refused")));
    assert!(!fires(d, &ev("auth.mfa")));
    assert!(!fires(d, &with(ev("elector.read"), |e| e.principal = Some("svc-x".into()))));
    let quantified =
        "  sel_a:\n    kind: elector.read\n  sel_b:\n    outcome: success\n  condition: all of sel_*\n";
    assert!(fires(quantified, &ev("elector.read")));
    assert!(!fires(quantified, &with(ev("elector.read"), |e| e.outcome = "failure")));
    let one = "  sel_a:\n    kind: nothing\n  sel_b:\n    outcome: success\n  condition: 1 of them\n";
    assert!(fires(one, &ev("elector.read")));
    let list = "  sel_a:\n    kind: nothing\n  sel_b:\n    outcome: success\n  condition:\n    - sel_a\n    - sel_b\n";
    assert!(fires(list, &ev("elector.read")));
}

#[test]
fn keyword_lists_search_every_text_field() {
    let d = "  keywords:\n    - suspicious-recipient\n  condition: keywords\n";
    let e = with(ev("register.export"), |e| {
        e.detail = vec![("recipient".into(), "a suspicious-recipient ltd".into())]
    });
    assert!(fires(d, &e));
    assert!(!fires(d, &ev("register.export")));
}

#[test]
fn bad_rules_are_refused_with_file_line_and_reason() {
    let unknown_field = refusal(&rule("  sel:\n    princpal: ann\n  condition: sel\n"));
    assert!(unknown_field.starts_with("rules/bad.yml:7: unknown field 'princpal'"), "{unknown_field}");
    let bad_modifier = refusal(&rule("  sel:\n    principal|contians: ann\n  condition: sel\n"));
    assert!(bad_modifier.starts_with("rules/bad.yml:7: unknown modifier 'contians'"), "{bad_modifier}");
    let bad_condition = refusal(&rule("  sel:\n    principal: ann\n  condition: sel and selection\n"));
    assert!(bad_condition.contains(":8: condition: no selection named 'selection'"), "{bad_condition}");
    let bad_regex = refusal(&rule("  sel:\n    principal|re: '(unclosed'\n  condition: sel\n"));
    assert!(bad_regex.contains(":7: bad regular expression"), "{bad_regex}");
    let yaml = refusal("title: broken\nlogsource:\n  product: rollguard\ndetection:\n  sel: [unclosed\n");
    assert!(yaml.starts_with("rules/bad.yml:") && yaml.contains("YAML syntax error"), "{yaml}");
    let product = refusal(
        "title: other\nlogsource:\n  product: windows\ndetection:\n  s:\n    kind: x\n  condition: s\n",
    );
    assert!(product.contains(":3: logsource product 'windows'"), "{product}");
    let level = refusal(&format!("level: severe\n{}", rule("  s:\n    kind: x\n  condition: s\n")));
    assert!(level.contains(":1: unknown level 'severe'"), "{level}");
    let response =
        refusal(&format!("response:\n  - shut_down\n{}", rule("  s:\n    kind: x\n  condition: s\n")));
    assert!(response.contains(":2: unknown response 'shut_down'"), "{response}");
}

#[test]
fn line_numbers_count_cr_lf_and_crlf_line_ends_alike() {
    // Found by the sigma_rules fuzz target: lone CRs made errors name lines past the end.
    for eol in ["\n", "\r\n", "\r"] {
        let text = [
            "title: t",
            "logsource:",
            "  product: rollguard",
            "detection:",
            "  s:",
            "    kindd: x",
            "  condition: s",
            "",
        ]
        .join(eol);
        let set = RuleSet::from_sources([("eol.yml", text.as_str())]);
        assert_eq!(set.errors.len(), 1);
        assert_eq!(set.errors[0].line, 6, "with {eol:?} line ends: {}", set.errors[0]);
    }
}

#[test]
fn one_bad_document_does_not_stop_the_good_ones() {
    let text = format!(
        "{}---\ntitle: bad\nlogsource:\n  product: rollguard\ndetection:\n  s:\n    nofield: 1\n  condition: s\n",
        rule("  s:\n    kind: elector.read\n  condition: s\n")
    );
    let set = RuleSet::from_sources([("mixed.yml", text.as_str())]);
    assert_eq!(set.len(), 1);
    assert_eq!(set.errors.len(), 1);
    // The second document starts after the `---` on line 9; its bad field is on line 15.
    assert_eq!(set.errors[0].line, 15, "{}", set.errors[0]);
}

#[test]
fn rule_directories_load_and_report_each_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.yml"), rule("  s:\n    kind: elector.read\n  condition: s\n"))
        .unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "title: x\ndetection: {}\n").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a rule").unwrap();
    let set = RuleSet::load_dir(dir.path()).unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(set.errors.len(), 1);
    assert!(set.errors[0].file.ends_with("bad.yaml"));
}

#[test]
fn shipped_rules_all_load() {
    let set = RuleSet::shipped();
    assert!(set.errors.is_empty(), "{:?}", set.errors);
    assert_eq!(set.len(), 19);
}
