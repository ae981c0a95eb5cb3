//! `rollguard demo`: a sealed register of synthetic electors, set up in one command.

use crate::commands::{import_with_progress, write_generated};
use crate::context::{Context, Result};
use crate::output::say;
use crate::progress::bar;
use clap::Args;
use rollguard_register::{FranchiseTable, Nation};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct DemoArgs {
    /// Directory for the demo's database and keyring (recreated if it holds an earlier demo).
    #[arg(long, default_value = "rollguard-demo")]
    dir: PathBuf,
    #[arg(long, default_value_t = 100_000)]
    electors: u64,
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Where the demo server listens (HTTPS, with a certificate made for this demo).
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: std::net::SocketAddr,
    /// Set up the register and accounts, print what to try, and exit without serving.
    #[arg(long)]
    no_serve: bool,
}

const MARKER: &str = ".rollguard-demo";
pub const DEMO_AUTHORITY: &str = "E99999999";

fn prepare_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        if !dir.join(MARKER).exists() {
            return Err(format!(
                "{} exists and is not a Rollguard demo directory; choose another with --dir",
                dir.display()
            )
            .into());
        }
        fs::remove_dir_all(dir)?;
    }
    fs::create_dir_all(dir.join("data"))?;
    fs::create_dir_all(dir.join("keys"))?;
    fs::set_permissions(dir.join("keys"), fs::Permissions::from_mode(0o700))?;
    fs::write(dir.join(MARKER), "created by rollguard demo; safe to delete\n")?;
    Ok(())
}

/// Counts occurrences of `needle` in every file of `dir` (the database, its WAL and SHM).
fn occurrences(dir: &Path, needle: &[u8]) -> Result<usize> {
    let mut n = 0;
    for entry in fs::read_dir(dir)? {
        let bytes = fs::read(entry?.path())?;
        n += bytes.windows(needle.len()).filter(|w| *w == needle).count();
    }
    Ok(n)
}

pub fn run(a: DemoArgs) -> Result<()> {
    prepare_dir(&a.dir)?;
    let db = a.dir.join("data").join("register.db");
    let keyring = a.dir.join("keys").join("rollguard.keyring");
    let ctx = Context { db: db.clone(), keyring: keyring.display().to_string() };
    let console = ctx.create()?;
    let today = console.svc.clock().today();
    console.svc.create_authority(
        &console.actor,
        DEMO_AUTHORITY,
        "Ashby Vale District Council (fictional)",
        Nation::England,
    )?;

    // The synthetic register goes straight from memory into the sealed import: no plaintext file.
    let pb = bar(Some(a.electors), "generating");
    let mut csv = crate::commands::csv_buffer(a.electors);
    write_generated(a.electors, a.seed, Nation::England, today, &mut csv, |n| pb.set_position(n))?;
    pb.finish_and_clear();
    let canaries = (None, rollguard_vault::CANARIES_PER_100K);
    let report =
        import_with_progress(&console, DEMO_AUTHORITY, csv.as_slice(), "generated register", canaries)?;
    drop(csv);
    let canaries = report.canaries;
    console.finish()?;

    let sample = rollguard_synth::Generator::new(a.seed, FranchiseTable::default_for(Nation::England), today)
        .find(|t| t.anonymous != "Y")
        .expect("generator yields electors");
    drop(console);
    let surname_hits = occurrences(&a.dir.join("data"), sample.surname.as_bytes())?;
    let postcode_hits = occurrences(&a.dir.join("data"), sample.postcode.as_bytes())?;

    let env = format!(
        "export ROLLGUARD_DB={} ROLLGUARD_KEYRING={}",
        shell_quote(&db.display().to_string()),
        shell_quote(&keyring.display().to_string())
    );
    say!("Rollguard demo register is ready.\n");
    say!(
        "  database  {}  ({} synthetic electors, authority {DEMO_AUTHORITY})",
        db.display(),
        report.imported
    );
    say!("  keyring   {}  (owner-only, in a separate directory)", keyring.display());
    say!("  canaries  {canaries} planted electors; any read of one raises a critical alert\n");
    say!(
        "Every name, address, date of birth and NINO in the database is sealed. A byte scan of the database \
         files for a sample elector's surname ({:?}) finds {surname_hits} matches, and for their postcode {postcode_hits}.\n",
        sample.surname
    );
    say!("Try next (the paths are relative to this directory):\n");
    if let Ok(exe) = std::env::current_exe() {
        say!("  alias rollguard={}", shell_quote(&exe.display().to_string()));
    }
    say!("  {env}");
    say!("  rollguard authority list");
    say!(
        "  rollguard elector search --authority {DEMO_AUTHORITY} --surname {} --postcode {}",
        shell_quote(&sample.surname),
        shell_quote(&sample.postcode)
    );
    say!("  rollguard elector show {} --history", report.ids[0]);
    say!(
        "  rollguard elector amend {} --set address_line_1='2 Kingfisher Close' --set postcode='LE65 2AB'",
        report.ids[0]
    );
    say!(
        "  rollguard register at {} --authority {DEMO_AUTHORITY} --out register-today.csv",
        rollguard_register::format_date(today)
    );
    say!("  rollguard export --authority {DEMO_AUTHORITY} --kind open --out open-register.csv");
    say!("  rollguard keys status");
    say!("  rollguard keys rotate");
    say!("  rollguard backup register-copy.db");
    say!(
        "  strings {} | grep -c {}   # 0: nothing personal in plaintext",
        db.display(),
        shell_quote(&sample.surname)
    );
    if a.no_serve {
        say!(
            "\nNo default passwords exist. Start the HTTP server with `rollguard demo` (without --no-serve)."
        );
        return Ok(());
    }
    serve_demo(&a, &ctx, &sample)
}

/// A readable random password: 20 characters from a 32-letter alphabet (100 bits).
pub(crate) fn random_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz123456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|i| {
            let c = ALPHABET[rng.gen_range(0..ALPHABET.len())] as char;
            if i > 0 && i % 5 == 0 {
                format!("-{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Creates the demo officer and service account, a certificate for this demo, prints how to
/// use them, and serves until Ctrl-C.
fn serve_demo(a: &DemoArgs, ctx: &Context, sample: &rollguard_register::EntryText) -> Result<()> {
    use rollguard_access::{Grant, Permission, Role, Scope};
    use rollguard_store::PrincipalKind;
    let console = ctx.open()?;
    let (svc, actor) = (&console.svc, &console.actor);
    let staff = vec![Grant { role: Role::RegistrationStaff, scope: Scope::parse(DEMO_AUTHORITY) }];
    svc.add_principal(actor, "demo-officer", PrincipalKind::Human, staff.clone())?;
    let password = random_password();
    let (totp, _recovery) = svc.provision_human(actor, "demo-officer", &password)?;
    svc.add_principal(actor, "demo-sync", PrincipalKind::Service, staff)?;
    let scope = vec![Scope::parse(DEMO_AUTHORITY)];
    let (_, token) = svc.create_token(actor, "demo-sync", "demo", vec![Permission::ElectorRead], scope, 1)?;
    console.finish()?;
    drop(console);

    let tls_dir = a.dir.join("tls");
    fs::create_dir_all(&tls_dir)?;
    let (cert, key) = rollguard_server::tls::self_signed(&["localhost", "127.0.0.1"])?;
    let cert_path = tls_dir.join("cert.pem");
    fs::write(&cert_path, &cert)?;
    let key_path = tls_dir.join("key.pem");
    fs::write(&key_path, &key)?;
    fs::set_permissions(&key_path, fs::Permissions::from_mode(0o600))?;
    let tls = rollguard_server::tls::config_from_pem(cert.as_bytes(), key.as_bytes())?;

    let uri = totp.otpauth_uri("Rollguard demo", "demo-officer");
    let host = if a.listen.ip().is_loopback() { "localhost".to_owned() } else { a.listen.ip().to_string() };
    let base = format!("https://{host}:{}", a.listen.port());
    let cacert = shell_quote(&cert_path.display().to_string());
    let curl = format!("curl -s --cacert {cacert}");
    say!("\nThe HTTP API, over TLS with a certificate made for this demo ({}):\n", cert_path.display());
    say!("  demo officer   name demo-officer, password {password}  (shown once, never stored in plaintext)");
    say!("  TOTP secret    {}  (add it to an authenticator app, or scan:)\n", totp.base32().as_str());
    if let Ok(qr) = qrcode::QrCode::new(uri.as_bytes()) {
        let art = qr.render::<qrcode::render::unicode::Dense1x2>().quiet_zone(true).build();
        for line in art.lines() {
            say!("    {line}");
        }
    }
    say!("\n  {}\n", uri.as_str());
    say!("A read-only API token for the demo-sync service account works as printed:\n");
    let auth = format!("-H 'Authorization: Bearer {}'", token.expose());
    say!("  {curl} {auth} {base}/api/v1/authorities/{DEMO_AUTHORITY}/electors/1");
    say!(
        "  {curl} {auth} '{base}/api/v1/authorities/{DEMO_AUTHORITY}/electors?surname={}&postcode={}'",
        sample.surname.replace(' ', "%20").replace('\'', "%27"),
        sample.postcode.replace(' ', "%20")
    );
    say!("  {curl} {base}/api/v1/authorities/{DEMO_AUTHORITY}/electors/1      # 401: no credential");
    say!("\nThe officer logs in in two steps; a password alone never gives a session. In a shell:\n");
    say!(
        "  CHALLENGE=$({curl} -H 'Content-Type: application/json' -d '{{\"name\":\"demo-officer\",\"password\":\"{password}\"}}' {base}/api/v1/auth/login | sed -E 's/.*\"challenge\":\"([^\"]+)\".*/\\1/')"
    );
    say!("  printf 'TOTP code from the app: '; read -r CODE");
    say!(
        "  {curl} -H 'Content-Type: application/json' -d \"{{\\\"challenge\\\":\\\"$CHALLENGE\\\",\\\"code\\\":\\\"$CODE\\\"}}\" {base}/api/v1/auth/totp"
    );
    say!("\nOperations:\n");
    say!("  {curl} {base}/healthz");
    say!("  {curl} {base}/readyz");
    say!("  {curl} {base}/metrics");
    say!("  {curl} {base}/openapi.json\n");
    say!(
        "Every read above is an event in the audit log ({}.audit). Console commands work while the server \
         runs, and their events join the same log: try `rollguard audit verify` and \
         `rollguard audit scope --principal demo-sync` in another terminal.\n",
        ctx.db.display()
    );
    let alerts = a.dir.join("alerts.jsonl");
    say!(
        "Detection runs the shipped Sigma rules over every event; alerts are appended to {} \
         (try reading more than 200 electors in five minutes with the token above, and watch).\n",
        alerts.display()
    );
    let svc = ctx.service_with(
        crate::access::serving(4),
        rollguard_access::AccountsConfig::default(),
        rollguard_service::Policy::default(),
    )?;
    let state =
        crate::access::state_with_alert_file(ctx, svc, rollguard_server::ServerConfig::default(), &alerts)?;
    crate::access::run_server(a.listen, Some(tls), state, |_| {})
}

fn shell_quote(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
