//! What a stolen database file tells an attacker who also holds the open register (which
//! anyone may buy): on a generated register with a Zipf-like surname distribution and
//! households sharing postcodes, the attacker learns the surname of at most 1% and the full
//! address of at most 0.1% of the electors who opted out, and no postcode index value
//! isolates fewer than 5 households.
//!
//! The attacker is granted more than a thief has: it knows which stored index value every
//! surname and postcode maps to (as if it could compute the keyed bucket function). It still
//! has no key to open a sealed value or to join one index table's rows to another's.

mod common;

use common::*;
use rand::{Rng, SeedableRng};
use rollguard_register::EntryText;
use rollguard_store::IndexTable;
use std::collections::{HashMap, HashSet};

const ELECTORS: usize = 20_000;

/// A pronounceable surname for rank `k` (validation takes letters only).
fn surname(k: usize) -> String {
    const SYLLABLES: [&str; 16] = [
        "ar", "bel", "cor", "dun", "el", "fen", "gar", "hol", "ing", "kel", "lor", "mar", "nor", "ost",
        "pen", "rid",
    ];
    let (mut k, mut out) = (k, String::new());
    loop {
        out.push_str(SYLLABLES[k % 16]);
        k /= 16;
        if k == 0 {
            break;
        }
    }
    let mut c = out.chars();
    c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
}

/// Ranks drawn from a Zipf distribution (exponent 1) over `n` names: the most common name
/// is about 11% of households at 5,000 names, the long tail one household each.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize) -> Self {
        let mut total = 0.0;
        let cumulative = (1..=n)
            .map(|k| {
                total += 1.0 / k as f64;
                total
            })
            .collect::<Vec<_>>();
        Self { cumulative: cumulative.iter().map(|c| c / total).collect() }
    }

    fn sample(&self, rng: &mut impl Rng) -> usize {
        let u: f64 = rng.r#gen();
        self.cumulative.partition_point(|c| *c < u)
    }
}

/// The generated register in register order: households of the synthetic generator, given
/// Zipf-distributed family names (three in four members share it) and postcodes shared by
/// runs of 1 to 29 households, as streets share them.
fn register() -> Vec<EntryText> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
    let zipf = Zipf::new(5_000);
    let mut out: Vec<EntryText> = generated(ELECTORS, 31);
    let (mut left_in_postcode, mut postcode, mut family) = (0usize, out[0].postcode.clone(), surname(0));
    let mut last_address = String::new();
    for e in &mut out {
        let address = format!("{}|{}", e.address_lines[0], e.postcode);
        if address != last_address {
            last_address = address;
            family = surname(zipf.sample(&mut rng));
            if left_in_postcode == 0 {
                left_in_postcode = rng.gen_range(1..30);
                postcode = e.postcode.clone();
            }
            left_in_postcode -= 1;
        }
        e.postcode = postcode.clone();
        e.surname = if rng.gen_bool(0.75) { family.clone() } else { surname(zipf.sample(&mut rng)) };
        e.anonymous = "N".into();
    }
    out
}

fn opted_out(e: &EntryText) -> bool {
    e.open_register_opt_out == "Y"
}

fn household(e: &EntryText) -> String {
    format!("{}|{}|{}", e.address_lines[0], e.address_lines[1], e.postcode)
}

/// Stored index value → count of entries holding it, for one table.
fn stored_counts(conn: &rusqlite::Connection, table: &str) -> HashMap<i64, u64> {
    let mut stmt = conn.prepare(&format!("SELECT value, count(*) FROM {table} GROUP BY value")).unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

fn refs(conn: &rusqlite::Connection, sql: &str) -> HashSet<i64> {
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

#[test]
fn a_stolen_file_with_the_open_register_names_almost_no_one_who_opted_out() {
    let mut f = Fixture::new();
    let entries = register();
    let opts = rollguard_vault::ImportOptions {
        source_name: "electors.csv".into(),
        effective: day("2026-01-01"),
        today: today(),
        now: NOW,
        canaries_per_100k: rollguard_vault::CANARIES_PER_100K,
    };
    let report = f.vault.import_csv(AUTHORITY, to_csv(&entries).as_bytes(), &opts).unwrap();
    let out: Vec<&EntryText> = entries.iter().filter(|e| opted_out(e)).collect();
    assert!(out.len() > ELECTORS / 3, "the register has opt-outs to find");
    let conn = f.raw();

    // 1. Rows: nothing but ids, dates, versions and a padded sealed value.
    let columns = refs(&conn, "SELECT cid FROM pragma_table_info('electors')").len();
    assert_eq!(columns, 8, "id, authority, version, valid_from, recorded_at, deleted, key_gen, sealed");
    let mut by_id: Vec<(i64, usize)> =
        report.ids.iter().enumerate().map(|(i, id)| (i64::try_from(*id).unwrap(), i)).collect();
    by_id.sort_unstable();
    let neighbours = by_id.windows(2).filter(|w| w[0].1.abs_diff(w[1].1) == 1).count();
    assert!(neighbours < ELECTORS / 200, "ids follow register order: {neighbours} neighbours in id order");
    // Whatever a row shows in the clear, opted-out and included electors show it alike.
    let mut classes: HashMap<(i64, i64, i64), (u64, u64)> = HashMap::new();
    let mut stmt = conn.prepare("SELECT id, length(sealed), recorded_at, valid_from FROM electors").unwrap();
    let position: HashMap<i64, usize> = by_id.iter().copied().collect();
    for row in stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap() {
        let (id, len, at, from) = row.unwrap();
        let Some(&i) = position.get(&id) else { continue }; // a canary
        let c = classes.entry((len, at, from)).or_default();
        if opted_out(&entries[i]) {
            c.0 += 1;
        } else {
            c.1 += 1;
        }
    }
    let rate = out.len() as f64 / ELECTORS as f64;
    for (class, (o, i)) in &classes {
        if o + i >= 200 {
            let share = *o as f64 / (o + i) as f64;
            assert!((share - rate).abs() < 0.05, "class {class:?} is {share:.2} opted out against {rate:.2}");
        }
    }

    // 2. Index tables cannot be joined: no reference is shared between tables or with ids.
    let ids = refs(&conn, "SELECT id FROM electors");
    let tables = ["ix_surname", "ix_postcode", "ix_dob"];
    let sets: Vec<HashSet<i64>> =
        tables.iter().map(|t| refs(&conn, &format!("SELECT ref FROM {t}"))).collect();
    for (i, a) in sets.iter().enumerate() {
        assert_eq!(a.intersection(&ids).count(), 0, "{} references are elector ids", tables[i]);
        for (j, b) in sets.iter().enumerate().skip(i + 1) {
            assert_eq!(a.intersection(b).count(), 0, "{} joins {}", tables[i], tables[j]);
        }
    }

    // 3. Buckets: the attacker maps every surname and postcode to its stored value.
    let probe = |table: IndexTable, value: &str| -> i64 {
        f.vault.read(|v, tx| v.index_probes(tx, AUTHORITY, table, value)).unwrap()[0]
    };
    let surname_value: HashMap<&str, i64> = entries
        .iter()
        .map(|e| e.surname.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .map(|s| (s, probe(IndexTable::Surname, s)))
        .collect();
    let postcode_value: HashMap<&str, i64> = entries
        .iter()
        .map(|e| e.postcode.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .map(|p| (p, probe(IndexTable::Postcode, p)))
        .collect();

    // No stored postcode value stands for fewer than 5 households. The keys are fresh each
    // run; with about twenty postcodes to a value, the chance that a value holds only one of
    // the few postcodes with fewer than five households is below 10^-5 (see `plans.rs`).
    let mut households: HashMap<i64, HashSet<String>> = HashMap::new();
    for e in &entries {
        households.entry(postcode_value[e.postcode.as_str()]).or_default().insert(household(e));
    }
    let stored_postcodes = stored_counts(&conn, "ix_postcode");
    let fewest = stored_postcodes.keys().filter_map(|v| households.get(v)).map(HashSet::len).min().unwrap();
    assert!(fewest >= 5, "a postcode index value holds only {fewest} households");

    // The attack: a stored value holding more entries than the open register explains holds
    // opted-out electors; if the open register shows one surname (one household) there, the
    // attacker names it for them. Counted only where it is right.
    let open: Vec<&EntryText> = entries.iter().filter(|e| !opted_out(e)).collect();
    let recovered =
        |stored: &HashMap<i64, u64>, key: &dyn Fn(&EntryText) -> i64, what: &dyn Fn(&EntryText) -> String| {
            let mut shown: HashMap<i64, (u64, HashSet<String>)> = HashMap::new();
            for e in &open {
                let s = shown.entry(key(e)).or_default();
                s.0 += 1;
                s.1.insert(what(e));
            }
            let mut hidden: HashMap<i64, Vec<String>> = HashMap::new();
            for e in &out {
                hidden.entry(key(e)).or_default().push(what(e));
            }
            let mut named = 0u64;
            for (value, count) in stored {
                let (seen, distinct) = shown.get(value).cloned().unwrap_or_default();
                let excess = count.saturating_sub(seen);
                if excess == 0 || distinct.len() != 1 {
                    continue;
                }
                let guess = distinct.iter().next().unwrap();
                let right = hidden.get(value).map_or(0, |h| h.iter().filter(|x| *x == guess).count() as u64);
                named += excess.min(right);
            }
            named
        };
    let surnames =
        recovered(&stored_counts(&conn, "ix_surname"), &|e| surname_value[e.surname.as_str()], &|e| {
            e.surname.clone()
        });
    let addresses = recovered(&stored_postcodes, &|e| postcode_value[e.postcode.as_str()], &household);
    let n = out.len() as f64;
    eprintln!(
        "{} opted out; surnames named {surnames} ({:.3}%), addresses {addresses} ({:.3}%); fewest households per postcode value {fewest}",
        out.len(),
        100.0 * surnames as f64 / n,
        100.0 * addresses as f64 / n
    );
    assert!(surnames as f64 <= 0.01 * n, "{surnames} opted-out surnames named");
    assert!(addresses as f64 <= 0.001 * n, "{addresses} opted-out addresses named");
}
