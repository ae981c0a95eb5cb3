//! Rollguard's own labelled fixtures, made deterministically: an APT31-style reconnaissance
//! campaign to 50 members of a protected group, a newsletter with an open pixel, personal
//! mail, and one message per finding type. Used by the tests, by `rollguard bench mail` for
//! precision and recall, and written out by `rollguard mail fixtures DIR` so other scanners
//! can be run over the same files. All people and organisations are fictional; the outlet
//! names are there to be impersonated.

use crate::report::FindingKind;

/// A fixture message and what a correct scanner says about it.
pub struct Fixture {
    pub name: String,
    pub eml: String,
    /// Reports opening or clicking back to its sender.
    pub tracking: bool,
    /// Deceives about its sender or carries a dangerous attachment.
    pub dangerous: bool,
    /// Finding kinds it must produce.
    pub kinds: Vec<FindingKind>,
    /// Its recipient.
    pub to: String,
}

/// The protected group the fixtures use.
pub fn protected_member(i: usize) -> String {
    format!("member{i}@parliament.uk")
}

fn token(i: usize, salt: u64) -> String {
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt;
    (0..20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"[(x % 56) as usize] as char
        })
        .collect()
}

fn html_message(headers: &str, html: &str) -> String {
    format!("{headers}\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n")
}

/// The i-th message of the reconnaissance campaign: a journalist at a look-alike outlet, a
/// real-looking request for comment, a per-recipient 1×1 pixel on a bare IP address and a
/// per-recipient tracking link.
pub fn apt31(i: usize) -> Fixture {
    let to = protected_member(i);
    let eml = html_message(
        &format!(
            "From: \"Sarah Whitlock, BBC News\" <s.whitlock@bbc-news-desk.com>\r\nTo: {to}\r\nSubject: Request for comment: election security\r\nDate: Tue, {} Nov 2026 09:{:02}:00 +0000\r\nMessage-ID: <apt{i}@bbc-news-desk.com>",
            10 + i % 5,
            i % 60
        ),
        &format!(
            "<p>Dear Member {i},</p><p>I am preparing a report on the security of electoral registers after last year's breach and the questions it raised for parliaments across Europe. Your committee's work on the register has been widely cited, and I would value a short comment from you before Friday.</p><p><a href=\"https://bbc-news-desk.com/articles/register-security?ref={}\">Read the draft article</a></p><p>Kind regards,<br>Sarah Whitlock</p><img src=\"http://198.51.100.23/t/{}/spacer.gif\" width=\"1\" height=\"1\">",
            token(i, 1),
            token(i, 2)
        ),
    );
    Fixture {
        name: format!("apt31-{i:02}"),
        eml,
        tracking: true,
        dangerous: true,
        kinds: vec![
            FindingKind::DisplayNameImpersonation,
            FindingKind::TrackingPixel,
            FindingKind::TrackingImage,
            FindingKind::TrackingLink,
            FindingKind::IpAddressHost,
        ],
        to,
    }
}

/// The i-th copy of a benign newsletter with an open pixel from a mail service.
pub fn newsletter(i: usize) -> Fixture {
    let to =
        if i.is_multiple_of(2) { protected_member(100 + i) } else { format!("reader{i}@fenmoor.example") };
    let eml = html_message(
        &format!("From: Fenmoor Gazette <news@fenmoor-gazette.example>\r\nReturn-Path: <bounce@fenmoor-gazette.example>\r\nTo: {to}\r\nSubject: This week in Fenmoor\r\nDate: Mon, 16 Nov 2026 07:00:00 +0000"),
        &format!(
            "<p>This week: the market returns to the square, the council publishes its canvass timetable, and the rowing club opens its doors to new members on Saturday morning.</p><img src=\"https://fenmoorgazette.us1.list-manage.com/track/open.php?u=77&id={}\" width=\"1\" height=\"1\">",
            token(i, 3)
        ),
    );
    Fixture {
        name: format!("newsletter-{i:02}"),
        eml,
        tracking: true,
        dangerous: false,
        kinds: vec![FindingKind::TrackingPixel, FindingKind::KnownTracker],
        to,
    }
}

/// The i-th personal message: no trackers, nothing deceptive.
pub fn personal(i: usize) -> Fixture {
    let topics =
        ["lunch on Thursday", "the planning meeting", "your book", "the allotment rota", "Saturday's match"];
    let to = protected_member(i % 7);
    let t = topics[i % topics.len()];
    let eml = if i.is_multiple_of(3) {
        html_message(
            &format!("From: Friend {i} <friend{i}@mail{i}.example>\r\nTo: {to}\r\nSubject: About {t}\r\nDate: Wed, 18 Nov 2026 18:00:00 +0000"),
            &format!("<p>Hello, just a note about {t}.</p><p>The photos: <img src=\"https://photos.mail{i}.example/2026/saturday-market.jpg\" width=\"600\" height=\"400\"> and the <a href=\"https://www.fenmoor.example/events/christmas-market\">market page</a>.</p>"),
        )
    } else {
        format!("From: Friend {i} <friend{i}@mail{i}.example>\r\nTo: {to}\r\nSubject: About {t}\r\nDate: Wed, 18 Nov 2026 18:00:00 +0000\r\nContent-Type: text/plain\r\n\r\nHello, just a note about {t} - speak soon. ({i})\r\n")
    };
    Fixture { name: format!("personal-{i:02}"), eml, tracking: false, dangerous: false, kinds: vec![], to }
}

/// One message per finding type.
pub fn single_findings() -> Vec<Fixture> {
    let plain = "From: Ada Pemberton <ada@fenmoor.example>\r\nTo: ben@fenmoor.example\r\nSubject: Note";
    let t =
        |name: &str, headers: &str, html: &str, tracking: bool, dangerous: bool, kinds: Vec<FindingKind>| {
            Fixture {
                name: name.into(),
                eml: html_message(headers, html),
                tracking,
                dangerous,
                kinds,
                to: "ben@fenmoor.example".into(),
            }
        };
    use FindingKind as K;
    vec![
        t("pixel-attributes", plain, "<p>Hi</p><img src=\"https://px.example/a.gif\" width=\"1\" height=\"1\">", true, false, vec![K::TrackingPixel]),
        t("pixel-style", plain, "<img src=\"https://px.example/b.png\" style=\"width:1px;height:1px\">", true, false, vec![K::TrackingPixel]),
        t("hidden-image", plain, "<img src=\"https://px.example/banner.png\" style=\"display:none\">", true, false, vec![K::HiddenImage]),
        t("tokenised-image", plain, "<img src=\"https://img.example/hdr/a8F3kQ9zX2mP7vL1Zq.png\" width=\"600\">", true, false, vec![K::TrackingImage]),
        t("tokenised-link", plain, "<a href=\"https://news.example/r?u=eyJ1IjoiYWRhQGV4YW1wbGUub3JnIn0\">Read</a>", true, false, vec![K::TrackingLink]),
        t("known-tracker", plain, "<img src=\"https://us1.list-manage.com/track/open.php?u=1&id=2\" width=\"200\">", true, false, vec![K::KnownTracker]),
        t("css-background", plain, "<div style=\"background:url(https://bg.example/x.png)\">x</div>", true, false, vec![K::CssBeacon]),
        t("css-import", plain, "<style>@import url(\"https://css.example/t.css\");</style><p>x</p>", true, false, vec![K::CssBeacon]),
        t("redirector", plain, "<p><a href=\"https://bit.ly/3xYz\">Read</a></p>", false, false, vec![K::Redirector]),
        t("reply-to-mismatch", "From: Ada <ada@fenmoor.example>\r\nReply-To: ada.p@freemail.example\r\nTo: ben@fenmoor.example\r\nSubject: s", "<p>x</p>", false, false, vec![K::FromReplyToMismatch]),
        t("lookalike", "From: Clerk <clerk@parliarnent.uk>\r\nTo: member1@parliament.uk\r\nSubject: s", "<p>x</p>", false, true, vec![K::LookalikeDomain]),
        t("impersonation", "From: \"BBC News Desk\" <desk@bbc-newsroom.example>\r\nTo: member2@parliament.uk\r\nSubject: s", "<p>x</p>", false, true, vec![K::DisplayNameImpersonation]),
        t("dmarc-fail", "Authentication-Results: mx.parliament.uk; spf=fail smtp.mailfrom=x.example; dmarc=fail header.from=bbc.co.uk\r\nFrom: a@x.example\r\nTo: member3@parliament.uk\r\nSubject: s", "<p>x</p>", false, true, vec![K::AuthenticationFailure]),
        Fixture {
            name: "risky-attachment".into(),
            eml: "From: a@x.example\r\nTo: ben@fenmoor.example\r\nSubject: invoice\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nPlease see attached.\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"invoice.pdf.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--b1--\r\n".into(),
            tracking: false,
            dangerous: true,
            kinds: vec![K::RiskyAttachment],
            to: "ben@fenmoor.example".into(),
        },
    ]
}

/// The whole labelled set: 50 + 20 + 30 + one per finding type.
pub fn corpus() -> Vec<Fixture> {
    let mut all: Vec<Fixture> = (0..50).map(apt31).collect();
    all.extend((0..20).map(newsletter));
    all.extend((0..30).map(personal));
    all.extend(single_findings());
    all
}
