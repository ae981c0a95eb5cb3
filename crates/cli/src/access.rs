//! `rollguard user …`, `rollguard token …` and `rollguard serve`.

use crate::context::{Context, Result};
use crate::output::say;
use clap::{Args, Subcommand};
use rollguard_access::{parse_grant, AccountsConfig, Permission, Scope};
use rollguard_server::limits::TrustedProxy;
use rollguard_server::{AppState, ServerConfig};
use rollguard_service::{PrincipalAction, Service};
use rollguard_store::{PrincipalKind, RegisterConfig};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum UserCmd {
    /// Add a person (prints a one-time enrolment secret) or, with --service, a service account.
    Add {
        name: String,
        /// ROLE@AUTHORITY or ROLE@* (roles: registration-staff, supplies-officer,
        /// supplies-approver, security-analyst, administrator, recipient). Repeat for several.
        #[arg(long = "grant", value_parser = parse_grant)]
        grants: Vec<rollguard_access::Grant>,
        /// A service account: no password, uses API tokens.
        #[arg(long)]
        service: bool,
    },
    /// List principals and their grants.
    List,
    /// Grant a role (recorded with who granted it).
    Grant {
        name: String,
        #[arg(value_parser = parse_grant)]
        grant: rollguard_access::Grant,
    },
    /// Withdraw a role.
    Revoke {
        name: String,
        #[arg(value_parser = parse_grant)]
        grant: rollguard_access::Grant,
    },
    /// Clear a person's second factor, end their sessions, and print a new enrolment secret.
    ResetMfa { name: String },
    /// Suspend a principal: its sessions and tokens are revoked at once.
    Suspend { name: String },
    /// Lift a suspension.
    Restore { name: String },
    /// End every session of a principal.
    Logout { name: String },
}

pub fn user(ctx: &Context, c: UserCmd) -> Result<()> {
    let console = ctx.open()?;
    let (svc, actor) = (&console.svc, &console.actor);
    match c {
        UserCmd::Add { name, grants, service } => {
            let kind = if service { PrincipalKind::Service } else { PrincipalKind::Human };
            let (id, secret) = svc.add_principal(actor, &name, kind, grants)?;
            say!("added {} {name} (id {id})", kind.code());
            if let Some(s) = secret {
                say!("one-time enrolment secret (valid 72 hours, shown once):\n\n    {}\n", s.expose());
                say!("{name} enrols at POST /api/v1/auth/enrol/start with this secret, then sets a password");
                say!("and proves a TOTP code at /api/v1/auth/enrol/finish. There is no other way in.");
            } else {
                say!(
                    "create its API tokens with `rollguard token create {name} --permission … --authority …`"
                );
            }
        }
        UserCmd::List => {
            for p in svc.principals(actor)? {
                let state = p.state.replace('-', " ");
                say!("{:<4} {:<24} {:<8} {:<13} {}", p.id, p.name, p.kind.code(), state, p.grants.join(" "));
            }
        }
        UserCmd::Grant { name, grant } => {
            let shown = format!("{}@{}", grant.role, grant.scope.code());
            svc.change_grant(actor, &name, grant, true)?.done()?;
            say!("granted {shown} to {name}");
        }
        UserCmd::Revoke { name, grant } => {
            let shown = format!("{}@{}", grant.role, grant.scope.code());
            if !svc.change_grant(actor, &name, grant, false)?.done()? {
                return Err(format!("{name} does not hold {shown}").into());
            }
            say!("withdrew {shown} from {name}");
        }
        UserCmd::ResetMfa { name } => {
            let done = svc.principal_action(actor, &name, PrincipalAction::ResetMfa)?.done()?;
            if let Some(s) = done.enrolment_secret {
                say!(
                    "{name} must enrol again. One-time enrolment secret (valid 72 hours):\n\n    {}\n",
                    s.expose()
                );
            }
        }
        UserCmd::Suspend { name } => {
            svc.principal_action(actor, &name, PrincipalAction::Suspend)?.done()?;
            say!("suspended {name}; its sessions and tokens are revoked");
        }
        UserCmd::Restore { name } => {
            svc.principal_action(actor, &name, PrincipalAction::Restore)?.done()?;
            say!("restored {name} (revoked sessions and tokens stay revoked)");
        }
        UserCmd::Logout { name } => {
            let done = svc.principal_action(actor, &name, PrincipalAction::Logout)?.done()?;
            say!("ended {} session(s) of {name}", done.sessions_ended.unwrap_or(0));
        }
    }
    console.finish()
}

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Create an API token for a service account. Shown once; stored only as a hash.
    Create {
        /// The service account.
        name: String,
        /// What the token is for.
        #[arg(long, default_value = "api")]
        label: String,
        /// A permission code, e.g. elector:read. Repeat for several.
        #[arg(long = "permission", required = true)]
        permissions: Vec<Permission>,
        /// An authority code, or * for all. Repeat for several.
        #[arg(long = "authority", required = true, value_parser = Scope::parse_code)]
        authorities: Vec<Scope>,
        /// Lifetime in days.
        #[arg(long, default_value_t = 30)]
        days: i64,
    },
    /// List tokens (never their values).
    List,
    /// Revoke a token by id.
    Revoke { id: u64 },
}

pub fn token(ctx: &Context, c: TokenCmd) -> Result<()> {
    let console = ctx.open()?;
    let (svc, actor) = (&console.svc, &console.actor);
    match c {
        TokenCmd::Create { name, label, permissions, authorities, days } => {
            let (id, t) = svc.create_token(actor, &name, &label, permissions, authorities, days)?;
            say!(
                "token {id} for {name} (shown once; send as `Authorization: Bearer …`):\n\n    {}\n",
                t.expose()
            );
        }
        TokenCmd::List => {
            let now = svc.clock().now_secs();
            for t in svc.tokens(actor)? {
                let state = if t.revoked {
                    "revoked"
                } else if t.expires_at < now {
                    "expired"
                } else {
                    "active"
                };
                say!(
                    "{:<4} principal {:<4} {:<8} {:<16} {} on {}",
                    t.id,
                    t.principal_id,
                    state,
                    t.label,
                    t.permissions,
                    t.authorities
                );
            }
        }
        TokenCmd::Revoke { id } => {
            if !svc.revoke_token(actor, id)? {
                return Err(format!("no live token {id}").into());
            }
            say!("revoked token {id}");
        }
    }
    console.finish()
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Register connections for reads (writes share one writer, committed in groups).
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// A reverse proxy whose X-Forwarded-For is believed (address or CIDR). Repeat for several.
    #[arg(long = "trusted-proxy")]
    pub trusted_proxies: Vec<TrustedProxy>,
    /// TLS certificate chain (PEM). With --tls-key, serves HTTPS.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Drop the cookie's Secure flag: only for local trials over plain HTTP.
    #[arg(long)]
    pub insecure_cookies: bool,
    /// The URL people reach the server at (passkeys are bound to its host name).
    #[arg(long, default_value = "https://localhost:8443")]
    pub public_url: String,
    /// Write each new audit checkpoint into this directory (a witness's drop box).
    #[arg(long)]
    pub witness_dir: Option<PathBuf>,
    /// POST each new audit checkpoint to this http:// URL (a witness).
    #[arg(long)]
    pub witness_url: Option<String>,
    /// Seconds between audit checkpoints, when the log has grown.
    #[arg(long, default_value_t = 10)]
    pub checkpoint_every: u64,
    #[command(flatten)]
    pub detection: DetectionArgs,
}

/// Detection and response settings.
#[derive(Args, Clone, Default)]
pub struct DetectionArgs {
    /// Directory of Sigma rules, watched for changes (default: the shipped rules; see
    /// `rollguard rules export`).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Where alerts go; repeat for several: jsonl:PATH, syslog-udp:HOST:PORT,
    /// syslog-tcp:HOST:PORT, webhook:URL;secret_file=PATH,
    /// smtp:HOST:PORT;from=ADDR;to=ADDR[,ADDR]. Add ;min_level=LEVEL to filter.
    #[arg(long = "alert-sink")]
    pub alert_sinks: Vec<String>,
    /// A read budget, ROLE=DISTINCT/WINDOW: distinct electors and applications per sliding
    /// window. A role's first flag replaces its defaults (registration-staff=600/1h, 900/1d,
    /// 3000/7d); repeat it for more windows.
    #[arg(long = "budget")]
    pub budgets: Vec<String>,
    /// The annual canvass, FROM..TO (UK dates, inclusive): staff read under the canvass
    /// budgets then.
    #[arg(long)]
    pub canvass: Option<String>,
    /// A canvass budget, as --budget (defaults registration-staff=1500/1h, 6000/1d, 25000/7d).
    #[arg(long = "canvass-budget")]
    pub canvass_budgets: Vec<String>,
    /// A day's distinct records far above both the reader's own busy day (the 90th
    /// percentile of its last 28 days) and its peers' (same role, same authority) is this
    /// many times it: a high alert, and the reader is suspended. From 2 to 20.
    #[arg(long = "baseline-factor", default_value_t = 2)]
    pub baseline_factor: u64,
    /// A day of at most this many records is never far above a baseline.
    #[arg(long = "baseline-floor", default_value_t = 150)]
    pub baseline_floor: u64,
    /// A reader holding this share (per cent) of one polling district's entries within four
    /// weeks (never fewer than 100 electors) is covering it: a high alert, and the reader is
    /// suspended. 0 turns district coverage off.
    #[arg(long = "district-share", default_value_t = 40)]
    pub district_share: u64,
    /// When exports are expected, RECIPIENT=DAYS@HH-HH (e.g. *=mon-fri@09-17); exports
    /// outside every window raise an alert and freeze exports. Repeat for several.
    #[arg(long = "export-window")]
    pub export_windows: Vec<String>,
    /// Time zone for working hours and export windows: Europe/London or UTC.
    #[arg(long, default_value = "Europe/London")]
    pub timezone: String,
}

impl DetectionArgs {
    pub fn config(&self) -> Result<rollguard_server::detection::DetectionConfig> {
        crate::detect::detection_config(
            self.rules.clone(),
            &self.alert_sinks,
            &self.export_windows,
            &self.timezone,
        )
    }
}

pub fn serve(ctx: &Context, a: ServeArgs) -> Result<()> {
    // Flags first: a mistake in them must not touch the register.
    let detection = a.detection.config()?;
    let d = &a.detection;
    let mut policy = crate::detect::policy(&d.budgets, d.canvass.as_deref(), &d.canvass_budgets)?;
    policy.baseline = crate::detect::baseline(d.baseline_factor, d.baseline_floor)?;
    policy.coverage = crate::detect::district_coverage(d.district_share)?;
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(c), Some(k)) => Some(rollguard_server::tls::config_from_pem_files(c, k)?),
        _ if a.listen.ip().is_loopback() => None,
        _ => {
            return Err(format!(
                "refusing to serve plain HTTP on {}: give --tls-cert and --tls-key, or listen on a loopback \
                 address behind a TLS-terminating proxy",
                a.listen
            )
            .into())
        }
    };
    let host = a
        .public_url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':']).next())
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("--public-url {}: expected https://HOST[:PORT]", a.public_url))?
        .to_owned();
    let accounts =
        AccountsConfig { rp_id: host, rp_origin: a.public_url.clone(), ..AccountsConfig::default() };
    let svc = ctx.service_with(serving(a.connections), accounts, policy)?;
    let config = ServerConfig {
        trusted_proxies: a.trusted_proxies,
        secure_cookies: !a.insecure_cookies,
        witness_dir: a.witness_dir,
        witness_url: a.witness_url,
        checkpoint_every: std::time::Duration::from_secs(a.checkpoint_every.max(1)),
        ..Default::default()
    };
    let log = open_audit_log(ctx, &svc, config.witness_dir.as_deref())?;
    run_server(a.listen, tls, AppState::with_detection(svc, log, config, detection), |_| {})
}

/// A register as a server uses it: `readers` connections for reads, one grouped writer.
pub fn serving(readers: usize) -> RegisterConfig {
    RegisterConfig { readers: readers.max(1), grouped: true, max_group: 512 }
}

/// Server state with the shipped rules and default budgets, alerts appended to `alerts`
/// (the demo's and the replay's set-up).
pub fn state_with_alert_file(
    ctx: &Context,
    svc: Service,
    config: ServerConfig,
    alerts: &std::path::Path,
) -> Result<std::sync::Arc<AppState>> {
    let mut detection = rollguard_server::detection::DetectionConfig::default();
    detection.sinks.push(rollguard_alerts::parse_sink(&format!("jsonl:{}", alerts.display()))?);
    let log = open_audit_log(ctx, &svc, None)?;
    Ok(AppState::with_detection(svc, log, config, detection))
}

/// Opens the register's audit log, verifying all of it first (and against the witness
/// directory's checkpoints, and what the register knows of its log): a server whose log does
/// not verify, or is not the register's, does not start.
pub fn open_audit_log(
    ctx: &Context,
    svc: &Service,
    witness_dir: Option<&std::path::Path>,
) -> Result<rollguard_audit::AuditLog> {
    let path = ctx.audit_path();
    let mut first = crate::context::open_log(svc, &path).map_err(|e| format!("refusing to start: {e}"))?;
    let signer = crate::context::signer(svc, &mut first)?;
    drop(first);
    let mut witnessed = Vec::new();
    if let Some(dir) = witness_dir.filter(|d| d.exists()) {
        for e in std::fs::read_dir(dir)? {
            let p = e?.path();
            if p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("checkpoint-")) {
                witnessed.push(std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?);
            }
        }
    }
    let started = std::time::Instant::now();
    let connect_path = path.clone();
    let connect: rollguard_audit::LogConnector = std::sync::Arc::new(move || {
        Ok(Box::new(rollguard_store::SqliteAuditStore::open_or_create(&connect_path, false)?)
            as Box<dyn rollguard_store::AuditStore>)
    });
    let log = rollguard_audit::AuditLog::open(svc.register(), connect, signer, &witnessed)
        .map_err(|e| format!("the audit log {} does not verify; refusing to start: {e}", path.display()))?;
    eprintln!(
        "rollguard: audit log {} verified ({} events, {} witnessed checkpoints, in {:.2} s)",
        path.display(),
        log.size(),
        witnessed.len(),
        started.elapsed().as_secs_f64()
    );
    let mut detail = vec![("change", "server-start".to_owned())];
    detail.extend(svc.policy().describe());
    let unsized_districts = svc.authorities_without_district_sizes()?;
    if svc.policy().coverage != rollguard_detect::DistrictCoverage::OFF && !unsized_districts.is_empty() {
        let codes = unsized_districts.join(", ");
        eprintln!(
            "rollguard: warning: district coverage judges no reader in {codes}: its entries have no district \
             sizes (imported before this version counted them, or added entry by entry); an import counts them"
        );
        detail.push(("district_coverage_unjudged", codes));
    }
    if let Some(dir) = witness_dir {
        detail.push(("witness_dir", dir.display().to_string()));
    }
    svc.note(
        &rollguard_service::Actor::console(),
        Permission::KeyAdmin,
        rollguard_audit::Kind::ConfigChange,
        detail,
    )?;
    Ok(log)
}

/// Binds, reports the address, and serves until Ctrl-C.
pub fn run_server(
    listen: SocketAddr,
    tls: Option<std::sync::Arc<rollguard_server::tls::TlsConfig>>,
    state: std::sync::Arc<AppState>,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    init_logging();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        eprintln!("rollguard: serving on {scheme}://{addr} (Ctrl-C stops)");
        on_ready(addr);
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        match tls {
            Some(tls) => rollguard_server::serve_tls(listener, tls, state, stop).await?,
            None => rollguard_server::serve(listener, state, stop).await?,
        }
        Ok::<_, crate::context::Error>(())
    })
}

/// JSON log lines on standard error; `RUST_LOG` filters.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
