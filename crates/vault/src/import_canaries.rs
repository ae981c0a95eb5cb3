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
    /// Reserved ids, each with the elector number of the row before it.
    pub(crate) reserved: Vec<(u64, String)>,
    postcodes: HashSet<String>,
    last_number: String,
}

fn squash(postcode: &str) -> String {
    postcode.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase()
}

impl CanaryPlan {
    pub(crate) fn new(per_100k: u32) -> Self {
        Self {
            per_100k,
            rng: rand::rngs::StdRng::from_entropy(),
            reserved: Vec::new(),
            postcodes: HashSet::new(),
            last_number: String::new(),
        }
    }

    /// Notes a row read, and says whether the next id is reserved for a canary (then the
    /// parser skips it).
    pub(crate) fn after_row(&mut self, text: &EntryText, next_id: u64) -> bool {
        if self.per_100k == 0 {
            return false;
        }
        self.postcodes.insert(squash(&text.postcode));
        self.last_number.clone_from(&text.elector_number);
        if self.rng.gen_ratio(self.per_100k.min(100_000), 100_000) {
            self.reserved.push((next_id, self.last_number.clone()));
            return true;
        }
        false
    }

    /// The canaries' entries, one per reserved id, from `people` (fictitious electors):
    /// no NINO (it could meet a real one), a postcode no row of the file has, numbered as an
    /// interim addition after the entry before it.
    pub(crate) fn entries(
        &self,
        table: FranchiseTable,
        today: rollguard_register::Date,
    ) -> Vec<(u64, EntryText)> {
        let mut people = rollguard_synth::Generator::new(rand::random(), table, today);
        let mut taken = self.postcodes.clone();
        let mut out = Vec::with_capacity(self.reserved.len());
        for (id, neighbour) in &self.reserved {
            let mut text = loop {
                let t = people.next_entry();
                if taken.insert(squash(&t.postcode)) {
                    break t;
                }
            };
            text.nino.clear();
            text.elector_number = interim_after(neighbour).unwrap_or_else(|| text.elector_number.clone());
            out.push((*id, text));
        }
        out
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
            plan.after_row(r, i as u64 + 1);
        }
        assert_eq!(plan.reserved.len(), 300, "at the full rate every row is followed by one");
        let real: HashSet<String> = rows.iter().map(|r| squash(&r.postcode)).collect();
        for (_, c) in plan.entries(table, today) {
            assert!(!real.contains(&squash(&c.postcode)));
            assert!(c.nino.is_empty());
            assert!(c.elector_number.contains('/'), "{}", c.elector_number);
        }
    }
}
