//! Applications in the replay: a thousand received, then read in bulk with another stolen
//! session. An application holds an applicant's name, address and date of birth, so it is
//! charged to the same budget, counted by the same bulk rule and listed by `audit scope`.

use super::attacker::Attack;
use super::{Row, AUTHORITY};
use crate::audit::{Record, ScopeFilter};
use crate::context::{Context, Result};
use rollguard_access::{Grant, Role, Scope, TotpSecret};
use rollguard_register::{FranchiseTable, Nation};
use rollguard_service::{Actor, Service};
use rollguard_store::{PrincipalKind, SqliteAuditStore};
use std::collections::BTreeSet;

/// The officer whose session reads the applications.
pub(super) const CLERK: &str = "officer-cal";
/// Applications received before the attack.
pub(super) const COUNT: u64 = 1_000;

/// Receives [`COUNT`] applications and adds the clerk; (the first application's id, the
/// clerk's password and TOTP secret).
pub(super) fn set_up(svc: &Service, actor: &Actor) -> Result<(u64, String, TotpSecret)> {
    let today = svc.clock().today();
    let table = FranchiseTable::default_for(Nation::England);
    let mut ids = Vec::new();
    for text in rollguard_synth::Generator::new(7, table, today).take(usize::try_from(COUNT)?) {
        ids.push(svc.receive_application(actor, AUTHORITY, text, None)?);
    }
    let first = *ids.first().ok_or("no application was received")?;
    if ids.iter().zip(first..).any(|(&id, expected)| id != expected) {
        return Err("the applications' ids do not run in order".into());
    }
    let staff = vec![Grant { role: Role::RegistrationStaff, scope: Scope::parse(AUTHORITY) }];
    let password = crate::demo::random_password();
    svc.add_principal(actor, CLERK, PrincipalKind::Human, staff)?;
    let (totp, _) = svc.provision_human(actor, CLERK, &password)?;
    Ok((first, password, totp))
}

/// Step 3c: the clerk's session, stolen, reads applications as fast as they are served.
pub(super) fn stolen_session(attack: &Attack) -> Row {
    let returned = attack.received.lock().map(|r| r.len()).unwrap_or(0);
    Row {
        step: "3c",
        check: format!("stolen session reads the {COUNT} applications (names, addresses, dates of birth)"),
        measured: attack.cut_off_summary("applications"),
        target: "≤ 250, cut off".into(),
        pass: returned <= 250 && attack.cut_off_ms.is_some(),
    }
}

/// Step 5b: `audit scope --principal` of the clerk lists exactly the applications returned.
pub(super) fn scope(ctx: &Context, attack: &Attack) -> Result<Row> {
    let received: BTreeSet<u64> =
        attack.received.lock().map(|r| r.iter().copied().collect()).unwrap_or_default();
    let store = SqliteAuditStore::open(&ctx.audit_path())?;
    let verifier = crate::audit::log_verifier(ctx)?;
    rollguard_audit::replay(&store, &verifier, &[])?;
    let filter = ScopeFilter { principal: Some(CLERK), ..Default::default() };
    let rows = crate::audit::scope_rows(&store, filter)?;
    let listed: BTreeSet<u64> = rows
        .iter()
        .filter_map(|r| if let Record::Application(id) = r.record { Some(id) } else { None })
        .collect();
    let electors = rows.iter().filter(|r| matches!(r.record, Record::Elector(_))).count();
    let missing = received.difference(&listed).count();
    let extra = listed.difference(&received).count();
    Ok(Row {
        step: "5b",
        check: "audit scope --principal of the applications' reader".into(),
        measured: format!(
            "{} applications listed; {missing} received but not listed, {extra} listed but not received; {electors} electors",
            listed.len()
        ),
        target: "exactly the applications returned".into(),
        pass: missing == 0 && extra == 0 && electors == 0 && !listed.is_empty(),
    })
}
