//! The event taxonomy rules see under `logsource: product: rollguard`: an audit event plus
//! what the enricher knows about it. `docs/detection.md` documents every field.

use rollguard_audit::Event;

/// An audit event as rules see it.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub seq: u64,
    /// Milliseconds since the Unix epoch, UTC.
    pub time_ms: i64,
    pub kind: &'static str,
    pub outcome: &'static str,
    pub principal: Option<String>,
    pub client: Option<String>,
    pub authority: Option<String>,
    pub electors: Vec<u64>,
    pub applications: Vec<u64>,
    pub fields: Vec<String>,
    pub detail: Vec<(String, String)>,
    pub enrichment: Enrichment,
}

/// Facts the enricher adds (see [`crate::enrich`]).
#[derive(Debug, Clone, Default)]
pub struct Enrichment {
    /// The client's network: IPv4 /24 or IPv6 /48.
    pub client_network: Option<String>,
    /// The principal has been seen from other networks, but not this one.
    pub network_new: Option<bool>,
    /// Hour (0–23) and ISO weekday (1 = Monday) in the register's local time.
    pub local_hour: u8,
    pub local_weekday: u8,
    /// Canary electors this event touched.
    pub canaries: Vec<u64>,
    /// For single-elector reads: distinct ids in the run of near-consecutive ids (gaps of up
    /// to two) this read is part of, in whatever order they were read.
    pub sequential_run: u64,
    /// The longest run this read extended or joined, before it (0 for a new run): a rule
    /// fires once as a run crosses a length with `sequential_run|gte` and
    /// `sequential_run_before|lt`.
    pub sequential_run_before: u64,
    /// For exports: whether the export falls inside its recipient's schedule.
    pub export_scheduled: Option<bool>,
}

impl Observed {
    pub fn from_event(e: &Event) -> Self {
        Self {
            seq: e.seq,
            time_ms: e.time,
            kind: e.kind.as_str(),
            outcome: match e.outcome {
                rollguard_audit::Outcome::Success => "success",
                rollguard_audit::Outcome::Failure => "failure",
                rollguard_audit::Outcome::Refused => "refused",
            },
            principal: e.principal.clone(),
            client: e.client.clone(),
            authority: e.authority.clone(),
            electors: e.electors.clone(),
            applications: e.applications.clone(),
            fields: e.fields.clone(),
            detail: e.detail.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            enrichment: Enrichment::default(),
        }
    }

    pub fn detail(&self, key: &str) -> Option<&str> {
        self.detail.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// A field a rule can name, resolved when the rule loads so that a misspelt field is an
/// error at load time rather than a rule that silently never matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    Seq,
    Time,
    Kind,
    Outcome,
    Principal,
    Client,
    ClientNetwork,
    NetworkNew,
    Authority,
    Electors,
    ElectorCount,
    Applications,
    /// Electors and applications together, for counting personal records however read.
    Records,
    Fields,
    Detail(String),
    LocalHour,
    LocalWeekday,
    Canary,
    CanaryElectors,
    SequentialRun,
    SequentialRunBefore,
    ExportScheduled,
}

/// Every field name, for error messages and the documentation test.
pub const FIELD_NAMES: &[&str] = &[
    "seq",
    "time",
    "kind",
    "outcome",
    "principal",
    "client",
    "client_network",
    "network_new",
    "authority",
    "electors",
    "elector_count",
    "applications",
    "records",
    "fields",
    "detail.<key>",
    "local_hour",
    "local_weekday",
    "canary",
    "canary_electors",
    "sequential_run",
    "sequential_run_before",
    "export_scheduled",
];

impl Field {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "seq" => Self::Seq,
            "time" => Self::Time,
            "kind" => Self::Kind,
            "outcome" => Self::Outcome,
            "principal" => Self::Principal,
            "client" => Self::Client,
            "client_network" => Self::ClientNetwork,
            "network_new" => Self::NetworkNew,
            "authority" => Self::Authority,
            "electors" => Self::Electors,
            "elector_count" => Self::ElectorCount,
            "applications" => Self::Applications,
            "records" => Self::Records,
            "fields" => Self::Fields,
            "local_hour" => Self::LocalHour,
            "local_weekday" => Self::LocalWeekday,
            "canary" => Self::Canary,
            "canary_electors" => Self::CanaryElectors,
            "sequential_run" => Self::SequentialRun,
            "sequential_run_before" => Self::SequentialRunBefore,
            "export_scheduled" => Self::ExportScheduled,
            other => {
                let key = other.strip_prefix("detail.")?;
                if key.is_empty() {
                    return None;
                }
                Self::Detail(key.to_owned())
            }
        })
    }
}

/// One value of a field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Str(&'a str),
    Int(i64),
    Bool(bool),
}

impl Value<'_> {
    /// `-1 - n` for an integer (never overflows for n ≥ 0); other values unchanged.
    fn negated_less_one(self) -> Self {
        match self {
            Value::Int(n) => Value::Int(-1 - n),
            other => other,
        }
    }
}

/// A sequence number, id or count as a rule's integer. None comes near `i64::MAX`; one that
/// did would saturate, which still compares above every threshold a rule can write.
fn int(v: impl TryInto<i64>) -> Value<'static> {
    v.try_into().map_or(Value::Int(i64::MAX), Value::Int)
}

impl Observed {
    /// Whether the event carries `field` at all (Sigma's `exists`, and `null`).
    pub fn has(&self, field: &Field) -> bool {
        match field {
            Field::Principal => self.principal.is_some(),
            Field::Client => self.client.is_some(),
            Field::ClientNetwork => self.enrichment.client_network.is_some(),
            Field::NetworkNew => self.enrichment.network_new.is_some(),
            Field::Authority => self.authority.is_some(),
            Field::Electors => !self.electors.is_empty(),
            Field::Applications => !self.applications.is_empty(),
            Field::Records => !self.electors.is_empty() || !self.applications.is_empty(),
            Field::Fields => !self.fields.is_empty(),
            Field::Detail(k) => self.detail(k).is_some(),
            Field::CanaryElectors => !self.enrichment.canaries.is_empty(),
            Field::ExportScheduled => self.enrichment.export_scheduled.is_some(),
            _ => true,
        }
    }

    /// Calls `f` with each value of `field` until it returns true; a list field has one
    /// value per element. Returns whether any call returned true.
    pub fn any_value(&self, field: &Field, mut f: impl FnMut(Value<'_>) -> bool) -> bool {
        let en = &self.enrichment;
        match field {
            Field::Seq => f(int(self.seq)),
            Field::Time => f(Value::Int(self.time_ms)),
            Field::Kind => f(Value::Str(self.kind)),
            Field::Outcome => f(Value::Str(self.outcome)),
            Field::Principal => self.principal.as_deref().is_some_and(|s| f(Value::Str(s))),
            Field::Client => self.client.as_deref().is_some_and(|s| f(Value::Str(s))),
            Field::ClientNetwork => en.client_network.as_deref().is_some_and(|s| f(Value::Str(s))),
            Field::NetworkNew => en.network_new.is_some_and(|b| f(Value::Bool(b))),
            Field::Authority => self.authority.as_deref().is_some_and(|s| f(Value::Str(s))),
            Field::Electors => self.electors.iter().any(|&id| f(int(id))),
            Field::ElectorCount => f(int(self.electors.len())),
            Field::Applications => self.applications.iter().any(|&id| f(int(id))),
            // An application is counted as its id negated (less one), so it never shares a
            // value with an elector id.
            Field::Records => {
                self.electors.iter().any(|&id| f(int(id)))
                    || self.applications.iter().any(|&id| f(int(id).negated_less_one()))
            }
            Field::Fields => self.fields.iter().any(|s| f(Value::Str(s))),
            Field::Detail(k) => self.detail(k).is_some_and(|s| f(Value::Str(s))),
            Field::LocalHour => f(Value::Int(en.local_hour.into())),
            Field::LocalWeekday => f(Value::Int(en.local_weekday.into())),
            Field::Canary => f(Value::Bool(!en.canaries.is_empty())),
            Field::CanaryElectors => en.canaries.iter().any(|&id| f(int(id))),
            Field::SequentialRun => f(int(en.sequential_run)),
            Field::SequentialRunBefore => f(int(en.sequential_run_before)),
            Field::ExportScheduled => en.export_scheduled.is_some_and(|b| f(Value::Bool(b))),
        }
    }

    /// Every string value of the event, for keyword searches.
    pub fn any_text(&self, mut f: impl FnMut(&str) -> bool) -> bool {
        f(self.kind)
            || f(self.outcome)
            || self.principal.as_deref().is_some_and(&mut f)
            || self.client.as_deref().is_some_and(&mut f)
            || self.authority.as_deref().is_some_and(&mut f)
            || self.fields.iter().any(|s| f(s))
            || self.detail.iter().any(|(_, v)| f(v))
    }

    /// The value of `field` as one string, for correlation group keys and alerts: list
    /// fields are joined with commas; an absent field is empty.
    pub fn group_value(&self, field: &Field) -> String {
        let mut parts = Vec::new();
        self.any_value(field, |v| {
            parts.push(match v {
                Value::Str(s) => s.to_owned(),
                Value::Int(i) => i.to_string(),
                Value::Bool(b) => b.to_string(),
            });
            false
        });
        parts.join(",")
    }
}
