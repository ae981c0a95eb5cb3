//! Supplies in the replay: the routine ones (asked for by the supplies service's token,
//! approved by a second person in her own session, collected once), and what a stolen
//! supplies token gets on its own.

use super::harness::Http;
use super::{log_in_at, Register, Row, AUTHORITY};
use crate::context::Result;
use serde_json::{json, Value};

/// Asks for a supply with `token`; the request's id.
fn ask(http: &Http, token: &str, kind: &str, recipient: &str) -> Result<String> {
    let body = json!({"kind": kind, "recipient": recipient, "purpose": "annual supply"});
    let r = http.post(&format!("/api/v1/authorities/{AUTHORITY}/supplies"), Some(token), &body);
    if r.0 != 201 {
        return Err(format!("a supply request for {recipient}: HTTP {}: {}", r.0, r.1).into());
    }
    let v: Value = serde_json::from_str(&r.1)?;
    Ok(v["id"].as_str().ok_or("a supply request answered without an id")?.to_owned())
}

/// Routine supplies before the breach: two recipients, each approved by the approver and
/// watermarked.
pub(super) fn routine_supplies(
    http: &Http,
    register: &Register,
    clock: &dyn rollguard_service::Clock,
) -> Result<Vec<(&'static str, String)>> {
    let approver =
        log_in_at(http, super::APPROVER, &register.approver_password, &register.approver_totp, clock)?;
    let mut supplies = Vec::new();
    for recipient in ["Fenmoor Independents (Party A)", "Marsh Credit Checks Ltd"] {
        let id = ask(http, &register.supplies_token, "full", recipient)?;
        let d = http.post(
            &format!("/api/v1/supplies/{id}/decision"),
            Some(&approver),
            &json!({"decision": "approve"}),
        );
        if d.0 != 200 {
            return Err(format!("approving the supply to {recipient}: HTTP {}: {}", d.0, d.1).into());
        }
        let r = http.get(&format!("/api/v1/supplies/{id}/register"), Some(&register.supplies_token));
        if r.0 != 200 {
            return Err(format!("collecting the supply to {recipient}: HTTP {}: {}", r.0, r.1).into());
        }
        supplies.push((recipient, r.1));
    }
    Ok(supplies)
}

/// Rows of a register CSV (its header left out).
fn rows_in(status: u16, body: &str) -> usize {
    if status == 200 {
        body.lines().count().saturating_sub(1)
    } else {
        0
    }
}

/// Step 2b: the supplies service's token, stolen, tries every way to a register on its own:
/// collecting before approval, approving its own request, the open register, and the
/// routine supplies already collected.
pub(super) fn stolen_supplies_token(http: &Http, register: &Register) -> Result<Row> {
    let token = &register.supplies_token;
    let mut statuses = Vec::new();
    let mut rows = 0;
    for kind in ["full", "open"] {
        let id = ask(http, token, kind, "Attacker Holdings")?;
        let early = http.get(&format!("/api/v1/supplies/{id}/register"), Some(token));
        let own = http.post(
            &format!("/api/v1/supplies/{id}/decision"),
            Some(token),
            &json!({"decision": "approve"}),
        );
        let again = http.get(&format!("/api/v1/supplies/{id}/register"), Some(token));
        rows += rows_in(early.0, &early.1) + rows_in(again.0, &again.1);
        statuses.push(format!("{kind}: collect {}, self-approve {}, collect {}", early.0, own.0, again.0));
    }
    let listed = http.get("/api/v1/supplies", Some(token));
    let collected: Vec<String> = serde_json::from_str::<Value>(&listed.1)?
        .as_array()
        .map(|l| {
            l.iter()
                .filter(|t| t["state"] == "collected")
                .filter_map(|t| t["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for id in &collected {
        let r = http.get(&format!("/api/v1/supplies/{id}/register"), Some(token));
        rows += rows_in(r.0, &r.1);
        statuses.push(format!("collected {id}: {}", r.0));
    }
    Ok(Row {
        step: "2b",
        check: "stolen supplies token alone: asks for the full and open registers, collects, approves itself, re-collects".into(),
        measured: format!("{rows} electors received ({})", statuses.join("; ")),
        target: "0 electors without a second approver".into(),
        pass: rows == 0 && collected.len() == 2,
    })
}
