//! District coverage in the register: each elector a reader reads is kept, for the coverage
//! window (four weeks), under the blind index of its polling district, so the distinct
//! electors of one district a reader holds are a count of rows, whatever order (and over
//! however many connections) the reads came. Crossing the share of the district's imported size raises a
//! high alert and the coverage response, in the read's own transaction.

use crate::{Actor, Result, Service};
use rollguard_store::{ReadTx, WriteTx};
use std::collections::{BTreeMap, HashMap};

/// The rule id of district coverage alerts, and their title.
pub const COVERAGE_RULE: &str = "rollguard-district-coverage";
pub const COVERAGE_TITLE: &str = "A reader covering a polling district";

impl Service {
    /// The authorities whose entries district coverage cannot judge: they hold entries but
    /// no district sizes (imported before sizes were counted, or filled entry by entry).
    pub fn authorities_without_district_sizes(&self) -> Result<Vec<String>> {
        Ok(self.register().read(|tx| tx.authorities_without_district_sizes())?)
    }

    /// The blind district index of each elector in `districts` (id, district code).
    pub(crate) fn areas(
        &self,
        tx: &dyn ReadTx,
        authority: &str,
        districts: &[(u64, String)],
    ) -> Result<HashMap<u64, i64>> {
        // The keys in hand know every authority but one added since they were loaded: only
        // then is the register asked for its key epoch.
        let current = self.keys().current();
        let vault = if current.knows(authority) { current } else { self.vault(tx)? };
        districts.iter().map(|(id, d)| Ok((*id, vault.district_area(authority, d)?))).collect()
    }

    /// Records `actor`'s reads of electors in their districts (`areas`: id → blind index;
    /// `districts`: id → code, for the alert), and alerts for each district the new ones take
    /// over its share. Reads before `from` (a canvass's) do not count.
    pub(crate) fn observe_districts(
        &self,
        tx: &mut dyn WriteTx,
        actor: &Actor,
        authority: &str,
        (districts, areas): (&[(u64, String)], &HashMap<u64, i64>),
        (from, now): (Option<i64>, i64),
    ) -> Result<()> {
        if areas.is_empty() {
            return Ok(());
        }
        let window_ms = self.policy().coverage.window_days * 86_400_000;
        let reads: Vec<(u64, i64)> = areas.iter().map(|(&id, &area)| (id, area)).collect();
        let since = from.unwrap_or(i64::MIN).max(now - window_ms);
        for (area, fresh) in tx.record_area_reads(&actor.name(), &reads, now, now - window_ms)? {
            let district = districts.iter().find(|(id, _)| areas.get(id) == Some(&area)).map(|(_, d)| d);
            self.observe_district(tx, actor, (authority, area, district), fresh, (since, now))?;
        }
        Ok(())
    }

    /// Counts `fresh` electors of district `area` newly held by `actor`, and alerts if they
    /// take it over its share of the district. Reads before `since` do not count.
    fn observe_district(
        &self,
        tx: &mut dyn WriteTx,
        actor: &Actor,
        (authority, area, district): (&str, i64, Option<&String>),
        fresh: u64,
        (since, now): (i64, i64),
    ) -> Result<()> {
        let name = actor.name();
        let Some((size, held)) = tx.district_reads(&name, (authority, area), since)? else {
            return Ok(());
        };
        let coverage = self.policy().coverage;
        if !coverage.crossed(size, held.saturating_sub(fresh), held) {
            return Ok(());
        }
        let group = BTreeMap::from([
            ("district".to_owned(), district.cloned().unwrap_or_default()),
            ("district_entries".to_owned(), size.to_string()),
            ("threshold".to_owned(), coverage.threshold(size).to_string()),
        ]);
        let mut alert = Self::reader_alert(
            actor,
            authority,
            (COVERAGE_RULE, COVERAGE_TITLE),
            (held, group),
            (self.policy().coverage_response.clone(), now),
        );
        alert.tags.push("attack.discovery".into());
        self.raise_reader_alert(tx, &alert, now)
    }
}
