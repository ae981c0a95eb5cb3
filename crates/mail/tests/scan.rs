//! The scanner on labelled fixtures (one per finding type, an APT31-style reconnaissance
//! message, benign mail), on mbox and Maildir input, and on the rspamd corpus of real-world
//! MIME edge cases (Apache-2.0), which must never panic.

use rollguard_mail::{walk, FindingKind, ScanConfig, Scanner, Severity, TrackerList, Verdict};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn eml(headers: &str, html: &str) -> String {
    format!(
        "{headers}\r\nMessage-ID: <{}@fixture.example>\r\nDate: Tue, 24 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n",
        headers.len()
    )
}

fn config() -> ScanConfig {
    ScanConfig {
        protected_domains: vec!["parliament.uk".into(), "bbc.co.uk".into()],
        organisations: vec![("BBC News".into(), vec!["bbc.co.uk".into(), "bbc.com".into()])],
        ..ScanConfig::default()
    }
}

fn kinds(text: &str) -> (Verdict, Vec<FindingKind>) {
    let r = Scanner::new(config()).scan("fixture", text.as_bytes(), false);
    (r.verdict, r.findings.iter().map(|f| f.kind).collect())
}

const PLAIN: &str = "From: Ada Pemberton <ada@fenmoor.example>\r\nTo: ben@fenmoor.example\r\nSubject: Lunch";

#[test]
fn each_tracking_technique_is_named() {
    let cases = [
        (r#"<p>Hi</p><img src="https://px.example/a.gif" width="1" height="1">"#, FindingKind::TrackingPixel),
        (r#"<img src="https://px.example/a.gif" width="0" height="0">"#, FindingKind::TrackingPixel),
        (r#"<img src="https://px.example/banner.png" style="display:none">"#, FindingKind::HiddenImage),
        (r#"<img src="https://px.example/b.png" style="width:1px;height:1px">"#, FindingKind::TrackingPixel),
        (
            r#"<img src="https://img.example/hdr/a8F3kQ9zX2mP7vL1Zq.png" width="600">"#,
            FindingKind::TrackingImage,
        ),
        (
            r#"<a href="https://news.example/r?u=eyJ1IjoiYWRhQGV4YW1wbGUub3JnIn0">Read</a>"#,
            FindingKind::TrackingLink,
        ),
        (r#"<a href="https://bit.ly/3xYz">Read</a>"#, FindingKind::Redirector),
        (r#"<div style="background:url(https://bg.example/x.png)">x</div>"#, FindingKind::CssBeacon),
        (r#"<style>@import url("https://css.example/t.css");</style><p>x</p>"#, FindingKind::CssBeacon),
        (r#"<img src="http://203.0.113.9/logo.png" width="200">"#, FindingKind::IpAddressHost),
        (
            r#"<img src="https://us1.list-manage.com/track/open.php?u=1&id=2" width="200">"#,
            FindingKind::KnownTracker,
        ),
    ];
    for (html, want) in cases {
        let (_, found) = kinds(&eml(PLAIN, html));
        assert!(found.contains(&want), "{want:?} not found in {html}: {found:?}");
    }
}

#[test]
fn a_user_supplied_adblock_list_is_used_as_given() {
    let mut cfg = config();
    let text = std::fs::read_to_string(
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap())
            .join("tests/data/tracker-lists/easyprivacy_general_emailtrackers.txt"),
    )
    .unwrap();
    let mut list = TrackerList::default();
    let skipped = list.add("easyprivacy_general_emailtrackers.txt", &text);
    assert!(list.len() > 100, "{} rules", list.len());
    assert!(skipped.len() < list.len() / 10, "{} of {} skipped", skipped.len(), list.len());
    cfg.trackers = list;
    let r = Scanner::new(cfg).scan(
        "fixture",
        eml(PLAIN, r#"<img src="https://x.acemlna.com/lt.php?s=1&m=2" width="300">"#).as_bytes(),
        false,
    );
    let hit = r.findings.iter().find(|f| f.kind == FindingKind::KnownTracker).expect("listed tracker");
    assert!(hit.detail.contains("easyprivacy_general_emailtrackers.txt"), "{}", hit.detail);
}

#[test]
fn sender_anomalies_are_named() {
    let (v, f) = kinds(&eml("From: Ada <ada@fenmoor.example>\r\nReply-To: ada.p@freemail.example\r\nTo: ben@x.example\r\nSubject: s", "<p>x</p>"));
    assert!(f.contains(&FindingKind::FromReplyToMismatch));
    assert_eq!(v, Verdict::Suspicious);
    let (v, f) =
        kinds(&eml("From: Clerk <clerk@parliarnent.uk>\r\nTo: mp@parliament.uk\r\nSubject: s", "<p>x</p>"));
    assert!(f.contains(&FindingKind::LookalikeDomain), "{f:?}");
    assert_eq!(v, Verdict::Dangerous);
    let (_, f) = kinds(&eml(
        "From: \"BBC News Desk\" <desk@bbc-newsroom.example>\r\nTo: mp@parliament.uk\r\nSubject: s",
        "<p>x</p>",
    ));
    assert!(f.contains(&FindingKind::DisplayNameImpersonation), "{f:?}");
    let (_, f) =
        kinds(&eml("From: \"BBC News\" <news@bbc.co.uk>\r\nTo: mp@parliament.uk\r\nSubject: s", "<p>x</p>"));
    assert!(!f.contains(&FindingKind::DisplayNameImpersonation), "the real BBC: {f:?}");
    let (_, f) = kinds(&eml(
        "Authentication-Results: mx.parliament.uk; spf=fail smtp.mailfrom=x.example; dkim=none; dmarc=fail header.from=bbc.co.uk\r\nFrom: a@x.example\r\nTo: b@y.example\r\nSubject: s",
        "<p>x</p>",
    ));
    assert_eq!(f.iter().filter(|k| **k == FindingKind::AuthenticationFailure).count(), 2, "{f:?}");
}

#[test]
fn risky_attachments_are_named() {
    let msg = "From: a@x.example\r\nTo: b@y.example\r\nSubject: invoice\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nPlease see attached.\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"invoice.pdf.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--b1--\r\n";
    let r = Scanner::new(config()).scan("fixture", msg.as_bytes(), false);
    let f = r.findings.iter().find(|f| f.kind == FindingKind::RiskyAttachment).expect("attachment finding");
    assert_eq!(f.severity, Severity::High);
    assert!(f.detail.contains("behind a .pdf"), "{}", f.detail);
    assert_eq!(r.verdict, Verdict::Dangerous);
}

/// An APT31-style message: a journalist at a look-alike outlet, a real-looking article, a
/// per-recipient 1×1 pixel on a bare-IP host and a per-recipient tracking link.
pub fn apt31_message(recipient: &str, token: &str) -> String {
    eml(
        &format!("From: \"Sarah Whitlock, BBC News\" <s.whitlock@bbc-news-desk.com>\r\nTo: {recipient}\r\nSubject: Request for comment: election security report"),
        &format!(
            r#"<p>Dear Member,</p><p>I am writing a piece on the security of electoral registers after last year's breach and would value your comment.</p>
            <p><a href="https://bbc-news-desk.com/articles/register-security?ref={token}">Read the draft article</a></p>
            <p>Kind regards,<br>Sarah Whitlock</p><img src="http://198.51.100.23/t/{token}/spacer.gif" width="1" height="1" alt="">"#
        ),
    )
}

#[test]
fn an_apt31_style_message_is_dangerous_and_shows_its_infrastructure() {
    let a = Scanner::new(config()).scan(
        "a",
        apt31_message("mp.one@parliament.uk", "a8F3kQ9zX2mP7vL1Zq4w").as_bytes(),
        false,
    );
    let b = Scanner::new(config()).scan(
        "b",
        apt31_message("mp.two@parliament.uk", "Z9y8X7w6V5u4T3s2Rr1q").as_bytes(),
        false,
    );
    assert_eq!(a.verdict, Verdict::Dangerous);
    let kinds: Vec<FindingKind> = a.findings.iter().map(|f| f.kind).collect();
    for k in [
        FindingKind::DisplayNameImpersonation,
        FindingKind::TrackingPixel,
        FindingKind::TrackingImage,
        FindingKind::TrackingLink,
        FindingKind::IpAddressHost,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing: {kinds:?}");
    }
    // The same infrastructure in every copy, whatever the token.
    assert_eq!(a.tracking_hosts, b.tracking_hosts);
    assert_eq!(a.url_templates, b.url_templates);
    assert!(
        a.url_templates.contains(&"198.51.100.23/t/{token}/spacer.gif".to_owned()),
        "{:?}",
        a.url_templates
    );
}

#[test]
fn ordinary_mail_is_clean() {
    let personal = eml(PLAIN, "<p>Shall we meet at the Crown at one?</p><p>Ada</p>");
    assert_eq!(kinds(&personal), (Verdict::Clean, vec![]));
    let with_images = eml(
        PLAIN,
        r#"<p>Photos from Saturday:</p><img src="https://photos.fenmoor.example/2026/saturday-market.jpg" width="600" height="400"><a href="https://www.fenmoor.example/events/christmas-market">Christmas market</a>"#,
    );
    assert_eq!(kinds(&with_images).0, Verdict::Clean, "{:?}", kinds(&with_images).1);
}

#[test]
fn mbox_and_maildir_inputs_are_read_recursively() {
    let dir = tempfile::tempdir().unwrap();
    let mbox = format!(
        "From ada@fenmoor.example Tue Nov 24 09:00:00 2026\n{}\nFrom ben@fenmoor.example Tue Nov 24 09:05:00 2026\n{}\n",
        eml(PLAIN, "<p>one</p>").replace("\r\n", "\n"),
        eml(PLAIN, "<p>>From the minutes</p>").replace("\r\n", "\n")
    );
    std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
    std::fs::write(dir.path().join("a/b/inbox.mbox"), mbox).unwrap();
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.path().join("Maildir").join(sub)).unwrap();
    }
    std::fs::write(
        dir.path().join("Maildir/new/1.eml"),
        apt31_message("x@parliament.uk", "a8F3kQ9zX2mP7vL1Zq4w"),
    )
    .unwrap();
    std::fs::write(dir.path().join("Maildir/tmp/partial"), "From: half").unwrap();
    std::fs::write(dir.path().join("one.eml"), eml(PLAIN, "<p>single</p>")).unwrap();
    let mut origins = Vec::new();
    let mut problems = Vec::new();
    walk(&[dir.path().to_owned()], &mut |m| origins.push(m.origin), &mut |e| problems.push(e.to_string()));
    origins.sort();
    let short: Vec<String> =
        origins.iter().map(|o| o.replace(&dir.path().display().to_string(), "")).collect();
    assert_eq!(short, ["/Maildir/new/1.eml", "/a/b/inbox.mbox#1", "/a/b/inbox.mbox#2", "/one.eml"]);
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn the_rspamd_corpus_scans_without_panics_in_bounded_time() {
    let corpus = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("tests/data/rspamd");
    let scanner = Scanner::new(config());
    let mut n = 0;
    let mut slowest = Duration::ZERO;
    walk(
        &[corpus],
        &mut |m| {
            let started = Instant::now();
            let r = scanner.scan(&m.origin, &m.bytes, m.truncated);
            slowest = slowest.max(started.elapsed());
            assert!(r.findings.len() <= 200);
            n += 1;
        },
        &mut |_| {},
    );
    assert!(n >= 150, "{n} messages");
    assert!(slowest < Duration::from_secs(2), "slowest message took {slowest:?}");
}

#[test]
fn hostile_input_is_bounded() {
    let scanner = Scanner::new(config());
    // Deep nesting, a huge attribute, broken charsets, binary junk.
    let mut deep = String::from(
        "From: a@x.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n",
    );
    for i in 0..300 {
        deep.push_str(&format!("--b{i}\r\nContent-Type: multipart/mixed; boundary=\"b{}\"\r\n\r\n", i + 1));
    }
    let big_attr = eml(PLAIN, &format!("<img src=\"https://a.example/{}\" width=1>", "x".repeat(3_000_000)));
    let charset = "From: a@x.example\r\nContent-Type: text/html; charset=x-unknown-9\r\n\r\n<img src=https://a.example/p.gif width=1>\r\n";
    let junk: Vec<u8> =
        (0..200_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13).to_le_bytes()[0]).collect();
    for input in [deep.as_bytes(), big_attr.as_bytes(), charset.as_bytes(), &junk] {
        let started = Instant::now();
        let _ = scanner.scan("hostile", input, false);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
