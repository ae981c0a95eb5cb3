//! The register's set-up and bulk commands: init, authorities, import, export, the register
//! at a date, generate, keys, backup. Each parses its arguments, calls the service, prints.

use crate::context::{self, same_directory, Console, Context, Result};
use crate::output::say;
use crate::progress::bar;
use clap::{Args, Subcommand, ValueEnum};
use rollguard_register::{format_date, parse_date, Date, FranchiseTable, Nation};
use rollguard_service::SupplyOrder;
use rollguard_vault::{ImportOptions, RegisterKind, CSV_COLUMNS};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

pub const IMPORT_HELP: &str = "Import electors from register CSV into one authority, all or nothing: if any row \
is bad, the error names file:line:field and nothing is stored.\n\n\
The first row is a header naming the columns; order is free. Required: elector_number, surname, given_names, \
address_line_1, postcode. Optional: previous_names, uprn, address_line_2..5, date_of_birth, nino, \
franchise_marker, open_register_opt_out, anonymous, absent_vote, absent_vote_expires, attainer_date, \
overseas_address, overseas_postcode, overseas_declaration_expires, email, phone, registered_on.\n\n\
Dates are YYYY-MM-DD; yes/no columns take Y or N; previous_names are Given Names|Surname pairs separated by ; \
and overseas_address lines are separated by |. `rollguard generate` writes this format.";

pub(crate) fn parse_day(field: &str, s: &str) -> Result<Date> {
    Ok(parse_date(field, s)?)
}

/// An optional date argument.
pub(crate) fn day_or_none(field: &str, s: &Option<String>) -> Result<Option<Date>> {
    s.as_deref().map(|d| parse_day(field, d)).transpose()
}

#[derive(Args)]
pub struct InitArgs {
    /// Create this authority as well (a GSS or other short code, e.g. E07000223).
    #[arg(long)]
    authority: Option<String>,
    /// The authority's name.
    #[arg(long, requires = "authority")]
    authority_name: Option<String>,
    /// england, wales, scotland or northern-ireland.
    #[arg(long, default_value = "england", requires = "authority")]
    nation: String,
}

pub fn init(ctx: &Context, a: InitArgs) -> Result<()> {
    let nation: Option<Nation> = a.authority.as_ref().map(|_| a.nation.parse()).transpose()?;
    let console = ctx.create()?;
    say!("Created the register database: {}", ctx.db.display());
    say!("Created the keyring:           {}", console.svc.keys().keyring().describe());
    if let Ok(rollguard_sealing::KeyringSpec::File(path)) = ctx.spec() {
        if same_directory(&ctx.db, &path) {
            say!(
                "\nWARNING: the keyring is in the same directory as the database. Anyone who copies the \
                 directory gets both. Move the keyring elsewhere (chmod 600), keep it out of database backups, \
                 and point --keyring or ROLLGUARD_KEYRING at it."
            );
        }
        if context::passphrase().is_none() {
            say!(
                "\nThe keyring file is protected by its permissions (0600) only. To seal it with a passphrase too, \
                 set {} when running init.",
                context::PASSPHRASE_ENV
            );
        }
    }
    if let (Some(code), Some(nation)) = (a.authority, nation) {
        let name = a.authority_name.unwrap_or_else(|| code.clone());
        let code = console.svc.create_authority(&console.actor, &code, &name, nation)?;
        say!("\nCreated authority {code} ({name}, {nation}) with its own data keys.");
    }
    console.finish()
}

#[derive(Subcommand)]
pub enum AuthorityCmd {
    /// Create an authority with its own data keys (a running server uses it at once).
    Add {
        code: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "england")]
        nation: String,
    },
    /// List authorities and how many electors each has.
    List,
    /// Show the franchise marker table an authority uses.
    Markers { code: String },
}

pub fn authority(ctx: &Context, c: AuthorityCmd) -> Result<()> {
    let console = ctx.open()?;
    match c {
        AuthorityCmd::Add { code, name, nation } => {
            let nation: Nation = nation.parse()?;
            let code = console.svc.create_authority(&console.actor, &code, &name, nation)?;
            say!("Created authority {code}");
        }
        AuthorityCmd::List => {
            for (a, n) in console.svc.authorities()? {
                say!("{:<12} {:<17} {:>10} electors  {}", a.code, a.nation, n, a.name);
            }
        }
        AuthorityCmd::Markers { code } => {
            let table: FranchiseTable = console.svc.franchise_table(&code)?;
            say!("Franchise markers for {code} ({}); no marker means every election:", table.nation);
            for (c, info) in table.codes() {
                say!("  {c:<3} {}  [{}]", info.description, info.elections.join(", "));
            }
        }
    }
    console.finish()
}

#[derive(Args)]
pub struct ImportArgs {
    /// The CSV file.
    file: PathBuf,
    #[arg(long)]
    authority: String,
    /// The date the entries took effect, for rows without registered_on (default: today).
    #[arg(long)]
    effective: Option<String>,
    /// Canary electors to plant among the rows, per thousand (0 for none). Planted by the
    /// import, they take ids spread through its run, its dates and interim numbers after
    /// real entries, at postcodes no row of the file has: nothing tells them apart. Only
    /// into an authority with no entries yet.
    #[arg(long, default_value_t = 1.0)]
    canaries_per_thousand: f64,
}

pub fn import(ctx: &Context, a: ImportArgs) -> Result<()> {
    let effective = day_or_none("--effective", &a.effective)?;
    if !(0.0..=100.0).contains(&a.canaries_per_thousand) {
        return Err(format!("--canaries-per-thousand {}: from 0 to 100", a.canaries_per_thousand).into());
    }
    // In range, so the rate per 100,000 is a small whole number.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let canaries = (a.canaries_per_thousand * 100.0).round() as u32;
    let console = ctx.open()?;
    let file = File::open(&a.file).map_err(|e| format!("{}: {e}", a.file.display()))?;
    let source = a.file.display().to_string();
    let report = import_with_progress(&console, &a.authority, file, &source, (effective, canaries))?;
    say!("Imported {} electors into {}.", report.imported, a.authority.to_ascii_uppercase());
    if report.canaries > 0 {
        say!("Planted {} canary electors among them (their ids are kept sealed).", report.canaries);
    }
    console.finish()
}

/// Imports CSV from `input` with a progress bar, reporting the rate on stderr.
pub fn import_with_progress(
    console: &Console,
    authority: &str,
    input: impl std::io::Read + Send,
    source_name: &str,
    (effective, canaries_per_100k): (Option<Date>, u32),
) -> Result<rollguard_vault::ImportReport> {
    let clock = console.svc.clock();
    let opts = ImportOptions {
        source_name: source_name.to_owned(),
        effective: effective.unwrap_or_else(|| clock.today()),
        today: clock.today(),
        now: clock.now_secs(),
        canaries_per_100k,
    };
    let pb = bar(None, "importing");
    let reader = std::io::BufReader::with_capacity(1 << 20, input);
    let started = std::time::Instant::now();
    let report = console.svc.import_csv(&console.actor, authority, reader, &opts, &|n| pb.set_position(n));
    pb.finish_and_clear();
    let report = report?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{} rows in {:.1} s ({:.0} rows/s)",
        report.imported,
        secs,
        report.imported as f64 / secs.max(1e-9)
    );
    Ok(report)
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Kind {
    Full,
    Open,
}

#[derive(Args)]
pub struct ExportArgs {
    #[arg(long)]
    authority: String,
    /// full: every registered elector; open: without opted-out and anonymous electors.
    #[arg(long, value_enum)]
    kind: Kind,
    /// Who the supply is for (default: you). Each supply carries watermark entries unique
    /// to it, so a leaked copy names its recipient (`rollguard leak trace`).
    #[arg(long)]
    recipient: Option<String>,
    /// Why the recipient is entitled to it (kept with the supply's record).
    #[arg(long)]
    purpose: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub(crate) fn output(path: &Option<PathBuf>) -> Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => Box::new(BufWriter::new(File::create(p).map_err(|e| format!("{}: {e}", p.display()))?)),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    })
}

pub fn export(ctx: &Context, a: ExportArgs) -> Result<()> {
    let console = ctx.open()?;
    let kind = match a.kind {
        Kind::Full => RegisterKind::Full,
        Kind::Open => RegisterKind::Open,
    };
    let order = SupplyOrder {
        authority: a.authority.clone(),
        kind,
        recipient: a.recipient.clone(),
        purpose: a.purpose.clone(),
    };
    let supply = console.svc.console_supply(&console.actor, order)?;
    let mut out = output(&a.out)?;
    let n = rollguard_vault::write_register_marked(&supply.electors, kind, &supply.marks, &mut out)?;
    out.flush()?;
    eprintln!("Exported {n} entries (supply {}, with its watermark entries).", supply.id);
    console.finish()
}

#[derive(Subcommand)]
pub enum RegisterCmd {
    /// Who was registered on DATE: the register rebuilt from history (full-register CSV).
    At {
        date: String,
        #[arg(long)]
        authority: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Move a register written by an earlier Rollguard into the sealed layout (every field
    /// and flag in one padded sealed value, ids with no order, bucketed indexes). Resumable:
    /// run it again after an interruption. Reads go on while it runs.
    Upgrade {
        /// Entries per transaction.
        #[arg(long, default_value_t = 2_000)]
        batch: usize,
        /// Stop after this many batches (to spread the work).
        #[arg(long)]
        max_batches: Option<u64>,
    },
    /// Re-size an authority's bucketed blind indexes to its current size. Resumable.
    Reindex {
        #[arg(long)]
        authority: String,
        #[arg(long, default_value_t = 2_000)]
        batch: usize,
        #[arg(long)]
        max_batches: Option<u64>,
    },
}

pub fn register(ctx: &Context, c: RegisterCmd) -> Result<()> {
    let (date, authority, out) = match c {
        RegisterCmd::At { date, authority, out } => (date, authority, out),
        RegisterCmd::Upgrade { batch, max_batches } => {
            let console = ctx.open()?;
            let r = console.svc.upgrade_layout(&console.actor, batch, max_batches)?;
            if r.finished {
                // The write-ahead log still holds page images from before the moves.
                console.finish()?;
                rollguard_store::SqliteStore::open(&ctx.db)?.checkpoint()?;
                say!("Moved {} entries; the register is in the sealed layout.", r.moved);
                if r.moved > 0 {
                    say!("Backups made before the upgrade still hold the earlier layout: replace them.");
                }
                return Ok(());
            } else {
                say!("Moved {} entries; run `rollguard register upgrade` again to go on.", r.moved);
            }
            return console.finish();
        }
        RegisterCmd::Reindex { authority, batch, max_batches } => {
            let console = ctx.open()?;
            let r = console.svc.reindex(&console.actor, &authority, batch, max_batches)?;
            let state = if r.finished { "done" } else { "not finished; run it again to go on" };
            say!("Re-indexed {}: {} index entries moved, {state}.", authority.to_ascii_uppercase(), r.moved);
            return console.finish();
        }
    };
    let date = parse_day("DATE", &date)?;
    let console = ctx.open()?;
    let electors = console.svc.register_at(&console.actor, &authority, date)?;
    let mut w = output(&out)?;
    let n = rollguard_vault::write_register(&electors, RegisterKind::Full, &mut w)?;
    w.flush()?;
    eprintln!("{n} electors registered on {}.", format_date(date));
    console.finish()
}

#[derive(Args)]
pub struct GenerateArgs {
    /// How many electors.
    count: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value = "england")]
    nation: String,
    /// Anchor date for ages and expiries (default: today). Fix it for byte-identical output.
    #[arg(long)]
    today: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// A buffer for `count` generated CSV rows, about 260 bytes each. The size is only a hint, so
/// a count whose rows this machine could not address reserves nothing up front.
pub fn csv_buffer(count: u64) -> Vec<u8> {
    Vec::with_capacity(usize::try_from(count).ok().and_then(|n| n.checked_mul(260)).unwrap_or(0))
}

pub fn write_generated(
    count: u64,
    seed: u64,
    nation: Nation,
    anchor: Date,
    w: &mut dyn Write,
    mut tick: impl FnMut(u64),
) -> Result<()> {
    let mut csv = csv::Writer::from_writer(w);
    csv.write_record(CSV_COLUMNS.iter().map(|c| c.name))?;
    let gen = rollguard_synth::Generator::new(seed, FranchiseTable::default_for(nation), anchor);
    for (i, t) in (0..count).zip(gen) {
        csv.write_record(CSV_COLUMNS.iter().map(|c| (c.get)(&t)))?;
        if i % 10_000 == 0 {
            tick(i);
        }
    }
    csv.flush()?;
    Ok(())
}

pub fn generate(a: GenerateArgs) -> Result<()> {
    use rollguard_service::Clock;
    let anchor = match &a.today {
        Some(d) => parse_day("--today", d)?,
        None => rollguard_service::SystemClock.today(),
    };
    let pb = bar(Some(a.count), "generating");
    let mut out = output(&a.out)?;
    write_generated(a.count, a.seed, a.nation.parse()?, anchor, &mut out, |n| pb.set_position(n))?;
    out.flush()?;
    pb.finish_and_clear();
    Ok(())
}

#[derive(Subcommand)]
pub enum KeysCmd {
    /// Show the keyring and every data key (ids and generations only, never key material).
    Status,
    /// Rotate the key-encryption key: rewrap every data key under a new KEK, then destroy the old KEK.
    Rotate,
    /// Start a new seal-key generation for an authority; then run `keys reseal`.
    RotateData {
        #[arg(long)]
        authority: String,
    },
    /// Re-seal rows still under an older seal-key generation. Resumable: stop and rerun at will.
    Reseal {
        #[arg(long)]
        authority: String,
        #[arg(long, default_value_t = 5000)]
        batch: usize,
        /// Stop after this many rows (the rest waits for the next run).
        #[arg(long)]
        max_rows: Option<u64>,
    },
}

pub fn keys(ctx: &Context, c: KeysCmd) -> Result<()> {
    let console = ctx.open()?;
    let (svc, actor) = (&console.svc, &console.actor);
    match c {
        KeysCmd::Status => {
            let s = svc.key_status(actor)?;
            say!("keyring: {}", s.keyring);
            say!("current key-encryption key: {}", s.current_kek);
            for k in s.data_keys {
                say!(
                    "  {:<12} {:<6} generation {:<3} wrapped by {}{}",
                    k.authority,
                    k.purpose.code(),
                    k.generation,
                    k.kek_id,
                    if k.retired { "  (retired)" } else { "" }
                );
            }
        }
        KeysCmd::Rotate => {
            let r = svc.rotate_kek(actor)?;
            say!("Rewrapped {} data keys under {}.", r.rewrapped, r.new_kek);
            for old in r.removed {
                say!("Destroyed old key-encryption key {old}.");
            }
        }
        KeysCmd::RotateData { authority } => {
            let g = svc.rotate_data_key(actor, &authority)?;
            let code = authority.to_ascii_uppercase();
            say!("New seal key generation {g} for {code}; new writes use it now.");
            say!("Run `rollguard keys reseal --authority {code}` to move existing rows onto it.");
        }
        KeysCmd::Reseal { authority, batch, max_rows } => {
            let pb = bar(None, "resealing");
            let r = svc.reseal(actor, &authority, batch, max_rows, &|n| pb.set_position(n));
            pb.finish_and_clear();
            let r = r?;
            say!("Re-sealed {} rows under generation {}.", r.resealed, r.generation);
            if r.retired > 0 {
                say!("No row uses an older generation now; retired {} old seal key(s).", r.retired);
            } else {
                say!("Rows remain on an older generation; run again to continue.");
            }
        }
    }
    console.finish()
}

#[derive(Args)]
pub struct BackupArgs {
    /// Where to write the copy (must not exist).
    out: PathBuf,
}

pub fn backup(ctx: &Context, a: BackupArgs) -> Result<()> {
    let console = ctx.open()?;
    console.svc.backup(&console.actor, &a.out)?;
    say!(
        "Wrote a sealed copy of the register to {}. The keyring is not in it: back that up apart.",
        a.out.display()
    );
    console.finish()
}
