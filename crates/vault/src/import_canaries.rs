//! Canaries planted by an import, indistinguishable from their neighbours: each takes an id
//! reserved at a random place in the import's run of ids (not the last ones), is sealed in the
//! same transaction with the same dates as the rows around it, is numbered as an interim
//! addition after the entry before it, and lives at a postcode no elector in the file has (so a
//! real household's lookup never meets one). The registry records them in that transaction.

use rand::{Rng, SeedableRng};
use rollguard_register::{ElectorNumber, EntryText, FranchiseTable};
use std::collections::HashSet;

/// What the parser learns for the canaries as it reads: where they go, and the postcodes
/// they must avoid.
pub(crate) struct CanaryPlan {
    /// Canaries per 100,000 rows (0: none).
    per_100k: u32,
    rng: rand::rngs::StdRng,
    /// Reserved ids, each with the row before it.
    pub(crate) reserved: Vec<(u64, Neighbour)>,
    postcodes: HashSet<String>,
    previous: Option<Neighbour>,
    /// Rows per polling district (as the file spells it, upper-cased): the sizes district
    /// coverage judges a reader against.
    pub(crate) districts: std::collections::HashMap<String, u64>,
}

/// The row a canary follows: it takes that row's dates and an interim number after it.
#[derive(Clone)]
pub(crate) struct Neighbour {
    number: String,
    pub(crate) registered_on: Option<String>,
}

fn squash(postcode: &str) -> String {
    postcode.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase()
}

/// A number's district and number, without its interim suffix.
fn base(number: &str) -> Option<(String, u32)> {
    let n = ElectorNumber::parse("elector_number", number).ok()?;
    Some((n.district.as_str().to_owned(), n.number))
}

impl CanaryPlan {
    pub(crate) fn new(per_100k: u32) -> Self {
        Self {
            per_100k,
            rng: rand::rngs::StdRng::from_entropy(),
            reserved: Vec::new(),
            postcodes: HashSet::new(),
            previous: None,
            districts: std::collections::HashMap::new(),
        }
    }

    /// Notes the row about to take `id`, and says whether a canary takes `id` first (then
    /// the row takes the next). A canary goes only between two rows of different numbers, so
    /// the interim number after the first is free; never before the first row, so never at
    /// either end of the run.
    pub(crate) fn before_row(&mut self, text: &EntryText, registered_on: Option<&str>, id: u64) -> bool {
        self.count_district(&text.elector_number);
        if self.per_100k == 0 {
            return false;
        }
        self.postcodes.insert(squash(&text.postcode));
        let here = Neighbour {
            number: text.elector_number.clone(),
            registered_on: registered_on.map(str::to_owned),
        };
        let previous = self.previous.replace(here);
        let Some(previous) = previous else { return false };
        let gap =
            matches!((base(&previous.number), base(&text.elector_number)), (Some(a), Some(b)) if a != b);
        if gap && self.rng.gen_ratio(self.per_100k.min(100_000), 100_000) {
            self.reserved.push((id, previous));
            return true;
        }
        false
    }

    /// Counts a row (or a canary) in its number's district. Cheap: the parser is the
    /// import's serial stage, and a malformed number fails the import later anyway.
    pub(crate) fn count_district(&mut self, number: &str) {
        let district = number.split('-').next().unwrap_or_default().trim();
        let key = if district.bytes().any(|b| b.is_ascii_lowercase()) {
            std::borrow::Cow::Owned(district.to_ascii_uppercase())
        } else {
            std::borrow::Cow::Borrowed(district)
        };
        match self.districts.get_mut(key.as_ref()) {
            Some(n) => *n += 1,
            None => {
                self.districts.insert(key.into_owned(), 1);
            }
        }
    }

    /// The canaries' entries, one per reserved id, from fictitious electors: no NINO (it
    /// could meet a real one), a postcode no row of the file has, numbered as an interim
    /// addition after the row before it. None if no free postcode turned up (every reserved
    /// id must be filled, or the run of ids would have a hole).
    pub(crate) fn entries(
        &self,
        table: FranchiseTable,
        today: rollguard_register::Date,
    ) -> Option<Vec<(u64, EntryText, Option<String>)>> {
        let mut people = rollguard_synth::Generator::new(rand::random(), table, today);
        let mut taken = self.postcodes.clone();
        let mut out = Vec::with_capacity(self.reserved.len());
        for (id, neighbour) in &self.reserved {
            // The generator's postcodes are many times the file's: a free one comes quickly.
            let mut text =
                (0..1_000).map(|_| people.next_entry()).find(|t| taken.insert(squash(&t.postcode)))?;
            text.nino.clear();
            text.elector_number =
                interim_after(&neighbour.number).unwrap_or_else(|| text.elector_number.clone());
            out.push((*id, text, neighbour.registered_on.clone()));
        }
        Some(out)
    }
}

/// `AB1-123` → `AB1-123/1`, `AB1-123/2` → `AB1-123/3`.
fn interim_after(number: &str) -> Option<String> {
    let n = ElectorNumber::parse("elector_number", number).ok()?;
    let suffix = n.suffix.map_or(1, |s| s.saturating_add(1)).min(999);
    let next = ElectorNumber::new(n.district, n.number, Some(suffix)).ok()?;
    let mut out = String::new();
    next.push_to(&mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_canary_is_numbered_as_an_interim_addition_after_its_neighbour() {
        assert_eq!(interim_after("AB1-123").as_deref(), Some("AB1-123/1"));
        assert_eq!(interim_after("AB1-123/2").as_deref(), Some("AB1-123/3"));
        assert_eq!(interim_after("not a number"), None);
    }

    #[test]
    fn canaries_avoid_every_postcode_of_the_file_and_carry_no_nino() {
        let table = FranchiseTable::default_for(rollguard_register::Nation::England);
        let today = rollguard_register::parse_date("d", "2026-12-01").unwrap();
        let mut plan = CanaryPlan::new(100_000);
        let rows: Vec<EntryText> =
            rollguard_synth::Generator::new(5, table.clone(), today).take(300).collect();
        for (i, r) in rows.iter().enumerate() {
            plan.before_row(r, None, i as u64 + 1);
        }
        let gaps =
            rows.windows(2).filter(|w| base(&w[0].elector_number) != base(&w[1].elector_number)).count();
        assert_eq!(plan.reserved.len(), gaps, "at the full rate, one in every gap between numbers");
        assert!(plan.reserved.iter().all(|(id, _)| *id > 1), "never before the first row");
        let real: HashSet<String> = rows.iter().map(|r| squash(&r.postcode)).collect();
        for (_, c, _) in plan.entries(table, today).unwrap() {
            assert!(!real.contains(&squash(&c.postcode)));
            assert!(c.nino.is_empty());
            assert!(c.elector_number.contains('/'), "{}", c.elector_number);
        }
    }
}
