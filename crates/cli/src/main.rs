//! `rollguard`: the electoral register that keeps personal data sealed.
#![forbid(unsafe_code)]

mod access;
mod audit;
mod bench;
mod bench_audit;
mod bench_http;
mod bench_mail;
mod bench_rules;
mod bench_shell;
mod commands;
mod context;
mod demo;
mod detect;
mod electors;
mod mail;
mod output;
mod progress;
mod replay;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

// Import threads hand rows to one another; glibc's allocator spends a tenth of the import's CPU
// on those cross-thread frees, mimalloc almost none (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "rollguard",
    version,
    about = "Rollguard: an electoral register whose personal data stays sealed, with keys kept outside the database.",
    long_about = "Rollguard keeps an electoral register. Every personal field is sealed (AES-256-GCM) before it \
                  reaches the database, under per-authority data keys that are themselves wrapped by a \
                  key-encryption key in a separate keyring: a protected file, or a PKCS#11 HSM.\n\n\
                  Start with `rollguard demo`, or `rollguard init` for a register of your own."
)]
struct Cli {
    /// The register database (SQLite).
    #[arg(long, global = true, env = "ROLLGUARD_DB", default_value = "rollguard.db")]
    db: PathBuf,
    /// The keyring: a file path, or pkcs11:module=PATH;token=LABEL[;pin-env=VAR]. Keep it apart from the database.
    #[arg(long, global = true, env = "ROLLGUARD_KEYRING", default_value = "rollguard.keyring")]
    keyring: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new register database and keyring, and optionally its first authority.
    Init(commands::InitArgs),
    /// Manage local authorities.
    #[command(subcommand)]
    Authority(commands::AuthorityCmd),
    /// Import electors from register CSV, all or nothing.
    #[command(long_about = commands::IMPORT_HELP)]
    Import(commands::ImportArgs),
    /// Export the full or open register of an authority as CSV.
    Export(commands::ExportArgs),
    /// Show, search, add, amend or delete electors.
    #[command(subcommand)]
    Elector(electors::ElectorCmd),
    /// Applications to register: receive, check identity, determine.
    #[command(subcommand)]
    Application(electors::ApplicationCmd),
    /// The register as it stood on a past date.
    #[command(subcommand)]
    Register(commands::RegisterCmd),
    /// Write a synthetic, UK-like register as CSV (deterministic for a seed; no real people).
    Generate(commands::GenerateArgs),
    /// Key management: rotate the key-encryption key, rotate data keys, re-seal.
    #[command(subcommand)]
    Keys(commands::KeysCmd),
    /// Write a consistent, still-sealed copy of the database.
    Backup(commands::BackupArgs),
    /// Set up a sealed demo register of 100,000 synthetic electors and show what to try.
    Demo(demo::DemoArgs),
    /// Benchmarks: import, reads and search against plain SQLite; HTTP; the audit log;
    /// detection rules; mail scanning.
    Bench(bench::BenchArgs),
    /// People and service accounts: add, grant roles, reset MFA, suspend.
    #[command(subcommand)]
    User(access::UserCmd),
    /// API tokens for service accounts: create (shown once), list, revoke.
    #[command(subcommand)]
    Token(access::TokenCmd),
    /// Serve the HTTP API (MFA-only logins, authority-scoped roles, API tokens).
    Serve(Box<access::ServeArgs>),
    /// The tamper-evident audit log: verify it, sign checkpoints, show its key.
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Detection rules (Sigma): check a rule set, or write out the shipped rules.
    #[command(subcommand)]
    Rules(detect::RulesCmd),
    /// Canary electors: plant honeytokens whose every read raises a critical alert.
    #[command(subcommand)]
    Canary(detect::CanaryCmd),
    /// Leaked extracts: name the recipient of the supply a leak came from.
    #[command(subcommand)]
    Leak(detect::LeakCmd),
    /// Replay an attack against a live Rollguard and measure each step (`replay 2021`).
    Replay(replay::ReplayArgs),
    /// Mail reconnaissance: find tracking pixels and links, spoofed senders, risky attachments.
    #[command(subcommand)]
    Mail(mail::MailCmd),
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Csv,
}

/// Reports a panic by location only. A panic message can quote whatever value was at hand,
/// and in a register that may be personal data, so the message itself is never printed.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!(
            "rollguard: internal error at {at}. The details are withheld because they could contain \
             personal data. Nothing was committed by the step that failed; please report this location."
        );
    }));
}

fn main() -> ExitCode {
    install_panic_hook();
    let cli = Cli::parse();
    let ctx = context::Context { db: cli.db, keyring: cli.keyring };
    let result = match cli.command {
        Command::Init(a) => commands::init(&ctx, a),
        Command::Authority(c) => commands::authority(&ctx, c),
        Command::Import(a) => commands::import(&ctx, a),
        Command::Export(a) => commands::export(&ctx, a),
        Command::Elector(c) => electors::elector(&ctx, c),
        Command::Application(c) => electors::application(&ctx, c),
        Command::Register(c) => commands::register(&ctx, c),
        Command::Generate(a) => commands::generate(a),
        Command::Keys(c) => commands::keys(&ctx, c),
        Command::Backup(a) => commands::backup(&ctx, a),
        Command::Demo(a) => demo::run(a),
        Command::Bench(a) => bench::run(a),
        Command::User(c) => access::user(&ctx, c),
        Command::Token(c) => access::token(&ctx, c),
        Command::Serve(a) => access::serve(&ctx, *a),
        Command::Audit(c) => audit::run(&ctx, c),
        Command::Rules(c) => detect::rules(c),
        Command::Canary(c) => detect::canary(&ctx, c),
        Command::Leak(c) => detect::leak(&ctx, c),
        Command::Replay(a) => replay::run(a),
        Command::Mail(c) => mail::run(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rollguard: {e}");
            ExitCode::FAILURE
        }
    }
}
