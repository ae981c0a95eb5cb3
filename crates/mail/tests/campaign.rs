//! Campaign clustering on a labelled set: an APT31-style reconnaissance campaign to 50
//! members of a protected group, a benign newsletter, and personal mail.

use rollguard_mail::fixtures::{apt31, newsletter, personal};
use rollguard_mail::{cluster, ScanConfig, Scanner};
use std::collections::BTreeSet;

fn config() -> ScanConfig {
    ScanConfig {
        protected_domains: vec!["parliament.uk".into(), "bbc.co.uk".into()],
        organisations: vec![("BBC News".into(), vec!["bbc.co.uk".into(), "bbc.com".into()])],
        ..ScanConfig::default()
    }
}

#[test]
fn a_reconnaissance_campaign_is_found_among_newsletters_and_personal_mail() {
    let scanner = Scanner::new(config());
    let mut reports = Vec::new();
    let mut protected: BTreeSet<String> = BTreeSet::new();
    for i in 0..50 {
        let f = apt31(i);
        protected.insert(f.to.clone());
        reports.push(scanner.scan(&format!("apt/{i}.eml"), f.eml.as_bytes(), false));
    }
    for i in 0..20 {
        protected.insert(format!("member{}@parliament.uk", 100 + i));
        reports.push(scanner.scan(&format!("news/{i}.eml"), newsletter(i).eml.as_bytes(), false));
    }
    for i in 0..30 {
        reports.push(scanner.scan(&format!("personal/{i}.eml"), personal(i).eml.as_bytes(), false));
    }
    let campaigns = cluster(&reports, &protected, 25);
    let recon: Vec<_> = campaigns.iter().filter(|c| c.kind == "reconnaissance").collect();
    assert_eq!(recon.len(), 1, "{campaigns:#?}");
    let c = recon[0];
    assert_eq!(c.messages, 50);
    assert_eq!(c.protected_recipients.len(), 50);
    assert_eq!(c.confidence, Some("high"));
    assert!(c.tracking_hosts.contains(&"198.51.100.23".to_owned()));
    assert!(
        c.url_templates.contains(&"198.51.100.23/t/{token}/spacer.gif".to_owned()),
        "{:?}",
        c.url_templates
    );
    assert_eq!(c.senders, ["s.whitlock@bbc-news-desk.com"]);
    assert!(c.findings.contains_key("display-name-impersonation") && c.findings["tracking-pixel"] == 50);
    assert!(c.first_seen < c.last_seen);
    assert!(c.sample_origins.iter().all(|o| o.starts_with("apt/")));
    // The newsletter is a campaign, not reconnaissance: 10 protected readers, under the 25 asked.
    let news: Vec<_> = campaigns.iter().filter(|c| c.senders == ["news@fenmoor-gazette.example"]).collect();
    assert_eq!(news.len(), 1);
    assert_eq!((news[0].kind, news[0].messages, news[0].protected_recipients.len()), ("campaign", 20, 10));
    // Personal mail joins nothing.
    assert!(campaigns.iter().all(|c| c.sample_origins.iter().all(|o| !o.starts_with("personal/"))));
}

#[test]
fn simhash_is_stable_and_near_for_near_texts() {
    let a = "the quick brown fox jumps over the lazy dog while the council publishes its canvass timetable for the coming year and residents are asked to check their details carefully before the deadline";
    let b = a.replace("residents", "electors");
    let c = "completely different words about an allotment rota and a book club meeting on a wet thursday evening with tea and cake and a long discussion of the merits of various kinds of compost heaps";
    let (ha, hb, hc) = (
        rollguard_mail::campaign::simhash(a).unwrap(),
        rollguard_mail::campaign::simhash(&b).unwrap(),
        rollguard_mail::campaign::simhash(c).unwrap(),
    );
    assert_eq!(ha, rollguard_mail::campaign::simhash(a).unwrap());
    assert!(
        (ha ^ hb).count_ones() < (ha ^ hc).count_ones(),
        "{} vs {}",
        (ha ^ hb).count_ones(),
        (ha ^ hc).count_ones()
    );
    assert!(rollguard_mail::campaign::simhash("too short").is_none());
}

#[test]
fn a_url_that_differs_per_recipient_is_tracking_even_without_a_random_token() {
    let scanner = Scanner::new(config());
    let msg = |i: usize| {
        format!(
            "From: Fenmoor Gazette <news@fenmoor-gazette.example>\r\nTo: reader{i}@fenmoor.example\r\nSubject: News\r\nContent-Type: text/html\r\n\r\n<p>News.</p><img src=\"https://img.fenmoor-gazette.example/logo.png?uid={}\" width=\"200\"><a href=\"https://fenmoor-gazette.example/news/today\">Read</a>\r\n",
            10_450 + i
        )
    };
    // One message alone: a plain numeric id is not a token.
    let single = scanner.scan("one", msg(0).as_bytes(), false);
    assert!(!single.findings.iter().any(|f| f.kind.is_tracking()), "{:?}", single.findings);
    // Five copies to five recipients: the id is per recipient.
    let mut reports: Vec<_> =
        (0..5).map(|i| scanner.scan(&format!("m{i}"), msg(i).as_bytes(), false)).collect();
    let added = rollguard_mail::per_recipient_urls(&mut reports, 3);
    assert_eq!(added, 5);
    for r in &reports {
        let f = r
            .findings
            .iter()
            .find(|f| f.kind == rollguard_mail::FindingKind::TrackingImage)
            .expect("per-recipient image");
        assert!(f.detail.contains("5 variants"), "{}", f.detail);
        assert_eq!(r.verdict, rollguard_mail::Verdict::Tracking);
        assert!(
            r.url_templates.contains(&"img.fenmoor-gazette.example/logo.png?uid".to_owned()),
            "{:?}",
            r.url_templates
        );
        // The shared, identical link is not per recipient.
        assert!(!r.findings.iter().any(|f| f.kind == rollguard_mail::FindingKind::TrackingLink));
    }
}
