//! Synthetic registers: UK-like electors for demos, tests and benchmarks. Deterministic for
//! a seed (ChaCha8), and made of no real people: names are drawn independently from common
//! name lists, streets and towns are invented, telephone numbers come from Ofcom's drama
//! range and email addresses use reserved example domains.
#![forbid(unsafe_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rollguard_register::{format_date, Date, EntryText, FranchiseTable};
use time::Duration;

mod words;
use words::{AREAS, GIVEN, MIDDLE, STREET_KINDS, STREET_WORDS, SURNAMES, TOWN_PREFIX, TOWN_SUFFIX};

/// Inward-code letters allowed by BS 7666.
const INWARD: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
/// Allowed first and second NINO letters, and the pairs of them never issued as prefixes.
const NINO_FIRST: &[u8] = b"ABCEGHJKLMNOPRSTWXYZ";
const NINO_SECOND: &[u8] = b"ABCEGHJKLMNPRSTWXYZ";
const NINO_BARRED: [&[u8; 2]; 7] = [b"BG", b"GB", b"NK", b"KN", b"TN", b"NT", b"ZZ"];

/// Every NINO prefix the register accepts, in a fixed order. Each million electors takes the
/// next one, so a register of up to 373 million has unique NINOs.
fn nino_prefixes() -> Vec<[u8; 2]> {
    NINO_SECOND
        .iter()
        .flat_map(|&second| NINO_FIRST.iter().map(move |&first| [first, second]))
        .filter(|p| !NINO_BARRED.contains(&p))
        .collect()
}

/// Electors per polling district before the next district starts.
const DISTRICT_SIZE: u32 = 2500;

/// Makes a register, one elector at a time, in household order.
pub struct Generator {
    rng: ChaCha8Rng,
    table: FranchiseTable,
    today: Date,
    count: u64,
    household: Vec<EntryText>,
    district: u32,
    in_district: u32,
    next_uprn: u64,
    nino_scramble: u64,
    nino_block: u64,
    nino_prefixes: Vec<[u8; 2]>,
}

impl Generator {
    /// `today` anchors ages and expiry dates; pass a fixed date for reproducible output.
    pub fn new(seed: u64, table: FranchiseTable, today: Date) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let next_uprn = 100_000_000_000 + rng.gen_range(0..1_000_000_000);
        // A multiplier coprime with 10^6 makes k -> k * m mod 10^6 a permutation: unique NINOs.
        let nino_scramble = loop {
            let m = rng.gen_range(1..1_000_000u64);
            if m % 2 != 0 && m % 5 != 0 {
                break m;
            }
        };
        // Each seed starts on its own NINO prefix, so registers from different seeds rarely share one.
        let nino_prefixes = nino_prefixes();
        let nino_block = rng.gen_range(0..nino_prefixes.len() as u64);
        Self {
            rng,
            table,
            today,
            count: 0,
            household: Vec::new(),
            district: 0,
            in_district: 0,
            next_uprn,
            nino_scramble,
            nino_block,
            nino_prefixes,
        }
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.rng.gen_range(0..list.len())]
    }

    fn district_code(&self) -> String {
        let d = self.district;
        let first = (b'A' + (d / 26 % 26) as u8) as char;
        let second = (b'A' + (d % 26) as u8) as char;
        if d < 676 {
            format!("{first}{second}")
        } else {
            format!("{first}{second}{}", d / 676)
        }
    }

    fn postcode(&mut self) -> String {
        let area = AREAS[(self.district as usize) % AREAS.len()];
        let district_num = 1 + (self.district as usize / AREAS.len()) % 30;
        let sector = self.rng.gen_range(0..10);
        let a = INWARD[self.rng.gen_range(0..INWARD.len())] as char;
        let b = INWARD[self.rng.gen_range(0..INWARD.len())] as char;
        format!("{area}{district_num} {sector}{a}{b}")
    }

    fn date_years_ago(&mut self, min_years: i64, max_years: i64) -> Date {
        let days = self.rng.gen_range(min_years * 365..max_years * 365);
        self.today - Duration::days(days)
    }

    fn nino(&mut self) -> String {
        let k = self.count;
        let digits = (k % 1_000_000) * self.nino_scramble % 1_000_000;
        let block = (k / 1_000_000 + self.nino_block) % self.nino_prefixes.len() as u64;
        let [first, second] = self.nino_prefixes[usize::try_from(block).expect("below the prefix count")];
        let suffix = (b'A' + self.rng.gen_range(0..4u8)) as char;
        format!("{}{}{digits:06}{suffix}", first as char, second as char)
    }

    fn new_household(&mut self) {
        let size = match self.rng.gen_range(0..100) {
            0..=29 => 1,
            30..=69 => 2,
            70..=87 => 3,
            _ => 4,
        };
        let house = self.rng.gen_range(1..250);
        let street = format!("{house} {} {}", self.pick(STREET_WORDS), self.pick(STREET_KINDS));
        let town = format!("{}{}", self.pick(TOWN_PREFIX), self.pick(TOWN_SUFFIX));
        let flat = self.rng.gen_bool(0.15).then(|| format!("Flat {}", self.rng.gen_range(1..40)));
        let postcode = self.postcode();
        let uprn = if self.rng.gen_bool(0.9) {
            self.next_uprn += self.rng.gen_range(1..50);
            self.next_uprn.to_string()
        } else {
            String::new()
        };
        let family = self.pick(SURNAMES);
        let mut used_given = Vec::new();
        for _ in 0..size {
            let surname =
                if self.rng.gen_bool(0.75) { family.to_owned() } else { self.pick(SURNAMES).to_owned() };
            let mut t = EntryText { surname, ..Default::default() };
            let given = loop {
                let g = self.pick(GIVEN);
                if !used_given.contains(&g) {
                    break g;
                }
            };
            used_given.push(given);
            t.given_names = if self.rng.gen_bool(0.35) {
                format!("{given} {}", self.pick(MIDDLE))
            } else {
                given.to_owned()
            };
            let mut lines = vec![street.clone(), town.clone()];
            if let Some(f) = &flat {
                lines.insert(0, f.clone());
            }
            for (slot, line) in t.address_lines.iter_mut().zip(lines) {
                *slot = line;
            }
            t.postcode = postcode.clone();
            t.uprn = uprn.clone();
            self.household.push(t);
        }
    }

    /// The next elector's entry.
    pub fn next_entry(&mut self) -> EntryText {
        if self.household.is_empty() {
            self.new_household();
        }
        let mut t = self.household.pop().expect("household has members");
        if self.in_district == DISTRICT_SIZE {
            self.district += 1;
            self.in_district = 0;
        }
        self.in_district += 1;
        t.elector_number = format!("{}-{}", self.district_code(), self.in_district);

        let roll = self.rng.gen_range(0..10_000);
        if roll < 200 {
            // Attainer: 16 or 17 now, reaching 18 within two years.
            let dob = self.date_years_ago(16, 18);
            t.date_of_birth = format_date(dob);
            let eighteenth = dob.replace_year(dob.year() + 18).unwrap_or(dob + Duration::days(18 * 365 + 4));
            t.attainer_date = format_date(eighteenth);
        } else if self.rng.gen_bool(0.97) {
            t.date_of_birth = format_date(self.date_years_ago(18, 96));
        }
        if self.rng.gen_bool(0.85) {
            t.nino = self.nino();
        }
        let codes: Vec<&str> = self.table.codes().map(|(c, _)| c).collect();
        let m = self.rng.gen_range(0..1000);
        if m < 40 && !codes.is_empty() {
            t.franchise_marker = codes[usize::try_from(m).expect("0 to 39 here") % codes.len()].to_owned();
        }
        if t.franchise_marker == "F" {
            t.overseas_address =
                t.address_lines.iter().filter(|l| !l.is_empty()).cloned().collect::<Vec<_>>().join("|");
            t.overseas_postcode = t.postcode.clone();
            t.overseas_declaration_expires =
                format_date(self.today + Duration::days(self.rng.gen_range(30..1095)));
        }
        t.open_register_opt_out = if self.rng.gen_bool(0.55) { "Y" } else { "N" }.into();
        t.anonymous = if self.rng.gen_range(0..5000) == 0 { "Y" } else { "N" }.into();
        match self.rng.gen_range(0..1000) {
            0..=199 => t.absent_vote = "postal".into(),
            200..=209 => t.absent_vote = "proxy".into(),
            210..=211 => t.absent_vote = "postal-proxy".into(),
            _ => {}
        }
        if !t.absent_vote.is_empty() && self.rng.gen_bool(0.5) {
            t.absent_vote_expires = format_date(self.today + Duration::days(self.rng.gen_range(30..1825)));
        }
        if self.rng.gen_bool(0.05) {
            t.previous_names = format!("{}|{}", t.given_names, self.pick(SURNAMES));
        }
        if self.rng.gen_bool(0.3) {
            let first = t.given_names.split(' ').next().unwrap_or("elector").to_ascii_lowercase();
            t.email = format!("{}.{}@example.org", ascii_only(&first), self.count);
        }
        if self.rng.gen_bool(0.2) {
            t.phone = format!("07700 900{:03}", self.rng.gen_range(0..1000));
        }
        self.count += 1;
        t
    }
}

fn ascii_only(s: &str) -> String {
    let out: String = s.chars().filter(|c| c.is_ascii_alphabetic()).collect();
    if out.is_empty() {
        "elector".into()
    } else {
        out
    }
}

impl Iterator for Generator {
    type Item = EntryText;
    fn next(&mut self) -> Option<EntryText> {
        Some(self.next_entry())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollguard_register::{parse_date, Nation};
    use std::collections::HashSet;

    fn gen(seed: u64) -> Generator {
        Generator::new(
            seed,
            FranchiseTable::default_for(Nation::England),
            parse_date("d", "2026-11-24").unwrap(),
        )
    }

    #[test]
    fn same_seed_same_register_other_seed_other_register() {
        let a: Vec<EntryText> = gen(7).take(500).collect();
        let b: Vec<EntryText> = gen(7).take(500).collect();
        let c: Vec<EntryText> = gen(8).take(500).collect();
        assert!(a == b);
        assert!(a != c);
    }

    #[test]
    fn ninos_stay_unique_across_a_whole_million() {
        for seed in 0..3 {
            let mut g = gen(seed);
            let mut seen = std::collections::HashSet::new();
            for k in 0..1_000_000u64 {
                g.count = k;
                let n = g.nino();
                assert!(seen.insert(n[..8].to_owned()), "seed {seed}: NINO digits repeat at {k}");
            }
        }
    }

    #[test]
    fn every_million_gets_a_valid_nino_prefix() {
        // A 40-million register once reached a barred prefix (`BG`…`ZZ`) at row 20,000,001.
        let prefixes = nino_prefixes();
        assert_eq!(prefixes.len(), NINO_FIRST.len() * NINO_SECOND.len() - NINO_BARRED.len());
        let mut g = gen(1);
        let mut seen = std::collections::HashSet::new();
        for million in 0..prefixes.len() as u64 {
            g.count = million * 1_000_000 + 17;
            let n = g.nino();
            assert!(rollguard_register::Nino::parse("nino", &n).is_ok(), "million {million}: {}", &n[..2]);
            assert!(seen.insert(n[..2].to_owned()), "million {million}: prefix {} again", &n[..2]);
        }
    }

    #[test]
    fn different_seeds_start_on_different_ninos() {
        let firsts: std::collections::HashSet<String> =
            (0..20).map(|s| gen(s).find(|t| !t.nino.is_empty()).unwrap().nino[..8].to_owned()).collect();
        assert!(firsts.len() >= 18, "seeds share NINOs: {firsts:?}");
    }

    #[test]
    fn every_generated_entry_validates_and_is_unique() {
        let table = FranchiseTable::default_for(Nation::England);
        let today = parse_date("d", "2026-11-24").unwrap();
        let mut numbers = HashSet::new();
        let mut ninos = HashSet::new();
        let mut identities = HashSet::new();
        let (mut opt_out, mut overseas, mut attainers, mut anonymous, mut postal) = (0, 0, 0, 0, 0);
        for t in gen(1).take(30_000) {
            let (e, nino) = t.validate(&table, today).unwrap_or_else(|err| panic!("{err}"));
            assert!(numbers.insert(e.number.to_string()));
            if let Some(n) = nino {
                assert!(ninos.insert(n.normalised().to_owned()));
            }
            let id = rollguard_register::normalise::identity_key(&e.name, e.date_of_birth, &e.address);
            assert!(identities.insert(id), "generated a duplicate identity");
            opt_out += u32::from(e.open_register_opt_out);
            overseas += u32::from(e.overseas.is_some());
            attainers += u32::from(e.attainer_date.is_some());
            anonymous += u32::from(e.anonymous);
            postal += u32::from(e.absent_vote.is_some());
        }
        assert!((15_000..18_000).contains(&opt_out), "opt-outs {opt_out}");
        assert!(overseas > 50, "overseas {overseas}");
        assert!(attainers > 300, "attainers {attainers}");
        assert!(anonymous >= 1, "anonymous {anonymous}");
        assert!(postal > 5000, "absent votes {postal}");
    }
}
