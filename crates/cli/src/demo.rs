//! `rollguard demo`: a sealed register of synthetic electors, set up in one command.

use crate::commands::{import_with_progress, write_generated};
use crate::context::{today, Context, Result};
use crate::output::say;
use crate::progress::bar;
use clap::Args;
use rollguard_register::{FranchiseTable, Nation};
use rollguard_vault::ImportOptions;
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
    let mut vault = ctx.create()?;
    vault.create_authority(DEMO_AUTHORITY, "Ashby Vale District Council (fictional)", Nation::England)?;

    // The synthetic register goes straight from memory into the sealed import: no plaintext file.
    let pb = bar(Some(a.electors), "generating");
    let mut csv = Vec::with_capacity(a.electors as usize * 260);
    write_generated(a.electors, a.seed, Nation::England, today(), &mut csv, |n| pb.set_position(n))?;
    pb.finish_and_clear();
    let opts = ImportOptions { source_name: "generated register".into(), effective: today(), today: today() };
    let report = import_with_progress(&mut vault, DEMO_AUTHORITY, csv.as_slice(), &opts)?;
    drop(csv);

    let sample =
        rollguard_synth::Generator::new(a.seed, FranchiseTable::default_for(Nation::England), today())
            .find(|t| t.anonymous != "Y")
            .expect("generator yields electors");
    drop(vault);
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
    say!("  keyring   {}  (owner-only, in a separate directory)\n", keyring.display());
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
    say!("  rollguard elector show {} --history", report.first_id);
    say!(
        "  rollguard elector amend {} --set address_line_1='2 Kingfisher Close' --set postcode='LE65 2AB'",
        report.first_id
    );
    say!(
        "  rollguard register at {} --authority {DEMO_AUTHORITY} --out register-today.csv",
        rollguard_register::format_date(today())
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
    say!("\nNo default passwords exist. The HTTP server, audit log and detection arrive in later releases.");
    Ok(())
}

fn shell_quote(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
