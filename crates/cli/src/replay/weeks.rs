//! The register's own staff at work, on the simulated clock: the weeks that must raise no
//! high or critical alert. An ordinary week (household lookups, amendments, applications
//! received, checked and added, a party's supply approved by a second person) and a canvass
//! week (each officer works through a share of the register's households, thousands of
//! records a day).

use super::harness::Http;
use super::patient::{DAY_MS, HOUR_MS};
use super::{log_in_at, Register, AUTHORITY};
use crate::context::Result;
use rand::{Rng, SeedableRng};
use rollguard_access::{Grant, Role, Scope, TotpSecret};
use rollguard_register::{FranchiseTable, Nation};
use rollguard_service::{Actor, Clock, FixedClock, Service};
use rollguard_store::PrincipalKind;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Officers with their credentials, and the register's electors as (surname, postcode), in
/// register order.
pub(super) struct Staff {
    officers: Vec<(String, String, TotpSecret)>,
    rows: Vec<(String, String)>,
    /// Each row's polling district.
    districts: Vec<String>,
}

impl Staff {
    /// Adds `n` registration officers, and reads the households from the generated register.
    pub(super) fn set_up(svc: &Service, register: &Register, n: usize) -> Result<Self> {
        let actor = Actor::console();
        let mut officers = Vec::new();
        for i in 1..=n {
            let name = format!("officer-{i}");
            let staff = vec![Grant { role: Role::RegistrationStaff, scope: Scope::parse(AUTHORITY) }];
            svc.add_principal(&actor, &name, PrincipalKind::Human, staff)?;
            let password = crate::demo::random_password();
            let (totp, _) = svc.provision_human(&actor, &name, &password)?;
            officers.push((name, password, totp));
        }
        let mut rows = Vec::new();
        let mut r = csv::Reader::from_reader(register.csv.as_slice());
        let headers = r.headers()?.clone();
        let col = |name: &str| headers.iter().position(|h| h == name).ok_or(format!("no {name} column"));
        let (surname, postcode, number) = (col("surname")?, col("postcode")?, col("elector_number")?);
        let mut districts = Vec::new();
        for rec in r.records() {
            let rec = rec?;
            let get = |c: usize| rec.get(c).unwrap_or_default().to_owned();
            rows.push((get(surname), get(postcode)));
            districts.push(get(number).split('-').next().unwrap_or_default().to_owned());
        }
        Ok(Self { officers, rows, districts })
    }

    pub(super) fn names(&self) -> BTreeSet<String> {
        self.officers.iter().map(|o| o.0.clone()).collect()
    }

    pub(super) fn name(&self, i: usize) -> &str {
        &self.officers[i].0
    }

    /// The register's postcodes, each once, in register order.
    pub(super) fn postcodes(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        self.rows.iter().filter(|(_, pc)| seen.insert(pc.as_str())).map(|(_, pc)| pc.clone()).collect()
    }

    /// The first polling district of the register, its entries, and its postcodes.
    pub(super) fn first_district(&self) -> (String, usize, Vec<String>) {
        let first = self.districts.first().cloned().unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        let rows: Vec<&(String, String)> =
            self.rows.iter().zip(&self.districts).filter(|(_, d)| **d == first).map(|(r, _)| r).collect();
        let postcodes =
            rows.iter().filter(|(_, pc)| seen.insert(pc.as_str())).map(|(_, pc)| pc.clone()).collect();
        (first, rows.len(), postcodes)
    }

    pub(super) fn log_in(&self, http: &Http, clock: &FixedClock, i: usize) -> Result<String> {
        let (name, password, totp) = &self.officers[i];
        log_in_at(http, name, password, totp, clock)
    }
}

/// What a week of work came to.
pub(super) struct Work {
    pub from: i64,
    pub to: i64,
    pub officers: usize,
    pub summary: String,
    /// The requests that failed (what, status, problem).
    pub failed: Vec<String>,
}

/// One officer's task: a household lookup (amended or not), an application, or a postcode
/// of the canvass.
enum Task {
    Lookup {
        surname: String,
        postcode: String,
        amend: bool,
    },
    /// The applicant's register columns.
    Application {
        fields: serde_json::Map<String, Value>,
    },
    Canvass {
        postcode: String,
        amend: bool,
    },
}

/// Does `task` as `session`, adding the distinct records it read to `read`; what failed.
fn perform(http: &Http, (session, at): (&str, i64), task: &Task, read: &mut BTreeSet<u64>) -> Vec<String> {
    let base = format!("/api/v1/authorities/{AUTHORITY}");
    let mut failed = Vec::new();
    let mut check = |what: &str, (status, body): (u16, String)| {
        if !(200..300).contains(&status) {
            failed.push(format!("{what}: HTTP {status}: {body}"));
        }
        body
    };
    let mut search = |query: String, amend: bool, read: &mut BTreeSet<u64>| {
        let body = check("search", http.get(&format!("{base}/electors?{query}"), Some(session)));
        let found: Vec<Value> = serde_json::from_str(&body).unwrap_or_default();
        read.extend(found.iter().filter_map(|e| e["id"].as_u64()));
        if let (true, Some(first)) = (amend, found.first()) {
            // A number from the drama range that changes with the time of the call.
            let phone = format!("01632 960{:03}", (at / 1000).rem_euclid(1000));
            let body = json!({"set": {"phone": phone}, "version": first["version"]});
            check("amend", http.patch(&format!("{base}/electors/{}", first["id"]), Some(session), &body));
        }
    };
    let enc = super::harness::urlencode;
    match task {
        Task::Lookup { surname, postcode, amend } => {
            search(format!("surname={}&postcode={}", enc(surname), enc(postcode)), *amend, read);
        }
        Task::Canvass { postcode, amend } => search(format!("postcode={}", enc(postcode)), *amend, read),
        Task::Application { fields } => {
            let body = check(
                "receive",
                http.post(&format!("{base}/applications"), Some(session), &json!({"fields": fields})),
            );
            if let Some(id) = serde_json::from_str::<Value>(&body).ok().and_then(|v| v["id"].as_u64()) {
                let route = json!({"route": "national-match"});
                check(
                    "identity",
                    http.post(&format!("{base}/applications/{id}/identity"), Some(session), &route),
                );
                let add = json!({"outcome": "add"});
                check(
                    "determine",
                    http.post(&format!("{base}/applications/{id}/determination"), Some(session), &add),
                );
                read.insert(id | (1 << 62));
            }
        }
    }
    failed
}

/// The next new applicant's columns, numbered in a district of `officer`'s own.
fn applicant(
    people: &mut rollguard_synth::Generator,
    officer: usize,
    seq: &mut u64,
) -> serde_json::Map<String, Value> {
    *seq += 1;
    let mut e = people.next_entry();
    e.elector_number = format!("QQ{}-{seq}", officer + 1);
    rollguard_vault::CSV_COLUMNS
        .iter()
        .map(|c| (c.name.to_owned(), json!((c.get)(&e))))
        .filter(|(_, v)| v != "")
        .collect()
}

/// Runs each officer's day of `tasks` from 09:00 to 16:30, interleaved in time; the most
/// records one officer read in a day, and the requests that failed.
fn working_day(
    http: &Http,
    clock: &FixedClock,
    day_start: i64,
    staff: &Staff,
    tasks: &[Vec<Task>],
) -> Result<(usize, Vec<String>)> {
    let mut timeline: Vec<(i64, usize, &Task)> = Vec::new();
    for (officer, list) in tasks.iter().enumerate() {
        let gap = (15 * HOUR_MS / 2) / i64::try_from(list.len().max(1))?;
        for (i, t) in list.iter().enumerate() {
            timeline.push((
                day_start + HOUR_MS + i64::try_from(i)? * gap + i64::try_from(officer)? * 7_000,
                officer,
                t,
            ));
        }
    }
    timeline.sort_by_key(|(t, officer, _)| (*t, *officer));
    clock.set_ms(day_start + HOUR_MS - 60_000);
    let mut sessions = Vec::new();
    for i in 0..tasks.len() {
        sessions.push(staff.log_in(http, clock, i)?);
    }
    let mut read = vec![BTreeSet::new(); tasks.len()];
    let mut failed = Vec::new();
    for (t, officer, task) in timeline {
        clock.set_ms(t);
        failed.extend(perform(http, (&sessions[officer], t), task, &mut read[officer]));
    }
    Ok((read.iter().map(BTreeSet::len).max().unwrap_or(0), failed))
}

/// An ordinary week: each officer, each day, 120 household lookups in their own patch (one
/// in eight amended) and 20 applications received, checked and added; on Wednesday a party's
/// full-register supply, asked for by the supplies service and approved by the approver.
pub(super) fn ordinary_week(
    http: &Http,
    clock: &FixedClock,
    monday: i64,
    staff: &Staff,
    supply: Option<&Register>,
) -> Result<Work> {
    let n = staff.officers.len();
    let patch = staff.rows.len() / n;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7 ^ monday.unsigned_abs());
    clock.set_ms(monday);
    let table = FranchiseTable::default_for(Nation::England);
    // New people, not the register's: another seed.
    let mut people = rollguard_synth::Generator::new(0xA11CE ^ monday.unsigned_abs(), table, clock.today());
    let mut seq = 0u64;
    let (mut most, mut failed) = (0, Vec::new());
    for day in 0..5i64 {
        let tasks: Vec<Vec<Task>> = (0..n)
            .map(|o| {
                let mut list: Vec<Task> = (0..120)
                    .map(|i| {
                        let (surname, postcode) = &staff.rows[o * patch + rng.gen_range(0..patch)];
                        Task::Lookup {
                            surname: surname.clone(),
                            postcode: postcode.clone(),
                            amend: i % 8 == 0,
                        }
                    })
                    .collect();
                for k in 0..20 {
                    list.insert(k * 6, Task::Application { fields: applicant(&mut people, o, &mut seq) });
                }
                Ok(list)
            })
            .collect::<Result<_>>()?;
        let (m, f) = working_day(http, clock, monday + day * DAY_MS, staff, &tasks)?;
        most = most.max(m);
        failed.extend(f);
        if let Some(register) = supply.filter(|_| day == 2) {
            clock.set_ms(monday + 2 * DAY_MS + 7 * HOUR_MS);
            if let Err(e) = super::supplies::routine_supplies(http, register, clock) {
                failed.push(format!("supply: {e}"));
            }
        }
    }
    Ok(Work {
        from: monday,
        to: monday + 5 * DAY_MS,
        officers: n,
        summary: format!(
            "household lookups, amendments, 20 applications a day each{}; at most {most} records an officer a day",
            if supply.is_some() { ", a supply" } else { "" }
        ),
        failed,
    })
}

/// A canvass week: two officers work through the register's postcodes in order, each half of
/// them over five days, one response in twenty an amendment.
pub(super) fn canvass_week(http: &Http, clock: &FixedClock, monday: i64, staff: &Staff) -> Result<Work> {
    let postcodes = staff.postcodes();
    let officers = 2.min(staff.officers.len());
    let share = postcodes.len().div_ceil(officers);
    let per_day = share.div_ceil(5);
    let (mut most, mut failed) = (0, Vec::new());
    for day in 0..5usize {
        let tasks: Vec<Vec<Task>> = (0..officers)
            .map(|o| {
                let from = (o * share + day * per_day).min(postcodes.len());
                let to = (from + per_day).min((o + 1) * share).min(postcodes.len());
                postcodes[from..to]
                    .iter()
                    .enumerate()
                    .map(|(i, pc)| Task::Canvass { postcode: pc.clone(), amend: i % 20 == 0 })
                    .collect()
            })
            .collect();
        let (m, f) = working_day(http, clock, monday + i64::try_from(day)? * DAY_MS, staff, &tasks)?;
        most = most.max(m);
        failed.extend(f);
    }
    Ok(Work {
        from: monday,
        to: monday + 5 * DAY_MS,
        officers,
        summary: format!("every household canvassed once; at most {most} records an officer a day"),
        failed,
    })
}
