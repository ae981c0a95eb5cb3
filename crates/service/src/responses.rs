//! Automatic responses to alerts (suspend the principal, revoke its credentials, freeze
//! exports), applied in the transaction that records the alert, and their reversal by an
//! administrator in an MFA session.

use crate::audit::{emit, settle, Committed};
use crate::principals::covers_principal;
use crate::proposals::{propose, with_proposal, Change, Proposed};
use crate::{Actor, Result, Service, ServiceError};
use rollguard_access::{AccessError, Permission, Reach};
use rollguard_audit::{Event, Kind, Outcome};
use rollguard_detect::Response;
use rollguard_store::{ProposalRecord, ResponseRecord, WriteTx};

/// The name detection's position in the log is stored under.
pub const RESPONSE_READER: &str = "detection";

/// Applies `action` (on `subject`, the principal an alert names) in `tx`, with its
/// `response` audit event. One live response of a kind per subject: a burst of alerts is
/// not a burst of responses. Returns the response's id, if one was made.
pub fn apply_response(
    svc: &Service,
    tx: &mut dyn WriteTx,
    action: Response,
    subject: Option<&str>,
    rule: &str,
    alert_seq: Option<u64>,
    now_ms: i64,
) -> Result<Option<u64>> {
    let now = now_ms.div_euclid(1000);
    if action != Response::FreezeExports && subject.is_none() {
        return Ok(None);
    }
    let subject = if action == Response::FreezeExports { None } else { subject };
    if tx.response_in_force(action.as_str(), subject)? {
        return Ok(None);
    }
    match action {
        Response::SuspendPrincipal => {
            let name = subject.expect("checked above");
            match svc.accounts().set_suspended(tx, name, true, now) {
                Ok(()) => {}
                // The alert named someone who is not a principal (a failed login's claim).
                Err(AccessError::UnknownPrincipal(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
        Response::RevokeCredentials => {
            let name = subject.expect("checked above");
            let Some(p) = tx.principal_by_name(name)? else { return Ok(None) };
            tx.revoke_sessions_of(p.id, now)?;
            tx.revoke_tokens_of(p.id, now)?;
        }
        // The response row is the freeze: every export checks for it.
        Response::FreezeExports => {}
    }
    let id = tx.insert_response(&ResponseRecord {
        id: 0,
        action: action.as_str().into(),
        subject: subject.map(str::to_owned),
        rule: rule.into(),
        alert_seq,
        created_at: now,
        reversed_at: None,
        reversed_by: None,
    })?;
    let mut ev = Event::new(now_ms, Kind::Response, Outcome::Success)
        .detail("action", action.as_str())
        .detail("change", "applied")
        .detail("response", id.to_string())
        .detail("rule", rule);
    if let Some(s) = subject {
        ev.detail.insert("subject".into(), s.into());
    }
    emit(tx, &ev)?;
    Ok(Some(id))
}

impl Service {
    /// Automatic responses, newest first.
    pub fn responses(&self, actor: &Actor, limit: usize) -> Result<Vec<ResponseRecord>> {
        if !(actor.allows_anywhere(Permission::AlertRead) || actor.allows_anywhere(Permission::UserAdmin)) {
            return Err(ServiceError::forbidden("needs alert:read or user:admin"));
        }
        let reaches = [actor.reach(Permission::AlertRead), actor.reach(Permission::UserAdmin)];
        if reaches.contains(&Reach::Everywhere) {
            return Ok(self.register().read(|tx| tx.responses(limit))?);
        }
        // A response shows if it froze exports (everyone's concern) or its subject holds
        // grants only where the caller reads alerts or administers.
        self.register().read(|tx| -> Result<Vec<ResponseRecord>> {
            let mut shown = Vec::new();
            for r in tx.responses(limit)? {
                let visible = match &r.subject {
                    None => true,
                    Some(name) => tx
                        .principal_by_name(name)?
                        .is_some_and(|p| reaches.iter().any(|reach| covers_principal(reach, &p))),
                };
                if visible {
                    shown.push(r);
                }
            }
            Ok(shown)
        })
    }

    /// Whether exports are frozen by a response in force.
    pub fn exports_frozen(&self) -> Result<bool> {
        Ok(self.register().read(|tx| tx.response_in_force(Response::FreezeExports.as_str(), None))?)
    }

    /// Reverses response `id`: restores a suspended principal, lets a principal whose
    /// credentials were revoked sign in again (revoked sessions and tokens stay revoked:
    /// they may be in an attacker's hands), or lifts an export freeze. Needs user:admin in
    /// a session that passed a second factor, over every authority the response touches. A
    /// principal's reversal is only proposed: a second administrator approves it (the
    /// console reverses at once). Returns the record as it now stands.
    pub fn reverse_response(&self, actor: &Actor, id: u64) -> Result<Change<ResponseRecord>> {
        self.require_anywhere(actor, Permission::UserAdmin)?;
        if !actor.in_mfa_session() {
            return Err(ServiceError::forbidden(
                "reversing a response needs an administrator's MFA session, not an API token",
            ));
        }
        let (svc, actor) = (self.clone(), actor.clone());
        let now_ms = self.now_ms();
        let outcome = self.register().write(move |tx| -> Committed<Change<ResponseRecord>> {
            let r = match check_reversal(tx, &actor, id, now_ms)? {
                Ok(r) => r,
                Err(e) => return Ok(Err(e)),
            };
            if matches!(actor, Actor::Console { .. }) {
                return Ok(apply_reversal(&svc, tx, &actor, r, now_ms, None)?.map(Change::Done));
            }
            let p = propose(tx, &actor, Proposed::ReverseResponse, &id.to_string(), &r.action, now_ms)?;
            Ok(Ok(Change::Proposed(p)))
        });
        settle(outcome)
    }
}

/// Response `id`, if it stands and `actor` may reverse it; a refusal is recorded in `tx`.
/// Lifting the freeze is everyone's business: it needs administration everywhere. A
/// response on a principal needs administration of every authority it holds.
pub(crate) fn check_reversal(
    tx: &mut dyn WriteTx,
    actor: &Actor,
    id: u64,
    now_ms: i64,
) -> Committed<ResponseRecord> {
    let Some(r) = tx.response(id)? else { return Ok(Err(ServiceError::NotFound)) };
    let subject = match &r.subject {
        Some(name) => tx.principal_by_name(name)?,
        None => None,
    };
    let reach = actor.reach(Permission::UserAdmin);
    let allowed = match (&r.subject, &subject) {
        (Some(_), Some(p)) => covers_principal(&reach, p),
        // The freeze, or a subject who is no principal: every authority's.
        _ => reach == Reach::Everywhere,
    };
    if !allowed {
        let refusal = actor
            .event(now_ms, Kind::Response, Outcome::Refused)
            .detail("action", r.action.clone())
            .detail("change", "reverse")
            .detail("response", id.to_string());
        emit(tx, &refusal)?;
        // The freeze is everyone's to see; a response on another authority's person is not.
        return Ok(Err(match &r.subject {
            None => {
                ServiceError::forbidden("lifting the export freeze needs administrator@* (every authority)")
            }
            Some(_) => ServiceError::NotFound,
        }));
    }
    if r.reversed_at.is_some() {
        return Ok(Err(ServiceError::Conflict(format!(
            "response {id} was already reversed by {}",
            r.reversed_by.as_deref().unwrap_or("?")
        ))));
    }
    if Response::parse(&r.action).is_none() {
        return Ok(Err(ServiceError::bad_request(format!("unknown response action {}", r.action))));
    }
    Ok(Ok(r))
}

/// Reverses `r` now, with its audit event (naming the proposal it carries out).
pub(crate) fn apply_reversal(
    svc: &Service,
    tx: &mut dyn WriteTx,
    actor: &Actor,
    r: ResponseRecord,
    now_ms: i64,
    proposal: Option<&ProposalRecord>,
) -> Committed<ResponseRecord> {
    let now = now_ms.div_euclid(1000);
    if r.action == Response::SuspendPrincipal.as_str() {
        if let Some(name) = &r.subject {
            svc.accounts().set_suspended(tx, name, false, now)?;
        }
    }
    let by = actor.name();
    tx.reverse_response(r.id, &by, now)?;
    let mut ev = with_proposal(actor.event(now_ms, Kind::Response, Outcome::Success), proposal)
        .detail("action", r.action.clone())
        .detail("change", "reversed")
        .detail("response", r.id.to_string())
        .detail("rule", r.rule.clone());
    if let Some(s) = &r.subject {
        ev.detail.insert("subject".into(), s.clone());
    }
    emit(tx, &ev)?;
    Ok(Ok(ResponseRecord { reversed_at: Some(now), reversed_by: Some(by), ..r }))
}
