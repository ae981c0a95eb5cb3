//! Applications to register: received → identity checked → added (an elector) or rejected.
//! Each step is one transaction with its audit event.

use crate::audit::emit;
use crate::{Actor, Result, Service, ServiceError};
use rollguard_access::Permission;
use rollguard_audit::{Event, Kind, Outcome};
use rollguard_register::{Date, ElectorNumber, EntryText, IdentityRoute, RejectionReason};
use rollguard_store::WriteTx;
use rollguard_vault::{ApplicationView, Vault};

/// How an application is determined.
#[derive(Debug, Clone)]
pub enum Determination {
    /// Add the applicant, with this number if the application has none.
    Add {
        number: Option<ElectorNumber>,
        on: Option<Date>,
        allow_possible_duplicate: bool,
    },
    Reject {
        reason: RejectionReason,
        on: Option<Date>,
    },
}

impl Service {
    /// Runs a step on application `id` of `authority` in one write transaction, with the
    /// event `step` returns.
    fn application_step<T: Send + 'static>(
        &self,
        actor: &Actor,
        authority: Option<&str>,
        id: u64,
        step: impl FnOnce(&Vault, &mut dyn WriteTx, Event) -> Result<(T, Event)> + Send + 'static,
    ) -> Result<T> {
        if let Some(a) = authority {
            self.require(actor, Permission::ApplicationWrite, a)?;
        }
        let (svc, actor, authority) = (self.clone(), actor.clone(), authority.map(str::to_owned));
        let now_ms = self.now_ms();
        self.register().write(move |tx| -> Result<T> {
            let vault = svc.vault(&*tx)?;
            let owner = vault.application_authority(&*tx, id)?;
            Service::check_owner(&actor, authority.as_deref(), &owner, Permission::ApplicationWrite)?;
            let ev = actor
                .event(now_ms, Kind::ApplicationWrite, Outcome::Success)
                .authority(owner)
                .applications([id])
                .detail("application", id.to_string());
            let (out, ev) = step(&vault, tx, ev)?;
            emit(tx, &ev)?;
            Ok(out)
        })
    }

    /// Records an application to register; returns its id. Every field is validated now;
    /// the elector number may wait until the applicant is added.
    pub fn receive_application(
        &self,
        actor: &Actor,
        authority: &str,
        text: EntryText,
        received_on: Option<Date>,
    ) -> Result<u64> {
        self.require(actor, Permission::ApplicationWrite, authority)?;
        let (svc, actor, code) = (self.clone(), actor.clone(), authority.to_ascii_uppercase());
        let (today, now_ms) = (self.clock().today(), self.now_ms());
        self.register().write(move |tx| -> Result<u64> {
            let vault = svc.vault(&*tx)?;
            let id = vault.receive_application(
                tx,
                &code,
                &text,
                received_on.unwrap_or(today),
                today,
                now_ms / 1000,
            )?;
            let ev = actor
                .event(now_ms, Kind::ApplicationWrite, Outcome::Success)
                .authority(code)
                .applications([id])
                .detail("application", id.to_string())
                .detail("change", "received");
            emit(tx, &ev)?;
            Ok(id)
        })
    }

    /// One application, opened.
    pub fn application(&self, actor: &Actor, authority: Option<&str>, id: u64) -> Result<ApplicationView> {
        if let Some(a) = authority {
            self.require(actor, Permission::ApplicationRead, a)?;
        }
        let view = self
            .register()
            .read(|tx| -> Result<ApplicationView> { Ok(self.vault(tx)?.application(tx, id)?) })?;
        match authority {
            Some(a) if !view.authority.eq_ignore_ascii_case(a) => return Err(ServiceError::NotFound),
            None => self.require(actor, Permission::ApplicationRead, &view.authority)?,
            Some(_) => {}
        }
        // Charged to the reader's budget like an elector's entry, and durable before it is
        // returned.
        let ev = self
            .event(actor, Kind::ApplicationRead, Outcome::Success)
            .authority(view.authority.clone())
            .applications([id])
            .detail("application", id.to_string());
        self.record_records_read(actor, &view.authority, ev)?;
        Ok(view)
    }

    /// Records how the applicant's identity was verified.
    pub fn check_identity(
        &self,
        actor: &Actor,
        authority: Option<&str>,
        id: u64,
        route: IdentityRoute,
    ) -> Result<()> {
        let now = self.now_secs();
        self.application_step(actor, authority, id, move |vault, tx, ev| {
            vault.check_identity(tx, id, route, now)?;
            Ok(((), ev.detail("change", "identity-checked").detail("route", route.code())))
        })
    }

    /// Determines an application: adds the applicant (returning the new elector's id) or
    /// rejects it with a reason.
    pub fn determine(
        &self,
        actor: &Actor,
        authority: Option<&str>,
        id: u64,
        determination: Determination,
    ) -> Result<Option<u64>> {
        let (today, now) = (self.clock().today(), self.now_secs());
        self.application_step(actor, authority, id, move |vault, tx, ev| match determination {
            Determination::Add { number, on, allow_possible_duplicate } => {
                let on = on.unwrap_or(today);
                let elector = vault.add_from_application(
                    tx,
                    id,
                    number.as_ref(),
                    on,
                    today,
                    now,
                    allow_possible_duplicate,
                )?;
                Ok((Some(elector), ev.electors([elector]).detail("change", "added")))
            }
            Determination::Reject { reason, on } => {
                vault.reject_application(tx, id, reason, on.unwrap_or(today), now)?;
                Ok((None, ev.detail("change", "rejected").detail("reason", reason.code())))
            }
        })
    }
}
