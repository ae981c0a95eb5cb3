//! Read budgets: how many distinct electors a principal may read in a sliding window,
//! kept in the register (so a restart or a second server gives no fresh allowance), and
//! charged in the same transaction as the read's audit event, before any data leaves. A
//! read that would go over is refused whole, raises an alert at once, and triggers the
//! budget's responses in that same transaction.

use crate::audit::{emit, settle, Committed};
use crate::login::LoginRate;
use crate::{apply_response, Actor, Result, Service, ServiceError};
use rollguard_access::Role;
use rollguard_audit::{Event, Kind, Outcome};
use rollguard_detect::{Alert, Budget, Exhausted, Level, Response};
use rollguard_store::{StoreError, WriteTx};
use std::collections::BTreeMap;

/// The rule id of read-budget alerts.
pub const BUDGET_RULE: &str = "rollguard-read-budget";

/// Applications are charged to the same budgets as electors, under keys of their own: an
/// application's id with this bit set (elector ids never come near it).
const APPLICATION_CHARGE: u64 = 1 << 62;

/// The budget key an application is charged under.
pub(crate) fn application_charge(id: u64) -> u64 {
    APPLICATION_CHARGE | id
}

/// The policies use cases enforce.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Distinct electors per window, by role; a principal gets the largest of its roles'.
    /// A role not listed has no budget of its own.
    pub budgets: BTreeMap<Role, Budget>,
    /// What to do when a budget runs out (besides refusing the read and alerting).
    pub budget_response: Vec<Response>,
    /// Password steps per account name, from anywhere: bounds guessing of one account's
    /// password and (since each code needs a fresh password step) its TOTP codes, however
    /// many addresses an attacker has.
    pub account_login: LoginRate,
    /// The windows of a register supply's steps.
    pub supplies: crate::SupplyPolicy,
}

impl Default for Policy {
    fn default() -> Self {
        let mut budgets = BTreeMap::new();
        budgets.insert(Role::RegistrationStaff, Budget { distinct: 600, window_ms: 3_600_000 });
        Self {
            budgets,
            budget_response: vec![Response::SuspendPrincipal],
            account_login: LoginRate { burst: 20.0, per_second: 20.0 / 900.0 },
            supplies: crate::SupplyPolicy::default(),
        }
    }
}

impl Policy {
    /// The budget for an actor: the largest of its roles'. The console has none: its
    /// operator holds the keyring.
    pub fn budget_for(&self, actor: &Actor) -> Option<Budget> {
        let p = actor.principal()?;
        p.access.grants.iter().filter_map(|g| self.budgets.get(&g.role).copied()).max_by_key(|b| b.distinct)
    }
}

/// Counts `ids` against `principal`'s budget at `now_ms`, or refuses without counting.
/// Electors already read inside the window cost nothing again.
fn charge(
    tx: &mut dyn WriteTx,
    principal: &str,
    budget: Budget,
    ids: &[u64],
    now_ms: i64,
) -> std::result::Result<std::result::Result<(), Exhausted>, StoreError> {
    let mut distinct = ids.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    // Reads that have left the window go first; what is held then is the window.
    tx.forget_reads_before(principal, now_ms - budget.window_ms)?;
    let (used, seen) = tx.reads_held(principal, &distinct)?;
    let fresh: Vec<u64> = distinct.iter().copied().filter(|id| seen.binary_search(id).is_err()).collect();
    let asked = fresh.len() as u64;
    if used + asked > budget.distinct {
        return Ok(Err(Exhausted { used, limit: budget.distinct, asked }));
    }
    tx.record_reads(principal, &fresh, &seen, now_ms)?;
    Ok(Ok(()))
}

impl Service {
    /// Charges a read of `ids` in `authority` to `actor`'s budget and records `event`, in
    /// one write transaction; returns once both are durable. Over budget: the refusal, an
    /// alert and the budget's responses are recorded instead, and the read is refused.
    pub(crate) fn record_read(
        &self,
        actor: &Actor,
        authority: &str,
        ids: Vec<u64>,
        event: Event,
    ) -> Result<()> {
        let budget = self.policy().budget_for(actor);
        let (svc, actor, authority) = (self.clone(), actor.clone(), authority.to_owned());
        let now = self.now_ms();
        let outcome = self.register().write(move |tx| -> Committed<()> {
            if let Some(b) = budget {
                if let Err(over) = charge(tx, &actor.name(), b, &ids, now)? {
                    svc.over_budget(tx, &actor, (&authority, event.kind), (b, over), now)?;
                    return Ok(Err(ServiceError::BudgetExhausted {
                        used: over.used,
                        limit: over.limit,
                        asked: over.asked,
                        window_secs: u64::try_from(b.window_ms / 1000).unwrap_or(0),
                    }));
                }
            }
            emit(tx, &event)?;
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
        self.record_read(actor, authority, keys, event)
    }

    fn over_budget(
        &self,
        tx: &mut dyn WriteTx,
        actor: &Actor,
        (authority, kind): (&str, Kind),
        (budget, over): (Budget, Exhausted),
        now: i64,
    ) -> Result<()> {
        let name = actor.name();
        let alert = Alert {
            rule: BUDGET_RULE.into(),
            title: "Read budget exhausted".into(),
            level: Level::High,
            correlation: None,
            event_time: now,
            event_seq: 0,
            principal: Some(name.clone()),
            client: actor.principal().and_then(|p| p.client.clone()),
            authority: Some(authority.to_owned()),
            group: BTreeMap::new(),
            count: Some(over.used),
            electors: Vec::new(),
            response: self.policy().budget_response.clone(),
            tags: vec!["attack.collection".into()],
        };
        emit(tx, &alert.to_event(now))?;
        let refused = actor
            .event(now, kind, Outcome::Refused)
            .authority(authority)
            .detail("reason", "read-budget")
            .detail("asked", over.asked.to_string())
            .detail("window_s", (budget.window_ms / 1000).to_string());
        emit(tx, &refused)?;
        for action in &alert.response {
            apply_response(self, tx, *action, Some(&name), BUDGET_RULE, None, now)?;
        }
        Ok(())
    }
}
