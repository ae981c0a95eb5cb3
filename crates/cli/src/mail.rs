//! `rollguard mail scan`: tracking pixels and links, spoofed and look-alike senders and risky
//! attachments in .eml files, mbox files and Maildir directories.

use crate::context::Result;
use crate::output::say;
use clap::{Args, Subcommand, ValueEnum};
use rollguard_mail::{walk, Campaign, Report, ScanConfig, Scanner, TrackerList, Verdict};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum MailCmd {
    /// Scan messages (.eml files, mbox files, Maildir directories; directories recursively).
    Scan(ScanArgs),
    /// Write Rollguard's labelled fixtures as .eml files, with labels.csv (to run other
    /// scanners over the same messages).
    Fixtures { dir: PathBuf },
    /// Write a copy of a message without its trackers: tracking images and remote CSS
    /// removed, links unwrapped from click-trackers or cleaned of tokens. IN is not changed.
    Neutralise {
        /// The message (.eml).
        input: PathBuf,
        /// Where to write the neutralised copy (must not exist).
        output: PathBuf,
        /// An Adblock-syntax tracker list, added to the built-in one. Repeat for several.
        #[arg(long = "tracker-list")]
        tracker_lists: Vec<PathBuf>,
    },
}

fn tracker_list(files: &[PathBuf]) -> Result<TrackerList> {
    let mut trackers = TrackerList::builtin();
    for p in files {
        let text = std::fs::read_to_string(p).map_err(|e| format!("--tracker-list {}: {e}", p.display()))?;
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let skipped = trackers.add(&name, &text);
        if !skipped.is_empty() {
            eprintln!(
                "rollguard: {}: {} rules not usable for mail (first at line {}: {})",
                p.display(),
                skipped.len(),
                skipped[0].line,
                skipped[0].reason
            );
        }
    }
    Ok(trackers)
}

/// Writes the labelled fixtures into `dir` (which must be empty or new).
pub fn write_fixtures(dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if std::fs::read_dir(dir)?.next().is_some() {
        return Err(format!("{} is not empty", dir.display()).into());
    }
    let mut labels = csv::Writer::from_path(dir.join("labels.csv"))?;
    labels.write_record(["file", "tracking", "dangerous", "findings"])?;
    let all = rollguard_mail::fixtures::corpus();
    for f in &all {
        let file = format!("{}.eml", f.name);
        std::fs::write(dir.join(&file), &f.eml)?;
        let kinds: Vec<String> = f
            .kinds
            .iter()
            .filter_map(|k| serde_json::to_value(k).ok()?.as_str().map(str::to_owned))
            .collect();
        labels.write_record([file, f.tracking.to_string(), f.dangerous.to_string(), kinds.join(" ")])?;
    }
    labels.flush()?;
    say!("Wrote {} labelled messages and labels.csv to {}", all.len(), dir.display());
    Ok(())
}

fn neutralise(input: &PathBuf, output: &PathBuf, lists: &[PathBuf]) -> Result<()> {
    let trackers = tracker_list(lists)?;
    if output.exists() {
        return Err(
            format!("{} exists; not overwriting (the original is always kept)", output.display()).into()
        );
    }
    let same = std::fs::canonicalize(input).ok()
        == std::fs::canonicalize(output.parent().unwrap_or(std::path::Path::new(".")))
            .ok()
            .map(|d| d.join(output.file_name().unwrap_or_default()));
    if same {
        return Err("the output must be a new file, not the input".into());
    }
    let raw = std::fs::read(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let (clean, counts) =
        rollguard_mail::neutralise(&raw, &trackers).map_err(|e| format!("{}: {e}", input.display()))?;
    std::fs::write(output, clean).map_err(|e| format!("{}: {e}", output.display()))?;
    say!(
        "Wrote {}: {} images removed, {} links unwrapped, {} links cleaned, {} remote CSS removed, in {} HTML parts; {} unchanged.",
        output.display(),
        counts.images_removed,
        counts.links_unwrapped,
        counts.links_cleaned,
        counts.css_removed,
        counts.html_parts,
        input.display()
    );
    Ok(())
}

#[derive(Clone, Copy, ValueEnum)]
pub enum MailFormat {
    Table,
    Json,
    Csv,
}

#[derive(Args)]
pub struct ScanArgs {
    /// Files and directories to scan.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    format: MailFormat,
    /// An Adblock-syntax tracker list (EasyPrivacy and the like), added to the built-in one.
    /// Repeat for several.
    #[arg(long = "tracker-list")]
    tracker_lists: Vec<PathBuf>,
    /// A domain worth impersonating (your own, your partners'); look-alikes of it are flagged.
    #[arg(long = "protected-domain")]
    protected_domains: Vec<String>,
    /// An organisation whose name in a display name must come from its domains:
    /// "NAME=domain[,domain…]", e.g. "BBC News=bbc.co.uk,bbc.com". Repeat for several.
    #[arg(long = "organisation")]
    organisations: Vec<String>,
    /// Also group the messages into campaigns (shared tracking or sender infrastructure,
    /// or one body template), and report those that track the protected group.
    #[arg(long)]
    campaigns: bool,
    /// The protected group: a file of e-mail addresses, one per line (`#` comments).
    #[arg(long, requires = "campaigns")]
    protected_group: Option<PathBuf>,
    /// Protected recipients a tracking campaign must reach to be reported as reconnaissance.
    #[arg(long, default_value_t = 10, requires = "campaigns")]
    min_targets: usize,
}

fn parse_organisation(s: &str) -> std::result::Result<(String, Vec<String>), String> {
    let (name, domains) =
        s.rsplit_once('=').ok_or_else(|| format!("--organisation {s:?}: expected NAME=domain[,domain…]"))?;
    let domains: Vec<String> =
        domains.split(',').map(|d| d.trim().to_ascii_lowercase()).filter(|d| !d.is_empty()).collect();
    if name.trim().is_empty() || domains.is_empty() {
        return Err(format!("--organisation {s:?}: expected NAME=domain[,domain…]"));
    }
    Ok((name.trim().to_owned(), domains))
}

pub fn run(c: MailCmd) -> Result<()> {
    match c {
        MailCmd::Scan(a) => scan(&a),
        MailCmd::Neutralise { input, output, tracker_lists } => neutralise(&input, &output, &tracker_lists),
        MailCmd::Fixtures { dir } => write_fixtures(&dir),
    }
}

/// `mail scan`: every message under the paths, then (if asked) the campaigns among them.
fn scan(a: &ScanArgs) -> Result<()> {
    let config = ScanConfig {
        trackers: tracker_list(&a.tracker_lists)?,
        protected_domains: a.protected_domains.iter().map(|d| d.trim().to_ascii_lowercase()).collect(),
        organisations: a
            .organisations
            .iter()
            .map(|o| parse_organisation(o))
            .collect::<std::result::Result<_, _>>()?,
        ..ScanConfig::default()
    };
    let scanner = Scanner::new(config);
    let mut reports: Vec<Report> = Vec::new();
    let mut problems = 0;
    walk(&a.paths, &mut |m| reports.push(scanner.scan(&m.origin, &m.bytes, m.truncated)), &mut |e| {
        problems += 1;
        eprintln!("rollguard: {e}");
    });
    // Across the messages scanned: a URL template whose values differ per recipient.
    rollguard_mail::per_recipient_urls(&mut reports, 3);
    let protected = match &a.protected_group {
        Some(p) => protected_group(p)?,
        None => BTreeSet::new(),
    };
    let campaigns =
        if a.campaigns { rollguard_mail::cluster(&reports, &protected, a.min_targets) } else { Vec::new() };
    match a.format {
        MailFormat::Json if a.campaigns => say!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"messages": reports, "campaigns": campaigns}))?
        ),
        MailFormat::Json => say!("{}", serde_json::to_string_pretty(&reports)?),
        MailFormat::Csv => print_csv(&reports)?,
        MailFormat::Table => {
            print_table(&reports, problems)?;
            campaigns.iter().for_each(print_campaign);
        }
    }
    Ok(())
}

/// The protected group's addresses, lower-cased; a line that is not an address is an error
/// naming the file and line.
fn protected_group(path: &Path) -> Result<BTreeSet<String>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--protected-group {}: {e}", path.display()))?;
    let mut protected = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.split('#').next().unwrap_or("").trim();
        if l.is_empty() {
            continue;
        }
        if !l.contains('@') || l.contains(char::is_whitespace) {
            return Err(format!(
                "--protected-group {}:{}: {l:?} is not an e-mail address",
                path.display(),
                i + 1
            )
            .into());
        }
        protected.insert(l.to_ascii_lowercase());
    }
    Ok(protected)
}

/// A serde enum's name as it appears in JSON.
fn json_name(v: &serde_json::Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// One CSV row per finding (one for a message with none).
fn print_csv(reports: &[Report]) -> Result<()> {
    let mut w = csv::Writer::from_writer(std::io::stdout().lock());
    w.write_record(["origin", "verdict", "from", "subject", "finding", "severity", "detail", "url"])?;
    for r in reports {
        let base = [
            r.origin.clone(),
            r.verdict.as_str().into(),
            r.from.clone().unwrap_or_default(),
            r.subject.clone().unwrap_or_default(),
        ];
        if r.findings.is_empty() {
            w.write_record(base.iter().cloned().chain([
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]))?;
        }
        for f in &r.findings {
            w.write_record(base.iter().cloned().chain([
                json_name(&serde_json::to_value(f.kind)?),
                json_name(&serde_json::to_value(f.severity)?),
                f.detail.clone(),
                f.url.clone().unwrap_or_default(),
            ]))?;
        }
    }
    w.flush()?;
    Ok(())
}

/// Each message's verdict and findings, then the totals.
fn print_table(reports: &[Report], problems: usize) -> Result<()> {
    for r in reports {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for f in &r.findings {
            *counts.entry(json_name(&serde_json::to_value(f.kind)?)).or_default() += 1;
        }
        let summary: Vec<String> =
            counts.iter().map(|(k, n)| if *n > 1 { format!("{k}×{n}") } else { k.clone() }).collect();
        say!(
            "{:<10} {}  from {}  {:?}",
            r.verdict.as_str(),
            r.origin,
            r.from.as_deref().unwrap_or("-"),
            r.subject.as_deref().unwrap_or("").chars().take(60).collect::<String>()
        );
        if !summary.is_empty() {
            say!("           {}", summary.join(", "));
        }
    }
    let count = |v: Verdict| reports.iter().filter(|r| r.verdict == v).count();
    say!(
        "\n{} messages: {} dangerous, {} tracking, {} suspicious, {} clean{}",
        reports.len(),
        count(Verdict::Dangerous),
        count(Verdict::Tracking),
        count(Verdict::Suspicious),
        count(Verdict::Clean),
        if problems > 0 { format!("; {problems} paths could not be read") } else { String::new() }
    );
    Ok(())
}

fn print_campaign(c: &Campaign) {
    let day = |t: Option<i64>| {
        t.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
            .map(|d| d.date().to_string())
            .unwrap_or_else(|| "?".into())
    };
    say!(
        "\ncampaign {} [{}{}]: {} messages to {} recipients ({} protected), {} to {}",
        c.id,
        c.kind,
        c.confidence.map(|x| format!(", {x} confidence")).unwrap_or_default(),
        c.messages,
        c.recipients.len(),
        c.protected_recipients.len(),
        day(c.first_seen),
        day(c.last_seen)
    );
    say!("  senders: {}", c.senders.join(", "));
    if !c.tracking_hosts.is_empty() {
        say!("  tracking: {}", c.tracking_hosts.join(", "));
    }
    for t in c.url_templates.iter().take(5) {
        say!("  template: {t}");
    }
    let f: Vec<String> = c.findings.iter().map(|(k, n)| format!("{k}×{n}")).collect();
    say!("  findings: {}", f.join(", "));
    say!("  joined by: {}", c.joined_by.join(", "));
}
