//! People, service accounts, their grants and API tokens. Administrators hold no personal
//! data by their role; an administrator may grant roles only within the authorities they
//! administer, and a grant of `*` only with administrator@*; a principal, its grants and its
//! tokens are changed only by someone who administers every authority it holds, and never
//! by itself. Every change is audited in its
//! own transaction, and every grant records who made it.

use crate::audit::emit;
use crate::proposals::{propose, with_proposal, Change, Proposed};
use crate::{Actor, Result, Service, ServiceError};
use rollguard_access::{BearerSecret, Grant, Permission, Reach, Role, Scope, TotpSecret};
use rollguard_audit::{Kind, Outcome};
use rollguard_store::{PrincipalKind, PrincipalRecord, ProposalRecord, ReadTx, TokenRecord, WriteTx};
use zeroize::Zeroizing;

/// A principal as administrators see it.
#[derive(Debug, Clone)]
pub struct PrincipalView {
    pub id: u64,
    pub name: String,
    pub kind: PrincipalKind,
    /// `active`, `suspended` or `not-enrolled`.
    pub state: &'static str,
    /// `role@AUTHORITY` (or `role@*`).
    pub grants: Vec<String>,
}

impl From<PrincipalRecord> for PrincipalView {
    fn from(p: PrincipalRecord) -> Self {
        let state = match (p.suspended, p.kind, p.totp_sealed.is_some()) {
            (true, _, _) => "suspended",
            (_, PrincipalKind::Human, false) => "not-enrolled",
            _ => "active",
        };
        Self {
            id: p.id,
            state,
            grants: p.grants.iter().map(|g| format!("{}@{}", g.role, g.authority)).collect(),
            name: p.name,
            kind: p.kind,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalAction {
    Suspend,
    Restore,
    /// Clear the second factor, end the sessions, issue a new enrolment secret.
    ResetMfa,
    /// End every session.
    Logout,
}

impl PrincipalAction {
    pub fn code(self) -> &'static str {
        match self {
            Self::Suspend => "suspend",
            Self::Restore => "restore",
            Self::ResetMfa => "reset-mfa",
            Self::Logout => "logout",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Suspend, Self::Restore, Self::ResetMfa, Self::Logout].into_iter().find(|a| a.code() == s)
    }
}

#[derive(Debug, Default)]
pub struct ActionDone {
    /// For `reset-mfa`: the new one-time enrolment secret.
    pub enrolment_secret: Option<BearerSecret>,
    /// For `logout`: sessions ended.
    pub sessions_ended: Option<u64>,
}

/// Whether `actor` may administer `scope` with `permission`: `*` only with the permission
/// everywhere (a grant of `*`, and a token scoped to `*` if it came with one).
fn covers(actor: &Actor, permission: Permission, scope: &Scope) -> bool {
    actor.reach(permission).covers_scope(scope)
}

fn require_covers(actor: &Actor, permission: Permission, scope: &Scope) -> Result<()> {
    if covers(actor, permission, scope) {
        Ok(())
    } else {
        Err(ServiceError::forbidden(format!("you do not administer authority {}", scope.code())))
    }
}

/// Whether `reach` covers every authority `p` holds a grant in (a principal with none is
/// covered only by a reach everywhere: nothing ties it to an authority yet).
pub(crate) fn covers_principal(reach: &Reach, p: &PrincipalRecord) -> bool {
    if p.grants.is_empty() {
        return *reach == Reach::Everywhere;
    }
    reach.covers_all(p.grants.iter().map(|g| g.authority.as_str()))
}

/// Refuses, as if it did not exist, a principal holding grants outside `reach` (a 403 would
/// confirm the name exists elsewhere).
fn require_principal_within(reach: &Reach, p: &PrincipalRecord) -> Result<()> {
    if covers_principal(reach, p) {
        Ok(())
    } else {
        Err(ServiceError::NotFound)
    }
}

/// Whether `reach` covers every authority token `t` reaches and every one its owner holds
/// (a token or owner tied to none is covered only by a reach everywhere).
fn covers_token(reach: &Reach, owner: u64, t: &TokenRecord, tx: &dyn ReadTx) -> Result<bool> {
    if *reach == Reach::Everywhere {
        return Ok(true);
    }
    let mut scopes = t.authorities.split(',').map(str::trim).filter(|a| !a.is_empty()).peekable();
    if scopes.peek().is_none() || !reach.covers_all(scopes) {
        return Ok(false);
    }
    Ok(tx.principal(owner)?.is_some_and(|p| covers_principal(reach, &p)))
}

impl Service {
    /// Principals and their grants.
    pub fn principals(&self, actor: &Actor) -> Result<Vec<PrincipalView>> {
        self.require_anywhere(actor, Permission::UserAdmin)?;
        let reach = actor.reach(Permission::UserAdmin);
        let list = self.register().read(|tx| tx.principals())?;
        // A principal shows if it holds a grant here, with only the grants here.
        Ok(list
            .into_iter()
            .filter_map(|mut p| {
                if reach != Reach::Everywhere {
                    p.grants.retain(|g| reach.covers_scope(&Scope::parse(&g.authority)));
                    if p.grants.is_empty() {
                        return None;
                    }
                }
                Some(PrincipalView::from(p))
            })
            .collect())
    }

    /// Adds a person (who gets a one-time enrolment secret) or a service account.
    pub fn add_principal(
        &self,
        actor: &Actor,
        name: &str,
        kind: PrincipalKind,
        grants: Vec<Grant>,
    ) -> Result<(u64, Option<BearerSecret>)> {
        self.require_anywhere(actor, Permission::UserAdmin)?;
        for g in &grants {
            require_covers(actor, Permission::UserAdmin, &g.scope)?;
            // Whoever adds a person holds their enrolment secret: a role with personal data
            // or administration comes after, through a second administrator.
            if needs_four_eyes_to_grant(g.role) && !matches!(actor, Actor::Console { .. }) {
                return Err(ServiceError::forbidden(format!(
                    "{}@{} needs a second administrator: add the principal without it, then propose the grant",
                    g.role,
                    g.scope.code()
                )));
            }
        }
        let (svc, actor, name) = (self.clone(), actor.clone(), name.to_owned());
        let now_ms = self.now_ms();
        self.register().write(move |tx| -> Result<_> {
            let exception =
                console_exception(&*tx, &actor, grants.iter().any(|g| needs_four_eyes_to_grant(g.role)))?;
            let (id, secret) =
                svc.accounts().add_principal(tx, &name, kind, &grants, &actor.name(), now_ms / 1000)?;
            let grants: Vec<String> =
                grants.iter().map(|g| format!("{}@{}", g.role, g.scope.code())).collect();
            let ev = actor
                .event(now_ms, Kind::PrincipalChange, Outcome::Success)
                .detail("change", "added")
                .detail("target", name.trim())
                .detail("target_id", id.to_string())
                .detail("kind", kind.code())
                .detail("grants", grants.join(" "));
            emit(tx, &with_exception(ev, exception))?;
            Ok((id, secret))
        })
    }

    /// Grants (`add`) or withdraws a role. Returns false if there was no such grant to
    /// withdraw. A principal's grant of a role that reads personal data or administers is
    /// only proposed: it takes effect when a second administrator approves it.
    pub fn change_grant(&self, actor: &Actor, name: &str, grant: Grant, add: bool) -> Result<Change<bool>> {
        self.require_anywhere(actor, Permission::UserAdmin)?;
        check_grant_caller(actor, name, &grant)?;
        let (svc, actor, name) = (self.clone(), actor.clone(), name.to_owned());
        let now_ms = self.now_ms();
        self.register().write(move |tx| -> Result<Change<bool>> {
            if add && needs_four_eyes_to_grant(grant.role) && !matches!(actor, Actor::Console { .. }) {
                check_grant_target(&svc, &*tx, &actor, &name)?;
                let detail = format!("{}@{}", grant.role, grant.scope.code());
                return propose(tx, &actor, Proposed::Grant, &name, &detail, now_ms).map(Change::Proposed);
            }
            apply_grant(&svc, tx, &actor, &name, &grant, add, now_ms, None).map(Change::Done)
        })
    }

    /// Suspends, restores, resets the second factor of, or logs out a principal. Only an
    /// administrator of every authority the principal holds may act on it; a principal's
    /// reset of a second factor is only proposed, for a second administrator to approve.
    pub fn principal_action(
        &self,
        actor: &Actor,
        name: &str,
        action: PrincipalAction,
    ) -> Result<Change<ActionDone>> {
        self.require_anywhere(actor, Permission::UserAdmin)?;
        check_action_caller(actor, name, action)?;
        let (svc, actor, name) = (self.clone(), actor.clone(), name.to_owned());
        let now_ms = self.now_ms();
        self.register().write(move |tx| -> Result<Change<ActionDone>> {
            if action == PrincipalAction::ResetMfa && !matches!(actor, Actor::Console { .. }) {
                check_grant_target(&svc, &*tx, &actor, &name)?;
                return propose(tx, &actor, Proposed::ResetMfa, &name, "", now_ms).map(Change::Proposed);
            }
            apply_action(&svc, tx, &actor, &name, action, now_ms, None).map(Change::Done)
        })
    }

    /// Sets a person's password and TOTP secret directly: for the operator at the console
    /// (the demo), who already holds the database and keyring.
    pub fn provision_human(
        &self,
        actor: &Actor,
        name: &str,
        password: &str,
    ) -> Result<(TotpSecret, Vec<Zeroizing<String>>)> {
        if !matches!(actor, Actor::Console { .. }) {
            return Err(ServiceError::forbidden("only the console provisions credentials directly"));
        }
        let (svc, actor, name, password) =
            (self.clone(), actor.clone(), name.to_owned(), Zeroizing::new(password.to_owned()));
        let now_ms = self.now_ms();
        self.register().write(move |tx| -> Result<_> {
            let out = svc.accounts().provision_human(tx, &name, &password, now_ms / 1000)?;
            let ev = actor
                .event(now_ms, Kind::PrincipalChange, Outcome::Success)
                .detail("change", "provisioned")
                .detail("target", name.trim());
            emit(tx, &ev)?;
            Ok(out)
        })
    }

    /// API tokens (never their values).
    pub fn tokens(&self, actor: &Actor) -> Result<Vec<TokenRecord>> {
        self.require_anywhere(actor, Permission::TokenAdmin)?;
        let reach = actor.reach(Permission::TokenAdmin);
        self.register().read(|tx| -> Result<Vec<TokenRecord>> {
            let mut shown = Vec::new();
            for t in tx.tokens()? {
                if covers_token(&reach, t.principal_id, &t, &*tx)? {
                    shown.push(t);
                }
            }
            Ok(shown)
        })
    }

    /// An API token for a service account, shown once, stored only as a hash.
    #[allow(clippy::too_many_arguments)]
    pub fn create_token(
        &self,
        actor: &Actor,
        principal: &str,
        label: &str,
        permissions: Vec<Permission>,
        scopes: Vec<Scope>,
        days: i64,
    ) -> Result<(u64, BearerSecret)> {
        self.require_anywhere(actor, Permission::TokenAdmin)?;
        for s in &scopes {
            require_covers(actor, Permission::TokenAdmin, s)?;
        }
        let (svc, actor, principal, label) =
            (self.clone(), actor.clone(), principal.to_owned(), label.to_owned());
        let now_ms = self.now_ms();
        self.register().write(move |tx| -> Result<_> {
            let owner = svc.accounts().principal_named(&*tx, &principal)?;
            require_principal_within(&actor.reach(Permission::TokenAdmin), &owner)?;
            let ttl = days.saturating_mul(86_400);
            let (id, secret) = svc.accounts().create_token(
                tx,
                &principal,
                &label,
                &permissions,
                &scopes,
                ttl,
                now_ms / 1000,
            )?;
            let ev = actor
                .event(now_ms, Kind::TokenChange, Outcome::Success)
                .detail("change", "created")
                .detail("token", id.to_string())
                .detail("target", principal.trim())
                .detail("permissions", permissions.iter().map(|p| p.code()).collect::<Vec<_>>().join(","))
                .detail("authorities", scopes.iter().map(|s| s.code()).collect::<Vec<_>>().join(","));
            emit(tx, &ev)?;
            Ok((id, secret))
        })
    }

    /// Revokes an API token; false if there is no live token `id`.
    pub fn revoke_token(&self, actor: &Actor, id: u64) -> Result<bool> {
        self.require_anywhere(actor, Permission::TokenAdmin)?;
        let (svc, actor) = (self.clone(), actor.clone());
        let now_ms = self.now_ms();
        self.register().write(move |tx| -> Result<bool> {
            // A token outside the caller's authorities is as good as absent.
            let Some(token) = tx.token_by_id(id)? else { return Ok(false) };
            if !covers_token(&actor.reach(Permission::TokenAdmin), token.principal_id, &token, &*tx)? {
                return Ok(false);
            }
            let done = svc.accounts().revoke_token(tx, id, now_ms / 1000)?;
            if done {
                let ev = actor
                    .event(now_ms, Kind::TokenChange, Outcome::Success)
                    .detail("change", "revoked")
                    .detail("token", id.to_string());
                emit(tx, &ev)?;
            }
            Ok(done)
        })
    }
}

/// Whether granting `role` takes a second administrator: it reads personal data or
/// administers.
pub(crate) fn needs_four_eyes_to_grant(role: Role) -> bool {
    role == Role::Administrator || role.permissions().iter().any(|p| p.is_personal())
}

/// The checks on the caller of a grant change that need no transaction.
pub(crate) fn check_grant_caller(actor: &Actor, name: &str, grant: &Grant) -> Result<()> {
    require_covers(actor, Permission::UserAdmin, &grant.scope)?;
    if actor.is_named(name) {
        return Err(ServiceError::forbidden("nobody changes their own grants: another administrator must"));
    }
    Ok(())
}

/// The checks on the caller of a principal action that need no transaction.
pub(crate) fn check_action_caller(actor: &Actor, name: &str, action: PrincipalAction) -> Result<()> {
    // A stolen session must not turn into the account: resetting one's own second factor
    // would let its holder enrol a new one (and a new password).
    if action == PrincipalAction::ResetMfa && actor.is_named(name) {
        return Err(ServiceError::forbidden(
            "nobody resets their own second factor: another administrator must",
        ));
    }
    Ok(())
}

/// `name` exists and, if it holds grants, only where `actor` administers. (A principal new
/// to grants is anyone's to give a first one within their reach.)
pub(crate) fn check_grant_target(
    svc: &Service,
    tx: &dyn ReadTx,
    actor: &Actor,
    name: &str,
) -> Result<PrincipalRecord> {
    let target = svc.accounts().principal_named(tx, name)?;
    if !target.grants.is_empty() {
        require_principal_within(&actor.reach(Permission::UserAdmin), &target)?;
    }
    Ok(target)
}

/// Adds or withdraws `grant` now, with its audit event (naming the proposal it carries out).
#[allow(clippy::too_many_arguments)]
pub(crate) fn apply_grant(
    svc: &Service,
    tx: &mut dyn WriteTx,
    actor: &Actor,
    name: &str,
    grant: &Grant,
    add: bool,
    now_ms: i64,
    proposal: Option<&ProposalRecord>,
) -> Result<bool> {
    check_grant_target(svc, &*tx, actor, name)?;
    let exception = console_exception(&*tx, actor, add && needs_four_eyes_to_grant(grant.role))?;
    let accounts = svc.accounts();
    let changed = if add {
        accounts.grant(tx, name, grant, &actor.name(), now_ms / 1000).map(|_| true)?
    } else {
        accounts.revoke_grant(tx, name, grant)?
    };
    if changed {
        let ev = with_proposal(actor.event(now_ms, Kind::GrantChange, Outcome::Success), proposal)
            .detail("grant", format!("{}@{}", grant.role, grant.scope.code()))
            .detail("change", if add { "add" } else { "remove" })
            .detail("target", name.trim());
        emit(tx, &with_exception(ev, exception))?;
    }
    Ok(changed)
}

/// Carries out `action` on `name` now, with its audit event.
pub(crate) fn apply_action(
    svc: &Service,
    tx: &mut dyn WriteTx,
    actor: &Actor,
    name: &str,
    action: PrincipalAction,
    now_ms: i64,
    proposal: Option<&ProposalRecord>,
) -> Result<ActionDone> {
    let accounts = svc.accounts();
    let target = accounts.principal_named(&*tx, name)?;
    require_principal_within(&actor.reach(Permission::UserAdmin), &target)?;
    let now = now_ms / 1000;
    let exception = console_exception(&*tx, actor, action == PrincipalAction::ResetMfa)?;
    let mut done = ActionDone::default();
    match action {
        PrincipalAction::Suspend => accounts.set_suspended(tx, name, true, now)?,
        PrincipalAction::Restore => {
            // Detection's suspension is lifted by reversing its response (four eyes), not
            // by a restore that would leave the response standing and the person unwatched.
            if tx
                .response_in_force(rollguard_detect::Response::SuspendPrincipal.as_str(), Some(name.trim()))?
            {
                return Err(ServiceError::Conflict(format!(
                    "{} was suspended by detection: reverse that response instead (POST /api/v1/detection/responses/{{id}}/reverse)",
                    name.trim()
                )));
            }
            accounts.set_suspended(tx, name, false, now)?
        }
        PrincipalAction::ResetMfa => done.enrolment_secret = Some(accounts.reset_enrolment(tx, name, now)?),
        PrincipalAction::Logout => done.sessions_ended = Some(accounts.revoke_sessions(tx, name, now)?),
    }
    let ev = with_proposal(actor.event(now_ms, Kind::PrincipalChange, Outcome::Success), proposal)
        .detail("change", action.code())
        .detail("target", target.name.clone())
        .detail("target_id", target.id.to_string());
    emit(tx, &with_exception(ev, exception))?;
    Ok(done)
}

/// How a change that needs a second administrator is recorded when the console makes it
/// alone (`four_eyes` in its event): `bootstrap` while the register has no administrator yet
/// (the first one is made this way), then `console` (the operator at the console holds the
/// database and the keyring, so the event says plainly that no second person was involved).
fn console_exception(tx: &dyn ReadTx, actor: &Actor, needs_four_eyes: bool) -> Result<Option<&'static str>> {
    if !needs_four_eyes || !matches!(actor, Actor::Console { .. }) {
        return Ok(None);
    }
    let administrator = Role::Administrator.code();
    let any = tx.principals()?.iter().any(|p| p.grants.iter().any(|g| g.role == administrator));
    Ok(Some(if any { "console" } else { "bootstrap" }))
}

fn with_exception(ev: rollguard_audit::Event, exception: Option<&str>) -> rollguard_audit::Event {
    match exception {
        Some(e) => ev.detail("four_eyes", e),
        None => ev,
    }
}
