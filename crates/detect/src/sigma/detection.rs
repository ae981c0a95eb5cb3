//! A rule's `detection`: search identifiers compiled into matchers, and the condition.

use super::condition::{self, Expr};
use super::{unknown_field, Ctx, RuleError};
use crate::fields::{Field, Observed, Value};
use ipnet::IpNet;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode, Node};
use regex::Regex;
use std::net::IpAddr;

#[derive(Debug, Clone)]
pub struct Detection {
    pub selections: Vec<(String, Selection)>,
    pub condition: Expr,
}

impl Detection {
    pub fn matches(&self, ev: &Observed) -> bool {
        self.condition.eval(&|i| self.selections[i].1.matches(ev))
    }
}

#[derive(Debug, Clone)]
pub enum Selection {
    /// A map: every field test holds.
    All(Vec<FieldTest>),
    /// A list of maps: any one map holds.
    AnyMap(Vec<Vec<FieldTest>>),
    /// A list of plain values: any appears in any text field.
    Keywords(Vec<Pattern>),
}

impl Selection {
    pub fn matches(&self, ev: &Observed) -> bool {
        match self {
            Self::All(tests) => tests.iter().all(|t| t.matches(ev)),
            Self::AnyMap(maps) => maps.iter().any(|m| m.iter().all(|t| t.matches(ev))),
            Self::Keywords(ps) => ps.iter().any(|p| ev.any_text(|s| p.matches(Value::Str(s)))),
        }
    }

    /// The `kind` values this selection requires, if it requires one of a known set.
    pub fn required_kinds(&self) -> Option<Vec<String>> {
        fn of_map(tests: &[FieldTest]) -> Option<Vec<String>> {
            tests.iter().find_map(|t| match (&t.field, &t.op) {
                (Field::Kind, Op::Any(ps)) => ps.iter().map(Pattern::exact_text).collect(),
                _ => None,
            })
        }
        match self {
            Self::All(tests) => of_map(tests),
            Self::AnyMap(maps) => {
                let mut all = Vec::new();
                for m in maps {
                    all.extend(of_map(m)?);
                }
                Some(all)
            }
            Self::Keywords(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct FieldTest {
    pub field: Field,
    pub op: Op,
}

#[derive(Debug, Clone)]
pub enum Op {
    /// `field|exists: true/false`
    Exists(bool),
    /// `field: null`
    Null,
    /// Any pattern matches any value of the field.
    Any(Vec<Pattern>),
    /// Every pattern matches some value of the field (`|all`).
    All(Vec<Pattern>),
    /// No pattern matches any value of the field (`|neq`).
    None(Vec<Pattern>),
}

impl FieldTest {
    /// A rough rank of the test's cost. `kind` ranks last: the engine runs a detection only
    /// on the kinds it names, so that test is nearly always true.
    fn cost(&self) -> u8 {
        if self.field == Field::Kind {
            return u8::MAX;
        }
        match &self.op {
            Op::Exists(_) | Op::Null => 0,
            Op::Any(ps) | Op::All(ps) | Op::None(ps) => ps.iter().map(Pattern::cost).max().unwrap_or(0),
        }
    }

    pub fn matches(&self, ev: &Observed) -> bool {
        match &self.op {
            Op::Exists(want) => ev.has(&self.field) == *want,
            Op::Null => !ev.has(&self.field),
            Op::Any(ps) => ev.any_value(&self.field, |v| ps.iter().any(|p| p.matches(v))),
            Op::All(ps) => ps.iter().all(|p| ev.any_value(&self.field, |v| p.matches(v))),
            Op::None(ps) => {
                ev.has(&self.field) && !ev.any_value(&self.field, |v| ps.iter().any(|p| p.matches(v)))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Debug, Clone)]
pub enum Pattern {
    /// Plain text; `needle` is lower-cased unless `cased`.
    Text {
        op: TextOp,
        needle: String,
        cased: bool,
        int: Option<i64>,
    },
    /// A value with `*` or `?` wildcards, or a regular expression.
    Regex(Regex),
    Cidr(IpNet),
    Compare(Cmp, f64),
}

impl Pattern {
    fn cost(&self) -> u8 {
        match self {
            Self::Compare(..) => 1,
            Self::Text { op: TextOp::Equals, .. } => 2,
            Self::Text { op: TextOp::StartsWith | TextOp::EndsWith, .. } => 3,
            Self::Text { op: TextOp::Contains, .. } => 4,
            Self::Cidr(_) => 5,
            Self::Regex(_) => 6,
        }
    }

    fn exact_text(&self) -> Option<String> {
        match self {
            Self::Text { op: TextOp::Equals, needle, .. } => Some(needle.clone()),
            _ => None,
        }
    }

    pub fn matches(&self, v: Value<'_>) -> bool {
        match (self, v) {
            (Self::Text { op, needle, cased, .. }, Value::Str(s)) => text_match(*op, needle, *cased, s),
            (Self::Text { op: TextOp::Equals, int: Some(n), .. }, Value::Int(i)) => *n == i,
            (Self::Text { op, needle, .. }, Value::Int(i)) => text_match(*op, needle, true, &i.to_string()),
            (Self::Text { op, needle, .. }, Value::Bool(b)) => {
                text_match(*op, needle, true, if b { "true" } else { "false" })
            }
            (Self::Regex(re), Value::Str(s)) => re.is_match(s),
            (Self::Regex(re), Value::Int(i)) => re.is_match(&i.to_string()),
            (Self::Regex(re), Value::Bool(b)) => re.is_match(if b { "true" } else { "false" }),
            (Self::Cidr(net), Value::Str(s)) => s.parse::<IpAddr>().is_ok_and(|ip| net.contains(&ip)),
            (Self::Cidr(_), _) => false,
            (Self::Compare(cmp, bound), v) => {
                let x = match v {
                    Value::Int(i) => i as f64,
                    Value::Str(s) => match s.trim().parse::<f64>() {
                        Ok(x) => x,
                        Err(_) => return false,
                    },
                    Value::Bool(_) => return false,
                };
                match cmp {
                    Cmp::Gt => x > *bound,
                    Cmp::Gte => x >= *bound,
                    Cmp::Lt => x < *bound,
                    Cmp::Lte => x <= *bound,
                }
            }
        }
    }
}

/// Text comparison; without `cased`, case-insensitive (`needle` is already lower-case). ASCII
/// values are compared in place, and lengths settle most comparisons before a byte is read.
fn text_match(op: TextOp, needle: &str, cased: bool, hay: &str) -> bool {
    if !cased && !hay.is_ascii() {
        return text_match(op, needle, true, &hay.to_lowercase());
    }
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if h.len() < n.len() || (op == TextOp::Equals && h.len() != n.len()) {
        return false;
    }
    // A value with no capitals compares as it is (most kinds, names and criteria).
    let cased = cased || !h.iter().any(u8::is_ascii_uppercase);
    let eq =
        |a: &[u8]| if cased { a == n } else { a.iter().zip(n).all(|(x, y)| x.to_ascii_lowercase() == *y) };
    match op {
        TextOp::Equals => eq(h),
        TextOp::StartsWith => eq(&h[..n.len()]),
        TextOp::EndsWith => eq(&h[h.len() - n.len()..]),
        TextOp::Contains if cased => memchr::memmem::find(h, n).is_some(),
        TextOp::Contains => n.is_empty() || h.windows(n.len()).any(eq),
    }
}

pub fn compile(ctx: &Ctx<'_>, node: &Node) -> Result<Detection, RuleError> {
    let line = Ctx::line_of(node);
    let map = node.as_mapping().ok_or_else(|| ctx.err(line, "'detection' must be a mapping"))?;
    let mut selections = Vec::new();
    let mut cond_node = None;
    for (key, value) in map.iter() {
        match key.as_str() {
            "condition" => cond_node = Some(value),
            "timeframe" => {
                return Err(ctx.err(
                    Ctx::scalar_line(key),
                    "'timeframe' is the old aggregation syntax; write a correlation rule instead",
                ))
            }
            name => selections.push((name.to_owned(), compile_selection(ctx, name, value)?)),
        }
    }
    let cond_node = cond_node.ok_or_else(|| ctx.err(line, "the detection has no 'condition'"))?;
    let names: Vec<&str> = selections.iter().map(|(n, _)| n.as_str()).collect();
    let condition = match cond_node {
        Node::Scalar(s) => condition::parse(s.as_str(), &names)
            .map_err(|e| ctx.err(Ctx::scalar_line(s), format!("condition: {e}")))?,
        Node::Sequence(seq) => {
            let mut any = Vec::new();
            for n in seq.iter() {
                let s =
                    n.as_scalar().ok_or_else(|| ctx.err(Ctx::line_of(n), "each condition must be text"))?;
                any.push(
                    condition::parse(s.as_str(), &names)
                        .map_err(|e| ctx.err(Ctx::scalar_line(s), format!("condition: {e}")))?,
                );
            }
            Expr::Or(any)
        }
        Node::Mapping(_) => {
            return Err(ctx.err(Ctx::line_of(cond_node), "'condition' must be text, not a mapping"))
        }
    };
    Ok(Detection { selections, condition })
}

fn compile_selection(ctx: &Ctx<'_>, name: &str, node: &Node) -> Result<Selection, RuleError> {
    match node {
        Node::Mapping(m) => Ok(Selection::All(compile_map(ctx, m)?)),
        Node::Sequence(seq) => {
            if seq.iter().all(|n| matches!(n, Node::Mapping(_))) && !seq.is_empty() {
                let maps = seq
                    .iter()
                    .filter_map(Node::as_mapping)
                    .map(|m| compile_map(ctx, m))
                    .collect::<Result<_, _>>()?;
                Ok(Selection::AnyMap(maps))
            } else {
                let mut ps = Vec::new();
                for n in seq.iter() {
                    let s = n.as_scalar().ok_or_else(|| {
                        ctx.err(Ctx::line_of(n), format!("selection '{name}' mixes keywords and field maps"))
                    })?;
                    ps.push(plain_pattern(ctx, s, TextOp::Contains, false)?);
                }
                Ok(Selection::Keywords(ps))
            }
        }
        Node::Scalar(s) => {
            Err(ctx.err(Ctx::scalar_line(s), format!("selection '{name}' must be a map of fields or a list")))
        }
    }
}

fn compile_map(ctx: &Ctx<'_>, map: &MarkedMappingNode) -> Result<Vec<FieldTest>, RuleError> {
    let mut tests = Vec::new();
    for (key, value) in map.iter() {
        tests.push(compile_field(ctx, key, value)?);
    }
    // Every test must hold, so their order changes nothing but time: cheapest first.
    tests.sort_by_key(FieldTest::cost);
    Ok(tests)
}

fn compile_field(ctx: &Ctx<'_>, key: &MarkedScalarNode, value: &Node) -> Result<FieldTest, RuleError> {
    let kline = Ctx::scalar_line(key);
    let mut parts = key.as_str().split('|');
    let field_name = parts.next().unwrap_or_default();
    let field = Field::parse(field_name).ok_or_else(|| ctx.err(kline, unknown_field(field_name)))?;
    let mut op = TextOp::Equals;
    let (mut all, mut cased, mut neq, mut exists) = (false, false, false, false);
    let mut re = false;
    let mut re_flags = String::new();
    let mut cidr = false;
    let mut cmp = None;
    for m in parts {
        match m {
            "contains" => op = TextOp::Contains,
            "startswith" => op = TextOp::StartsWith,
            "endswith" => op = TextOp::EndsWith,
            "all" => all = true,
            "cased" => cased = true,
            "neq" => neq = true,
            "exists" => exists = true,
            "re" => re = true,
            "i" | "m" | "s" if re => re_flags.push_str(m),
            "cidr" => cidr = true,
            "gt" => cmp = Some(Cmp::Gt),
            "gte" => cmp = Some(Cmp::Gte),
            "lt" => cmp = Some(Cmp::Lt),
            "lte" => cmp = Some(Cmp::Lte),
            "base64" | "base64offset" | "utf16" | "utf16le" | "utf16be" | "wide" | "windash" | "expand"
            | "fieldref" | "minute" | "hour" | "day" | "week" | "month" | "year" => {
                return Err(ctx.err(kline, format!("modifier '{m}' is not supported by Rollguard's engine")))
            }
            other => return Err(ctx.err(kline, format!("unknown modifier '{other}'"))),
        }
    }
    let scalars = values_of(ctx, value)?;
    if exists {
        let [(s, line)] = scalars.as_slice() else {
            return Err(ctx.err(kline, "'exists' takes one value, true or false"));
        };
        return match s.as_ref().map(|s| s.as_str()) {
            Some("true") => Ok(FieldTest { field, op: Op::Exists(true) }),
            Some("false") => Ok(FieldTest { field, op: Op::Exists(false) }),
            _ => Err(ctx.err(*line, "'exists' takes true or false")),
        };
    }
    if scalars.iter().any(|(s, _)| s.is_none()) {
        if scalars.len() > 1 {
            return Err(ctx.err(kline, "null cannot be one of a list of values; give it its own selection"));
        }
        return Ok(FieldTest { field, op: Op::Null });
    }
    if all && scalars.len() < 2 {
        return Err(ctx.err(kline, "'all' needs a list of at least two values"));
    }
    let mut patterns = Vec::with_capacity(scalars.len());
    for (s, line) in scalars {
        let s = s.expect("nulls handled above");
        let text = s.as_str();
        let p = if re {
            let flags = if re_flags.is_empty() { String::new() } else { format!("(?{re_flags})") };
            let compiled =
                regex::RegexBuilder::new(&format!("{flags}{text}")).size_limit(1 << 20).build().map_err(
                    |e| ctx.err(line, format!("bad regular expression: {}", first_line(&e.to_string()))),
                )?;
            Pattern::Regex(compiled)
        } else if cidr {
            Pattern::Cidr(
                text.parse::<IpNet>()
                    .map_err(|_| ctx.err(line, format!("'{text}' is not a CIDR range such as 10.0.0.0/8")))?,
            )
        } else if let Some(c) = cmp {
            Pattern::Compare(
                c,
                text.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| ctx.err(line, format!("'{text}' is not a number")))?,
            )
        } else {
            plain_pattern(ctx, &s, op, cased)?
        };
        patterns.push(p);
    }
    let op = if neq {
        Op::None(patterns)
    } else if all {
        Op::All(patterns)
    } else {
        Op::Any(patterns)
    };
    Ok(FieldTest { field, op })
}

fn first_line(s: &str) -> String {
    s.lines().rfind(|l| !l.trim().is_empty()).unwrap_or(s).trim().to_owned()
}

/// A field's values with their lines; `None` for YAML null.
fn values_of(ctx: &Ctx<'_>, node: &Node) -> Result<Vec<(Option<MarkedScalarNode>, usize)>, RuleError> {
    let one = |s: &MarkedScalarNode| {
        let null = s.may_coerce() && matches!(s.as_str(), "" | "null" | "~" | "Null" | "NULL");
        (if null { None } else { Some(s.clone()) }, Ctx::scalar_line(s))
    };
    match node {
        Node::Scalar(s) => Ok(vec![one(s)]),
        Node::Sequence(seq) => seq
            .iter()
            .map(|n| match n {
                Node::Scalar(s) => Ok(one(s)),
                other => Err(ctx.err(Ctx::line_of(other), "a field's values must be plain values")),
            })
            .collect(),
        Node::Mapping(_) => {
            Err(ctx.err(Ctx::line_of(node), "a field's value must be a value or a list of values"))
        }
    }
}

/// A plain value: wildcards `*` and `?` (escaped with `\`) make it a pattern.
fn plain_pattern(ctx: &Ctx<'_>, s: &MarkedScalarNode, op: TextOp, cased: bool) -> Result<Pattern, RuleError> {
    let pieces = lex(s.as_str());
    if !pieces.iter().any(|p| matches!(p, Piece::Any | Piece::One)) {
        let literal: String =
            pieces.iter().filter_map(|p| if let Piece::Char(c) = p { Some(*c) } else { None }).collect();
        let needle = if cased { literal.clone() } else { literal.to_lowercase() };
        return Ok(Pattern::Text { op, int: literal.parse().ok(), needle, cased });
    }
    let mut re = String::from(if cased { "(?s)^" } else { "(?is)^" });
    if matches!(op, TextOp::Contains | TextOp::EndsWith) {
        re.push_str(".*");
    }
    for p in &pieces {
        match p {
            Piece::Char(c) => re.push_str(&regex::escape(&c.to_string())),
            Piece::Any => re.push_str(".*"),
            Piece::One => re.push('.'),
        }
    }
    if matches!(op, TextOp::Contains | TextOp::StartsWith) {
        re.push_str(".*");
    }
    re.push('$');
    Regex::new(&re).map(Pattern::Regex).map_err(|e| {
        ctx.err(Ctx::scalar_line(s), format!("bad wildcard pattern: {}", first_line(&e.to_string())))
    })
}

/// A Sigma value, read once: literal characters and the wildcards `*` and `?`.
enum Piece {
    Char(char),
    Any,
    One,
}

/// Splits a value into pieces. `\` escapes `*`, `?` and itself; any other backslash is literal.
fn lex(text: &str) -> Vec<Piece> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    chars.next();
                    Piece::Char(n)
                }
                _ => Piece::Char('\\'),
            },
            '*' => Piece::Any,
            '?' => Piece::One,
            other => Piece::Char(other),
        });
    }
    out
}
