//! The alerts a request raises about its own reader (over a budget, far above its
//! baselines, covering a district): high, naming the reader, with the policy's responses,
//! written in the request's transaction.

use crate::audit::emit;
use crate::{apply_response, Actor, Result, Service};
use rollguard_detect::{Alert, Level, Response};
use rollguard_store::WriteTx;
use std::collections::BTreeMap;

impl Service {
    /// A high alert `(rule, title)` about `actor` reading in `authority`, counting `count`.
    pub(crate) fn reader_alert(
        actor: &Actor,
        authority: &str,
        (rule, title): (&str, &str),
        (count, group): (u64, BTreeMap<String, String>),
        (response, now): (Vec<Response>, i64),
    ) -> Alert {
        Alert {
            rule: rule.into(),
            title: title.into(),
            level: Level::High,
            correlation: None,
            event_time: now,
            event_seq: 0,
            principal: Some(actor.name()),
            client: actor.principal().and_then(|p| p.client.clone()),
            authority: Some(authority.to_owned()),
            group,
            count: Some(count),
            electors: Vec::new(),
            response,
            tags: vec!["attack.collection".into()],
        }
    }

    /// Writes `alert` and applies its responses to the reader it names, in `tx`.
    pub(crate) fn raise_reader_alert(&self, tx: &mut dyn WriteTx, alert: &Alert, now: i64) -> Result<()> {
        emit(tx, &alert.to_event(now))?;
        self.apply_reader_responses(tx, alert, now)
    }

    /// Applies `alert`'s responses to the reader it names.
    pub(crate) fn apply_reader_responses(&self, tx: &mut dyn WriteTx, alert: &Alert, now: i64) -> Result<()> {
        for action in &alert.response {
            apply_response(self, tx, *action, alert.principal.as_deref(), &alert.rule, None, now)?;
        }
        Ok(())
    }
}
