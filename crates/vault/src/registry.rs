//! The sealed registry: which electors are canaries, and which watermark entries went to
//! which recipient in which supply. It is one blob sealed under a system key wrapped by the
//! keyring, so a copy of the database tells an attacker neither which entries to avoid nor
//! which rows mark a supply.

use crate::{Result, Vault, VaultError};
use rollguard_sealing::{FieldContext, SealKey};
use rollguard_store::{ReadTx, WriteTx};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const SYSTEM: &str = "_system";
const BLOB: &str = "registry";

/// A planted canary elector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanaryRecord {
    pub id: u64,
    pub authority: String,
    pub planted_at: i64,
}

/// One watermark entry of a supply: the fictitious row as the recipient received it, by
/// register CSV column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub elector_number: String,
    pub surname: String,
    pub given_names: String,
    pub address_lines: Vec<String>,
    pub postcode: String,
}

/// A register supply and the watermark entries only it carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupplyRecord {
    pub id: String,
    pub recipient: String,
    pub authority: String,
    pub kind: String,
    pub made_at: i64,
    pub made_by: String,
    pub marks: Vec<Mark>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registry {
    pub canaries: Vec<CanaryRecord>,
    pub supplies: Vec<SupplyRecord>,
    /// Supplies asked for, decided and collected (older registries have none).
    #[serde(default)]
    pub tickets: Vec<crate::SupplyTicket>,
}

impl Registry {
    pub fn canary_ids(&self) -> Vec<u64> {
        self.canaries.iter().map(|c| c.id).collect()
    }

    /// Whether a name is already used by some mark (marks must be unique across supplies).
    pub fn has_mark_named(&self, given: &str, surname: &str) -> bool {
        self.supplies
            .iter()
            .flat_map(|s| &s.marks)
            .any(|m| m.surname.eq_ignore_ascii_case(surname) && m.given_names.eq_ignore_ascii_case(given))
    }
}

fn ctx() -> FieldContext<'static> {
    FieldContext { authority: SYSTEM, record: 0, field: BLOB, version: 1 }
}

impl Vault {
    fn registry_key(&self) -> Result<SealKey> {
        Ok(SealKey::new(self.system_key(crate::purpose::REGISTRY)?))
    }

    /// The registry (empty if nothing was ever recorded), as `tx` sees it.
    pub fn registry(&self, tx: &dyn ReadTx) -> Result<Registry> {
        let Some(sealed) = tx.registry_blob(BLOB)? else { return Ok(Registry::default()) };
        decode(&self.registry_key()?, &sealed)
    }

    /// Changes the registry in `tx`: read, changed and written in the one transaction, so
    /// two writers never lose each other's update. `now` is Unix seconds.
    pub fn update_registry(
        &self,
        tx: &mut dyn WriteTx,
        now: i64,
        change: impl FnOnce(&mut Registry) -> Result<()>,
    ) -> Result<Registry> {
        let (reg, sealed) = self.changed_registry(tx.registry_blob(BLOB)?, change)?;
        tx.put_registry_blob(BLOB, &sealed, now)?;
        Ok(reg)
    }

    /// The registry sealed in `sealed` (none: empty) after `change`, and its new sealed bytes.
    fn changed_registry(
        &self,
        sealed: Option<Vec<u8>>,
        change: impl FnOnce(&mut Registry) -> Result<()>,
    ) -> Result<(Registry, Vec<u8>)> {
        let key = self.registry_key()?;
        let mut reg = match sealed {
            Some(sealed) => decode(&key, &sealed)?,
            None => Registry::default(),
        };
        change(&mut reg)?;
        let json = serde_json::to_vec(&reg).map_err(|e| VaultError::Corrupt(e.to_string()))?;
        Ok((reg, key.seal(&ctx(), &json).0))
    }

    /// Adds canaries an import planted to the registry, in the import's transaction.
    pub(crate) fn record_canaries_in_import(
        &self,
        session: &mut dyn rollguard_store::ImportSession,
        authority: &str,
        ids: &[u64],
        now: i64,
    ) -> Result<()> {
        let (_, sealed) = self.changed_registry(session.registry_blob(BLOB)?, |r| {
            r.canaries.extend(ids.iter().map(|&id| CanaryRecord {
                id,
                authority: authority.to_owned(),
                planted_at: now,
            }));
            Ok(())
        })?;
        session.put_registry_blob(BLOB, &sealed, now)?;
        Ok(())
    }

    /// Adds the canary electors `ids` of `authority` to the registry.
    pub fn record_canaries(
        &self,
        tx: &mut dyn WriteTx,
        authority: &str,
        ids: &[u64],
        now: i64,
    ) -> Result<Registry> {
        self.update_registry(tx, now, |r| {
            r.canaries.extend(ids.iter().map(|&id| CanaryRecord {
                id,
                authority: authority.to_owned(),
                planted_at: now,
            }));
            Ok(())
        })
    }
}

fn decode(key: &SealKey, sealed: &[u8]) -> Result<Registry> {
    let json = key.open(&ctx(), sealed)?;
    serde_json::from_slice(&json)
        .map_err(|e| VaultError::Corrupt(format!("the sealed registry does not parse: {e}")))
}

/// Chooses `count` watermark entries for a supply of `electors`: each a fictitious person
/// (a name from `names`, unused by any earlier mark) at the address of a real household in
/// the supply, numbered after the last elector of that household's polling district, so it
/// reads as a recent addition to a real home. `pick(n)` returns an index below `n`.
pub fn plan_marks(
    electors: &[crate::Elector],
    registry: &Registry,
    count: usize,
    names: &mut dyn Iterator<Item = (String, String)>,
    pick: &mut dyn FnMut(usize) -> usize,
) -> Vec<Mark> {
    let households: Vec<&crate::Elector> =
        electors.iter().filter(|e| !e.entry.anonymous && !e.entry.address.lines.is_empty()).collect();
    if households.is_empty() {
        return Vec::new();
    }
    let numbers: Vec<String> = electors.iter().map(|e| e.entry.number.to_string()).collect();
    let mut next = district_maxima(numbers.iter().map(String::as_str));
    let mut marks: Vec<Mark> = Vec::with_capacity(count);
    for (given, surname) in names {
        if marks.len() == count {
            break;
        }
        let taken = registry.has_mark_named(&given, &surname)
            || marks.iter().any(|m| m.surname == surname && m.given_names == given);
        if taken {
            continue;
        }
        let home = households[pick(households.len())];
        let number = home.entry.number.to_string();
        let Some((district, _)) = split_number(&number) else { continue };
        let slot = next.entry(district.to_owned()).or_insert(0);
        *slot += 1;
        marks.push(Mark {
            elector_number: format!("{district}-{slot}"),
            surname,
            given_names: given,
            address_lines: home.entry.address.lines.clone(),
            postcode: home.entry.address.postcode.as_str().to_owned(),
        });
    }
    marks
}

/// Splits `PD1-123` or `PD1-123/4` into its district and number.
pub fn split_number(number: &str) -> Option<(&str, u32)> {
    let (district, rest) = number.rsplit_once('-')?;
    let n = rest.split('/').next()?.parse().ok()?;
    Some((district, n))
}

/// For each polling district in `numbers`, the highest elector number.
pub fn district_maxima<'a>(numbers: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, u32> {
    let mut max = BTreeMap::new();
    for n in numbers {
        if let Some((d, k)) = split_number(n) {
            let slot = max.entry(d.to_owned()).or_insert(0);
            *slot = (*slot).max(k);
        }
    }
    max
}

/// One watermark entry found in a leaked file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MarkFound {
    /// 1-based line of the file.
    pub line: usize,
    pub elector_number: String,
}

/// A supply whose watermark entries appear in a leaked file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TracedSupply {
    pub supply: String,
    pub recipient: String,
    pub authority: String,
    pub kind: String,
    pub made_at: i64,
    pub marks_in_supply: usize,
    pub found: Vec<MarkFound>,
}

/// Lower-case words of a line, every other character a separator.
fn words(line: &str) -> Vec<String> {
    line.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

fn squashed(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Finds the supplies whose watermark entries appear in `text`, a leaked extract in any
/// shape: CSV or not, columns reordered or dropped, rows shuffled or cut, case and spacing
/// changed. A mark is found on a line holding every word of its given names and surname and
/// its postcode (spaces ignored). Supplies with the most marks found come first.
pub fn trace(text: &str, registry: &Registry) -> Vec<TracedSupply> {
    struct Wanted<'a> {
        supply: usize,
        mark: &'a Mark,
        names: Vec<String>,
        postcode: String,
    }
    // Index marks by surname word, so each line checks only marks it could hold.
    let mut by_word: std::collections::HashMap<String, Vec<Wanted<'_>>> = std::collections::HashMap::new();
    for (si, s) in registry.supplies.iter().enumerate() {
        for m in &s.marks {
            let mut names = words(&m.given_names);
            names.extend(words(&m.surname));
            let Some(key) = words(&m.surname).into_iter().max_by_key(|w| w.len()) else { continue };
            by_word.entry(key).or_default().push(Wanted {
                supply: si,
                mark: m,
                names,
                postcode: squashed(&m.postcode),
            });
        }
    }
    let mut found: BTreeMap<usize, Vec<MarkFound>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let ws = words(line);
        let mut flat: Option<String> = None;
        for w in &ws {
            let Some(candidates) = by_word.get(w) else { continue };
            for c in candidates {
                if !c.names.iter().all(|n| ws.contains(n)) {
                    continue;
                }
                let flat = flat.get_or_insert_with(|| squashed(line));
                if c.postcode.is_empty() || !flat.contains(&c.postcode) {
                    continue;
                }
                let list = found.entry(c.supply).or_default();
                if !list.iter().any(|f| f.line == i + 1 && f.elector_number == c.mark.elector_number) {
                    list.push(MarkFound { line: i + 1, elector_number: c.mark.elector_number.clone() });
                }
            }
        }
    }
    let mut out: Vec<TracedSupply> = found
        .into_iter()
        .map(|(si, found)| {
            let s = &registry.supplies[si];
            TracedSupply {
                supply: s.id.clone(),
                recipient: s.recipient.clone(),
                authority: s.authority.clone(),
                kind: s.kind.clone(),
                made_at: s.made_at,
                marks_in_supply: s.marks.len(),
                found,
            }
        })
        .collect();
    out.sort_by(|a, b| b.found.len().cmp(&a.found.len()).then(a.made_at.cmp(&b.made_at)));
    out
}

/// A register supply ready to write: the electors it carries (canaries left out), its
/// watermark entries, and its id in the registry.
pub struct PreparedSupply {
    pub id: String,
    pub electors: Vec<crate::Elector>,
    /// Ids of the electors the supply carries (what its audit event lists).
    pub included: Vec<u64>,
    pub marks: Vec<Mark>,
}

/// Watermark entries for a supply of `n` rows: one per thousand, at least 10 and at most
/// 100, so that a tenth of a leaked supply still holds some (a 10% fragment of a 100,000-row
/// supply misses all 100 marks with probability 0.9^100, about 3 in 100,000).
pub fn marks_for(n: usize) -> usize {
    (n / 1_000).clamp(10, 100)
}

/// What a supply is, before its watermarks are chosen.
pub struct SupplyRequest<'a> {
    pub authority: &'a str,
    pub kind: crate::RegisterKind,
    pub recipient: &'a str,
    pub made_by: &'a str,
    /// Unix seconds.
    pub now: i64,
    /// The ticket this supply collects, marked collected in the same registry update.
    pub ticket: Option<&'a str>,
}

impl Vault {
    /// Records a supply of `electors` (the authority's current register, read beforehand)
    /// in `tx`: canary electors are never supplied (a legitimate supply must not raise a
    /// canary alert), and the supply carries its own watermark entries, recorded in the
    /// sealed registry before anything is written. `names` supplies fictitious (given
    /// names, surname) pairs.
    pub fn record_supply(
        &self,
        tx: &mut dyn WriteTx,
        mut electors: Vec<crate::Elector>,
        req: &SupplyRequest<'_>,
        names: &mut dyn Iterator<Item = (String, String)>,
    ) -> Result<PreparedSupply> {
        use rand::Rng;
        let mut included = Vec::new();
        let id = format!("{:016x}", rand::random::<u64>());
        let mut rng = rand::thread_rng();
        let mut pick = |n: usize| rng.gen_range(0..n);
        let mut marks = Vec::new();
        let kind_name = if req.kind == crate::RegisterKind::Full { "full" } else { "open" };
        self.update_registry(tx, req.now, |reg| {
            let canaries: std::collections::HashSet<u64> = reg.canary_ids().into_iter().collect();
            electors.retain(|e| !canaries.contains(&e.id));
            included = crate::included_ids(&electors, req.kind);
            marks = plan_marks(&electors, reg, marks_for(included.len()), names, &mut pick);
            reg.supplies.push(SupplyRecord {
                id: id.clone(),
                recipient: req.recipient.to_owned(),
                authority: req.authority.to_owned(),
                kind: kind_name.into(),
                made_at: req.now,
                made_by: req.made_by.to_owned(),
                marks: marks.clone(),
            });
            if let Some(t) = reg.tickets.iter_mut().find(|t| Some(t.id.as_str()) == req.ticket) {
                t.collected = Some(crate::Collection { at: req.now, supply: id.clone() });
            }
            Ok(())
        })?;
        Ok(PreparedSupply { id, electors, included, marks })
    }
}
