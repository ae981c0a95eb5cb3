//! The register subcommands.

use crate::audit;
use crate::context::{self, same_directory, today, Context, Result};
use crate::output::say;
use crate::progress::bar;
use clap::{Args, Subcommand, ValueEnum};
use rollguard_audit::Kind as AuditKind;
use rollguard_register::{
    format_date, parse_date, Date, DeletionReason, ElectorNumber, EntryText, FranchiseTable, IdentityRoute,
    Nation, RejectionReason,
};
use rollguard_store::SqliteStore;
use rollguard_vault::{Elector, ImportOptions, RegisterKind, Search, Vault, CSV_COLUMNS};
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

fn parse_day(field: &str, s: &str) -> Result<Date> {
    Ok(parse_date(field, s)?)
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
    let mut vault = ctx.create()?;
    say!("Created the register database: {}", ctx.db.display());
    say!("Created the keyring:           {}", vault.keyring().describe());
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
    if let Some(code) = a.authority {
        let nation: Nation = a.nation.parse()?;
        let name = a.authority_name.unwrap_or_else(|| code.clone());
        vault.create_authority(&code, &name, nation)?;
        say!("\nCreated authority {} ({name}, {nation}) with its own data keys.", code.to_ascii_uppercase());
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum AuthorityCmd {
    /// Create an authority with its own data keys.
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
    let mut vault = ctx.open()?;
    match c {
        AuthorityCmd::Add { code, name, nation } => {
            vault.create_authority(&code, &name, nation.parse()?)?;
            say!("Created authority {}", code.to_ascii_uppercase());
        }
        AuthorityCmd::List => {
            for a in vault.authorities()? {
                let n = rollguard_store::RegisterStore::count_electors(vault.store(), &a.code)?;
                say!("{:<12} {:<17} {:>10} electors  {}", a.code, a.nation, n, a.name);
            }
        }
        AuthorityCmd::Markers { code } => {
            let table: &FranchiseTable = vault.franchise_table(&code)?;
            say!("Franchise markers for {code} ({}); no marker means every election:", table.nation);
            for (c, info) in table.codes() {
                say!("  {c:<3} {}  [{}]", info.description, info.elections.join(", "));
            }
        }
    }
    Ok(())
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
}

pub fn import(ctx: &Context, a: ImportArgs) -> Result<()> {
    let mut vault = ctx.open()?;
    let file = File::open(&a.file).map_err(|e| format!("{}: {e}", a.file.display()))?;
    let opts = ImportOptions {
        source_name: a.file.display().to_string(),
        effective: match &a.effective {
            Some(d) => parse_day("--effective", d)?,
            None => today(),
        },
        today: today(),
    };
    let report = import_with_progress(&mut vault, &a.authority, file, &opts)?;
    let ev = audit::console_event(AuditKind::RegisterImport)
        .authority(a.authority.to_ascii_uppercase())
        .detail("count", report.imported.to_string())
        .detail("first_id", report.first_id.to_string());
    audit::console(ctx, ev)?;
    say!("Imported {} electors into {}.", report.imported, a.authority.to_ascii_uppercase());
    Ok(())
}

pub fn import_with_progress(
    vault: &mut Vault<SqliteStore>,
    authority: &str,
    input: impl std::io::Read + Send,
    opts: &ImportOptions,
) -> Result<rollguard_vault::ImportReport> {
    let pb = bar(None, "importing");
    let reader = std::io::BufReader::with_capacity(1 << 20, input);
    let started = std::time::Instant::now();
    let report = vault.import_csv(&authority.to_ascii_uppercase(), reader, opts, &|n| pb.set_position(n));
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
    /// Write to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn output(path: &Option<PathBuf>) -> Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => Box::new(BufWriter::new(File::create(p).map_err(|e| format!("{}: {e}", p.display()))?)),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    })
}

pub fn export(ctx: &Context, a: ExportArgs) -> Result<()> {
    let mut vault = ctx.open()?;
    let kind = match a.kind {
        Kind::Full => RegisterKind::Full,
        Kind::Open => RegisterKind::Open,
    };
    let authority = a.authority.to_ascii_uppercase();
    let by = audit::console_principal();
    let recipient = a.recipient.clone().unwrap_or_else(|| by.clone());
    let table = vault.franchise_table(&authority)?.clone();
    let mut names =
        rollguard_synth::Generator::new(rand::random(), table, today()).map(|t| (t.given_names, t.surname));
    let supply = vault.prepare_supply(&authority, kind, &recipient, &by, &mut names)?;
    let ev = audit::console_event(AuditKind::RegisterExport)
        .authority(authority)
        .detail("kind", if kind == RegisterKind::Full { "full" } else { "open" })
        .detail("recipient", recipient)
        .detail("supply", supply.id.clone())
        .detail("watermarks", supply.marks.len().to_string())
        .detail("count", supply.included.len().to_string())
        .electors(supply.included.iter().copied());
    audit::console(ctx, ev)?;
    let mut out = output(&a.out)?;
    let n = rollguard_vault::write_register_marked(&supply.electors, kind, &supply.marks, &mut out)?;
    out.flush()?;
    eprintln!("Exported {n} entries (supply {}, with its watermark entries).", supply.id);
    Ok(())
}

/// `column=value` pairs in the register CSV vocabulary.
fn apply_sets(text: &mut EntryText, sets: &[String]) -> Result<()> {
    for s in sets {
        let (k, v) = s.split_once('=').ok_or_else(|| format!("--set {s:?}: expected column=value"))?;
        let col = CSV_COLUMNS
            .iter()
            .find(|c| c.name == k.trim())
            .ok_or_else(|| format!("--set: unknown column {k:?}; columns: {}", column_names()))?;
        (col.set)(text, v.to_owned());
    }
    Ok(())
}

fn column_names() -> String {
    CSV_COLUMNS.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
}

#[derive(Subcommand)]
pub enum ElectorCmd {
    /// Show one elector (and with --history, every version).
    Show {
        id: u64,
        #[arg(long)]
        history: bool,
    },
    /// Equality search by blind index within one authority.
    Search {
        #[arg(long)]
        authority: String,
        #[arg(long)]
        surname: Option<String>,
        #[arg(long)]
        postcode: Option<String>,
        #[arg(long)]
        dob: Option<String>,
        #[arg(long)]
        number: Option<String>,
    },
    /// Add an elector: --set column=value for each field (the import CSV columns).
    Add {
        #[arg(long)]
        authority: String,
        #[arg(long = "set", value_name = "COLUMN=VALUE")]
        sets: Vec<String>,
        /// The date the entry takes effect (default: today).
        #[arg(long)]
        effective: Option<String>,
        /// Add even when an elector with the same name, birth date and address exists.
        #[arg(long)]
        allow_possible_duplicate: bool,
    },
    /// Amend an elector: --set column=value for each changed field.
    Amend {
        id: u64,
        #[arg(long = "set", value_name = "COLUMN=VALUE", required = true)]
        sets: Vec<String>,
        #[arg(long)]
        effective: Option<String>,
    },
    /// Delete an elector with a reason; the history is kept.
    Delete {
        id: u64,
        /// moved-away, deceased, duplicate, not-eligible, review-outcome, elector-request, court-order
        #[arg(long)]
        reason: String,
        #[arg(long)]
        effective: Option<String>,
    },
}

fn effective_or_today(s: &Option<String>) -> Result<Date> {
    match s {
        Some(d) => parse_day("--effective", d),
        None => Ok(today()),
    }
}

/// Prints an elector for staff. Anonymous entries show only number and N.
fn print_elector(e: &Elector) {
    let en = &e.entry;
    let period = match e.valid_to {
        Some(to) => format!("{} to {}", format_date(e.valid_from), format_date(to)),
        None => format!("from {}", format_date(e.valid_from)),
    };
    say!(
        "elector {}  {}  version {} ({period}){}",
        e.id,
        e.authority,
        e.version,
        if e.deleted { "  DELETED" } else { "" }
    );
    say!("  number      {}", en.number);
    say!("  change      {}", e.change);
    if en.anonymous {
        say!("  N           anonymous entry: name and address withheld");
        return;
    }
    say!("  name        {} {}", en.name.given_names, en.name.surname);
    for p in &en.previous_names {
        say!("  previously  {} {}", p.given_names, p.surname);
    }
    say!("  address     {}, {}", en.address.lines.join(", "), en.address.postcode);
    if let Some(u) = en.address.uprn {
        say!("  uprn        {}", u.0);
    }
    if let Some(d) = en.date_of_birth {
        say!("  born        {}", format_date(d));
    }
    if let Some(d) = en.attainer_date {
        say!("  attainer    {}", format_date(d));
    }
    say!("  franchise   {}", if en.franchise.is_full() { "(all elections)" } else { en.franchise.as_str() });
    say!("  open reg.   {}", if en.open_register_opt_out { "opted out" } else { "included" });
    if let Some(av) = &en.absent_vote {
        say!(
            "  absent vote {}{}",
            av.kind,
            av.expires.map(|d| format!(" until {}", format_date(d))).unwrap_or_default()
        );
    }
    if let Some(o) = &en.overseas {
        say!(
            "  overseas    qualifying address {}, {}; declaration expires {}",
            o.qualifying_address.lines.join(", "),
            o.qualifying_address.postcode,
            format_date(o.declaration_expires)
        );
    }
    if let Some(m) = &en.contact.email {
        say!("  email       {m}");
    }
    if let Some(p) = &en.contact.phone {
        say!("  phone       {p}");
    }
}

pub fn elector(ctx: &Context, c: ElectorCmd) -> Result<()> {
    let mut vault = ctx.open()?;
    match c {
        ElectorCmd::Show { id, history } => {
            let current = vault.elector(id)?;
            let ev = audit::console_event(AuditKind::ElectorRead)
                .authority(current.authority.clone())
                .electors([id]);
            audit::console(ctx, ev)?;
            if history {
                for e in vault.history(id)? {
                    print_elector(&e);
                }
            } else {
                print_elector(&vault.elector(id)?);
            }
        }
        ElectorCmd::Search { authority, surname, postcode, dob, number } => {
            let q = Search { surname, postcode, date_of_birth: dob, elector_number: number };
            let found = vault.search(&authority.to_ascii_uppercase(), &q)?;
            let ev = audit::console_event(AuditKind::ElectorSearch)
                .authority(authority.to_ascii_uppercase())
                .electors(found.iter().map(|e| e.id))
                .detail("results", found.len().to_string());
            audit::console(ctx, ev)?;
            for e in &found {
                let en = &e.entry;
                if en.anonymous {
                    say!("{:>10}  {:<10}  N (anonymous entry)", e.id, en.number);
                } else {
                    say!(
                        "{:>10}  {:<10}  {}, {}  {}  {}",
                        e.id,
                        en.number,
                        en.name.surname,
                        en.name.given_names,
                        en.address.lines.first().map(String::as_str).unwrap_or(""),
                        en.address.postcode
                    );
                }
            }
            eprintln!("{} found", found.len());
        }
        ElectorCmd::Add { authority, sets, effective, allow_possible_duplicate } => {
            let mut text = EntryText::default();
            apply_sets(&mut text, &sets)?;
            let id = vault.add(
                &authority.to_ascii_uppercase(),
                &text,
                effective_or_today(&effective)?,
                today(),
                allow_possible_duplicate,
            )?;
            let mut ev = audit::console_event(AuditKind::ElectorWrite)
                .authority(authority.to_ascii_uppercase())
                .electors([id])
                .detail("change", "added");
            ev.fields = CSV_COLUMNS
                .iter()
                .filter(|c| !(c.get)(&text).is_empty())
                .map(|c| c.name.to_owned())
                .collect();
            audit::console(ctx, ev)?;
            say!("Added elector {id}.");
        }
        ElectorCmd::Amend { id, sets, effective } => {
            let mut text = vault.elector(id)?.entry.to_text();
            apply_sets(&mut text, &sets)?;
            let v = vault.amend(id, &text, effective_or_today(&effective)?, today())?;
            let mut ev =
                audit::console_event(AuditKind::ElectorWrite).electors([id]).detail("change", "amended");
            ev.fields =
                sets.iter().filter_map(|s| s.split_once('=').map(|(k, _)| k.trim().to_owned())).collect();
            audit::console(ctx, ev)?;
            say!("Amended elector {id}: now version {v}.");
        }
        ElectorCmd::Delete { id, reason, effective } => {
            let reason: DeletionReason = reason.parse()?;
            let v = vault.delete(id, reason, effective_or_today(&effective)?)?;
            let ev = audit::console_event(AuditKind::ElectorWrite)
                .electors([id])
                .detail("change", format!("deleted:{reason}"));
            audit::console(ctx, ev)?;
            say!("Deleted elector {id} ({reason}): version {v}; history kept.");
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum ApplicationCmd {
    /// Record an application: --set column=value (elector_number may wait until it is added).
    Receive {
        #[arg(long)]
        authority: String,
        #[arg(long = "set", value_name = "COLUMN=VALUE")]
        sets: Vec<String>,
        #[arg(long)]
        received_on: Option<String>,
    },
    /// Show an application.
    Show { id: u64 },
    /// Record how identity was verified: national-match, local-data, documentary-evidence, attestation.
    CheckIdentity {
        id: u64,
        #[arg(long)]
        route: String,
    },
    /// Determine: add the applicant to the register.
    Add {
        id: u64,
        #[arg(long)]
        number: Option<String>,
        #[arg(long)]
        effective: Option<String>,
        #[arg(long)]
        allow_possible_duplicate: bool,
    },
    /// Determine: reject with a reason (identity-not-verified, not-eligible, not-resident, duplicate, incomplete).
    Reject {
        id: u64,
        #[arg(long)]
        reason: String,
    },
}

pub fn application(ctx: &Context, c: ApplicationCmd) -> Result<()> {
    let mut vault = ctx.open()?;
    match c {
        ApplicationCmd::Receive { authority, sets, received_on } => {
            let mut text = EntryText::default();
            apply_sets(&mut text, &sets)?;
            let id = vault.receive_application(
                &authority.to_ascii_uppercase(),
                &text,
                effective_or_today(&received_on)?,
                today(),
            )?;
            say!("Received application {id}.");
        }
        ApplicationCmd::Show { id } => {
            let v = vault.application(id)?;
            say!(
                "application {}  {}  received {}  status {}",
                v.id,
                v.authority,
                format_date(v.received_on),
                v.status.code()
            );
            say!("  applicant  {} {}", v.applicant.given_names, v.applicant.surname);
            say!(
                "  address    {}, {}",
                v.applicant
                    .address_lines
                    .iter()
                    .filter(|l| !l.is_empty())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                v.applicant.postcode
            );
        }
        ApplicationCmd::CheckIdentity { id, route } => {
            let route: IdentityRoute = route.parse()?;
            vault.check_identity(id, route)?;
            say!("Application {id}: identity checked ({route}).");
        }
        ApplicationCmd::Add { id, number, effective, allow_possible_duplicate } => {
            let number = number.map(|n| ElectorNumber::parse("--number", &n)).transpose()?;
            let eid = vault.add_from_application(
                id,
                number.as_ref(),
                effective_or_today(&effective)?,
                today(),
                allow_possible_duplicate,
            )?;
            say!("Application {id}: added to the register as elector {eid}.");
        }
        ApplicationCmd::Reject { id, reason } => {
            let reason: RejectionReason = reason.parse()?;
            vault.reject_application(id, reason, today())?;
            say!("Application {id}: rejected ({reason}).");
        }
    }
    Ok(())
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
}

pub fn register(ctx: &Context, c: RegisterCmd) -> Result<()> {
    let mut vault = ctx.open()?;
    match c {
        RegisterCmd::At { date, authority, out } => {
            let date = parse_day("DATE", &date)?;
            let mut electors = vault.register_on(&authority.to_ascii_uppercase(), date)?;
            // Canary electors were never registered: they stay out of every register.
            let canaries: std::collections::HashSet<u64> =
                vault.registry()?.canary_ids().into_iter().collect();
            electors.retain(|e| !canaries.contains(&e.id));
            let ids = rollguard_vault::included_ids(&electors, RegisterKind::Full);
            let ev = audit::console_event(AuditKind::RegisterExport)
                .authority(authority.to_ascii_uppercase())
                .detail("kind", "register-at")
                .detail("date", format_date(date))
                .detail("count", ids.len().to_string())
                .electors(ids);
            audit::console(ctx, ev)?;
            let mut w = output(&out)?;
            let n = rollguard_vault::write_register(&electors, RegisterKind::Full, &mut w)?;
            w.flush()?;
            eprintln!("{n} electors registered on {}.", format_date(date));
        }
    }
    Ok(())
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
    for (i, t) in gen.take(count as usize).enumerate() {
        csv.write_record(CSV_COLUMNS.iter().map(|c| (c.get)(&t)))?;
        if i % 10_000 == 0 {
            tick(i as u64);
        }
    }
    csv.flush()?;
    Ok(())
}

pub fn generate(a: GenerateArgs) -> Result<()> {
    let anchor = match &a.today {
        Some(d) => parse_day("--today", d)?,
        None => today(),
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
    let op = match &c {
        KeysCmd::Status => None,
        KeysCmd::Rotate => Some("rotate-kek"),
        KeysCmd::RotateData { .. } => Some("rotate-data-key"),
        KeysCmd::Reseal { .. } => Some("reseal"),
    };
    if let Some(op) = op {
        audit::console(ctx, audit::console_event(AuditKind::KeyOperation).detail("operation", op))?;
    }
    let mut vault = ctx.open()?;
    match c {
        KeysCmd::Status => {
            say!("keyring: {}", vault.keyring().describe());
            say!("current key-encryption key: {}", vault.keyring().current());
            for k in rollguard_store::RegisterStore::data_keys(vault.store())? {
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
            let r = vault.rotate_kek()?;
            say!("Rewrapped {} data keys under {}.", r.rewrapped, r.new_kek);
            for old in r.removed {
                say!("Destroyed old key-encryption key {old}.");
            }
        }
        KeysCmd::RotateData { authority } => {
            let g = vault.rotate_data_key(&authority.to_ascii_uppercase())?;
            say!(
                "New seal key generation {g} for {}; new writes use it now.",
                authority.to_ascii_uppercase()
            );
            say!("Run `rollguard keys reseal --authority {authority}` to move existing rows onto it.");
        }
        KeysCmd::Reseal { authority, batch, max_rows } => {
            let pb = bar(None, "resealing");
            let r = vault.reseal(&authority.to_ascii_uppercase(), batch, max_rows, &|n| pb.set_position(n));
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
    Ok(())
}

#[derive(Args)]
pub struct BackupArgs {
    /// Where to write the copy (must not exist).
    out: PathBuf,
}

pub fn backup(ctx: &Context, a: BackupArgs) -> Result<()> {
    let vault = ctx.open()?;
    vault.backup(&a.out)?;
    say!(
        "Wrote a sealed copy of the register to {}. The keyring is not in it: back that up apart.",
        a.out.display()
    );
    Ok(())
}
