//! How wide each authority's bucketed indexes are, and re-sizing them as it grows.
//!
//! A bucketed index keeps only the top bits of a value's blind index, so that every stored
//! value stands for several distinct values (in the spirit of CipherSweet's blind-index
//! planning): counting a stolen file's index values then names no surname, postcode or birth
//! date. The width comes from the authority's row count: about `sqrt(rows) / 2` rows per
//! bucket, and never fewer than the table's floor (postcodes hold few households each, so
//! theirs is higher).

use crate::{AuthorityKeys, Result, Vault, VaultError};
use rollguard_store::{IndexPlan, IndexTable, ReadTx, Register, Resize, WriteTx};

/// Bits a bucketed index never goes below or above.
const MIN_BITS: u32 = 1;
const MAX_BITS: u32 = 32;

/// The fewest rows a bucket should hold on average. A postcode holds a few dozen electors,
/// so a postcode bucket of 512 rows mixes about twenty postcodes, and the chance that one holds
/// a single postcode is below 10^-6 per bucket (Poisson, mean 20).
fn floor_rows(table: IndexTable) -> f64 {
    match table {
        IndexTable::Postcode => 512.0,
        _ => 64.0,
    }
}

/// The width for `table` in an authority with `rows` entries.
pub fn planned_bits(table: IndexTable, rows: u64) -> u32 {
    #[allow(clippy::cast_precision_loss)]
    let n = rows.max(1) as f64;
    let per_bucket = (n.sqrt() / 2.0).max(floor_rows(table));
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let bits = (n / per_bucket).log2().floor().max(0.0) as u32;
    bits.clamp(MIN_BITS, MAX_BITS)
}

/// An authority's bucketed widths as one transaction sees them.
#[derive(Debug, Clone, Default)]
pub struct Widths {
    plans: Vec<IndexPlan>,
}

impl Widths {
    pub fn of(tx: &dyn ReadTx, authority: &str) -> Result<Self> {
        Ok(Self { plans: tx.index_plans(authority)? })
    }

    pub(crate) fn from_plans(plans: Vec<IndexPlan>) -> Self {
        Self { plans }
    }

    fn plan(&self, table: IndexTable) -> Option<&IndexPlan> {
        self.plans.iter().find(|p| p.table == table)
    }

    /// The width of `table`'s entry for elector `id`: a re-size has reached ids up to its
    /// cursor. An authority with no plan yet (no import) uses the narrowest width.
    pub fn bits(&self, table: IndexTable, id: u64) -> u32 {
        match self.plan(table) {
            Some(IndexPlan { resize: Some(Resize { target, cursor }), .. }) if id <= *cursor => *target,
            Some(p) => p.bits,
            None => MIN_BITS,
        }
    }

    /// The width entries of `table` had before a re-size (or have, with none under way).
    fn bits_before(&self, table: IndexTable) -> u32 {
        self.plan(table).map_or(MIN_BITS, |p| p.bits)
    }

    /// The width a re-size under way brings entries of `table` to (their width, with none).
    fn bits_after(&self, table: IndexTable) -> u32 {
        self.plan(table).map_or(MIN_BITS, |p| p.resize.map_or(p.bits, |r| r.target))
    }

    /// The stored values a search for the full blind value `full` must look up: one, or two
    /// while a re-size runs. Full-width tables are looked up as they are.
    pub fn probes(&self, table: IndexTable, full: i64) -> Vec<i64> {
        if !IndexTable::BUCKETED.contains(&table) {
            return vec![full];
        }
        match self.plan(table) {
            Some(IndexPlan { bits, resize: Some(r), .. }) => {
                vec![rollguard_store::bucket(full, *bits), rollguard_store::bucket(full, r.target)]
            }
            Some(p) => vec![rollguard_store::bucket(full, p.bits)],
            None => vec![rollguard_store::bucket(full, MIN_BITS)],
        }
    }

    /// Whether a re-size is under way.
    pub fn resizing(&self) -> bool {
        self.plans.iter().any(|p| p.resize.is_some())
    }
}

/// What a re-index did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReindexReport {
    /// Entries moved to their new widths in this run.
    pub moved: u64,
    /// Whether every bucketed index now has its planned width.
    pub finished: bool,
}

impl Vault {
    /// Brings `authority`'s bucketed indexes to the widths its row count calls for, in
    /// batches of `batch` electors, each one write transaction that also moves the cursor:
    /// resumable after a crash, searches correct throughout (they look up both widths).
    /// Stops after `max_batches` batches if given.
    pub fn reindex(
        &self,
        register: &Register,
        authority: &str,
        batch: usize,
        max_batches: Option<u64>,
    ) -> Result<ReindexReport> {
        let keys = std::sync::Arc::new(self.keys(authority)?.clone());
        let authority = authority.to_owned();
        let mut report = ReindexReport::default();
        let rows = register.read(|tx| -> Result<u64> { Ok(tx.count_electors(&authority)?) })?;
        let code = authority.clone();
        register.write(move |tx| -> Result<()> {
            let authority = code.as_str();
            // A re-size under way finishes first: every re-sizing table then shares one
            // cursor, which only moves forward.
            if Widths::of(&*tx, authority)?.resizing() {
                return Ok(());
            }
            for table in IndexTable::BUCKETED {
                let current = Widths::of(&*tx, authority)?;
                let want = planned_bits(table, rows);
                let plan = current.plan(table).copied();
                let next = match plan {
                    None => Some(IndexPlan {
                        table,
                        bits: MIN_BITS,
                        resize: Some(Resize { target: want, cursor: 0 }),
                    }),
                    Some(p) if p.resize.is_none() && p.bits != want => {
                        Some(IndexPlan { resize: Some(Resize { target: want, cursor: 0 }), ..p })
                    }
                    _ => None,
                };
                if let Some(p) = next {
                    tx.set_index_plan(authority, &p)?;
                }
            }
            Ok(())
        })?;
        (report.moved, report.finished) = in_batches(max_batches, || {
            let (keys, code) = (keys.clone(), authority.clone());
            register.write(move |tx| reindex_batch(&keys, tx, &code, batch))
        })?;
        Ok(report)
    }

    /// Fails if a re-size of `authority`'s indexes is under way (an import waits for it).
    pub(crate) fn refuse_while_resizing(authority: &str, widths: &Widths) -> Result<()> {
        if widths.resizing() {
            return Err(VaultError::Resizing(authority.to_owned()));
        }
        Ok(())
    }
}

/// Moves the next `batch` electors past the re-size cursor to the target widths, and the
/// cursor with them, in `tx`; None when no re-size is under way (the last batch ends it).
fn reindex_batch(
    keys: &AuthorityKeys,
    tx: &mut dyn WriteTx,
    authority: &str,
    batch: usize,
) -> Result<Option<u64>> {
    let widths = Widths::of(&*tx, authority)?;
    let Some(cursor) = widths.plans.iter().filter_map(|p| p.resize.map(|r| r.cursor)).min() else {
        return Ok(None);
    };
    let rows = tx.current_rows_after(authority, cursor, batch)?;
    let mut moved = 0u64;
    for row in rows.iter().filter(|r| !r.deleted) {
        let record = keys.open_row(row)?;
        let blind = keys.blind_values(&record.entry, record.nino);
        let old = blind.entries(&keys.refs, row.id, false, &|t, _| Some(widths.bits_before(t)));
        let new = blind.entries(&keys.refs, row.id, false, &|t, _| Some(widths.bits_after(t)));
        let remove: Vec<_> = old.iter().filter(|e| !new.contains(e)).copied().collect();
        let add: Vec<_> = new.iter().filter(|e| !old.contains(e)).copied().collect();
        moved += add.len() as u64;
        tx.replace_index_entries(authority, &remove, &add)?;
    }
    for p in &widths.plans {
        let Some(r) = p.resize else { continue };
        let plan = match rows.last() {
            Some(last) => IndexPlan { resize: Some(Resize { target: r.target, cursor: last.id }), ..*p },
            None => IndexPlan { table: p.table, bits: r.target, resize: None },
        };
        tx.set_index_plan(authority, &plan)?;
    }
    Ok(Some(moved))
}

/// Runs `step` (one transaction's batch: what it moved, or None when nothing is left) until
/// the work is done or `max_batches` have run; returns what was moved and whether it finished.
pub(crate) fn in_batches(
    max_batches: Option<u64>,
    mut step: impl FnMut() -> Result<Option<u64>>,
) -> Result<(u64, bool)> {
    let (mut moved, mut batches) = (0, 0u64);
    while max_batches.is_none_or(|m| batches < m) {
        match step()? {
            Some(m) => moved += m,
            None => return Ok((moved, true)),
        }
        batches += 1;
    }
    Ok((moved, false))
}
