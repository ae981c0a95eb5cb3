//! Campaign clustering on a labelled set: an APT31-style reconnaissance campaign to 50
//! members of a protected group, a benign newsletter, and personal mail.

use rollguard_mail::{cluster, ScanConfig, Scanner};
use std::collections::BTreeSet;

fn config() -> ScanConfig {
    ScanConfig {
        protected_domains: vec!["parliament.uk".into(), "bbc.co.uk".into()],
        organisations: vec![("BBC News".into(), vec!["bbc.co.uk".into(), "bbc.com".into()])],
        ..ScanConfig::default()
    }
}

fn token(i: usize, salt: u64) -> String {
    let mut x = (i as u64 + 1).wrapping_mul(0x9E3779B97F4A7C15) ^ salt;
    (0..20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"[(x % 56) as usize] as char
        })
        .collect()
}

fn apt31(i: usize) -> (String, String) {
    let to = format!("member{i}@parliament.uk");
    let msg = format!(
        "From: \"Sarah Whitlock, BBC News\" <s.whitlock@bbc-news-desk.com>\r\nTo: {to}\r\nSubject: Request for comment: election security\r\nDate: Tue, {} Nov 2026 09:{:02}:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<p>Dear Member {i},</p><p>I am preparing a report on the security of electoral registers after last year's breach and the questions it raised for parliaments across Europe. Your committee's work on the register has been widely cited, and I would value a short comment from you before Friday.</p><p><a href=\"https://bbc-news-desk.com/articles/register-security?ref={}\">Read the draft article</a></p><p>Kind regards,<br>Sarah Whitlock</p><img src=\"http://198.51.100.23/t/{}/spacer.gif\" width=\"1\" height=\"1\">\r\n",
        10 + i % 5,
        i % 60,
        token(i, 1),
        token(i, 2)
    );
    (to, msg)
}

fn newsletter(i: usize) -> String {
    let to = if i.is_multiple_of(2) {
        format!("member{}@parliament.uk", 100 + i)
    } else {
        format!("reader{i}@fenmoor.example")
    };
    format!(
        "From: Fenmoor Gazette <news@fenmoor-gazette.example>\r\nReturn-Path: <bounce@mail.fenmoor-gazette.example>\r\nTo: {to}\r\nSubject: This week in Fenmoor\r\nDate: Mon, 16 Nov 2026 07:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<p>This week: the market returns to the square, the council publishes its canvass timetable, and the rowing club opens its doors to new members on Saturday morning.</p><img src=\"https://fenmoorgazette.us1.list-manage.com/track/open.php?u=77&id={}\" width=\"1\" height=\"1\">\r\n",
        token(i, 3)
    )
}

fn personal(i: usize) -> String {
    let topics =
        ["lunch on Thursday", "the planning meeting", "your book", "the allotment rota", "Saturday's match"];
    format!(
        "From: Friend {i} <friend{i}@mail{i}.example>\r\nTo: member{}@parliament.uk\r\nSubject: About {}\r\nDate: Wed, 18 Nov 2026 18:00:00 +0000\r\nContent-Type: text/plain\r\n\r\nHello, just a note about {} - speak soon. ({i})\r\n",
        i % 7,
        topics[i % topics.len()],
        topics[i % topics.len()]
    )
}

#[test]
fn a_reconnaissance_campaign_is_found_among_newsletters_and_personal_mail() {
    let scanner = Scanner::new(config());
    let mut reports = Vec::new();
    let mut protected: BTreeSet<String> = BTreeSet::new();
    for i in 0..50 {
        let (to, msg) = apt31(i);
        protected.insert(to);
        reports.push(scanner.scan(&format!("apt/{i}.eml"), msg.as_bytes(), false));
    }
    for i in 0..20 {
        protected.insert(format!("member{}@parliament.uk", 100 + i));
        reports.push(scanner.scan(&format!("news/{i}.eml"), newsletter(i).as_bytes(), false));
    }
    for i in 0..30 {
        reports.push(scanner.scan(&format!("personal/{i}.eml"), personal(i).as_bytes(), false));
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
