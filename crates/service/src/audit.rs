//! Writing audit events: into the transaction of the change they record, or (for refusals
//! and failed steps that change nothing else) in a transaction of their own.

use crate::{Actor, Result, Service, ServiceError};
use rollguard_access::Permission;
use rollguard_audit::{Event, Kind, Outcome};
use rollguard_store::{StoreError, WriteTx};

/// Queues `event` in `tx`: it commits with the change, or not at all.
pub(crate) fn emit(tx: &mut dyn WriteTx, event: &Event) -> std::result::Result<(), StoreError> {
    tx.append_event(&event.canonical()).map(|_| ())
}

/// The event kind a refusal of `permission` is recorded as.
fn refusal_kind(permission: Permission) -> Kind {
    match permission {
        Permission::ElectorRead => Kind::ElectorRead,
        Permission::ApplicationRead => Kind::ApplicationRead,
        Permission::ApplicationWrite => Kind::ApplicationWrite,
        Permission::RegisterExport | Permission::SupplyCollect => Kind::RegisterExport,
        Permission::SupplyApprove => Kind::SupplyDecision,
        Permission::UserAdmin => Kind::PrincipalChange,
        Permission::TokenAdmin => Kind::TokenChange,
        Permission::KeyAdmin => Kind::KeyOperation,
        Permission::AuditRead | Permission::AlertRead => Kind::AuditRead,
        Permission::ElectorWrite => Kind::ElectorWrite,
    }
}

impl Service {
    /// Records `event` in a transaction of its own, durably.
    pub fn record(&self, event: Event) -> Result<()> {
        self.register().write(move |tx| -> Result<()> { Ok(emit(tx, &event)?) })
    }

    /// An event by `actor` now.
    pub(crate) fn event(&self, actor: &Actor, kind: Kind, outcome: Outcome) -> Event {
        actor.event(self.now_ms(), kind, outcome)
    }

    /// Checks `actor` holds `permission` on `authority`. A refusal is itself an audit event
    /// (recorded before the refusal is returned), and is decided before anything is looked
    /// up, so it says nothing about what exists.
    pub(crate) fn require(&self, actor: &Actor, permission: Permission, authority: &str) -> Result<()> {
        if actor.allows(permission, authority) {
            return Ok(());
        }
        let e = self
            .event(actor, refusal_kind(permission), Outcome::Refused)
            .authority(authority.to_ascii_uppercase())
            .detail("permission", permission.code());
        self.record(e)?;
        Err(ServiceError::forbidden(format!("no {permission} grant for authority {authority}")))
    }

    /// Inside a write use case's transaction, once the record's owner is known. If the caller
    /// named an authority (whose grant was required before the transaction), the record must
    /// be that authority's, else it is not found (an id elsewhere is not confirmed); if not,
    /// the caller needs `permission` for the owner.
    pub(crate) fn check_owner(
        actor: &Actor,
        named: Option<&str>,
        owner: &str,
        permission: Permission,
    ) -> Result<()> {
        match named {
            Some(a) if !owner.eq_ignore_ascii_case(a) => Err(ServiceError::NotFound),
            None if !actor.allows(permission, owner) => {
                Err(ServiceError::forbidden(format!("no {permission} grant for authority {owner}")))
            }
            _ => Ok(()),
        }
    }

    /// Records that `actor` did something that changes nothing in the register but must be
    /// on the record (a mail scan, a rules reload), with `permission` anywhere.
    pub fn note(
        &self,
        actor: &Actor,
        permission: Permission,
        kind: Kind,
        detail: Vec<(&'static str, String)>,
    ) -> Result<()> {
        self.require_anywhere(actor, permission)?;
        let mut e = self.event(actor, kind, Outcome::Success);
        for (k, v) in detail {
            e.detail.insert(k.into(), v);
        }
        self.record(e)
    }

    /// Checks `actor` holds `permission` for every authority (a refusal is recorded).
    pub(crate) fn require_everywhere(&self, actor: &Actor, permission: Permission) -> Result<()> {
        if actor.allows_everywhere(permission) {
            return Ok(());
        }
        let e = self
            .event(actor, refusal_kind(permission), Outcome::Refused)
            .detail("permission", permission.code())
            .detail("scope", "*");
        self.record(e)?;
        Err(ServiceError::forbidden(format!("needs {permission} for every authority (*)")))
    }

    /// Checks `actor` holds `permission` for some authority (a refusal is recorded).
    pub(crate) fn require_anywhere(&self, actor: &Actor, permission: Permission) -> Result<()> {
        if actor.allows_anywhere(permission) {
            return Ok(());
        }
        let e = self
            .event(actor, refusal_kind(permission), Outcome::Refused)
            .detail("permission", permission.code());
        self.record(e)?;
        Err(ServiceError::forbidden(format!("needs {permission}")))
    }
}

/// A write unit's answer when the unit must commit (its audit events) even though the
/// caller is refused: the outer `Ok` commits, the inner result is the caller's.
pub(crate) type Committed<T> = Result<Result<T>>;

/// Runs the inner result of a unit that commits either way.
pub(crate) fn settle<T>(outcome: Committed<T>) -> Result<T> {
    outcome?
}
