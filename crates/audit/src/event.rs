//! Audit events, schema version 1, and their canonical bytes.
//!
//! An event names who did what to which records: principal names, authority codes, elector
//! ids and field names, never a personal value. Its canonical form is compact JSON with the
//! keys in the fixed order of [`Event`] (`v`, `seq`, `time`, `kind`, …), optional keys left
//! out when empty, integers only, and `detail` sorted by key. The same event always gives the
//! same bytes, and those bytes are the Merkle leaf. `docs/audit-events.md` documents the
//! schema.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SCHEMA_VERSION: u32 = 1;

/// What happened. Codes are stable: they are part of every stored leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kind {
    #[serde(rename = "auth.password")]
    AuthPassword,
    #[serde(rename = "auth.mfa")]
    AuthMfa,
    #[serde(rename = "auth.enrol")]
    AuthEnrol,
    #[serde(rename = "auth.logout")]
    AuthLogout,
    #[serde(rename = "elector.read")]
    ElectorRead,
    #[serde(rename = "elector.search")]
    ElectorSearch,
    #[serde(rename = "elector.write")]
    ElectorWrite,
    #[serde(rename = "application.read")]
    ApplicationRead,
    #[serde(rename = "application.write")]
    ApplicationWrite,
    #[serde(rename = "register.export")]
    RegisterExport,
    /// A register supply asked for, or an approver's decision on one (the download itself
    /// is `register.export`).
    #[serde(rename = "supply.request")]
    SupplyRequest,
    #[serde(rename = "supply.decision")]
    SupplyDecision,
    #[serde(rename = "register.import")]
    RegisterImport,
    #[serde(rename = "key.operation")]
    KeyOperation,
    #[serde(rename = "grant.change")]
    GrantChange,
    #[serde(rename = "principal.change")]
    PrincipalChange,
    #[serde(rename = "token.change")]
    TokenChange,
    #[serde(rename = "config.change")]
    ConfigChange,
    #[serde(rename = "audit.read")]
    AuditRead,
    #[serde(rename = "alert")]
    Alert,
    #[serde(rename = "response")]
    Response,
    #[serde(rename = "mail.scan")]
    MailScan,
}

impl Kind {
    pub fn code(self) -> String {
        self.as_str().to_owned()
    }

    /// The stable code, as in the canonical form.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AuthPassword => "auth.password",
            Kind::AuthMfa => "auth.mfa",
            Kind::AuthEnrol => "auth.enrol",
            Kind::AuthLogout => "auth.logout",
            Kind::ElectorRead => "elector.read",
            Kind::ElectorSearch => "elector.search",
            Kind::ElectorWrite => "elector.write",
            Kind::ApplicationRead => "application.read",
            Kind::ApplicationWrite => "application.write",
            Kind::RegisterExport => "register.export",
            Kind::SupplyRequest => "supply.request",
            Kind::SupplyDecision => "supply.decision",
            Kind::RegisterImport => "register.import",
            Kind::KeyOperation => "key.operation",
            Kind::GrantChange => "grant.change",
            Kind::PrincipalChange => "principal.change",
            Kind::TokenChange => "token.change",
            Kind::ConfigChange => "config.change",
            Kind::AuditRead => "audit.read",
            Kind::Alert => "alert",
            Kind::Response => "response",
            Kind::MailScan => "mail.scan",
        }
    }

    /// Whether events of this kind record access to personal data (and so list electors or
    /// applications).
    pub fn reads_personal_data(self) -> bool {
        matches!(self, Kind::ElectorRead | Kind::ElectorSearch | Kind::RegisterExport | Kind::ApplicationRead)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
    Refused,
}

/// One audit event. Field order is the canonical key order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Schema version.
    pub v: u32,
    /// The event's index in the log, set by the log when it is appended.
    #[serde(default)]
    pub seq: u64,
    /// Milliseconds since the Unix epoch, UTC.
    pub time: i64,
    pub kind: Kind,
    pub outcome: Outcome,
    /// The acting principal's name (or the name given, for a failed login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The client address, for logins and requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// Elector ids whose personal data this event read, returned or changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub electors: Vec<u64>,
    /// Application ids whose personal data this event read, returned or changed (an
    /// application holds an applicant's name, address and date of birth like an entry).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applications: Vec<u64>,
    /// Names of the fields a write changed (never their values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// Further categorical facts (recipient, count, role, reason code …), sorted by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub detail: BTreeMap<String, String>,
}

impl Event {
    pub fn new(time_ms: i64, kind: Kind, outcome: Outcome) -> Self {
        Self {
            v: SCHEMA_VERSION,
            seq: 0,
            time: time_ms,
            kind,
            outcome,
            principal: None,
            client: None,
            authority: None,
            electors: Vec::new(),
            applications: Vec::new(),
            fields: Vec::new(),
            detail: BTreeMap::new(),
        }
    }

    pub fn principal(mut self, p: impl Into<String>) -> Self {
        self.principal = Some(p.into());
        self
    }

    pub fn authority(mut self, a: impl Into<String>) -> Self {
        self.authority = Some(a.into());
        self
    }

    pub fn electors(mut self, ids: impl IntoIterator<Item = u64>) -> Self {
        self.electors.extend(ids);
        self
    }

    pub fn applications(mut self, ids: impl IntoIterator<Item = u64>) -> Self {
        self.applications.extend(ids);
        self
    }

    pub fn detail(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.detail.insert(k.into(), v.into());
        self
    }

    /// The canonical bytes: the Merkle leaf input.
    pub fn canonical(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an event always serialises")
    }

    /// Parses canonical bytes, refusing anything that would not serialise back to the very
    /// same bytes (unknown keys, other key orders, spacing, a newer schema).
    pub fn from_canonical(bytes: &[u8]) -> Result<Self, String> {
        let e: Event = serde_json::from_slice(bytes).map_err(|e| format!("not an event: {e}"))?;
        if e.v != SCHEMA_VERSION {
            return Err(format!("schema version {} (this build reads {SCHEMA_VERSION})", e.v));
        }
        if e.canonical() != bytes {
            return Err("not in canonical form".into());
        }
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_codes_are_the_serialised_names() {
        use Kind::*;
        for k in [
            AuthPassword,
            AuthMfa,
            AuthEnrol,
            AuthLogout,
            ElectorRead,
            ElectorSearch,
            ElectorWrite,
            ApplicationRead,
            ApplicationWrite,
            RegisterExport,
            RegisterImport,
            KeyOperation,
            GrantChange,
            PrincipalChange,
            TokenChange,
            ConfigChange,
            AuditRead,
            Alert,
            Response,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }

    #[test]
    fn canonical_bytes_are_fixed_and_round_trip() {
        let e = Event::new(1_800_000_000_123, Kind::ElectorSearch, Outcome::Success)
            .principal("officer-ann")
            .authority("E07000001")
            .electors([42, 7])
            .detail("results", "2")
            .detail("criteria", "surname,postcode");
        let mut e = e;
        e.seq = 9;
        let bytes = e.canonical();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            r#"{"v":1,"seq":9,"time":1800000000123,"kind":"elector.search","outcome":"success","principal":"officer-ann","authority":"E07000001","electors":[42,7],"detail":{"criteria":"surname,postcode","results":"2"}}"#
        );
        assert_eq!(Event::from_canonical(&bytes).unwrap(), e);
    }

    #[test]
    fn applications_follow_electors_in_the_canonical_form_and_are_left_out_when_none() {
        let e = Event::new(5, Kind::ApplicationRead, Outcome::Success).principal("x").applications([3]);
        let text = String::from_utf8(e.canonical()).unwrap();
        assert_eq!(
            text,
            r#"{"v":1,"seq":0,"time":5,"kind":"application.read","outcome":"success","principal":"x","applications":[3]}"#
        );
        assert_eq!(Event::from_canonical(text.as_bytes()).unwrap(), e);
        let none = Event::new(5, Kind::ApplicationRead, Outcome::Success).principal("x");
        assert!(!String::from_utf8(none.canonical()).unwrap().contains("applications"));
    }

    #[test]
    fn non_canonical_or_unknown_input_is_refused() {
        let e = Event::new(5, Kind::AuthPassword, Outcome::Failure).principal("x");
        let good = String::from_utf8(e.canonical()).unwrap();
        assert!(Event::from_canonical(good.replace(":", ": ").as_bytes()).is_err(), "spacing");
        assert!(Event::from_canonical(good.replace("}", ",\"extra\":1}").as_bytes()).is_err(), "unknown key");
        assert!(Event::from_canonical(good.replace("\"v\":1", "\"v\":2").as_bytes()).is_err(), "schema");
        let reordered = r#"{"time":5,"v":1,"kind":"auth.password","outcome":"failure","principal":"x"}"#;
        assert!(Event::from_canonical(reordered.as_bytes()).is_err(), "key order");
    }
}
