//! Every sink against a real receiver on loopback: rsyslog (RFC 5424 over UDP and TCP),
//! aiosmtpd (SMTP), an HTTP server checking the webhook signature, and a file.

use rollguard_alerts::{
    parse_sink, sign, AlertMessage, Dispatcher, Sink, SyslogSink, SyslogTransport, WebhookSink,
};
use rollguard_detect::{Alert, Level, Response};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn alert(title: &str, level: Level) -> AlertMessage {
    AlertMessage {
        alert: Alert {
            rule: "c95c01c7-c2a2-4a6e-a894-8cbb58e29a4a".into(),
            title: title.into(),
            level,
            correlation: None,
            event_time: 1_800_000_000_000,
            event_seq: 4242,
            principal: Some("officer-\"quoted]\"".into()),
            client: Some("192.0.2.10".into()),
            authority: Some("E07000001".into()),
            group: BTreeMap::new(),
            count: None,
            electors: vec![77],
            response: vec![Response::SuspendPrincipal],
            tags: vec![],
        },
        raised_at: 1_800_000_000_123,
        audit_seq: Some(4243),
        host: "rollguard-test".into(),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// rsyslogd listening on loopback UDP and TCP, writing each message's parsed RFC 5424
/// parts to `out`.
fn rsyslog(dir: &Path, udp: u16, tcp: u16) -> Kill {
    let out = dir.join("received.log");
    let conf = dir.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{work}")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="{udp}")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
template(name="parts" type="string" string="%protocol-version%|%syslogfacility-text%|%syslogseverity-text%|%hostname%|%app-name%|%msgid%|%structured-data%|%msg%\n")
action(type="omfile" file="{out}" template="parts")
"#,
            work = dir.display(),
            out = out.display()
        ),
    )
    .unwrap();
    let child = Command::new("/usr/sbin/rsyslogd")
        .args(["-n", "-f"])
        .arg(&conf)
        .arg("-i")
        .arg(dir.join("rsyslogd.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rsyslogd (scripts/setup installs rsyslog)");
    let k = Kill(child);
    wait_for("rsyslog's TCP port", || std::net::TcpStream::connect(("127.0.0.1", tcp)).is_ok());
    k
}

#[test]
fn syslog_messages_parse_as_rfc5424_at_rsyslog_over_udp_and_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let (udp, tcp) = (free_port(), free_port());
    let _rsyslog = rsyslog(dir.path(), udp, tcp);
    let out = dir.path().join("received.log");
    let mut tcp_sink = SyslogSink::new(SyslogTransport::Tcp, &format!("127.0.0.1:{tcp}")).unwrap();
    tcp_sink.deliver(&alert("Canary elector touched over tcp", Level::Critical)).unwrap();
    tcp_sink.deliver(&alert("Second over the same connection", Level::Medium)).unwrap();
    let mut udp_sink = SyslogSink::new(SyslogTransport::Udp, &format!("127.0.0.1:{udp}")).unwrap();
    // UDP gives no acknowledgement: send until rsyslog has it (it is listening already).
    wait_for("the UDP message", || {
        udp_sink.deliver(&alert("Bulk read over udp", Level::High)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        std::fs::read_to_string(&out).unwrap_or_default().contains("Bulk read over udp")
    });
    wait_for("both TCP messages", || {
        let s = std::fs::read_to_string(&out).unwrap_or_default();
        s.contains("Canary elector touched over tcp") && s.contains("Second over the same connection")
    });
    let text = std::fs::read_to_string(&out).unwrap();
    let line = |needle: &str| text.lines().find(|l| l.contains(needle)).unwrap().to_owned();
    let tcp_line = line("Canary elector touched over tcp");
    let parts: Vec<&str> = tcp_line.splitn(8, '|').collect();
    assert_eq!(&parts[..6], ["1", "local0", "crit", "rollguard-test", "rollguard", "alert"], "{tcp_line}");
    assert!(parts[6].starts_with("[rollguard@32473 rule=\"c95c01c7"), "{}", parts[6]);
    assert!(parts[6].contains(r#"principal="officer-\"quoted\]\"""#), "escaped SD value: {}", parts[6]);
    assert!(parts[7].contains("\"event_seq\":4242"), "the message carries the alert JSON: {}", parts[7]);
    assert!(line("Second over the same connection").contains("|warning|"));
    assert!(line("Bulk read over udp").starts_with("1|local0|err|"));
}

#[test]
fn email_reaches_a_real_smtp_server() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let maildir = dir.path().join("Maildir");
    let child = Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 with aiosmtpd (scripts/setup installs it)");
    let _smtp = Kill(child);
    wait_for("the SMTP server", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let spec = format!("smtp:127.0.0.1:{port};from=rollguard@council.example;to=soc@council.example,duty@council.example;min_level=high");
    let mut s = parse_sink(&spec).unwrap();
    assert_eq!(s.min_level, Level::High);
    s.sink.deliver(&alert("Canary elector touched", Level::Critical)).unwrap();
    let new = maildir.join("new");
    wait_for("the delivered message", || std::fs::read_dir(&new).map(|d| d.count() > 0).unwrap_or(false));
    let file = std::fs::read_dir(&new).unwrap().next().unwrap().unwrap().path();
    let mail = std::fs::read_to_string(file).unwrap();
    assert!(mail.contains("Subject: Rollguard alert: [critical] Canary elector touched"), "{mail}");
    assert!(mail.contains("soc@council.example") && mail.contains("duty@council.example"));
    assert!(mail.contains("Automatic response: suspend_principal"));
}

/// What the receiver saw: whether the signature verified, and the body.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(bool, String)>>>;

/// A webhook receiver that checks the signature, and fails the first `fail_first` requests.
fn receiver(secret: &'static [u8], fail_first: usize) -> (String, Seen) {
    use axum::http::{HeaderMap, StatusCode};
    let seen: Seen = Default::default();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let s2 = seen.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/hook",
                axum::routing::post(move |headers: HeaderMap, body: String| {
                    let (seen, calls) = (s2.clone(), calls.clone());
                    async move {
                        let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if n < fail_first {
                            return StatusCode::SERVICE_UNAVAILABLE;
                        }
                        let ts: i64 = headers["x-rollguard-timestamp"].to_str().unwrap().parse().unwrap();
                        let ok = headers["x-rollguard-signature"].to_str().unwrap()
                            == sign(secret, ts, body.as_bytes());
                        seen.lock().unwrap().push((ok, body));
                        StatusCode::NO_CONTENT
                    }
                }),
            );
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    (url, seen)
}

#[test]
fn webhook_is_signed_and_retried_with_backoff() {
    const SECRET: &[u8] = b"0123456789abcdef-webhook-secret";
    let (url, seen) = receiver(SECRET, 2);
    let mut sink =
        WebhookSink::new(&url, SECRET.to_vec()).unwrap().with_retries(4, Duration::from_millis(20));
    let start = Instant::now();
    sink.deliver(&alert("Bulk read", Level::High)).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(60), "two failures waited 20 ms then 40 ms");
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert!(got[0].0, "the receiver verified the HMAC signature");
    let json: serde_json::Value = serde_json::from_str(&got[0].1).unwrap();
    assert_eq!(json["title"], "Bulk read");
    assert_eq!(json["audit_seq"], 4243);
}

#[test]
fn webhook_signed_with_another_key_does_not_verify_and_giving_up_is_an_error() {
    const SECRET: &[u8] = b"0123456789abcdef-webhook-secret";
    let (url, seen) = receiver(SECRET, 0);
    let mut forged = WebhookSink::new(&url, b"an-attacker-guessed-this-key".to_vec()).unwrap();
    forged.deliver(&alert("Forged", Level::High)).unwrap();
    assert!(!seen.lock().unwrap()[0].0, "a signature under another key fails at the receiver");

    let (url, _) = receiver(SECRET, usize::MAX);
    let mut sink = WebhookSink::new(&url, SECRET.to_vec()).unwrap().with_retries(3, Duration::from_millis(5));
    let err = sink.deliver(&alert("Never arrives", Level::High)).unwrap_err();
    assert!(err.to_string().contains("answered 503"), "{err}");
}

#[test]
fn jsonl_sink_appends_one_object_per_line_through_the_dispatcher() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let mut d = Dispatcher::default();
    let spec = parse_sink(&format!("jsonl:{};min_level=medium", path.display())).unwrap();
    let counters = d.add(spec.sink, spec.min_level);
    d.send(alert("Too low to send", Level::Low));
    d.send(alert("First", Level::Medium));
    d.send(alert("Second", Level::Critical));
    wait_for("two deliveries", || counters.delivered.load(std::sync::atomic::Ordering::SeqCst) == 2);
    let text = std::fs::read_to_string(&path).unwrap();
    let titles: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(titles, ["First", "Second"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o077, 0, "owner-only file");
    }
}

#[test]
fn bad_sink_specs_are_named() {
    let e = |s: &str| parse_sink(s).err().unwrap();
    assert!(e("carrier-pigeon:loft").contains("unknown kind `carrier-pigeon`"));
    assert!(e("jsonl").contains("expected KIND:TARGET"));
    assert!(e("webhook:http://127.0.0.1:1/x").contains("secret_file"));
    assert!(e("smtp:127.0.0.1:25;from=a@b.example").contains("to=ADDRESS"));
    assert!(e("syslog-udp:127.0.0.1:514;min_level=loud").contains("min_level `loud`"));
    assert!(e("syslog-udp:127.0.0.1:514;colour=red").contains("unknown option `colour`"));
}
