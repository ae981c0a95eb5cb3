//! Supply tickets: four eyes on a register leaving. One principal asks for a supply; a
//! second person (a supplies approver of the authority, signed in with a second factor:
//! never an API token, never the requester, never someone who administers the authority and
//! so could mint the requester's token or reset its login) approves or refuses it; the
//! requester then collects it once, within a short window. An open-register supply asked for
//! by a person signed in with a second factor needs no second approver, but is still single
//! use, recorded and watermarked. Every step, and every refusal of one, is an audit event.

use crate::audit::{emit, settle, Committed};
use crate::supplies::kind_name;
use crate::{Actor, Result, Service, ServiceError};
use rollguard_access::Permission;
use rollguard_audit::{Kind, Outcome};
use rollguard_vault::{Decision, RegisterKind, Registry, SupplyRecord, SupplyTicket, TicketState};

/// A supply asked for.
#[derive(Debug, Clone)]
pub struct SupplyOrder {
    pub authority: String,
    pub kind: RegisterKind,
    /// Who the supply is for (default: the actor).
    pub recipient: Option<String>,
    /// Why the recipient is entitled to it, for the approver.
    pub purpose: Option<String>,
}

/// How long each step of a supply may take, and how often a recipient may be supplied.
#[derive(Debug, Clone, Copy)]
pub struct SupplyPolicy {
    /// An undecided request lapses after this many seconds.
    pub request_secs: i64,
    /// An approved supply must be collected within this many seconds of its approval.
    pub collect_secs: i64,
    /// A second supply of the same register to the same recipient within this many seconds
    /// of the last is marked as a repeat (and the shipped rule raises a high alert).
    pub period_secs: i64,
}

impl Default for SupplyPolicy {
    fn default() -> Self {
        // A request waits up to a week for its approver; an approval is good for an hour;
        // a recipient gets one full copy a month (publication, then monthly alterations).
        Self { request_secs: 7 * 86_400, collect_secs: 3_600, period_secs: 30 * 86_400 }
    }
}

/// A ticket as its callers see it.
#[derive(Debug, Clone)]
pub struct TicketView {
    pub ticket: SupplyTicket,
    pub state: TicketState,
    /// The last supply of the same register to the same recipient within the period.
    pub previous_supply: Option<SupplyRecord>,
}

pub(crate) fn find_ticket<'r>(registry: &'r Registry, id: &str) -> Option<&'r SupplyTicket> {
    registry.tickets.iter().find(|t| t.id == id)
}

/// Recipients compared by their letters and digits alone, whatever the case, spacing or
/// punctuation (`Party A.` and `party  a` are one recipient).
fn same_recipient(a: &str, b: &str) -> bool {
    let key =
        |s: &str| s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect::<String>();
    key(a) == key(b)
}

/// The latest supply of `t`'s register to `t`'s recipient made within `period` before `now`.
pub(crate) fn previous_supply<'r>(
    registry: &'r Registry,
    t: &SupplyTicket,
    now: i64,
    period: i64,
) -> Option<&'r SupplyRecord> {
    registry
        .supplies
        .iter()
        .filter(|s| {
            s.authority.eq_ignore_ascii_case(&t.authority)
                && s.kind == t.kind
                && same_recipient(&s.recipient, &t.recipient)
                && s.made_at > now - period
        })
        .max_by_key(|s| s.made_at)
}

/// Checks a free-text field of a request: at most 200 characters, no control characters.
fn check_text(field: &str, value: &str) -> Result<()> {
    if value.chars().count() > 200 || value.chars().any(char::is_control) {
        return Err(ServiceError::Invalid {
            detail: format!("the {field} is not valid"),
            fields: vec![(field.into(), "at most 200 characters, no control characters".into())],
        });
    }
    Ok(())
}

/// Requests one principal may have waiting at once: a stolen token cannot grow the sealed
/// registry without bound.
const MAX_PENDING: usize = 20;

impl Service {
    fn view(&self, registry: &Registry, t: &SupplyTicket) -> TicketView {
        let (now, p) = (self.now_secs(), self.policy().supplies);
        TicketView {
            ticket: t.clone(),
            state: t.state(now, p.request_secs),
            previous_supply: previous_supply(registry, t, now, p.period_secs).cloned(),
        }
    }

    /// Asks for a supply of `order.authority`'s register. A full register waits for a second
    /// person; an open register asked for by a person with a second factor (or the console)
    /// is approved at once by that person.
    pub fn request_supply(&self, actor: &Actor, order: SupplyOrder) -> Result<TicketView> {
        self.require(actor, Permission::RegisterExport, &order.authority)?;
        let code = order.authority.to_ascii_uppercase();
        let recipient = order.recipient.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
        let recipient = recipient.unwrap_or_else(|| actor.name());
        let purpose = order.purpose.map(|p| p.trim().to_owned()).unwrap_or_default();
        check_text("recipient", &recipient)?;
        check_text("purpose", &purpose)?;
        let self_approved = match order.kind {
            RegisterKind::Open => actor.in_mfa_session(),
            RegisterKind::Full => matches!(actor, Actor::Console { .. }),
        };
        let now = self.now_secs();
        let mut ticket = SupplyTicket {
            id: format!("{:016x}", rand::random::<u64>()),
            authority: code.clone(),
            kind: kind_name(order.kind).into(),
            recipient,
            purpose,
            requested_by: actor.name(),
            requested_at: now,
            decision: None,
            collected: None,
        };
        if self_approved {
            ticket.decision = Some(Decision {
                by: actor.name(),
                at: now,
                approved: true,
                note: "single approver".into(),
                collect_by: now + self.policy().supplies.collect_secs,
            });
        }
        let (svc, actor) = (self.clone(), actor.clone());
        let request_secs = self.policy().supplies.request_secs;
        self.register().write(move |tx| -> Result<TicketView> {
            let vault = svc.vault(&*tx)?;
            let waiting = vault
                .registry(&*tx)?
                .tickets
                .iter()
                .filter(|t| t.requested_by == ticket.requested_by)
                .filter(|t| t.state(now, request_secs) == TicketState::Requested)
                .count();
            if waiting >= MAX_PENDING {
                return Err(ServiceError::Conflict(format!(
                    "{waiting} supply requests are already waiting for a decision; wait for them to be decided or lapse"
                )));
            }
            let reg = vault.update_registry(tx, now, |reg| {
                reg.tickets.push(ticket.clone());
                Ok(())
            })?;
            let view = svc.view(&reg, &ticket);
            let mut ev = svc
                .event(&actor, Kind::SupplyRequest, Outcome::Success)
                .authority(code)
                .detail("ticket", ticket.id.clone())
                .detail("kind", ticket.kind.clone())
                .detail("recipient", ticket.recipient.clone())
                .detail("approval", if self_approved { "single-approver" } else { "pending" });
            if let Some(prev) = &view.previous_supply {
                ev = ev.detail("repeat_of", prev.id.clone());
            }
            emit(tx, &ev)?;
            Ok(view)
        })
    }

    /// Approves (`approve`) or refuses a supply request, as the second person.
    pub fn decide_supply(
        &self,
        actor: &Actor,
        ticket: &str,
        approve: bool,
        note: &str,
    ) -> Result<TicketView> {
        self.require_anywhere(actor, Permission::SupplyApprove)?;
        let note = note.trim().to_owned();
        check_text("note", &note)?;
        let (svc, actor, id) = (self.clone(), actor.clone(), ticket.to_owned());
        let now = self.now_secs();
        let outcome = self.register().write(move |tx| -> Committed<TicketView> {
            let vault = svc.vault(&*tx)?;
            let registry = vault.registry(&*tx)?;
            let t = match find_ticket(&registry, &id) {
                Some(t) if actor.allows(Permission::SupplyApprove, &t.authority) => t.clone(),
                _ => return Ok(Err(ServiceError::NotFound)),
            };
            let administers = |p| matches!(&actor, Actor::Principal(_)) && actor.allows(p, &t.authority);
            let refusal = if !actor.in_mfa_session() {
                Some((
                    "not-a-person",
                    "a supply is approved by a person signed in with a second factor, never an API token",
                ))
            } else if administers(Permission::TokenAdmin) || administers(Permission::UserAdmin) {
                Some((
                    "approver-administers",
                    "an approver who administers the authority could act as the requester too; a supply needs a supplies approver who does not",
                ))
            } else if t.requested_by == actor.name() {
                Some(("own-request", "a supply needs a second person: its requester cannot decide it"))
            } else if t.state(now, svc.policy().supplies.request_secs) != TicketState::Requested {
                Some(("not-pending", "the supply is no longer waiting for a decision"))
            } else {
                None
            };
            if let Some((reason, message)) = refusal {
                let ev = svc
                    .event(&actor, Kind::SupplyDecision, Outcome::Refused)
                    .authority(t.authority.clone())
                    .detail("ticket", t.id.clone())
                    .detail("reason", reason);
                emit(tx, &ev)?;
                return Ok(Err(if reason == "not-pending" {
                    ServiceError::Conflict(message.into())
                } else {
                    ServiceError::forbidden(message)
                }));
            }
            let decision = Decision {
                by: actor.name(),
                at: now,
                approved: approve,
                note,
                collect_by: if approve { now + svc.policy().supplies.collect_secs } else { 0 },
            };
            let reg = vault.update_registry(tx, now, |reg| {
                if let Some(found) = reg.tickets.iter_mut().find(|x| x.id == t.id) {
                    found.decision = Some(decision);
                }
                Ok(())
            })?;
            let decided = find_ticket(&reg, &t.id).cloned().unwrap_or(t);
            let view = svc.view(&reg, &decided);
            let mut ev = svc
                .event(&actor, Kind::SupplyDecision, Outcome::Success)
                .authority(decided.authority.clone())
                .detail("ticket", decided.id.clone())
                .detail("decision", if approve { "approved" } else { "refused" })
                .detail("requested_by", decided.requested_by.clone())
                .detail("kind", decided.kind.clone())
                .detail("recipient", decided.recipient.clone());
            if let Some(prev) = &view.previous_supply {
                ev = ev.detail("repeat_of", prev.id.clone());
            }
            emit(tx, &ev)?;
            Ok(Ok(view))
        });
        settle(outcome)
    }

    /// The tickets of the authorities where `actor` may ask for or approve supplies, newest
    /// first (`authority`: one of them only).
    pub fn supply_tickets(&self, actor: &Actor, authority: Option<&str>) -> Result<Vec<TicketView>> {
        if !actor.allows_anywhere(Permission::RegisterExport) {
            self.require_anywhere(actor, Permission::SupplyApprove)?;
        }
        let registry =
            self.register().read(|tx| -> Result<Registry> { Ok(self.vault(tx)?.registry(tx)?) })?;
        let mut out: Vec<TicketView> = registry
            .tickets
            .iter()
            .filter(|t| authority.is_none_or(|a| t.authority.eq_ignore_ascii_case(a)))
            .filter(|t| {
                actor.allows(Permission::RegisterExport, &t.authority)
                    || actor.allows(Permission::SupplyApprove, &t.authority)
            })
            .map(|t| self.view(&registry, t))
            .collect();
        out.sort_by(|a, b| {
            b.ticket.requested_at.cmp(&a.ticket.requested_at).then(b.ticket.id.cmp(&a.ticket.id))
        });
        Ok(out)
    }

    /// One ticket, if `actor` may see it (else not found, which says nothing of others').
    pub fn supply_ticket(&self, actor: &Actor, id: &str) -> Result<TicketView> {
        let found = self.supply_tickets(actor, None)?.into_iter().find(|v| v.ticket.id == id);
        found.ok_or(ServiceError::NotFound)
    }

    /// The ticket `id`, if `actor` holds `permission` for its authority.
    pub(crate) fn supply_ticket_for(
        &self,
        actor: &Actor,
        id: &str,
        permission: Permission,
    ) -> Result<TicketView> {
        let registry =
            self.register().read(|tx| -> Result<Registry> { Ok(self.vault(tx)?.registry(tx)?) })?;
        match find_ticket(&registry, id) {
            Some(t) if actor.allows(permission, &t.authority) => Ok(self.view(&registry, t)),
            _ => Err(ServiceError::NotFound),
        }
    }
}
