//! Read budgets: how many distinct records (electors and applications) a principal may
//! read in each of its sliding windows (an hour, a day, a week), kept in the register (so a restart or a second server gives no fresh allowance), and
//! charged in the same transaction as the read's audit event, before any data leaves. A
//! read that would go over is refused whole, raises an alert at once, and triggers the
//! budget's responses in that same transaction.

use crate::audit::{emit, settle, Committed};
use crate::{Actor, Result, Service, ServiceError};
use rollguard_audit::{Event, Kind, Outcome};
use rollguard_detect::{Budget, Exhausted};
use rollguard_store::{StoreError, WriteTx};
use std::collections::{BTreeMap, HashMap};

/// The rule id of read-budget alerts.
pub const BUDGET_RULE: &str = "rollguard-read-budget";

/// Applications are charged to the same budgets as electors, under keys of their own: an
/// application's id with this bit set (elector ids never come near it).
const APPLICATION_CHARGE: u64 = 1 << 62;

/// The budget key an application is charged under.
pub(crate) fn application_charge(id: u64) -> u64 {
    APPLICATION_CHARGE | id
}

/// Counts `ids` against every one of `principal`'s `budgets` (shortest window first) at
/// `now_ms`, or refuses without counting, naming the budget that would be exceeded. A record
/// already read inside a window costs that window nothing again. Reads before `from_ms` (a
/// canvass's) do not count; charges older than `keep_ms` are forgotten. Returns how many
/// of the records were not read yet today (for the reader's baseline).
fn charge(
    tx: &mut dyn WriteTx,
    principal: &str,
    (budgets, from_ms, keep_ms): (&[Budget], Option<i64>, i64),
    ids: &[u64],
    now_ms: i64,
) -> std::result::Result<std::result::Result<u64, (Budget, Exhausted)>, StoreError> {
    let mut distinct = ids.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    // Charges no window can reach go first; what is held then is the longest window.
    tx.forget_reads_before(principal, now_ms - keep_ms)?;
    if budgets.is_empty() {
        return Ok(Ok(0));
    }
    let (held, seen) = tx.reads_held(principal, &distinct)?;
    for &b in budgets {
        let start = (now_ms - b.window_ms).max(from_ms.unwrap_or(i64::MIN));
        let used = if start == now_ms - keep_ms { held } else { tx.reads_since(principal, start)? };
        let inside = seen.iter().filter(|(_, at)| *at >= start).count();
        let asked = (distinct.len() - inside) as u64;
        if used + asked > b.distinct {
            return Ok(Err((b, Exhausted { used, limit: b.distinct, asked })));
        }
    }
    let again: Vec<u64> = seen.iter().map(|(id, _)| *id).collect();
    let fresh: Vec<u64> = distinct.iter().copied().filter(|id| again.binary_search(id).is_err()).collect();
    tx.record_reads(principal, &fresh, &again, now_ms)?;
    let today = crate::baseline::day_start(now_ms);
    Ok(Ok((fresh.len() + seen.iter().filter(|(_, at)| *at < today).count()) as u64))
}

impl Service {
    /// Charges a read of `ids` in `authority` to `actor`'s budget and records `event`, in
    /// one write transaction; returns once both are durable. Over budget: the refusal, an
    /// alert and the budget's responses are recorded instead, and the read is refused.
    /// `districts` are the polling districts of the electors read (for district coverage).
    pub(crate) fn record_read(
        &self,
        actor: &Actor,
        authority: &str,
        (ids, districts): (Vec<u64>, Vec<(u64, String)>),
        event: Event,
    ) -> Result<()> {
        let today = self.clock().today();
        let policy = self.policy();
        let (budgets, from, keep) =
            (policy.budgets_for(actor, today), policy.counting_from(today), policy.longest_window_ms());
        let group = policy.peer_group(actor, authority, today);
        let (svc, actor, authority) = (self.clone(), actor.clone(), authority.to_owned());
        let now = self.now_ms();
        let outcome = self.register().write(move |tx| -> Committed<()> {
            // Districts count only for a reader with a peer group: budgeted, and not canvassing.
            let areas = match group {
                Some(_) if !districts.is_empty() => svc.areas(&*tx, &authority, &districts)?,
                _ => HashMap::new(),
            };
            let new_today = match charge(tx, &actor.name(), (&budgets, from, keep), &ids, now)? {
                Ok(n) => n,
                Err((b, over)) => {
                    svc.over_budget(tx, &actor, (&authority, event.kind), (b, over), now)?;
                    return Ok(Err(ServiceError::BudgetExhausted {
                        used: over.used,
                        limit: over.limit,
                        asked: over.asked,
                        window_secs: u64::try_from(b.window_ms / 1000).unwrap_or(0),
                    }));
                }
            };
            emit(tx, &event)?;
            if let Some(group) = group.as_deref().filter(|_| new_today > 0) {
                svc.observe_day(tx, &actor, (&authority, group), new_today, now)?;
            }
            svc.observe_districts(tx, &actor, &authority, (&districts, &areas), (from, now))?;
            Ok(Ok(()))
        });
        settle(outcome)
    }

    /// As [`Service::record_read`], for a read whose `event` names what it charges itself
    /// (electors and applications).
    pub(crate) fn record_records_read(&self, actor: &Actor, authority: &str, event: Event) -> Result<()> {
        let keys: Vec<u64> = event
            .electors
            .iter()
            .copied()
            .chain(event.applications.iter().map(|&id| application_charge(id)))
            .collect();
        self.record_read(actor, authority, (keys, Vec::new()), event)
    }

    fn over_budget(
        &self,
        tx: &mut dyn WriteTx,
        actor: &Actor,
        (authority, kind): (&str, Kind),
        (budget, over): (Budget, Exhausted),
        now: i64,
    ) -> Result<()> {
        let alert = Self::reader_alert(
            actor,
            authority,
            (BUDGET_RULE, "Read budget exhausted"),
            (over.used, BTreeMap::new()),
            (self.policy().budget_response.clone(), now),
        );
        emit(tx, &alert.to_event(now))?;
        let refused = actor
            .event(now, kind, Outcome::Refused)
            .authority(authority)
            .detail("reason", "read-budget")
            .detail("asked", over.asked.to_string())
            .detail("window_s", (budget.window_ms / 1000).to_string());
        emit(tx, &refused)?;
        self.apply_reader_responses(tx, &alert, now)
    }
}
