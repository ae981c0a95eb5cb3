//! Neutralised messages: trackers gone, content and attachments kept, MIME still valid.

use mail_parser::MimeHeaders;
use rollguard_mail::{neutralise, FindingKind, ScanConfig, Scanner, TrackerList};

const MESSAGE: &str = "From: \"Sarah Whitlock, BBC News\" <s.whitlock@bbc-news-desk.com>\r\nTo: mp@parliament.uk\r\nSubject: Request for comment\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n--outer\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDear Member, please read the draft article.\r\n--alt\r\nContent-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<html><head><style>@import url(\"https://css.example/t.css\"); p{color:#333}</style></head><body>\r\n<p>Dear Member,</p><p>Caf=E9 meeting notes and the <a href=3D\"https://click.example/r?u=3Dhttps%3A%2F%2Fnews.example%2Fstory%3Fid%3D7&t=3Da8F3kQ9zX2mP7vL1\">draft article</a>, or <a href=3D\"https://news.example/story?id=3D7&rid=3Da8F3kQ9zX2mP7vL1Zq\">here</a>.</p>\r\n<img src=3D\"https://photos.example/2026/market.jpg\" width=3D\"600\" alt=3D\"market\">\r\n<img src=3D\"http://198.51.100.23/t/a8F3kQ9zX2mP7vL1Zq4w/s.gif\" width=3D\"1\" height=3D\"1\">\r\n<div style=3D\"background:url(https://bg.example/b.png)\">Regards</div></body></html>\r\n--alt--\r\n--outer\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"notes.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K\r\n--outer--\r\n";

#[test]
fn trackers_go_content_and_attachments_stay_and_the_original_is_untouched() {
    let original = MESSAGE.as_bytes().to_vec();
    let (clean, counts) = neutralise(&original, &TrackerList::builtin()).unwrap();
    assert_eq!(original, MESSAGE.as_bytes(), "the input is not changed");
    assert_eq!(counts.html_parts, 1);
    assert_eq!(counts.images_removed, 1, "{counts:?}");
    assert_eq!(counts.links_unwrapped, 1);
    assert_eq!(counts.links_cleaned, 1);
    assert_eq!(counts.css_removed, 2);

    // Still a valid message: it parses, with the same parts.
    let msg = mail_parser::MessageParser::default().parse(&clean).expect("neutralised message parses");
    let html = msg.body_html(0).unwrap();
    assert!(html.contains("Café meeting notes"), "content kept, charset converted: {html}");
    assert!(html.contains("href=\"https://news.example/story?id=7\""), "{html}");
    assert!(html.contains("https://photos.example/2026/market.jpg"), "ordinary images kept");
    assert!(!html.contains("198.51.100.23") && !html.contains("css.example") && !html.contains("bg.example"));
    assert_eq!(msg.body_text(0).unwrap().trim(), "Dear Member, please read the draft article.");
    let att = msg.attachments().find(|a| a.attachment_name() == Some("notes.pdf")).expect("attachment kept");
    assert!(att.contents().starts_with(b"%PDF-1.4"));
    let text = String::from_utf8_lossy(&clean);
    assert!(text.starts_with("X-Rollguard-Neutralised: 1 images removed"));

    // A scan of the result finds no tracking left.
    let report = Scanner::new(ScanConfig::default()).scan("clean", &clean, false);
    let tracking: Vec<FindingKind> =
        report.findings.iter().map(|f| f.kind).filter(|k| k.is_tracking()).collect();
    assert!(tracking.is_empty(), "{tracking:?}");
}

#[test]
fn a_message_without_html_comes_back_unchanged_but_for_the_note() {
    let plain = b"From: a@x.example\r\nTo: b@y.example\r\nSubject: hi\r\n\r\nJust text.\r\n";
    let (clean, counts) = neutralise(plain, &TrackerList::builtin()).unwrap();
    assert_eq!(counts.total(), 0);
    assert!(clean.ends_with(plain));
}

#[test]
fn neutralising_the_rspamd_corpus_never_breaks_a_message() {
    let corpus =
        std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("tests/data/rspamd");
    let mut done = 0;
    let trackers = TrackerList::builtin();
    rollguard_mail::walk(
        &[corpus],
        &mut |m| {
            if let Ok((clean, _)) = neutralise(&m.bytes, &trackers) {
                assert!(mail_parser::MessageParser::default().parse(&clean).is_some(), "{}", m.origin);
                done += 1;
            }
        },
        &mut |_| {},
    );
    assert!(done >= 150, "{done}");
}
