//! What rules see beyond the audit event itself: the client's network and whether it is new
//! for the principal, local time, canary electors touched, runs of consecutive elector ids
//! (in any order), and whether an export keeps to its schedule.

use crate::fields::Observed;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// Networks remembered per principal.
const NETWORKS_PER_PRINCIPAL: usize = 64;
/// Principals whose reading runs and networks are tracked at once.
const MAX_PRINCIPALS: usize = 100_000;

/// Local time for hours and weekdays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    /// UK civil time: GMT, or BST from 01:00 UTC on the last Sunday of March to 01:00 UTC
    /// on the last Sunday of October.
    #[default]
    EuropeLondon,
    Utc,
}

impl Zone {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Europe/London" => Some(Self::EuropeLondon),
            "UTC" => Some(Self::Utc),
            _ => None,
        }
    }

    /// Seconds this zone is ahead of UTC at `ms` since the epoch.
    pub fn offset_secs(self, ms: i64) -> i64 {
        match self {
            Zone::Utc => 0,
            Zone::EuropeLondon => jiff::Timestamp::from_millisecond(ms)
                .map(|t| i64::from(london().to_offset(t).seconds()))
                .unwrap_or(0),
        }
    }

    /// (hour 0–23, ISO weekday 1 = Monday) at `ms` since the epoch.
    pub fn hour_and_weekday(self, ms: i64) -> (u8, u8) {
        hour_and_weekday_of(ms.div_euclid(1000) + self.offset_secs(ms))
    }
}

/// UK civil time, from the time-zone database bundled with `jiff`.
fn london() -> &'static jiff::tz::TimeZone {
    static ZONE: std::sync::OnceLock<jiff::tz::TimeZone> = std::sync::OnceLock::new();
    ZONE.get_or_init(|| {
        jiff::tz::TimeZone::get("Europe/London").expect("the bundled time-zone database has Europe/London")
    })
}

/// (hour, ISO weekday) of local seconds since the epoch.
// The hour is 0 to 23 and the weekday 1 to 7 (Euclidean remainders), so both casts are exact.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn hour_and_weekday_of(secs: i64) -> (u8, u8) {
    let days = secs.div_euclid(86_400);
    // 1970-01-01 was a Thursday (ISO 4).
    ((secs.rem_euclid(86_400) / 3600) as u8, ((days + 3).rem_euclid(7) + 1) as u8)
}

/// When a recipient's exports are expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportWindow {
    /// The recipient, or `*` for any.
    pub recipient: String,
    /// ISO weekdays (1 = Monday).
    pub weekdays: Vec<u8>,
    /// Local hours [from, to).
    pub from_hour: u8,
    pub to_hour: u8,
}

#[derive(Debug, Clone, Default)]
pub struct EnrichConfig {
    pub zone: Zone,
    /// If empty, exports carry no `export_scheduled` field.
    pub export_schedule: Vec<ExportWindow>,
}

#[derive(Default)]
struct PrincipalTrack {
    networks: Vec<String>,
    runs: crate::coverage::Coverage,
}

type Fast = foldhash::fast::RandomState;

pub struct Enricher {
    config: EnrichConfig,
    /// The zone's offset for one hour of UTC (UK offsets change only on the hour), so most
    /// events need no time-zone lookup.
    offset: std::cell::Cell<Option<(i64, i64)>>,
    canaries: HashSet<u64, Fast>,
    principals: HashMap<String, PrincipalTrack, Fast>,
}

/// The network an address belongs to for "new network" rules: IPv4 /24, IPv6 /48.
pub fn network_of(client: &str) -> Option<String> {
    match client.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            Some(format!("{}.{}.{}.0/24", o[0], o[1], o[2]))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            Some(format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2]))
        }
    }
}

impl Enricher {
    pub fn new(config: EnrichConfig) -> Self {
        Self {
            config,
            offset: std::cell::Cell::new(None),
            canaries: HashSet::default(),
            principals: HashMap::default(),
        }
    }

    /// Replaces the set of canary elector ids.
    pub fn set_canaries(&mut self, ids: impl IntoIterator<Item = u64>) {
        self.canaries = ids.into_iter().collect();
    }

    pub fn canary_count(&self) -> usize {
        self.canaries.len()
    }

    /// [`Zone::hour_and_weekday`], with the offset of the hour cached.
    fn local_time(&self, ms: i64) -> (u8, u8) {
        let hour = ms.div_euclid(3_600_000);
        let offset = match self.offset.get() {
            Some((h, off)) if h == hour => off,
            _ => {
                let off = self.config.zone.offset_secs(ms);
                self.offset.set(Some((hour, off)));
                off
            }
        };
        hour_and_weekday_of(ms.div_euclid(1000) + offset)
    }

    pub fn enrich(&mut self, ev: &mut Observed) {
        let (hour, weekday) = self.local_time(ev.time_ms);
        let schedule = &self.config.export_schedule;
        let export_scheduled = (ev.kind == "register.export" && !schedule.is_empty()).then(|| {
            let recipient = ev.detail("recipient").unwrap_or("");
            schedule.iter().any(|w| {
                (w.recipient == "*" || w.recipient.eq_ignore_ascii_case(recipient))
                    && w.weekdays.contains(&weekday)
                    && hour >= w.from_hour
                    && hour < w.to_hour
            })
        });
        let en = &mut ev.enrichment;
        en.export_scheduled = export_scheduled;
        en.local_hour = hour;
        en.local_weekday = weekday;
        if !self.canaries.is_empty() {
            en.canaries = ev.electors.iter().copied().filter(|id| self.canaries.contains(id)).collect();
        }
        en.client_network = ev.client.as_deref().and_then(network_of);
        let Some(principal) = ev.principal.as_deref() else { return };
        // Failed password steps name whoever the client claimed to be: they say nothing
        // about where the real principal works from.
        if ev.outcome == "failure" && ev.kind.starts_with("auth.") {
            return;
        }
        if !self.principals.contains_key(principal) {
            if self.principals.len() >= MAX_PRINCIPALS {
                self.principals.clear();
            }
            self.principals.insert(principal.to_owned(), PrincipalTrack::default());
        }
        let track = self.principals.get_mut(principal).expect("inserted above");
        if let Some(net) = &en.client_network {
            if track.networks.iter().any(|n| n == net) {
                en.network_new = Some(false);
            } else {
                en.network_new = Some(!track.networks.is_empty());
                if track.networks.len() >= NETWORKS_PER_PRINCIPAL {
                    track.networks.remove(0);
                }
                track.networks.push(net.clone());
            }
        }
        if ev.kind == "elector.read" && ev.electors.len() == 1 && ev.outcome == "success" {
            let step = track.runs.read(ev.electors[0], ev.time_ms);
            en.sequential_run = step.after;
            en.sequential_run_before = step.before;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(y: i16, m: i8, d: i8, h: i8, min: i8) -> i64 {
        jiff::civil::date(y, m, d)
            .at(h, min, 0, 0)
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .expect("a valid UTC time")
            .timestamp()
            .as_millisecond()
    }

    #[test]
    fn london_time_follows_bst_changes() {
        // 2026: BST from 29 March 01:00 UTC to 25 October 01:00 UTC.
        assert_eq!(Zone::EuropeLondon.hour_and_weekday(ms(2026, 3, 29, 0, 59)), (0, 7));
        assert_eq!(Zone::EuropeLondon.hour_and_weekday(ms(2026, 3, 29, 1, 0)), (2, 7));
        assert_eq!(Zone::EuropeLondon.hour_and_weekday(ms(2026, 10, 25, 0, 59)), (1, 7));
        assert_eq!(Zone::EuropeLondon.hour_and_weekday(ms(2026, 10, 25, 1, 0)), (1, 7));
        // 24 November 2026 is a Tuesday, in GMT.
        assert_eq!(Zone::EuropeLondon.hour_and_weekday(ms(2026, 11, 24, 23, 30)), (23, 2));
        assert_eq!(Zone::Utc.hour_and_weekday(ms(2026, 7, 1, 23, 30)), (23, 3));
        assert_eq!(Zone::EuropeLondon.hour_and_weekday(ms(2026, 7, 1, 23, 30)), (0, 4));
    }

    #[test]
    fn the_cached_local_time_agrees_with_the_calendar() {
        let e = Enricher::new(EnrichConfig::default());
        for (y, m, d, h) in [
            (2026, 3, 29, 0),
            (2026, 3, 29, 1),
            (2026, 10, 25, 0),
            (2026, 10, 25, 1),
            (2027, 6, 1, 12),
            (2024, 2, 29, 23),
        ] {
            for min in [0, 59] {
                let t = ms(y, m, d, h, min);
                assert_eq!(e.local_time(t), Zone::EuropeLondon.hour_and_weekday(t), "{y}-{m}-{d} {h}:{min}");
            }
        }
    }

    #[test]
    fn an_export_keeps_to_its_recipients_window() {
        let window = |recipient: &str| ExportWindow {
            recipient: recipient.into(),
            weekdays: vec![1, 2, 3, 4, 5],
            from_hour: 9,
            to_hour: 17,
        };
        let config = EnrichConfig { zone: Zone::EuropeLondon, export_schedule: vec![window("Party A")] };
        let mut e = Enricher::new(config);
        let export = |recipient: &str, t: i64| {
            let mut o = Observed { kind: "register.export", time_ms: t, ..Default::default() };
            o.detail.push(("recipient".into(), recipient.into()));
            o
        };
        // Tuesday 24 November 2026, 10:00 and 20:00 (GMT).
        let (day, night) = (ms(2026, 11, 24, 10, 0), ms(2026, 11, 24, 20, 0));
        let scheduled = |e: &mut Enricher, mut o: Observed| {
            e.enrich(&mut o);
            o.enrichment.export_scheduled
        };
        assert_eq!(scheduled(&mut e, export("party a", day)), Some(true));
        assert_eq!(scheduled(&mut e, export("Party A", night)), Some(false));
        assert_eq!(scheduled(&mut e, export("Party B", day)), Some(false));
        let read = Observed { kind: "elector.read", time_ms: day, ..Default::default() };
        assert_eq!(scheduled(&mut e, read), None);
        let mut anyone = Enricher::new(EnrichConfig { zone: Zone::Utc, export_schedule: vec![window("*")] });
        assert_eq!(scheduled(&mut anyone, export("Party B", day)), Some(true));
        let mut none = Enricher::new(EnrichConfig::default());
        assert_eq!(scheduled(&mut none, export("Party A", day)), None);
    }

    #[test]
    fn networks_group_addresses() {
        assert_eq!(network_of("192.0.2.77").as_deref(), Some("192.0.2.0/24"));
        assert_eq!(network_of("2001:db8:5:1::9").as_deref(), Some("2001:db8:5::/48"));
        assert_eq!(network_of("not an address"), None);
    }
}
