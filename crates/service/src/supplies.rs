//! Register supplies (the full or open register for a recipient) and the register as it
//! stood on a past date. A supply is collected once, by its requester, from a ticket a
//! second person approved (see `tickets`). Its audit event lists every elector it carries
//! and is durable before the first byte leaves; canary electors are never supplied, and
//! each supply carries watermark entries unique to it, recorded in the sealed registry first.

use crate::audit::{emit, settle, Committed};
use crate::tickets::{find_ticket, previous_supply, TicketView};
use crate::{Actor, Result, Service, ServiceError};
use rollguard_access::Permission;
use rollguard_audit::{Event, Kind, Outcome};
use rollguard_detect::Response;
use rollguard_register::{format_date, Date};
use rollguard_store::WriteTx;
use rollguard_vault::{Elector, Mark, RegisterKind, SupplyRequest, TicketState, Vault};

/// A supply ready to write (with `rollguard_vault::write_register_marked`).
pub struct Supply {
    pub id: String,
    pub authority: String,
    pub kind: RegisterKind,
    pub electors: Vec<Elector>,
    pub marks: Vec<Mark>,
    /// How many electors it carries.
    pub count: usize,
}

pub(crate) fn kind_name(kind: RegisterKind) -> &'static str {
    match kind {
        RegisterKind::Full => "full",
        RegisterKind::Open => "open",
    }
}

fn parse_kind(name: &str) -> Result<RegisterKind> {
    match name {
        "full" => Ok(RegisterKind::Full),
        "open" => Ok(RegisterKind::Open),
        other => Err(ServiceError::Internal(format!("a supply ticket has kind `{other}`"))),
    }
}

/// Why a collection is refused, as its audit event and its caller see it.
fn not_collectable(state: TicketState) -> (&'static str, ServiceError) {
    let (reason, message) = match state {
        TicketState::Requested => ("not-approved", "the supply has not been approved yet"),
        TicketState::Refused => ("refused", "the supply was refused"),
        TicketState::Collected => {
            ("already-collected", "the supply was already collected; ask for a new one")
        }
        TicketState::Expired => ("expired", "the supply's approval or request has lapsed; ask for a new one"),
        TicketState::Approved => unreachable!("an approved ticket is collectable"),
    };
    (reason, ServiceError::Conflict(message.into()))
}

impl Service {
    /// Collects the approved supply `ticket`: once, by its requester, before its approval
    /// lapses, and not while exports are frozen. Every refusal is recorded.
    pub fn collect_supply(&self, actor: &Actor, ticket: &str) -> Result<Supply> {
        self.require_anywhere(actor, Permission::RegisterExport)?;
        // Whose register it is decides what to read; the write below checks everything again.
        let view = self.supply_ticket_for(actor, ticket, Permission::RegisterExport)?;
        let code = view.ticket.authority.clone();
        // The register is opened only for a collection that can succeed; any other is
        // refused (and recorded) below without unsealing anything.
        let opened = view.ticket.requested_by == actor.name() && view.state == TicketState::Approved;
        let electors = if opened {
            self.register().read(|tx| -> Result<_> { Ok(self.vault(tx)?.current_register(tx, &code)?) })?
        } else {
            Vec::new()
        };
        let (svc, actor, ticket) = (self.clone(), actor.clone(), ticket.to_owned());
        let outcome = self.register().write(move |tx| -> Committed<Supply> {
            // The time the collection is decided at, once the writer lock is held.
            let now_ms = svc.now_ms();
            let vault = svc.vault(&*tx)?;
            let registry = vault.registry(&*tx)?;
            let t = find_ticket(&registry, &ticket).ok_or(ServiceError::NotFound)?.clone();
            let refuse = |tx: &mut dyn WriteTx, reason: &str| -> Result<()> {
                let ev = actor
                    .event(now_ms, Kind::RegisterExport, Outcome::Refused)
                    .authority(t.authority.clone())
                    .detail("ticket", t.id.clone())
                    .detail("reason", reason);
                Ok(emit(tx, &ev)?)
            };
            if t.requested_by != actor.name() {
                refuse(tx, "not-requester")?;
                return Ok(Err(ServiceError::forbidden(
                    "only the principal who asked for a supply collects it",
                )));
            }
            let state = t.state(now_ms / 1000, svc.policy().supplies.request_secs);
            if state != TicketState::Approved {
                let (reason, err) = not_collectable(state);
                refuse(tx, reason)?;
                return Ok(Err(err));
            }
            if !opened {
                // Approved only since it was looked at: nothing was opened for it. Ask again.
                let (reason, err) = not_collectable(TicketState::Requested);
                refuse(tx, reason)?;
                return Ok(Err(err));
            }
            if tx.response_in_force(Response::FreezeExports.as_str(), None)? {
                refuse(tx, "exports-frozen")?;
                return Ok(Err(ServiceError::ExportsFrozen));
            }
            let repeat = previous_supply(&registry, &t, now_ms / 1000, svc.policy().supplies.period_secs);
            // Recorded with its ticket marked collected, in one registry update.
            let made = svc.make_supply(tx, &vault, &actor, &t, electors, now_ms)?;
            let approver = t.decision.as_ref().map(|d| d.by.clone()).unwrap_or_default();
            let mut ev = actor
                .event(now_ms, Kind::RegisterExport, Outcome::Success)
                .authority(t.authority.clone())
                .detail("kind", t.kind.clone())
                .detail("recipient", t.recipient.clone())
                .detail("ticket", t.id.clone())
                .detail("approved_by", approver)
                .detail("supply", made.supply.id.clone())
                .detail("watermarks", made.supply.marks.len().to_string())
                .detail("count", made.supply.count.to_string());
            if let Some(prev) = repeat {
                ev = ev.detail("repeat_of", prev.id.clone());
            }
            emit(tx, &ev.electors(made.included.iter().copied()))?;
            Ok(Ok(made.supply))
        });
        settle(outcome)
    }

    /// Records a supply of `electors` for ticket `t` in the sealed registry, with its
    /// watermark entries.
    fn make_supply(
        &self,
        tx: &mut dyn WriteTx,
        vault: &Vault,
        actor: &Actor,
        t: &rollguard_vault::SupplyTicket,
        electors: Vec<Elector>,
        now_ms: i64,
    ) -> Result<Made> {
        let kind = parse_kind(&t.kind)?;
        let table = vault.franchise_table(&t.authority)?.clone();
        let mut names = rollguard_synth::Generator::new(rand::random(), table, self.clock().today())
            .map(|p| (p.given_names, p.surname));
        let made_by = actor.name();
        let req = SupplyRequest {
            authority: &t.authority,
            kind,
            recipient: &t.recipient,
            made_by: &made_by,
            now: now_ms / 1000,
            ticket: Some(&t.id),
        };
        let prepared = vault.record_supply(tx, electors, &req, &mut names)?;
        Ok(Made {
            supply: Supply {
                id: prepared.id,
                authority: t.authority.clone(),
                kind,
                count: prepared.included.len(),
                electors: prepared.electors,
                marks: prepared.marks,
            },
            included: prepared.included,
        })
    }

    /// The console's supply (`rollguard export`): asked for and collected at once. The
    /// operator at the console holds the keyring, so could unseal the register directly;
    /// the supply is recorded and watermarked like any other.
    pub fn console_supply(&self, actor: &Actor, order: crate::SupplyOrder) -> Result<Supply> {
        if !matches!(actor, Actor::Console { .. }) {
            return Err(ServiceError::forbidden(
                "a supply is asked for, approved by a second person, then collected",
            ));
        }
        let view: TicketView = self.request_supply(actor, order)?;
        self.collect_supply(actor, &view.ticket.id)
    }

    /// Who was registered in `authority` on `date`, in register order (canaries, never
    /// registered, left out). From the console only: it is a whole register, and over the
    /// API a register leaves only through an approved supply.
    pub fn register_at(&self, actor: &Actor, authority: &str, date: Date) -> Result<Vec<Elector>> {
        if !matches!(actor, Actor::Console { .. }) {
            return Err(ServiceError::forbidden("the register as at a date is produced at the console"));
        }
        let code = authority.to_ascii_uppercase();
        let electors = self.register().read(|tx| -> Result<Vec<Elector>> {
            let vault = self.vault(tx)?;
            let mut electors = vault.register_on(tx, &code, date)?;
            let canaries: std::collections::HashSet<u64> =
                vault.registry(tx)?.canary_ids().into_iter().collect();
            electors.retain(|e| !canaries.contains(&e.id));
            Ok(electors)
        })?;
        let ids = rollguard_vault::included_ids(&electors, RegisterKind::Full);
        let ev: Event = self
            .event(actor, Kind::RegisterExport, Outcome::Success)
            .authority(code)
            .detail("kind", "register-at")
            .detail("date", format_date(date))
            .detail("count", ids.len().to_string())
            .electors(ids);
        self.record(ev)?;
        Ok(electors)
    }
}

/// A supply recorded, with what its event needs.
struct Made {
    included: Vec<u64>,
    supply: Supply,
}
