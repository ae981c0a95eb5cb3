//! Sigma rules: reading YAML documents with line numbers, and turning each into a
//! [`RuleDef`] whose detection is compiled into matchers. References between rules
//! (correlations) are resolved later, by [`crate::ruleset`].

mod condition;
mod correlation;
mod detection;

pub use condition::Expr;
use correlation::parse_correlation;
pub use correlation::parse_timespan;
pub use detection::{Detection, FieldTest, Op, Pattern, Selection};

use crate::fields::Field;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode, Node};
use std::collections::BTreeMap;
use std::fmt;

/// A rule refused: the file, the line and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct RuleError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "informational" => Self::Informational,
            "low" => Self::Low,
            "medium" => Self::Medium,
            "high" => Self::High,
            "critical" => Self::Critical,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Informational => "informational",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What Rollguard does on its own when a rule fires: the rule's custom `response` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Suspend the principal the alert names.
    SuspendPrincipal,
    /// Revoke the principal's sessions and API tokens.
    RevokeCredentials,
    /// Refuse every export until an administrator lifts the freeze.
    FreezeExports,
}

impl Response {
    pub const ALL: [Response; 3] = [Self::SuspendPrincipal, Self::RevokeCredentials, Self::FreezeExports];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SuspendPrincipal => "suspend_principal",
            Self::RevokeCredentials => "revoke_credentials",
            Self::FreezeExports => "freeze_exports",
        }
    }
}

/// One rule document, its detection compiled; references not yet resolved.
#[derive(Debug, Clone)]
pub struct RuleDef {
    pub file: String,
    pub line: usize,
    pub title: String,
    pub id: Option<String>,
    pub name: Option<String>,
    pub level: Level,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub response: Vec<Response>,
    pub body: RuleBody,
    /// Canonical text of the document, so a reload can tell an unchanged rule.
    pub fingerprint: String,
}

impl RuleDef {
    /// The name an alert carries: the id, else the name, else the title.
    pub fn key(&self) -> &str {
        self.id.as_deref().or(self.name.as_deref()).unwrap_or(&self.title)
    }
}

#[derive(Debug, Clone)]
pub enum RuleBody {
    Detection(Detection),
    Correlation(CorrelationDef),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrelationKind {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
}

#[derive(Debug, Clone)]
pub struct CorrelationDef {
    pub kind: CorrelationKind,
    /// Referenced rules by id or name, with the line of each reference.
    pub rules: Vec<(String, usize)>,
    pub group_by: Vec<String>,
    /// alias → (rule name → field).
    pub aliases: BTreeMap<String, BTreeMap<String, String>>,
    pub timespan_ms: i64,
    pub condition: CountCondition,
    /// For value_count: the field whose distinct values are counted.
    pub field: Option<Field>,
    /// Whether the referenced rules also alert on their own.
    pub generate: bool,
    pub line: usize,
}

/// A correlation's count condition: every bound given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountCondition {
    pub gt: Option<u64>,
    pub gte: Option<u64>,
    pub lt: Option<u64>,
    pub lte: Option<u64>,
    pub eq: Option<u64>,
}

impl CountCondition {
    pub fn holds(&self, n: u64) -> bool {
        self.gt.is_none_or(|v| n > v)
            && self.gte.is_none_or(|v| n >= v)
            && self.lt.is_none_or(|v| n < v)
            && self.lte.is_none_or(|v| n <= v)
            && self.eq.is_none_or(|v| n == v)
    }

    fn has_lower_bound(&self) -> bool {
        self.gt.is_some() || self.gte.is_some() || self.eq.is_some()
    }
}

/// Reads every rule document in one file. Each document is parsed on its own, so one bad
/// document does not hide the good ones beside it.
pub fn parse_file(file: &str, text: &str) -> Vec<Result<RuleDef, RuleError>> {
    // YAML (like editors) ends a line at CR, LF or CRLF; count lines the same way, so every
    // error names the line a person sees (a fuzzer found lone CRs putting them off).
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    split_documents(&text).into_iter().map(|(offset, doc)| parse_document(file, offset, &doc)).collect()
}

/// Splits a multi-document YAML stream at `---` lines. Returns each non-empty document with
/// the number of lines before it.
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    for (i, line) in text.lines().enumerate() {
        let marker = line.trim_end();
        if marker == "---" || marker.starts_with("--- ") || marker.starts_with("---\t") {
            docs.push((start, std::mem::take(&mut current)));
            start = i + 1;
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    docs.push((start, current));
    docs.retain(|(_, d)| d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')));
    docs
}

/// Helpers that carry the file name and line offset into every error.
pub(crate) struct Ctx<'a> {
    pub file: &'a str,
    pub offset: usize,
}

impl Ctx<'_> {
    pub fn err(&self, line: usize, reason: impl Into<String>) -> RuleError {
        RuleError { file: self.file.to_owned(), line: line + self.offset, reason: reason.into() }
    }

    pub fn line_of(node: &Node) -> usize {
        node.span().start().map(|m| m.line()).unwrap_or(1)
    }

    pub fn scalar_line(node: &MarkedScalarNode) -> usize {
        node.span().start().map(|m| m.line()).unwrap_or(1)
    }

    pub fn string<'n>(&self, map: &'n MarkedMappingNode, key: &str) -> Result<Option<&'n str>, RuleError> {
        match map.get_node(key) {
            None => Ok(None),
            Some(Node::Scalar(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(self.err(Self::line_of(other), format!("'{key}' must be a single value"))),
        }
    }

    pub fn strings(&self, map: &MarkedMappingNode, key: &str) -> Result<Vec<(String, usize)>, RuleError> {
        match map.get_node(key) {
            None => Ok(Vec::new()),
            Some(Node::Scalar(s)) => Ok(vec![(s.as_str().to_owned(), Self::scalar_line(s))]),
            Some(Node::Sequence(seq)) => seq
                .iter()
                .map(|n| match n {
                    Node::Scalar(s) => Ok((s.as_str().to_owned(), Self::scalar_line(s))),
                    other => Err(self.err(Self::line_of(other), format!("'{key}' must be a list of values"))),
                })
                .collect(),
            Some(other) => Err(self.err(Self::line_of(other), format!("'{key}' must be a list of values"))),
        }
    }
}

fn parse_document(file: &str, offset: usize, text: &str) -> Result<RuleDef, RuleError> {
    let ctx = Ctx { file, offset };
    let root = marked_yaml::parse_yaml(0, text).map_err(|e| {
        let (line, reason) = describe_load_error(&e);
        ctx.err(line, reason)
    })?;
    let map = root.as_mapping().ok_or_else(|| ctx.err(1, "a rule must be a YAML mapping"))?;
    let doc_line = map.span().start().map(|m| m.line()).unwrap_or(1);
    let title = ctx
        .string(map, "title")?
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ctx.err(doc_line, "the rule has no 'title'"))?
        .to_owned();
    let id = ctx.string(map, "id")?.map(str::to_owned);
    let name = ctx.string(map, "name")?.map(str::to_owned);
    let level = match map.get_scalar("level") {
        None => Level::Medium,
        Some(s) => Level::parse(s.as_str()).ok_or_else(|| {
            ctx.err(
                Ctx::scalar_line(s),
                format!("unknown level '{}': use informational, low, medium, high or critical", s.as_str()),
            )
        })?,
    };
    let description = ctx.string(map, "description")?.map(str::to_owned);
    let tags = ctx.strings(map, "tags")?.into_iter().map(|(t, _)| t).collect();
    let mut response = Vec::new();
    for (r, line) in ctx.strings(map, "response")? {
        let parsed = Response::parse(&r).ok_or_else(|| {
            ctx.err(
                line,
                format!("unknown response '{r}': use {}", Response::ALL.map(|r| r.as_str()).join(", ")),
            )
        })?;
        response.push(parsed);
    }
    let body = match (map.get_node("detection"), map.get_node("correlation")) {
        (Some(_), Some(c)) => {
            return Err(ctx.err(Ctx::line_of(c), "a rule has either 'detection' or 'correlation', not both"))
        }
        (None, None) => return Err(ctx.err(doc_line, "the rule has neither 'detection' nor 'correlation'")),
        (Some(d), None) => {
            check_logsource(&ctx, map, doc_line)?;
            RuleBody::Detection(detection::compile(&ctx, d)?)
        }
        (None, Some(c)) => RuleBody::Correlation(parse_correlation(&ctx, c)?),
    };
    Ok(RuleDef {
        file: file.to_owned(),
        line: doc_line + offset,
        title,
        id,
        name,
        level,
        description,
        tags,
        response,
        body,
        fingerprint: text.to_owned(),
    })
}

fn describe_load_error(e: &marked_yaml::LoadError) -> (usize, String) {
    use marked_yaml::LoadError as L;
    match e {
        L::TopLevelMustBeMapping(m) => (m.line(), "a rule must be a YAML mapping".into()),
        L::TopLevelMustBeSequence(m) => (m.line(), "unexpected top-level list".into()),
        L::UnexpectedAnchor(m) => (m.line(), "YAML anchors are not allowed in rules".into()),
        L::MappingKeyMustBeScalar(m) => (m.line(), "mapping keys must be plain values".into()),
        L::UnexpectedTag(m) => (m.line(), "YAML tags are not allowed in rules".into()),
        L::ScanError(m, s) => (m.line(), format!("YAML syntax error: {s}")),
        L::DuplicateKey(d) => (
            d.key.span().start().map(|m| m.line()).unwrap_or(1),
            format!("duplicate key '{}'", d.key.as_str()),
        ),
    }
}

fn check_logsource(ctx: &Ctx<'_>, map: &MarkedMappingNode, doc_line: usize) -> Result<(), RuleError> {
    let Some(node) = map.get_node("logsource") else {
        return Err(ctx.err(doc_line, "the rule has no 'logsource' (use product: rollguard)"));
    };
    let ls = node.as_mapping().ok_or_else(|| ctx.err(Ctx::line_of(node), "'logsource' must be a mapping"))?;
    match ls.get_scalar("product") {
        Some(p) if p.as_str() == "rollguard" => Ok(()),
        Some(p) => Err(ctx.err(
            Ctx::scalar_line(p),
            format!("logsource product '{}' is not one Rollguard reads (use rollguard)", p.as_str()),
        )),
        None => Err(ctx.err(Ctx::line_of(node), "logsource has no 'product' (use product: rollguard)")),
    }
}

pub(crate) fn unknown_field(name: &str) -> String {
    format!(
        "unknown field '{name}' for product rollguard; fields are {}",
        crate::fields::FIELD_NAMES.join(", ")
    )
}
