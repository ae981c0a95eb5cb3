//! District coverage in the register: each elector's read charge carries the blind index of
//! its polling district, so the distinct electors of one district a reader holds inside the
//! budgets' longest window are a count of rows, whatever order (and over however many
//! connections) the reads came. Crossing the share of the district's imported size raises a
//! high alert and the coverage response, in the read's own transaction.

use crate::audit::emit;
use crate::{apply_response, Actor, Result, Service};
use rollguard_detect::{Alert, Level};
use rollguard_store::{ReadTx, WriteTx};
use std::collections::{BTreeMap, HashMap};

/// The rule id of district coverage alerts, and their title.
pub const COVERAGE_RULE: &str = "rollguard-district-coverage";
pub const COVERAGE_TITLE: &str = "A reader covering a polling district";

impl Service {
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

    /// Counts `fresh` electors of district `area` newly held by `actor`, and alerts if they
    /// take it over its share of the district. Reads before `from` (a canvass's) do not count.
    pub(crate) fn observe_district(
        &self,
        tx: &mut dyn WriteTx,
        actor: &Actor,
        (authority, area, district): (&str, i64, Option<&String>),
        fresh: u64,
        (from, now): (Option<i64>, i64),
    ) -> Result<()> {
        let name = actor.name();
        let Some((size, held)) = tx.district_reads(&name, (authority, area), from.unwrap_or(i64::MIN))?
        else {
            return Ok(());
        };
        let coverage = self.policy().coverage;
        if !coverage.crossed(size, held.saturating_sub(fresh), held) {
            return Ok(());
        }
        let alert = Alert {
            rule: COVERAGE_RULE.into(),
            title: COVERAGE_TITLE.into(),
            level: Level::High,
            correlation: None,
            event_time: now,
            event_seq: 0,
            principal: Some(name.clone()),
            client: actor.principal().and_then(|p| p.client.clone()),
            authority: Some(authority.to_owned()),
            group: BTreeMap::from([
                ("district".to_owned(), district.cloned().unwrap_or_default()),
                ("district_entries".to_owned(), size.to_string()),
                ("threshold".to_owned(), coverage.threshold(size).to_string()),
            ]),
            count: Some(held),
            electors: Vec::new(),
            response: self.policy().coverage_response.clone(),
            tags: vec!["attack.collection".into(), "attack.discovery".into()],
        };
        emit(tx, &alert.to_event(now))?;
        for action in &alert.response {
            apply_response(self, tx, *action, Some(&name), COVERAGE_RULE, None, now)?;
        }
        Ok(())
    }
}
