//! Which audit events an analyst sees: those of the authorities its `audit:read` reaches,
//! and, among events tied to no authority (sign-ins, administration, responses), those whose
//! every named principal holds grants only there. An analyst of every authority sees all.

use crate::principals::covers_principal;
use crate::{Actor, Result, Service};
use rollguard_access::{Permission, Reach};
use rollguard_audit::Event;
use std::collections::HashSet;

/// The audit events one caller may see.
#[derive(Debug, Clone)]
pub struct AuditView {
    reach: Reach,
    /// Principals whose every grant lies within `reach`.
    within: HashSet<String>,
}

/// The detail fields that name a principal an event is about.
const NAMING: [&str; 2] = ["target", "subject"];

impl AuditView {
    /// Whether the event in canonical form `body` is shown (an unreadable one is not).
    pub fn shows(&self, body: &[u8]) -> bool {
        if self.reach == Reach::Everywhere {
            return true;
        }
        let Ok(e) = Event::from_canonical(body) else { return false };
        self.shows_event(&e)
    }

    pub fn shows_event(&self, e: &Event) -> bool {
        if self.reach == Reach::Everywhere {
            return true;
        }
        if let Some(a) = &e.authority {
            return self.reach.covers(a);
        }
        // The console's operator is nobody's principal: an event names people by the rest.
        let mut named = e
            .principal
            .iter()
            .chain(NAMING.iter().filter_map(|k| e.detail.get(*k)))
            .filter(|n| !n.starts_with("console:"))
            .peekable();
        // An event naming nobody is the system's own (a checkpoint, a key epoch): every
        // authority's concern, so shown only to an analyst of every authority.
        named.peek().is_some() && named.all(|n| self.within.contains(n))
    }
}

impl Service {
    /// An analyst's access to the audit log (events, proofs, checkpoints): needs
    /// `audit:read`, and is itself recorded, before anything is shown. Returns what the
    /// caller may see.
    pub fn audit_access(&self, actor: &Actor, what: &str) -> Result<AuditView> {
        self.require_anywhere(actor, Permission::AuditRead)?;
        self.record(
            self.event(actor, rollguard_audit::Kind::AuditRead, rollguard_audit::Outcome::Success)
                .detail("what", what),
        )?;
        let reach = actor.reach(Permission::AuditRead);
        let within = if reach == Reach::Everywhere {
            HashSet::new()
        } else {
            let principals = self.register().read(|tx| tx.principals())?;
            principals.into_iter().filter(|p| covers_principal(&reach, p)).map(|p| p.name).collect()
        };
        Ok(AuditView { reach, within })
    }
}
