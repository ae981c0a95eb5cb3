//! Register supplies (the full or open register for a recipient) and the register as it
//! stood on a past date. A supply's audit event lists every elector it carries and is
//! durable before the first byte leaves; canary electors are never supplied, and each
//! supply carries watermark entries unique to it, recorded in the sealed registry first.

use crate::audit::{emit, settle, Committed};
use crate::{Actor, Result, Service, ServiceError};
use rollguard_access::Permission;
use rollguard_audit::{Kind, Outcome};
use rollguard_detect::Response;
use rollguard_register::{format_date, Date};
use rollguard_vault::{Elector, Mark, RegisterKind, SupplyRequest};

/// A supply asked for.
#[derive(Debug, Clone)]
pub struct SupplyOrder {
    pub authority: String,
    pub kind: RegisterKind,
    /// Who the supply is for (default: the actor).
    pub recipient: Option<String>,
}

/// A supply ready to write (with `rollguard_vault::write_register_marked`).
pub struct Supply {
    pub id: String,
    pub kind: RegisterKind,
    pub electors: Vec<Elector>,
    pub marks: Vec<Mark>,
    /// How many electors it carries.
    pub count: usize,
}

fn kind_name(kind: RegisterKind) -> &'static str {
    match kind {
        RegisterKind::Full => "full",
        RegisterKind::Open => "open",
    }
}

impl Service {
    /// Prepares a supply of `order.authority`'s register and records it. Refused while an
    /// automatic response has frozen exports (the refusal is recorded too).
    pub fn supply(&self, actor: &Actor, order: SupplyOrder) -> Result<Supply> {
        self.require(actor, Permission::RegisterExport, &order.authority)?;
        let code = order.authority.to_ascii_uppercase();
        let recipient = order
            .recipient
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| actor.name());
        if recipient.len() > 200 || recipient.chars().any(char::is_control) {
            return Err(ServiceError::Invalid {
                detail: "the recipient is not valid".into(),
                fields: vec![("recipient".into(), "at most 200 characters, no control characters".into())],
            });
        }
        let (electors, table) = self.register().read(|tx| -> Result<_> {
            let vault = self.vault(tx)?;
            Ok((vault.current_register(tx, &code)?, vault.franchise_table(&code)?.clone()))
        })?;
        let (svc, actor, today, now_ms) = (self.clone(), actor.clone(), self.clock().today(), self.now_ms());
        let kind = order.kind;
        let outcome = self.register().write(move |tx| -> Committed<Supply> {
            if tx.response_in_force(Response::FreezeExports.as_str(), None)? {
                let ev = actor
                    .event(now_ms, Kind::RegisterExport, Outcome::Refused)
                    .authority(code)
                    .detail("kind", kind_name(kind))
                    .detail("recipient", recipient)
                    .detail("reason", "exports-frozen");
                emit(tx, &ev)?;
                return Ok(Err(ServiceError::ExportsFrozen));
            }
            let vault = svc.vault(&*tx)?;
            let mut names = rollguard_synth::Generator::new(rand::random(), table, today)
                .map(|t| (t.given_names, t.surname));
            let made_by = actor.name();
            let req = SupplyRequest {
                authority: &code,
                kind,
                recipient: &recipient,
                made_by: &made_by,
                now: now_ms / 1000,
            };
            let prepared = vault.record_supply(tx, electors, &req, &mut names)?;
            let ev = actor
                .event(now_ms, Kind::RegisterExport, Outcome::Success)
                .authority(code.clone())
                .detail("kind", kind_name(kind))
                .detail("recipient", recipient.clone())
                .detail("supply", prepared.id.clone())
                .detail("watermarks", prepared.marks.len().to_string())
                .detail("count", prepared.included.len().to_string())
                .electors(prepared.included.iter().copied());
            emit(tx, &ev)?;
            Ok(Ok(Supply {
                id: prepared.id,
                kind,
                count: prepared.included.len(),
                electors: prepared.electors,
                marks: prepared.marks,
            }))
        });
        settle(outcome)
    }

    /// Who was registered in `authority` on `date`, in register order (canaries, never
    /// registered, left out).
    pub fn register_at(&self, actor: &Actor, authority: &str, date: Date) -> Result<Vec<Elector>> {
        self.require(actor, Permission::RegisterExport, authority)?;
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
        let ev = self
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
