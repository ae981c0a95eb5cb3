//! An alert is an audit event too (`kind` `alert`): written in the same transaction as any
//! response it triggers, and read back from the sequenced log to be delivered to the alert
//! sinks. The event carries everything a sink shows.

use crate::engine::Alert;
use crate::sigma::{Level, Response};
use rollguard_audit::{Event, Kind, Outcome};

const CORRELATIONS: [&str; 4] = ["event_count", "value_count", "temporal", "temporal_ordered"];
const LEVELS: [Level; 5] = [Level::Informational, Level::Low, Level::Medium, Level::High, Level::Critical];

impl Alert {
    /// The alert as an audit event raised at `raised_at` (ms).
    pub fn to_event(&self, raised_at: i64) -> Event {
        let mut ev = Event::new(raised_at, Kind::Alert, Outcome::Success)
            .detail("rule", self.rule.clone())
            .detail("title", self.title.clone())
            .detail("level", self.level.as_str())
            .detail("event_seq", self.event_seq.to_string())
            .detail("event_time", self.event_time.to_string())
            .electors(self.electors.iter().copied());
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                ev.detail.insert(k.into(), v);
            }
        };
        put("subject", self.principal.clone());
        put("client", self.client.clone());
        put("count", self.count.map(|c| c.to_string()));
        put("correlation", self.correlation.map(str::to_owned));
        put("tags", Some(self.tags.join(",")));
        put("response", Some(self.response.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")));
        for (k, v) in &self.group {
            put(&format!("group.{k}"), Some(v.clone()));
        }
        ev.authority = self.authority.clone();
        ev
    }

    /// The alert an `alert` event records.
    pub fn from_event(ev: &Event) -> Option<Alert> {
        if ev.kind != Kind::Alert {
            return None;
        }
        let d = |k: &str| ev.detail.get(k).cloned();
        let list = |k: &str| -> Vec<String> {
            d(k).map(|v| v.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let level = d("level").and_then(|l| LEVELS.into_iter().find(|x| x.as_str() == l))?;
        Some(Alert {
            rule: d("rule")?,
            title: d("title").unwrap_or_default(),
            level,
            correlation: d("correlation").and_then(|c| CORRELATIONS.into_iter().find(|x| *x == c)),
            event_time: d("event_time").and_then(|t| t.parse().ok()).unwrap_or(ev.time),
            event_seq: d("event_seq").and_then(|s| s.parse().ok()).unwrap_or(0),
            principal: d("subject"),
            client: d("client"),
            authority: ev.authority.clone(),
            group: ev
                .detail
                .iter()
                .filter_map(|(k, v)| k.strip_prefix("group.").map(|g| (g.to_owned(), v.clone())))
                .collect(),
            count: d("count").and_then(|c| c.parse().ok()),
            electors: ev.electors.clone(),
            response: list("response").iter().filter_map(|r| Response::parse(r)).collect(),
            tags: list("tags"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn an_alert_survives_the_round_trip_through_its_audit_event() {
        let mut group = BTreeMap::new();
        group.insert("principal".into(), "officer.okafor".into());
        let a = Alert {
            rule: "bulk-read".into(),
            title: "Bulk read".into(),
            level: Level::High,
            correlation: Some("value_count"),
            event_time: 1_800_000_000_000,
            event_seq: 41,
            principal: Some("officer.okafor".into()),
            client: Some("192.0.2.7".into()),
            authority: Some("E07000223".into()),
            group,
            count: Some(201),
            electors: vec![5, 9],
            response: vec![Response::SuspendPrincipal, Response::FreezeExports],
            tags: vec!["attack.collection".into()],
        };
        let mut ev = a.to_event(1_800_000_000_050);
        ev.seq = 42;
        let back = Event::from_canonical(&ev.canonical()).unwrap();
        let again = Alert::from_event(&back).unwrap();
        assert_eq!(serde_json::to_value(&again).unwrap(), serde_json::to_value(&a).unwrap());
    }
}
