//! The `correlation` section of a Sigma rule: its type, the rules it joins, grouping,
//! aliases, window and count condition.

use super::{unknown_field, CorrelationDef, CorrelationKind, CountCondition, Ctx, RuleError};
use crate::fields::Field;
use marked_yaml::types::{MarkedMappingNode, Node};
use std::collections::BTreeMap;

/// Parses `30s`, `5m`, `2h`, `1d` into milliseconds.
pub fn parse_timespan(s: &str) -> Option<i64> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().ok().filter(|n| *n > 0)?;
    let ms = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        _ => return None,
    };
    n.checked_mul(ms)
}

pub(super) fn parse_correlation(ctx: &Ctx<'_>, node: &Node) -> Result<CorrelationDef, RuleError> {
    let line = Ctx::line_of(node);
    let map = node.as_mapping().ok_or_else(|| ctx.err(line, "'correlation' must be a mapping"))?;
    let kind = parse_kind(ctx, map, line)?;
    let rules = ctx.strings(map, "rules")?;
    if rules.is_empty() {
        return Err(ctx.err(line, "the correlation names no 'rules'"));
    }
    let aliases = parse_aliases(ctx, map)?;
    let mut group_by = Vec::new();
    for (g, gl) in ctx.strings(map, "group-by")? {
        if !aliases.contains_key(&g) && Field::parse(&g).is_none() {
            return Err(ctx.err(gl, unknown_field(&g)));
        }
        group_by.push(g);
    }
    let ts = map.get_scalar("timespan").ok_or_else(|| ctx.err(line, "the correlation has no 'timespan'"))?;
    let timespan_ms = parse_timespan(ts.as_str()).ok_or_else(|| {
        ctx.err(
            Ctx::scalar_line(ts),
            format!("timespan '{}' is not a number followed by s, m, h or d", ts.as_str()),
        )
    })?;
    let (condition, field) = match map.get_node("condition") {
        Some(c) => parse_condition(ctx, c)?,
        None => (CountCondition::default(), None),
    };
    if matches!(kind, CorrelationKind::EventCount | CorrelationKind::ValueCount) {
        if !condition.has_lower_bound() {
            return Err(ctx.err(
                line,
                "the correlation needs a condition with gt, gte or eq: a count that only has an upper bound is decided when the window closes, which a live engine never waits for",
            ));
        }
        if kind == CorrelationKind::ValueCount && field.is_none() {
            return Err(ctx.err(line, "a value_count correlation needs 'field' in its condition"));
        }
    }
    Ok(CorrelationDef {
        kind,
        rules,
        group_by,
        aliases,
        timespan_ms,
        condition,
        field,
        generate: parse_generate(ctx, map)?,
        line: line + ctx.offset,
    })
}

fn parse_kind(ctx: &Ctx<'_>, map: &MarkedMappingNode, line: usize) -> Result<CorrelationKind, RuleError> {
    let kind = map.get_scalar("type").ok_or_else(|| ctx.err(line, "the correlation has no 'type'"))?;
    Ok(match kind.as_str() {
        "event_count" => CorrelationKind::EventCount,
        "value_count" => CorrelationKind::ValueCount,
        "temporal" => CorrelationKind::Temporal,
        "temporal_ordered" => CorrelationKind::TemporalOrdered,
        other => {
            return Err(ctx.err(
                Ctx::scalar_line(kind),
                format!("correlation type '{other}' is not supported: use event_count, value_count, temporal or temporal_ordered"),
            ))
        }
    })
}

/// `aliases`: alias → rule name → the field that rule's events give it.
fn parse_aliases(
    ctx: &Ctx<'_>,
    map: &MarkedMappingNode,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, RuleError> {
    let mut aliases = BTreeMap::new();
    let Some(a) = map.get_node("aliases") else { return Ok(aliases) };
    let amap = a.as_mapping().ok_or_else(|| ctx.err(Ctx::line_of(a), "'aliases' must be a mapping"))?;
    for (alias, per_rule) in amap.iter() {
        let pr = per_rule.as_mapping().ok_or_else(|| {
            ctx.err(
                Ctx::line_of(per_rule),
                format!("alias '{}' must map rule names to fields", alias.as_str()),
            )
        })?;
        let mut fields = BTreeMap::new();
        for (rule, field) in pr.iter() {
            let f = field.as_scalar().ok_or_else(|| {
                ctx.err(
                    Ctx::line_of(field),
                    format!("alias '{}' must name one field per rule", alias.as_str()),
                )
            })?;
            if Field::parse(f.as_str()).is_none() {
                return Err(ctx.err(Ctx::scalar_line(f), unknown_field(f.as_str())));
            }
            fields.insert(rule.as_str().to_owned(), f.as_str().to_owned());
        }
        aliases.insert(alias.as_str().to_owned(), fields);
    }
    Ok(aliases)
}

/// `condition`: the count's bounds, and for `value_count` the field whose values it counts.
fn parse_condition(ctx: &Ctx<'_>, c: &Node) -> Result<(CountCondition, Option<Field>), RuleError> {
    let cmap = c
        .as_mapping()
        .ok_or_else(|| ctx.err(Ctx::line_of(c), "'condition' must be a mapping such as gte: 100"))?;
    let mut condition = CountCondition::default();
    let mut field = None;
    for (k, v) in cmap.iter() {
        let vline = Ctx::line_of(v);
        if k.as_str() == "field" {
            let f = v.as_scalar().ok_or_else(|| ctx.err(vline, "'field' must name one field"))?;
            field = Some(Field::parse(f.as_str()).ok_or_else(|| ctx.err(vline, unknown_field(f.as_str())))?);
            continue;
        }
        let n: u64 = v
            .as_scalar()
            .and_then(|s| s.as_str().parse().ok())
            .ok_or_else(|| ctx.err(vline, format!("condition '{}' needs a whole number", k.as_str())))?;
        let slot = match k.as_str() {
            "gt" => &mut condition.gt,
            "gte" => &mut condition.gte,
            "lt" => &mut condition.lt,
            "lte" => &mut condition.lte,
            "eq" => &mut condition.eq,
            "neq" => {
                return Err(ctx.err(
                    Ctx::scalar_line(k),
                    "condition 'neq' cannot be decided on a live stream; use gt, gte or eq",
                ))
            }
            other => {
                return Err(ctx.err(
                    Ctx::scalar_line(k),
                    format!("unknown condition '{other}': use gt, gte, lt, lte or eq"),
                ))
            }
        };
        *slot = Some(n);
    }
    Ok((condition, field))
}

fn parse_generate(ctx: &Ctx<'_>, map: &MarkedMappingNode) -> Result<bool, RuleError> {
    match map.get_scalar("generate") {
        None => Ok(false),
        Some(s) => match s.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => {
                Err(ctx.err(Ctx::scalar_line(s), format!("'generate' must be true or false, not '{other}'")))
            }
        },
    }
}
