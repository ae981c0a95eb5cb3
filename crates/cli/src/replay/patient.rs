//! `rollguard replay patient`: the attacker who waits. One stolen token reading 550 new
//! electors an hour through every working day; five stolen tokens at once; and, around them,
//! the weeks the register's own staff work (an ordinary week, and a canvass week when each
//! officer touches thousands of records a day), which must raise no high or critical alert
//! and suspend no one. Simulated weeks on the server's injectable clock, not wall time.

use super::harness::{Http, Server};
use super::weeks::{canvass_week, ordinary_week, Staff, Work};
use super::{Register, Row, AUTHORITY};
use crate::context::Result;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rollguard_access::{Grant, Permission, Role, Scope};
use rollguard_service::{Clock, FixedClock, Service};
use rollguard_store::PrincipalKind;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

pub(super) const HOUR_MS: i64 = 3_600_000;
pub(super) const DAY_MS: i64 = 24 * HOUR_MS;
/// The attacker's pace: new electors an hour, just under the hourly budget.
const PACE: i64 = 550;

/// A stolen token and what it got.
struct Reader {
    name: String,
    token: String,
    got: usize,
    cut_off_at: Option<i64>,
}

/// Adds `name`, a service account of registration staff, with a 30-day read token.
fn service_account(svc: &Service, name: &str) -> Result<String> {
    let actor = rollguard_service::Actor::console();
    let staff = vec![Grant { role: Role::RegistrationStaff, scope: Scope::parse(AUTHORITY) }];
    svc.add_principal(&actor, name, PrincipalKind::Service, staff)?;
    let scopes = vec![Scope::parse(AUTHORITY)];
    let (_, token) = svc.create_token(&actor, name, "ems", vec![Permission::ElectorRead], scopes, 30)?;
    Ok(token.expose().to_owned())
}

/// The Monday 08:00 UTC at least a day after `now_ms`.
fn next_monday(now_ms: i64) -> i64 {
    let day = now_ms.div_euclid(DAY_MS) + 1;
    // 1970-01-01 was a Thursday: day 4 after it was a Monday.
    let monday = day + (4 - day).rem_euclid(7);
    monday * DAY_MS + 8 * HOUR_MS
}

/// Reads with `readers` in turn, each `PACE` new electors an hour from 09:00 to 17:00 on
/// each of five days from `monday`, until each is cut off (401 or 403).
fn paced(http: &Http, clock: &FixedClock, monday: i64, ids: &[u64], readers: &mut [Reader]) {
    let mut order = ids.to_vec();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(550));
    let mut next = order.into_iter();
    let step = HOUR_MS / PACE / i64::try_from(readers.len()).unwrap_or(1);
    for day in 0..5 {
        let mut t = monday + day * DAY_MS + HOUR_MS;
        while t < monday + day * DAY_MS + 9 * HOUR_MS {
            // Each reader keeps its own pace: a slot passes for one cut off too.
            for r in readers.iter_mut() {
                clock.set_ms(t);
                t += step;
                if r.cut_off_at.is_some() {
                    continue;
                }
                let Some(id) = next.next() else { return };
                let (status, body) =
                    http.get(&format!("/api/v1/authorities/{AUTHORITY}/electors/{id}"), Some(&r.token));
                match status {
                    200 if body.contains("\"fields\"") => r.got += 1,
                    401 | 403 => r.cut_off_at = Some(t),
                    _ => {}
                }
            }
            if readers.iter().all(|r| r.cut_off_at.is_some()) {
                return;
            }
        }
    }
}

/// Waits until detection has read the whole log (its own alerts included).
fn settle(server: &Server) -> Result<()> {
    let started = std::time::Instant::now();
    // Twice in a row: the alerts of the last pass are events too.
    let mut quiet = 0;
    while quiet < 2 {
        quiet = if server.detected_all()? { quiet + 1 } else { 0 };
        if started.elapsed().as_secs() > 120 {
            return Err("detection did not catch up with the log in 120 s".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    Ok(())
}

/// The alerts of `principals`, at `min` level or above: (principal, level, title, event time).
fn alerts_of(
    path: &Path,
    principals: &BTreeSet<String>,
    serious: bool,
) -> Vec<(String, String, String, i64)> {
    super::attacker::read_alerts(path)
        .into_iter()
        .filter(|a| a["principal"].as_str().is_some_and(|p| principals.contains(p)))
        .filter(|a| !serious || matches!(a["level"].as_str(), Some("high" | "critical")))
        .map(|a| {
            let s = |k: &str| a[k].as_str().unwrap_or_default().to_owned();
            (s("principal"), s("level"), s("title"), a["event_time"].as_i64().unwrap_or(0))
        })
        .collect()
}

// The alerts P3 and P4 exist to show: the baseline's and district coverage's.
use rollguard_service::{BASELINE_TITLE, COVERAGE_TITLE};

/// What the simulated weeks came to.
struct Outcome {
    start: i64,
    readers: Vec<Reader>,
    weeks: Vec<(&'static str, &'static str, Work)>,
    responses: Vec<rollguard_store::ResponseRecord>,
    alerts: std::path::PathBuf,
    staff: BTreeSet<String>,
    walk: super::walker::Walk,
    /// P4's district, its entries, and how far its walker got.
    district: (String, usize, super::walker::Walk),
}

pub(super) fn run(dir: &Path, register: &Register) -> Result<Vec<Row>> {
    let o = simulate(dir, register)?;
    let mut rows = reader_rows(&o);
    rows.push(walker_row(&o));
    rows.push(district_row(&o));
    rows.extend(staff_rows(&o));
    Ok(rows)
}

/// Seven simulated weeks: ordinary, one paced token, five tokens, the canvass, the week
/// after it (when the ordinary budgets are back while the canvass's reads are still inside
/// their windows), an officer's stolen credentials walking the register's postcodes, and
/// another's walking one district's.
fn simulate(dir: &Path, register: &Register) -> Result<Outcome> {
    let console = register.ctx.open()?;
    let svc = &console.svc;
    let mut readers = Vec::new();
    for name in ["ems-paced", "ems-1", "ems-2", "ems-3", "ems-4", "ems-5"] {
        let token = service_account(svc, name)?;
        readers.push(Reader { name: name.into(), token, got: 0, cut_off_at: None });
    }
    let staff = Staff::set_up(svc, register, 3)?;
    console.finish()?;
    drop(console);

    let start = next_monday(rollguard_service::SystemClock.now_ms());
    let clock = Arc::new(FixedClock::at_ms(start));
    let mut policy = rollguard_service::Policy::default();
    let canvass_monday = start + 21 * DAY_MS;
    let day = |ms: i64| time::OffsetDateTime::from_unix_timestamp(ms / 1000).map(|t| t.date());
    policy.canvass = Some(rollguard_service::Canvass {
        from: day(canvass_monday)?,
        to: day(canvass_monday + 4 * DAY_MS)?,
        budgets: rollguard_service::canvass_budgets(),
    });
    let alerts = dir.join("patient-alerts.jsonl");
    let (server, svc) = Server::start_on(&register.ctx, &alerts, policy, (clock.clone(), true))?;
    let http = Http::new(&server.base);
    // Every id of the register, canaries among them: the attacker meets them only by reading.
    let ids = register.ids.clone();

    let first = ordinary_week(&http, &clock, start, &staff, Some(register))?;
    let mut weeks = vec![("L1", "an ordinary week", first)];
    let (one, five) = readers.split_at_mut(1);
    paced(&http, &clock, start + 7 * DAY_MS, &ids, one);
    paced(&http, &clock, start + 14 * DAY_MS, &ids, five);
    weeks.push(("L2", "a canvass week", canvass_week(&http, &clock, canvass_monday, &staff)?));
    let after = ordinary_week(&http, &clock, canvass_monday + 7 * DAY_MS, &staff, None)?;
    weeks.push(("L3", "the ordinary week after the canvass", after));
    let pace = super::walker::WALK_PACE;
    let walk = super::walker::postcode_walk(
        &http,
        &clock,
        (canvass_monday + 14 * DAY_MS, pace),
        &staff,
        (0, staff.postcodes()),
    )?;
    let (district, entries, postcodes) = staff.first_district();
    let pace = super::walker::DISTRICT_PACE;
    let district_walk = super::walker::postcode_walk(
        &http,
        &clock,
        (canvass_monday + 21 * DAY_MS, pace),
        &staff,
        (1, postcodes),
    )?;
    settle(&server)?;
    server.stop();
    let responses = svc.responses(&rollguard_service::Actor::console(), 10_000)?;
    Ok(Outcome {
        start,
        readers,
        weeks,
        responses,
        alerts,
        staff: staff.names(),
        walk,
        district: (district, entries, district_walk),
    })
}

/// P1 and P2: how far the stolen tokens got, and what stopped them.
fn reader_rows(o: &Outcome) -> Vec<Row> {
    let names = |rs: &[Reader]| rs.iter().map(|r| r.name.clone()).collect::<BTreeSet<String>>();
    let serious = |rs: &[Reader]| alerts_of(&o.alerts, &names(rs), true);
    let by_canary = |rs: &[Reader]| {
        let hit: BTreeSet<String> =
            serious(rs).into_iter().filter(|a| a.2.contains("Canary")).map(|a| a.0).collect();
        hit.len()
    };
    let p = &o.readers[0];
    let from = o.start + 7 * DAY_MS + HOUR_MS;
    let alerted = serious(&o.readers[..1]).iter().map(|a| a.3 - from).min();
    let hours = |ms: i64| format!("{:.1} h", ms as f64 / HOUR_MS as f64);
    let p1 = Row {
        step: "P1",
        check: format!("one stolen token paced at {PACE} new electors an hour, 09:00–17:00, over a week"),
        measured: format!(
            "{} electors; first high alert after {} of reading; cut off {}{}",
            p.got,
            alerted.map(hours).unwrap_or_else(|| "never".into()),
            p.cut_off_at
                .map(|t| format!("on day {}", (t - from) / DAY_MS + 1))
                .unwrap_or_else(|| "never".into()),
            if by_canary(&o.readers[..1]) > 0 { " (by a canary)" } else { " (by its budget)" }
        ),
        target: "alerted within one working day (8 h), cut off before 2,000".into(),
        pass: p.got < 2_000 && p.cut_off_at.is_some() && alerted.is_some_and(|ms| ms <= 8 * HOUR_MS),
    };
    let five = &o.readers[1..];
    let together: usize = five.iter().map(|r| r.got).sum();
    let p2 = Row {
        step: "P2",
        check: "five stolen tokens reading at once, each at the same pace".into(),
        measured: format!(
            "{together} electors together ({}); {} of 5 cut off, {} of them by a canary",
            five.iter().map(|r| r.got.to_string()).collect::<Vec<_>>().join(" + "),
            five.iter().filter(|r| r.cut_off_at.is_some()).count(),
            by_canary(five)
        ),
        target: "together cut off before 5,000".into(),
        pass: together < 5_000 && five.iter().all(|r| r.cut_off_at.is_some()),
    };
    vec![p1, p2]
}

/// P3: the officer's stolen credentials walking postcodes under the hourly and daily
/// budgets, which only its baseline can stop before the week's.
fn walker_row(o: &Outcome) -> Row {
    let w = &o.walk;
    let officer = BTreeSet::from([w.officer.clone()]);
    let first =
        alerts_of(&o.alerts, &officer, true).into_iter().filter(|a| a.3 >= w.from).min_by_key(|a| a.3);
    let hours = |ms: i64| format!("{:.1} h", ms as f64 / HOUR_MS as f64);
    let alerted = first.as_ref().map(|a| a.3 - w.from);
    Row {
        step: "P3",
        check: format!(
            "an officer's stolen password and second factor, searching postcodes in random order at {} records an hour, 09:00–17:00 (under the hour's and the day's budgets; no canary lives at a real postcode)",
            super::walker::WALK_PACE
        ),
        measured: format!(
            "{} electors; first high alert after {}{}; cut off {}",
            w.got,
            alerted.map(hours).unwrap_or_else(|| "never".into()),
            first.as_ref().map(|a| format!(" ({})", a.2)).unwrap_or_default(),
            w.cut_off_at.map(|t| format!("on day {}", (t - w.from) / DAY_MS + 1)).unwrap_or_else(|| "never".into()),
        ),
        target: "alerted by its baseline within one working day (8 h), cut off before 2,000".into(),
        pass: w.got < 2_000
            && w.cut_off_at.is_some()
            && alerted.is_some_and(|ms| ms <= 8 * HOUR_MS)
            && first.as_ref().is_some_and(|a| a.2 == BASELINE_TITLE),
    }
}

/// P4: another officer's stolen credentials walking one district's postcodes slowly, under
/// every budget and its baseline, which only district coverage stops.
fn district_row(o: &Outcome) -> Row {
    let (district, entries, w) = &o.district;
    let officer = BTreeSet::from([w.officer.clone()]);
    let first =
        alerts_of(&o.alerts, &officer, true).into_iter().filter(|a| a.3 >= w.from).min_by_key(|a| a.3);
    let hours = |ms: i64| format!("{:.1} h", ms as f64 / HOUR_MS as f64);
    let when =
        |t: i64| format!("on day {}, {} into it", (t - w.from) / DAY_MS + 1, hours((t - w.from) % DAY_MS));
    Row {
        step: "P4",
        check: format!(
            "another officer's stolen credentials searching the postcodes of polling district {district} ({entries} entries) in random order at {} records an hour, 09:00–17:00 (under every budget and the officer's baseline)",
            super::walker::DISTRICT_PACE
        ),
        measured: format!(
            "{} electors ({:.0}% of the district); first high alert {}{}; cut off {}",
            w.got,
            100.0 * w.got as f64 / (*entries).max(1) as f64,
            first.as_ref().map(|a| when(a.3)).unwrap_or_else(|| "never".into()),
            first.as_ref().map(|a| format!(" ({})", a.2)).unwrap_or_default(),
            w.cut_off_at.map(|t| format!("on day {}", (t - w.from) / DAY_MS + 1)).unwrap_or_else(|| "never".into()),
        ),
        target: "alerted by district coverage and cut off before half the district".into(),
        pass: first.as_ref().is_some_and(|a| a.2 == COVERAGE_TITLE) && w.cut_off_at.is_some() && w.got * 2 < *entries,
    }
}

/// L1–L3: the staff's weeks, which must raise nothing serious and suspend no one.
fn staff_rows(o: &Outcome) -> Vec<Row> {
    o.weeks
        .iter()
        .map(|(step, week, work)| {
            let suspended: Vec<String> = o
                .responses
                .iter()
                // The week and its weekend, up to the first stolen officer's credentials.
                .filter(|r| {
                    (work.from..(work.from + 7 * DAY_MS).min(o.walk.from)).contains(&(r.created_at * 1000))
                })
                .filter_map(|r| r.subject.clone())
                .filter(|s| o.staff.contains(s))
                .collect();
            let serious: Vec<String> = alerts_of(&o.alerts, &o.staff, true)
                .into_iter()
                .filter(|a| a.3 >= work.from && a.3 < work.to)
                .map(|a| format!("{} {} ({})", a.1, a.2, a.0))
                .collect();
            Row {
                step,
                check: format!("{} officers' {week}: {}", work.officers, work.summary),
                measured: format!(
                    "{} high or critical alerts{}; {} suspensions; {} requests failed{}",
                    serious.len(),
                    if serious.is_empty() { String::new() } else { format!(": {}", serious.join("; ")) },
                    suspended.len(),
                    work.failed.len(),
                    work.failed.first().map(|f| format!(" (first: {f})")).unwrap_or_default()
                ),
                target: "0 high or critical alerts, 0 suspensions, every request served".into(),
                pass: serious.is_empty() && suspended.is_empty() && work.failed.is_empty(),
            }
        })
        .collect()
}
