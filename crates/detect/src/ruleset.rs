//! A loaded rule set: every rule file read, references between rules resolved. A bad rule
//! is refused with its file, line and reason, and the rest still load.

use crate::fields::Field;
use crate::sigma::{self, RuleBody, RuleDef, RuleError};
use std::collections::HashMap;
use std::path::Path;

/// The rules Rollguard ships (see `crates/detect/rules/`).
pub const SHIPPED: &[(&str, &str)] = &[
    ("bulk-read.yml", include_str!("../rules/bulk-read.yml")),
    ("sequential-enumeration.yml", include_str!("../rules/sequential-enumeration.yml")),
    ("broad-search.yml", include_str!("../rules/broad-search.yml")),
    ("login-failures.yml", include_str!("../rules/login-failures.yml")),
    ("phished-password.yml", include_str!("../rules/phished-password.yml")),
    ("new-network.yml", include_str!("../rules/new-network.yml")),
    ("out-of-hours.yml", include_str!("../rules/out-of-hours.yml")),
    ("unscheduled-export.yml", include_str!("../rules/unscheduled-export.yml")),
    ("repeated-supply.yml", include_str!("../rules/repeated-supply.yml")),
    ("canary.yml", include_str!("../rules/canary.yml")),
    ("mail-tracking-campaign.yml", include_str!("../rules/mail-tracking-campaign.yml")),
];

#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub(crate) rules: Vec<RuleDef>,
    /// For each correlation rule (by index in `rules`): the indexes of the rules it reads.
    pub(crate) references: HashMap<usize, Vec<usize>>,
    pub errors: Vec<RuleError>,
}

impl RuleSet {
    /// Reads every `.yml` and `.yaml` file in `dir` (not recursively), in name order.
    pub fn load_dir(dir: &Path) -> std::io::Result<Self> {
        let mut files: Vec<_> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml") && p.is_file())
            .collect();
        files.sort();
        let mut sources = Vec::with_capacity(files.len());
        let mut unreadable = Vec::new();
        for f in files {
            match std::fs::read(&f) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => sources.push((f.display().to_string(), text)),
                    Err(_) => unreadable.push(RuleError {
                        file: f.display().to_string(),
                        line: 1,
                        reason: "not UTF-8 text".into(),
                    }),
                },
                Err(e) => unreadable.push(RuleError {
                    file: f.display().to_string(),
                    line: 1,
                    reason: format!("cannot read: {e}"),
                }),
            }
        }
        let mut set = Self::from_sources(sources.iter().map(|(n, t)| (n.as_str(), t.as_str())));
        set.errors.splice(0..0, unreadable);
        Ok(set)
    }

    /// The rules Rollguard ships.
    pub fn shipped() -> Self {
        Self::from_sources(SHIPPED.iter().copied())
    }

    /// Loads rules from (file name, text) pairs.
    pub fn from_sources<'a>(sources: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut defs = Vec::new();
        let mut errors = Vec::new();
        for (file, text) in sources {
            for r in sigma::parse_file(file, text) {
                match r {
                    Ok(d) => defs.push(d),
                    Err(e) => errors.push(e),
                }
            }
        }
        let mut set = Self { rules: Vec::new(), references: HashMap::new(), errors };
        set.resolve(defs);
        set
    }

    fn resolve(&mut self, defs: Vec<RuleDef>) {
        // Ids and names are unique: a later duplicate is refused.
        let mut keys: HashMap<String, (String, usize)> = HashMap::new();
        let mut unique = Vec::new();
        'defs: for d in defs {
            for k in [d.id.as_ref(), d.name.as_ref()].into_iter().flatten() {
                if let Some((file, line)) = keys.get(k) {
                    self.errors.push(RuleError {
                        file: d.file.clone(),
                        line: d.line,
                        reason: format!("'{k}' is already the id or name of the rule at {file}:{line}"),
                    });
                    continue 'defs;
                }
            }
            for k in [d.id.as_ref(), d.name.as_ref()].into_iter().flatten() {
                keys.insert(k.clone(), (d.file.clone(), d.line));
            }
            unique.push(d);
        }
        // Correlations are accepted once everything they read is accepted; what is left
        // refers to a missing rule or to itself through a chain.
        let mut accepted: Vec<RuleDef> = Vec::new();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        let mut pending: Vec<RuleDef> = Vec::new();
        for d in unique {
            match d.body {
                RuleBody::Detection(_) => {
                    for k in [d.id.as_ref(), d.name.as_ref()].into_iter().flatten() {
                        by_key.insert(k.clone(), accepted.len());
                    }
                    accepted.push(d);
                }
                RuleBody::Correlation(_) => pending.push(d),
            }
        }
        loop {
            let before = pending.len();
            let mut still = Vec::new();
            for d in pending {
                let RuleBody::Correlation(c) = &d.body else { unreachable!("only correlations wait") };
                let refs: Option<Vec<usize>> = c.rules.iter().map(|(r, _)| by_key.get(r).copied()).collect();
                match refs {
                    Some(refs) => {
                        let idx = accepted.len();
                        for k in [d.id.as_ref(), d.name.as_ref()].into_iter().flatten() {
                            by_key.insert(k.clone(), idx);
                        }
                        self.references.insert(idx, refs);
                        accepted.push(d);
                    }
                    None => still.push(d),
                }
            }
            pending = still;
            if pending.len() == before {
                break;
            }
        }
        for d in pending {
            let RuleBody::Correlation(c) = &d.body else { unreachable!("only correlations wait") };
            let (missing, line) =
                c.rules.iter().find(|(r, _)| !by_key.contains_key(r)).cloned().unwrap_or_default();
            let reason = if keys.contains_key(&missing) {
                format!("refers to '{missing}', which is refused or refers back to this rule")
            } else {
                format!("refers to '{missing}', which no loaded rule has as its id or name")
            };
            self.errors.push(RuleError { file: d.file.clone(), line, reason });
        }
        self.rules = accepted;
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// How many of the rules are correlations.
    pub fn correlations(&self) -> usize {
        self.references.len()
    }

    pub fn rules(&self) -> &[RuleDef] {
        &self.rules
    }

    /// The longest correlation window of the set: how far back the log must be replayed
    /// to rebuild every open window after a restart.
    pub fn longest_window_ms(&self) -> i64 {
        self.rules
            .iter()
            .filter_map(|r| match &r.body {
                crate::sigma::RuleBody::Correlation(c) => Some(c.timespan_ms),
                crate::sigma::RuleBody::Detection(_) => None,
            })
            .max()
            .unwrap_or(0)
    }

    /// The field a correlation groups by, for events matched by rule `rule`: an alias if
    /// one maps that rule, else the name itself.
    pub(crate) fn group_field(alias_map: &sigma::CorrelationDef, group: &str, rule: &RuleDef) -> Field {
        let mapped = alias_map.aliases.get(group).and_then(|per| {
            rule.name.as_ref().and_then(|n| per.get(n)).or_else(|| rule.id.as_ref().and_then(|i| per.get(i)))
        });
        Field::parse(mapped.map(String::as_str).unwrap_or(group)).unwrap_or(Field::Detail(group.to_owned()))
    }
}
