//! Finding electors through the blind indexes: the keyed references that keep index tables
//! from joining, the full-width values of one version and the entries it keeps, and search.

use crate::{Elector, Result, Search, Vault, VaultError, Widths, ID_BASE};
use rollguard_register::normalise::{date_key, name_key, number_key, postcode_key};
use rollguard_sealing::{IndexKey, IndexKind, Permutation};
use rollguard_store::{IndexEntry, IndexTable, ReadTx};

/// Keyed permutations of elector ids, one per index table that must not join another.
#[derive(Clone, Debug)]
pub(crate) struct References {
    surname: Permutation,
    postcode: Permutation,
    dob: Permutation,
    nino: Permutation,
}

impl References {
    pub(crate) fn new(index: &IndexKey) -> Self {
        let p = |label: &str| Permutation::new(&index.subkey(label));
        Self {
            surname: p("reference:surname"),
            postcode: p("reference:postcode"),
            dob: p("reference:dob"),
            nino: p("reference:nino"),
        }
    }

    fn permutation(&self, t: IndexTable) -> Option<&Permutation> {
        match t {
            IndexTable::Surname => Some(&self.surname),
            IndexTable::Postcode => Some(&self.postcode),
            IndexTable::DateOfBirth => Some(&self.dob),
            IndexTable::Nino => Some(&self.nino),
            IndexTable::Number | IndexTable::Identity => None,
        }
    }

    /// The reference `t`'s entry of elector `id` holds.
    pub(crate) fn of(&self, t: IndexTable, id: u64) -> u64 {
        self.permutation(t).map_or(id, |p| p.forward(id & (ID_BASE - 1)))
    }

    /// Replaces the ids in entries made by [`BlindValues::entries_by_id`] with their tables'
    /// references, each table's at once (the cipher works on many blocks together).
    pub(crate) fn refer_many(&self, entries: &mut [&mut IndexEntry]) {
        for t in IndexTable::ALL {
            let Some(p) = self.permutation(t) else { continue };
            let at: Vec<usize> = (0..entries.len()).filter(|&i| entries[i].table == t).collect();
            let ids: Vec<u64> = at.iter().map(|&i| entries[i].reference & (ID_BASE - 1)).collect();
            for (i, reference) in at.into_iter().zip(p.forward_many(&ids)) {
                entries[i].reference = reference;
            }
        }
    }

    /// The elector id behind a reference found in `t`.
    pub(crate) fn id(&self, t: IndexTable, reference: u64) -> Option<u64> {
        match self.permutation(t) {
            Some(p) => p.inverse(reference).map(|x| ID_BASE | x),
            None => Some(reference),
        }
    }

    /// The elector ids behind many references found in `t` (a search's bucket).
    pub(crate) fn ids(&self, t: IndexTable, references: &[u64]) -> Vec<u64> {
        match self.permutation(t) {
            Some(p) => p.inverse_many(references).into_iter().flatten().map(|x| ID_BASE | x).collect(),
            None => references.to_vec(),
        }
    }
}

/// Full-width blind values of one version (before bucketing).
#[derive(Clone, Copy, Debug)]
pub(crate) struct BlindValues {
    pub number: i64,
    pub identity: i64,
    pub nino: Option<i64>,
    /// Surname, postcode, birth date; none for anonymous entries.
    pub surname: Option<i64>,
    pub postcode: Option<i64>,
    pub date_of_birth: Option<i64>,
}

impl BlindValues {
    /// The entries this version keeps at the widths `widths` gives each id.
    pub(crate) fn stored(
        &self,
        refs: &References,
        id: u64,
        deleted: bool,
        widths: &Widths,
    ) -> Vec<IndexEntry> {
        self.entries(refs, id, deleted, &|t, id| Some(widths.bits(t, id)))
    }

    /// The entries this version keeps, with bucketed tables at `width(table, id)` bits
    /// (`None`: full width, bucketed later). Deleted versions keep only their number entry.
    pub(crate) fn entries(
        &self,
        refs: &References,
        id: u64,
        deleted: bool,
        width: &dyn Fn(IndexTable, u64) -> Option<u32>,
    ) -> Vec<IndexEntry> {
        let mut out = self.entries_by_id(id, deleted, width);
        for e in &mut out {
            e.reference = refs.of(e.table, id);
        }
        out
    }

    /// [`BlindValues::entries`] holding the id itself where a reference goes, for
    /// [`References::refer_many`] to replace.
    pub(crate) fn entries_by_id(
        &self,
        id: u64,
        deleted: bool,
        width: &dyn Fn(IndexTable, u64) -> Option<u32>,
    ) -> Vec<IndexEntry> {
        let mut out = Vec::with_capacity(6);
        let mut push = |table, value: i64| out.push(IndexEntry { table, value, reference: id });
        push(IndexTable::Number, self.number);
        if deleted {
            return out;
        }
        push(IndexTable::Identity, self.identity);
        if let Some(n) = self.nino {
            push(IndexTable::Nino, n);
        }
        for (t, v) in [
            (IndexTable::Surname, self.surname),
            (IndexTable::Postcode, self.postcode),
            (IndexTable::DateOfBirth, self.date_of_birth),
        ] {
            if let Some(v) = v {
                push(t, width(t, id).map_or(v, |bits| rollguard_store::bucket(v, bits)));
            }
        }
        out
    }
}

/// References read per criterion of a search, at most (a bucket of a common surname holds a
/// few thousand).
const SEARCH_LIMIT: usize = 20_000;

impl Vault {
    /// Blind-index search within one authority. Each criterion's index gives a set of ids
    /// (bucketed indexes give every elector whose value shares the bucket); the sets are
    /// intersected, and the rows left are opened and re-checked against the normalised
    /// query, so neither a bucket nor a collision ever returns a wrong elector.
    pub fn search(&self, tx: &dyn ReadTx, authority: &str, q: &Search) -> Result<Vec<Elector>> {
        let keys = self.keys(authority)?;
        let b = |kind, v: &str| keys.index.blind(kind, v).0;
        let mut errs = rollguard_register::ValidationErrors::default();
        let surname = q.surname.as_deref().map(name_key);
        let postcode = q
            .postcode
            .as_deref()
            .and_then(|p| errs.check(rollguard_register::Postcode::parse("postcode", p)));
        let dob = q
            .date_of_birth
            .as_deref()
            .and_then(|d| errs.check(rollguard_register::parse_date("date_of_birth", d)));
        let number = q
            .elector_number
            .as_deref()
            .and_then(|n| errs.check(rollguard_register::ElectorNumber::parse("elector_number", n)));
        errs.into_result()?;
        let criteria: Vec<(IndexTable, i64)> = [
            (IndexTable::Number, number.as_ref().map(|n| b(IndexKind::ElectorNumber, &number_key(n)))),
            (IndexTable::Postcode, postcode.as_ref().map(|p| b(IndexKind::Postcode, &postcode_key(p)))),
            (IndexTable::DateOfBirth, dob.map(|d| b(IndexKind::DateOfBirth, &date_key(d)))),
            (IndexTable::Surname, surname.as_deref().map(|s| b(IndexKind::Surname, s))),
        ]
        .into_iter()
        .filter_map(|(t, v)| v.map(|v| (t, v)))
        .collect();
        if criteria.is_empty() {
            return Err(VaultError::EmptySearch);
        }
        let widths = Widths::of(tx, authority)?;
        let legacy =
            if tx.legacy_pending()? { self.search_legacy(tx, authority, &criteria)? } else { Vec::new() };
        let mut ids: Option<Vec<u64>> = None;
        for &(table, full) in &criteria {
            let mut found = Vec::new();
            for value in widths.probes(table, full) {
                let refs = tx.index_references(authority, table, value, SEARCH_LIMIT)?;
                // Never a silent truncation: a bucket this large answers with an error.
                if refs.len() == SEARCH_LIMIT {
                    return Err(VaultError::SearchTooBroad);
                }
                found.extend(keys.refs.ids(table, &refs));
            }
            found.sort_unstable();
            found.dedup();
            ids = Some(match ids {
                None => found,
                Some(so_far) => so_far.into_iter().filter(|id| found.binary_search(id).is_ok()).collect(),
            });
            if ids.as_ref().is_some_and(Vec::is_empty) {
                break;
            }
        }
        let mut opened = legacy;
        for row in tx.electors(&ids.unwrap_or_default())? {
            if row.deleted || row.authority != authority {
                continue;
            }
            opened.push(self.open_elector(&row)?);
        }
        let mut out = Vec::new();
        for e in opened {
            let matches = surname.as_ref().is_none_or(|s| *s == name_key(&e.entry.name.surname))
                && postcode.as_ref().is_none_or(|p| *p == e.entry.address.postcode)
                && dob.is_none_or(|d| Some(d) == e.entry.date_of_birth)
                && number.as_ref().is_none_or(|n| *n == e.entry.number);
            if matches {
                out.push(e);
            }
        }
        out.sort_by(|a, b| a.entry.number.cmp(&b.entry.number));
        Ok(out)
    }

    /// The stored index values a search of `authority` for a surname, postcode or birth date
    /// (as typed) looks up: what an operator checks a bucket against, and what the inference
    /// test grants its attacker.
    pub fn index_probes(
        &self,
        tx: &dyn ReadTx,
        authority: &str,
        table: IndexTable,
        value: &str,
    ) -> Result<Vec<i64>> {
        let keys = self.keys(authority)?;
        let full = match table {
            IndexTable::Surname => keys.index.blind(IndexKind::Surname, &name_key(value)).0,
            IndexTable::Postcode => {
                let p = rollguard_register::Postcode::parse("postcode", value)
                    .map_err(|e| VaultError::Invalid(e.into()))?;
                keys.index.blind(IndexKind::Postcode, &postcode_key(&p)).0
            }
            IndexTable::DateOfBirth => {
                let d = rollguard_register::parse_date("date_of_birth", value)
                    .map_err(|e| VaultError::Invalid(e.into()))?;
                keys.index.blind(IndexKind::DateOfBirth, &date_key(d)).0
            }
            _ => return Err(VaultError::EmptySearch),
        };
        Ok(Widths::of(tx, authority)?.probes(table, full))
    }

    /// The undeleted legacy entries matching every criterion (full-width values), opened,
    /// while a layout upgrade runs.
    fn search_legacy(
        &self,
        tx: &dyn ReadTx,
        authority: &str,
        criteria: &[(IndexTable, i64)],
    ) -> Result<Vec<Elector>> {
        let mut ids: Option<Vec<u64>> = None;
        for &(table, value) in criteria {
            let mut found = tx.legacy_find(authority, table, value)?;
            found.sort_unstable();
            ids = Some(match ids {
                None => found,
                Some(so_far) => so_far.into_iter().filter(|id| found.binary_search(id).is_ok()).collect(),
            });
        }
        let mut out = Vec::new();
        for id in ids.unwrap_or_default() {
            if let Some(row) = tx.legacy_elector(id)? {
                out.push(self.open_legacy_elector(&row)?);
            }
        }
        Ok(out)
    }
}
