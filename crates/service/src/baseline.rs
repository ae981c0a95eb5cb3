//! Baselines in the register: each read's new records for the day are added to the
//! reader's day, in the read's own transaction; a day that passes the floor is judged once
//! against the reader's trailing weeks and its peers' ([`rollguard_detect::Baseline`]), and
//! a day far above both (and above the peers who read today) raises a high alert and the
//! baseline's responses, in that same transaction. Every server sees the same days.

use crate::{Actor, Result, Service};
use rollguard_detect::DayThreshold;
use rollguard_store::{PeerDay, WriteTx};
use std::collections::BTreeMap;

/// The rule id of baseline alerts, and their title.
pub const BASELINE_RULE: &str = "rollguard-read-baseline";
pub const BASELINE_TITLE: &str = "Reading far above the reader's own weeks and its peers'";

pub(crate) const DAY_MS: i64 = 86_400_000;

/// The start (UTC) of the day `now_ms` falls in.
pub(crate) fn day_start(now_ms: i64) -> i64 {
    now_ms.div_euclid(DAY_MS) * DAY_MS
}

impl Service {
    /// Adds `records` newly read today by `actor` in `group` (the peer group it reads
    /// `authority` in), and judges the day if it is due.
    pub(crate) fn observe_day(
        &self,
        tx: &mut dyn WriteTx,
        actor: &Actor,
        (authority, group): (&str, &str),
        records: u64,
        now: i64,
    ) -> Result<()> {
        let b = self.policy().baseline;
        let name = actor.name();
        let day = now.div_euclid(DAY_MS);
        let d = tx.add_daily_reads(&name, (day, day - b.trailing_days), group, records)?;
        if d.alerted || d.records <= b.floor {
            return Ok(());
        }
        let trailing = |tx: &dyn WriteTx| -> Result<DayThreshold> {
            let days = tx.peer_days(group, day - b.trailing_days, day - 1)?;
            let (own, peers): (Vec<PeerDay>, Vec<PeerDay>) =
                days.into_iter().partition(|p| p.principal == name);
            let counts = |v: Vec<PeerDay>| v.into_iter().map(|p| p.records).collect::<Vec<u64>>();
            Ok(b.threshold(&counts(own), &counts(peers)))
        };
        let threshold = match d.threshold {
            Some(t) => t,
            None => {
                let t = trailing(tx)?.threshold;
                tx.set_daily_threshold(&name, day, t, false)?;
                t
            }
        };
        if threshold == 0 || d.records <= threshold {
            return Ok(());
        }
        let today: Vec<u64> = tx
            .peer_days(group, day, day)?
            .into_iter()
            .filter(|p| p.principal != name)
            .map(|p| p.records)
            .collect();
        if let Err(bar) = b.above_peers_today(d.records, &today) {
            tx.set_daily_threshold(&name, day, bar, false)?;
            return Ok(());
        }
        tx.set_daily_threshold(&name, day, threshold, true)?;
        let judged = trailing(tx)?;
        self.far_above_baseline(tx, actor, (authority, group), (d.records, judged), now)
    }

    fn far_above_baseline(
        &self,
        tx: &mut dyn WriteTx,
        actor: &Actor,
        (authority, group): (&str, &str),
        (records, judged): (u64, DayThreshold),
        now: i64,
    ) -> Result<()> {
        let known = |d: Option<u64>| d.map_or_else(|| "unknown".to_owned(), |d| d.to_string());
        let group = BTreeMap::from([
            ("peer_group".to_owned(), group.to_owned()),
            ("own_busy_day".to_owned(), known(judged.own)),
            ("peers_busy_day".to_owned(), known(judged.peers)),
            ("threshold".to_owned(), judged.threshold.to_string()),
        ]);
        let alert = Self::reader_alert(
            actor,
            authority,
            (BASELINE_RULE, BASELINE_TITLE),
            (records, group),
            (self.policy().baseline_response.clone(), now),
        );
        self.raise_reader_alert(tx, &alert, now)
    }
}
