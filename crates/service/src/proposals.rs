//! Four eyes. A change that widens what someone can do (a grant of a role that reads personal
//! data or administers, a second-factor reset, the reversal of an automatic response, the
//! lifting of the export freeze among them) is proposed by one administrator and takes effect
//! when a second approves it: another person, in a session that passed a second factor, who
//! passes the same checks as the proposer would and is not the change's subject. The console's
//! operator, who holds the database and the keyring, acts directly and is recorded as such.

use crate::audit::{emit, settle, Committed};
use crate::principals::{
    apply_action, apply_grant, check_action_caller, check_grant_caller, covers_principal, ActionDone,
    PrincipalAction,
};
use crate::responses::{apply_reversal, check_reversal};
use crate::{Actor, Result, Service, ServiceError};
use rollguard_access::{Grant, Permission, Reach, Scope};
use rollguard_audit::{Event, Kind, Outcome};
use rollguard_store::{ProposalRecord, ReadTx, ResponseRecord, WriteTx};

/// How long a proposal waits for its second administrator.
pub const PROPOSAL_SECS: i64 = 7 * 86_400;

/// What was proposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proposed {
    Grant,
    ResetMfa,
    ReverseResponse,
}

impl Proposed {
    pub fn code(self) -> &'static str {
        match self {
            Self::Grant => "grant",
            Self::ResetMfa => "reset-mfa",
            Self::ReverseResponse => "reverse-response",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Grant, Self::ResetMfa, Self::ReverseResponse].into_iter().find(|p| p.code() == s)
    }

    fn kind(self) -> Kind {
        match self {
            Self::Grant => Kind::GrantChange,
            Self::ResetMfa => Kind::PrincipalChange,
            Self::ReverseResponse => Kind::Response,
        }
    }
}

/// A change made at once, or proposed for a second administrator.
#[derive(Debug)]
pub enum Change<T> {
    Done(T),
    Proposed(ProposalView),
}

impl<T> Change<T> {
    /// The change made; a proposal instead is reported as one (the console never proposes).
    pub fn done(self) -> Result<T> {
        match self {
            Change::Done(v) => Ok(v),
            Change::Proposed(p) => Err(ServiceError::Conflict(format!(
                "proposed as proposal {}: a second administrator must approve it",
                p.id
            ))),
        }
    }
}

/// A proposal as administrators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalView {
    pub id: u64,
    /// `grant`, `reset-mfa` or `reverse-response`.
    pub action: String,
    /// The principal, or the response's id.
    pub target: String,
    /// For a grant, `role@AUTHORITY`; for a reversal, the response's action.
    pub detail: String,
    pub proposed_by: String,
    pub proposed_at: i64,
    /// `pending`, `approved`, `refused` or `expired`.
    pub state: &'static str,
    pub decided_by: Option<String>,
}

impl ProposalView {
    fn of(p: ProposalRecord, now: i64) -> Self {
        let state = match p.decision.as_deref() {
            Some("approved") => "approved",
            Some(_) => "refused",
            None if now - p.proposed_at > PROPOSAL_SECS => "expired",
            None => "pending",
        };
        Self {
            id: p.id,
            action: p.action,
            target: p.target,
            detail: p.detail,
            proposed_by: p.proposed_by,
            proposed_at: p.proposed_at,
            state,
            decided_by: p.decided_by,
        }
    }
}

/// What an approval did: the proposal as it now stands, and for a reset the person's new
/// enrolment secret (for the approver to hand over), for a reversal the response.
#[derive(Debug)]
pub struct Decided {
    pub proposal: ProposalView,
    pub done: Option<ActionDone>,
    pub response: Option<ResponseRecord>,
}

/// Records a proposal by `actor` in `tx`, with its audit event.
pub(crate) fn propose(
    tx: &mut dyn WriteTx,
    actor: &Actor,
    what: Proposed,
    target: &str,
    detail: &str,
    now_ms: i64,
) -> Result<ProposalView> {
    let now = now_ms.div_euclid(1000);
    let record = ProposalRecord {
        id: 0,
        action: what.code().into(),
        target: target.trim().into(),
        detail: detail.into(),
        proposed_by: actor.name(),
        proposed_at: now,
        decided_by: None,
        decided_at: None,
        decision: None,
    };
    let id = tx.insert_proposal(&record)?;
    let ev = actor
        .event(now_ms, what.kind(), Outcome::Success)
        .detail("change", "proposed")
        .detail("proposal", id.to_string())
        .detail("proposed", what.code())
        .detail("target", target.trim())
        .detail("what", detail);
    emit(tx, &ev)?;
    Ok(ProposalView::of(ProposalRecord { id, ..record }, now))
}

/// Marks an event as carrying out a proposal.
pub(crate) fn with_proposal(ev: Event, proposal: Option<&ProposalRecord>) -> Event {
    match proposal {
        Some(p) => ev.detail("proposal", p.id.to_string()).detail("proposed_by", p.proposed_by.clone()),
        None => ev,
    }
}

/// Whether `reach` lets its holder see and decide `p`: every authority the change touches.
fn within(tx: &dyn ReadTx, reach: &Reach, p: &ProposalRecord) -> Result<bool> {
    if *reach == Reach::Everywhere {
        return Ok(true);
    }
    let holds = |name: &str| -> Result<bool> {
        Ok(tx.principal_by_name(name)?.is_some_and(|t| covers_principal(reach, &t)))
    };
    Ok(match Proposed::parse(&p.action) {
        Some(Proposed::Grant) => {
            let scope = p.detail.rsplit_once('@').map(|(_, s)| Scope::parse(s));
            scope.is_some_and(|s| reach.covers_scope(&s))
                && tx.principal_by_name(&p.target)?.is_some_and(|t| {
                    t.grants.is_empty() || reach.covers_all(t.grants.iter().map(|g| g.authority.as_str()))
                })
        }
        Some(Proposed::ResetMfa) => holds(&p.target)?,
        Some(Proposed::ReverseResponse) => {
            let subject = p.target.parse().ok().map(|id| tx.response(id)).transpose()?.flatten();
            match subject.and_then(|r| r.subject) {
                Some(name) => holds(&name)?,
                None => false,
            }
        }
        None => false,
    })
}

impl Service {
    /// Proposals the caller could decide, newest first.
    pub fn proposals(&self, actor: &Actor, limit: usize) -> Result<Vec<ProposalView>> {
        self.require_anywhere(actor, Permission::UserAdmin)?;
        let reach = actor.reach(Permission::UserAdmin);
        let now = self.now_secs();
        self.register().read(|tx| -> Result<Vec<ProposalView>> {
            let mut out = Vec::new();
            for p in tx.proposals(limit)? {
                if within(tx, &reach, &p)? {
                    out.push(ProposalView::of(p, now));
                }
            }
            Ok(out)
        })
    }

    /// The second administrator's answer to proposal `id`: approving carries it out in the
    /// same transaction; refusing closes it. Either is an audit event.
    pub fn decide_proposal(&self, actor: &Actor, id: u64, approve: bool) -> Result<Decided> {
        self.require_anywhere(actor, Permission::UserAdmin)?;
        if !actor.in_mfa_session() {
            return Err(ServiceError::forbidden(
                "a proposal is decided by an administrator signed in with a second factor, never an API token",
            ));
        }
        let (svc, actor) = (self.clone(), actor.clone());
        let now_ms = self.now_ms();
        settle(self.register().write(move |tx| -> Committed<Decided> {
            let now = now_ms.div_euclid(1000);
            let reach = actor.reach(Permission::UserAdmin);
            let p = match tx.proposal(id)? {
                Some(p) if within(&*tx, &reach, &p)? => p,
                _ => return Ok(Err(ServiceError::NotFound)),
            };
            let Some(what) = Proposed::parse(&p.action) else {
                return Ok(Err(ServiceError::bad_request(format!("unknown proposal {}", p.action))));
            };
            let mut view = ProposalView::of(p.clone(), now);
            if view.state != "pending" {
                return Ok(Err(ServiceError::Conflict(format!("proposal {id} is {}", view.state))));
            }
            if p.proposed_by == actor.name() {
                return Ok(Err(ServiceError::forbidden(
                    "a proposal needs a second person: its proposer cannot decide it",
                )));
            }
            // The stored decision is also the proposal's new state.
            let decision = if approve { "approved" } else { "refused" };
            let (mut done, mut response) = (None, None);
            if approve {
                match carry_out(&svc, tx, &actor, what, &p, now_ms)? {
                    Ok(out) => (done, response) = out,
                    Err(e) => return Ok(Err(e)),
                }
            } else {
                let ev = with_proposal(actor.event(now_ms, what.kind(), Outcome::Success), Some(&p))
                    .detail("change", "proposal-refused")
                    .detail("target", p.target.clone());
                emit(tx, &ev)?;
            }
            tx.decide_proposal(id, &actor.name(), decision, now)?;
            view.state = decision;
            view.decided_by = Some(actor.name());
            Ok(Ok(Decided { proposal: view, done, response }))
        }))
    }
}

/// Runs an approved proposal as its approver: the approver must pass every check the
/// proposer did (and is never the change's subject).
fn carry_out(
    svc: &Service,
    tx: &mut dyn WriteTx,
    actor: &Actor,
    what: Proposed,
    p: &ProposalRecord,
    now_ms: i64,
) -> Committed<(Option<ActionDone>, Option<ResponseRecord>)> {
    match what {
        Proposed::Grant => {
            let grant = match grant_of(&p.detail) {
                Some(g) => g,
                None => return Ok(Err(ServiceError::bad_request(format!("not a grant: {}", p.detail)))),
            };
            if let Err(e) = check_grant_caller(actor, &p.target, &grant) {
                return Ok(Err(e));
            }
            apply_grant(svc, tx, actor, &p.target, &grant, true, now_ms, Some(p))?;
            Ok(Ok((None, None)))
        }
        Proposed::ResetMfa => {
            if let Err(e) = check_action_caller(actor, &p.target, PrincipalAction::ResetMfa) {
                return Ok(Err(e));
            }
            let done = apply_action(svc, tx, actor, &p.target, PrincipalAction::ResetMfa, now_ms, Some(p))?;
            Ok(Ok((Some(done), None)))
        }
        Proposed::ReverseResponse => {
            let Ok(id) = p.target.parse::<u64>() else {
                return Ok(Err(ServiceError::bad_request(format!("not a response id: {}", p.target))));
            };
            let r = match check_reversal(tx, actor, id, now_ms)? {
                Ok(r) => r,
                Err(e) => return Ok(Err(e)),
            };
            if r.subject.as_deref().is_some_and(|s| actor.is_named(s)) {
                return Ok(Err(ServiceError::forbidden(
                    "nobody approves the reversal of a response on themselves",
                )));
            }
            Ok(apply_reversal(svc, tx, actor, r, now_ms, Some(p))?.map(|r| (None, Some(r))))
        }
    }
}

/// A grant's stored code (`role@AUTHORITY`) back as a grant.
pub(crate) fn grant_of(code: &str) -> Option<Grant> {
    let (role, scope) = code.rsplit_once('@')?;
    Some(Grant { role: role.parse().ok()?, scope: Scope::parse_code(scope).ok()? })
}
