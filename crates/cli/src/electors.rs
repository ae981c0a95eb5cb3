//! Elector and application commands at the console: parse, call the service, print. The
//! console's operator holds the keyring, so no budget applies, but every read and change is
//! audited as `console:$USER`.

use crate::commands::{day_or_none, parse_day};
use crate::context::{Context, Result};
use crate::output::say;
use clap::Subcommand;
use rollguard_register::{
    format_date, DeletionReason, ElectorNumber, EntryText, IdentityRoute, RejectionReason,
};
use rollguard_service::{apply_columns, Amendment, Determination, NewElector};
use rollguard_vault::{Elector, Search};

/// `column=value` pairs in the register CSV vocabulary.
fn pairs(sets: &[String]) -> Result<Vec<(String, String)>> {
    sets.iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .ok_or_else(|| format!("--set {s:?}: expected column=value").into())
        })
        .collect()
}

fn text_of(sets: &[String]) -> Result<EntryText> {
    let mut text = EntryText::default();
    apply_columns(&mut text, &pairs(sets)?)?;
    Ok(text)
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
    let console = ctx.open()?;
    let (svc, actor) = (&console.svc, &console.actor);
    match c {
        ElectorCmd::Show { id, history } => {
            if history {
                for e in svc.elector_history(actor, None, id)? {
                    print_elector(&e);
                }
            } else {
                print_elector(&svc.elector(actor, None, id)?);
            }
        }
        ElectorCmd::Search { authority, surname, postcode, dob, number } => {
            let q = Search { surname, postcode, date_of_birth: dob, elector_number: number };
            let found = svc.search_electors(actor, &authority, &q)?;
            for e in &found {
                let en = &e.entry;
                if en.anonymous {
                    say!("{:>16}  {:<10}  N (anonymous entry)", e.id, en.number);
                } else {
                    say!(
                        "{:>16}  {:<10}  {}, {}  {}  {}",
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
            let new = NewElector {
                text: text_of(&sets)?,
                effective: day_or_none("--effective", &effective)?,
                allow_possible_duplicate,
            };
            let id = svc.add_elector(actor, &authority, new)?;
            say!("Added elector {id}.");
        }
        ElectorCmd::Amend { id, sets, effective } => {
            let change = Amendment {
                set: pairs(&sets)?,
                effective: day_or_none("--effective", &effective)?,
                expected_version: None,
            };
            let v = svc.amend_elector(actor, None, id, change)?;
            say!("Amended elector {id}: now version {v}.");
        }
        ElectorCmd::Delete { id, reason, effective } => {
            let reason: DeletionReason = reason.parse()?;
            let v = svc.delete_elector(actor, None, id, reason, day_or_none("--effective", &effective)?)?;
            say!("Deleted elector {id} ({reason}): version {v}; history kept.");
        }
    }
    console.finish()
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
    let console = ctx.open()?;
    let (svc, actor) = (&console.svc, &console.actor);
    match c {
        ApplicationCmd::Receive { authority, sets, received_on } => {
            let id = svc.receive_application(
                actor,
                &authority,
                text_of(&sets)?,
                day_or_none("--received-on", &received_on)?,
            )?;
            say!("Received application {id}.");
        }
        ApplicationCmd::Show { id } => {
            let v = svc.application(actor, None, id)?;
            say!(
                "application {}  {}  received {}  status {}",
                v.id,
                v.authority,
                format_date(v.received_on),
                v.status.code()
            );
            say!("  applicant  {} {}", v.applicant.given_names, v.applicant.surname);
            let lines: Vec<String> =
                v.applicant.address_lines.iter().filter(|l| !l.is_empty()).cloned().collect();
            say!("  address    {}, {}", lines.join(", "), v.applicant.postcode);
        }
        ApplicationCmd::CheckIdentity { id, route } => {
            let route: IdentityRoute = route.parse()?;
            svc.check_identity(actor, None, id, route)?;
            say!("Application {id}: identity checked ({route}).");
        }
        ApplicationCmd::Add { id, number, effective, allow_possible_duplicate } => {
            let number = number.map(|n| ElectorNumber::parse("--number", &n)).transpose()?;
            let on = effective.as_deref().map(|d| parse_day("--effective", d)).transpose()?;
            let determination = Determination::Add { number, on, allow_possible_duplicate };
            let eid = svc.determine(actor, None, id, determination)?.unwrap_or_default();
            say!("Application {id}: added to the register as elector {eid}.");
        }
        ApplicationCmd::Reject { id, reason } => {
            let reason: RejectionReason = reason.parse()?;
            svc.determine(actor, None, id, Determination::Reject { reason, on: None })?;
            say!("Application {id}: rejected ({reason}).");
        }
    }
    console.finish()
}
