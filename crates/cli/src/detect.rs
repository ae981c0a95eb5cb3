//! Detection at the console: check a rule set, plant canary electors, trace a leaked extract
//! to the supply it came from.

use crate::context::{Context, Result};
use crate::output::say;
use clap::{Args, Subcommand, ValueEnum};
use rollguard_detect::sigma::RuleBody;
use rollguard_detect::RuleSet;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum RulesCmd {
    /// Validate a directory of Sigma rules: lists each rule, and each refusal with its
    /// file, line and reason. Exits non-zero if any rule is refused.
    Check {
        /// The rules directory (the shipped rules if omitted).
        dir: Option<PathBuf>,
    },
    /// Write the shipped rules into a directory, to start a rule set of your own.
    Export { dir: PathBuf },
}

pub fn rules(c: RulesCmd) -> Result<()> {
    match c {
        RulesCmd::Check { dir } => {
            let set = match &dir {
                Some(d) => RuleSet::load_dir(d).map_err(|e| format!("{}: {e}", d.display()))?,
                None => RuleSet::shipped(),
            };
            for r in set.rules() {
                let what = match &r.body {
                    RuleBody::Detection(_) => "detection",
                    RuleBody::Correlation(_) => "correlation",
                };
                say!("ok      {}:{}  [{}] {} ({what})", r.file, r.line, r.level, r.title);
            }
            for e in &set.errors {
                say!("REFUSED {e}");
            }
            say!("{} rules loaded, {} refused", set.len(), set.errors.len());
            if !set.errors.is_empty() {
                return Err(format!("{} rules refused", set.errors.len()).into());
            }
            Ok(())
        }
        RulesCmd::Export { dir } => {
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for (name, text) in rollguard_detect::ruleset::SHIPPED {
                let path = dir.join(name);
                if path.exists() {
                    return Err(format!("{} exists; not overwriting", path.display()).into());
                }
                std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            say!("Wrote {} rule files to {}", rollguard_detect::ruleset::SHIPPED.len(), dir.display());
            Ok(())
        }
    }
}

#[derive(Subcommand)]
pub enum CanaryCmd {
    /// Plant canary electors: fictitious entries stored exactly as real ones, whose ids only
    /// the sealed registry knows. Any read of one raises a critical alert.
    Plant(PlantArgs),
    /// How many canaries each authority has (never which).
    Count,
}

#[derive(Args)]
pub struct PlantArgs {
    #[arg(long)]
    authority: String,
    #[arg(long, default_value_t = 20)]
    count: u32,
}

pub fn canary(ctx: &Context, c: CanaryCmd) -> Result<()> {
    let console = ctx.open()?;
    match c {
        CanaryCmd::Plant(a) => {
            let authority = a.authority.to_ascii_uppercase();
            let planted = console.svc.plant_canaries(&console.actor, &authority, a.count)?;
            say!(
                "Planted {} canary electors in {authority}; their ids are in the sealed registry.",
                planted.len()
            );
            say!("A running server watches them from its next look at the audit log.");
        }
        CanaryCmd::Count => {
            let reg = console.svc.registry(&console.actor, "canary-count")?;
            let mut by: std::collections::BTreeMap<&str, usize> = Default::default();
            for c in &reg.canaries {
                *by.entry(c.authority.as_str()).or_default() += 1;
            }
            for (a, n) in by {
                say!("{a}: {n} canaries");
            }
            say!("{} supplies carry watermark entries", reg.supplies.len());
        }
    }
    console.finish()
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TraceFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum LeakCmd {
    /// Name the recipient(s) of a leaked extract from the watermark entries it holds. The
    /// extract may be partial, reordered or reformatted.
    Trace {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: TraceFormat,
    },
}

pub fn leak(ctx: &Context, c: LeakCmd) -> Result<()> {
    let LeakCmd::Trace { file, format } = c;
    let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let console = ctx.open()?;
    let registry = console.svc.registry(&console.actor, "leak-trace")?;
    let found = rollguard_vault::registry::trace(&text, &registry);
    match format {
        TraceFormat::Json => say!("{}", serde_json::to_string_pretty(&found)?),
        TraceFormat::Text => {
            if found.is_empty() {
                say!(
                    "No watermark entry of any of the {} recorded supplies is in {}.",
                    registry.supplies.len(),
                    file.display()
                );
            }
            for s in &found {
                let when = time::OffsetDateTime::from_unix_timestamp(s.made_at)
                    .map(|t| t.date().to_string())
                    .unwrap_or_default();
                say!(
                    "Recipient: {}  (supply {} of {} {} register, made {when})",
                    s.recipient,
                    s.supply,
                    s.authority,
                    s.kind
                );
                say!("  {} of its {} watermark entries found:", s.found.len(), s.marks_in_supply);
                for f in &s.found {
                    say!("    line {}: watermark entry {}", f.line, f.elector_number);
                }
            }
        }
    }
    console.finish()
}

/// `ROLE=DISTINCT/WINDOW`, e.g. `registration-staff=600/1h`.
pub fn parse_budget(
    s: &str,
) -> std::result::Result<(rollguard_access::Role, rollguard_detect::Budget), String> {
    let (role, rest) =
        s.split_once('=').ok_or_else(|| format!("--budget {s}: expected ROLE=DISTINCT/WINDOW"))?;
    let role: rollguard_access::Role = role.trim().parse().map_err(|e| format!("--budget {s}: {e}"))?;
    let (n, window) =
        rest.split_once('/').ok_or_else(|| format!("--budget {s}: expected DISTINCT/WINDOW, e.g. 600/1h"))?;
    let distinct: u64 = n.trim().parse().map_err(|_| format!("--budget {s}: `{n}` is not a whole number"))?;
    let window_ms = rollguard_detect::sigma::parse_timespan(window)
        .ok_or_else(|| format!("--budget {s}: window `{window}` is not a number followed by s, m, h or d"))?;
    Ok((role, rollguard_detect::Budget { distinct, window_ms }))
}

/// `RECIPIENT=DAYS@HH-HH`, e.g. `*=mon-fri@09-17` or `Party A=tue,thu@10-12`.
pub fn parse_export_window(s: &str) -> std::result::Result<rollguard_detect::ExportWindow, String> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let bad = |why: &str| {
        format!("--export-window {s}: {why} (expected RECIPIENT=DAYS@HH-HH, e.g. *=mon-fri@09-17)")
    };
    let (recipient, rest) = s.rsplit_once('=').ok_or_else(|| bad("no `=`"))?;
    let (days, hours) = rest.split_once('@').ok_or_else(|| bad("no `@`"))?;
    let day = |d: &str| {
        DAYS.iter().position(|x| *x == d.trim().to_ascii_lowercase()).and_then(|i| u8::try_from(i + 1).ok())
    };
    let mut weekdays = Vec::new();
    for part in days.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) =
                    (day(a).ok_or_else(|| bad("unknown day"))?, day(b).ok_or_else(|| bad("unknown day"))?);
                if a > b {
                    return Err(bad("a day range must run forwards"));
                }
                weekdays.extend(a..=b);
            }
            None => weekdays.push(day(part).ok_or_else(|| bad("unknown day"))?),
        }
    }
    let (from, to) = hours.split_once('-').ok_or_else(|| bad("hours must be HH-HH"))?;
    let hour = |h: &str| h.trim().parse::<u8>().ok().filter(|h| *h <= 24);
    let (from_hour, to_hour) =
        (hour(from).ok_or_else(|| bad("bad hour"))?, hour(to).ok_or_else(|| bad("bad hour"))?);
    if from_hour >= to_hour {
        return Err(bad("the window must end after it starts"));
    }
    Ok(rollguard_detect::ExportWindow {
        recipient: recipient.trim().to_owned(),
        weekdays,
        from_hour,
        to_hour,
    })
}

/// Detection settings from `serve`'s flags.
pub fn detection_config(
    rules: Option<PathBuf>,
    sinks: &[String],
    windows: &[String],
    timezone: &str,
) -> Result<rollguard_server::detection::DetectionConfig> {
    let mut config = rollguard_server::detection::DetectionConfig::default();
    if let Some(dir) = &rules {
        let set = RuleSet::load_dir(dir).map_err(|e| format!("--rules {}: {e}", dir.display()))?;
        for e in &set.errors {
            eprintln!("rollguard: rule refused: {e}");
        }
        eprintln!("rollguard: {} detection rules from {}", set.len(), dir.display());
    }
    config.rules_dir = rules;
    for s in sinks {
        config.sinks.push(rollguard_alerts::parse_sink(s)?);
    }
    config.enrich.zone = rollguard_detect::Zone::parse(timezone)
        .ok_or_else(|| format!("--timezone {timezone}: use Europe/London or UTC"))?;
    for w in windows {
        config.enrich.export_schedule.push(parse_export_window(w)?);
    }
    Ok(config)
}

/// Role budgets from `--budget`-style flags over `defaults`: a role's first flag replaces
/// its default windows, and each further flag adds a window.
fn role_budgets(
    flags: &[String],
    defaults: rollguard_service::RoleBudgets,
) -> Result<rollguard_service::RoleBudgets> {
    let mut out = defaults;
    let mut replaced = std::collections::BTreeSet::new();
    for f in flags {
        let (role, budget) = parse_budget(f)?;
        let windows = out.entry(role).or_default();
        if replaced.insert(role) && !windows.is_empty() {
            eprintln!(
                "rollguard: --budget {role}: replaces that role's default windows; give one --budget for each window to keep"
            );
            windows.clear();
        }
        windows.retain(|b| b.window_ms != budget.window_ms);
        windows.push(budget);
    }
    Ok(out)
}

/// `FROM..TO`, two UK dates (YYYY-MM-DD), inclusive.
fn parse_canvass(s: &str) -> Result<(rollguard_register::Date, rollguard_register::Date)> {
    let (from, to) = s
        .split_once("..")
        .ok_or_else(|| format!("--canvass {s}: expected FROM..TO, e.g. 2026-07-01..2026-11-30"))?;
    let from = crate::commands::parse_day("--canvass FROM", from.trim())?;
    let to = crate::commands::parse_day("--canvass TO", to.trim())?;
    if to < from {
        return Err(format!("--canvass {s}: the canvass ends before it starts").into());
    }
    Ok((from, to))
}

/// The baseline `--baseline-factor` and `--baseline-floor` set.
pub fn baseline(factor: u64, floor: u64) -> Result<rollguard_detect::Baseline> {
    if !(2..=20).contains(&factor) {
        return Err(format!(
            "--baseline-factor {factor}: give 2 to 20 (times the busy day that counts as far above it)"
        )
        .into());
    }
    Ok(rollguard_detect::Baseline { factor, floor, ..Default::default() })
}

/// District coverage as `--district-share` sets it (0: off).
pub fn district_coverage(percent: u64) -> Result<rollguard_detect::DistrictCoverage> {
    match percent {
        0 => Ok(rollguard_detect::DistrictCoverage::OFF),
        1..=100 => Ok(rollguard_detect::DistrictCoverage { percent, ..Default::default() }),
        _ => {
            Err(format!("--district-share {percent}: give a share from 1 to 100 per cent, or 0 for off")
                .into())
        }
    }
}

/// The policy `serve`'s budget flags set: `--budget` over the ordinary defaults, and a
/// canvass (`--canvass FROM..TO`, with `--canvass-budget` over the canvass defaults).
pub fn policy(
    budgets: &[String],
    canvass: Option<&str>,
    canvass_budgets: &[String],
) -> Result<rollguard_service::Policy> {
    let mut policy = rollguard_service::Policy {
        budgets: role_budgets(budgets, rollguard_service::ordinary_budgets())?,
        ..Default::default()
    };
    if canvass.is_none() && !canvass_budgets.is_empty() {
        return Err("--canvass-budget needs --canvass FROM..TO".into());
    }
    if let Some(c) = canvass {
        let (from, to) = parse_canvass(c)?;
        let budgets = role_budgets(canvass_budgets, rollguard_service::canvass_budgets())?;
        policy.canvass = Some(rollguard_service::Canvass { from, to, budgets });
    }
    Ok(policy)
}
