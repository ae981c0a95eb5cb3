//! Moving a register from the legacy layout (before schema 10) into the sealed layout, in
//! batches that are each one write transaction: resumable after a crash, and readable
//! throughout (every read looks in both layouts until the last legacy row has moved).
//!
//! A legacy entry's id was its sequence number; it moves to the id the permutation gives that
//! number, and keeps answering to its old id (see [`Vault::resolve_id`]).

use crate::{codec, AuthorityKeys, Elector, Result, Vault, VaultError, Version, Widths};
use rollguard_register::{AbsentVote, ElectorEntry};
use rollguard_store::{IndexPlan, IndexTable, LegacyRow, ReadTx, Register, WriteTx};
use zeroize::Zeroizing;

/// The field names the legacy layout bound into each ciphertext.
mod legacy_field {
    pub const NUMBER: &str = "number";
    pub const NAME: &str = "name";
    pub const PREVIOUS_NAMES: &str = "previous_names";
    pub const ADDRESS: &str = "address";
    pub const DATE_OF_BIRTH: &str = "date_of_birth";
    pub const OVERSEAS: &str = "overseas";
    pub const CONTACT: &str = "contact";
}

/// What an upgrade run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpgradeReport {
    /// Entries moved in this run.
    pub moved: u64,
    /// Whether no legacy entry is left (references to old ids are then rewritten).
    pub finished: bool,
}

impl AuthorityKeys {
    fn open_legacy_field(
        &self,
        row: &LegacyRow,
        field: &'static str,
        sealed: &[u8],
    ) -> Result<Zeroizing<String>> {
        let key = self.seal_key(row.key_generation)?;
        let plain = key.open(&self.ctx(row.id, field, row.version), sealed)?;
        String::from_utf8(plain.to_vec()).map(Zeroizing::new).map_err(|_| codec::DecodeError(field).into())
    }

    /// Opens a legacy row field by field. Fails closed like [`AuthorityKeys::open_row`].
    pub(crate) fn open_legacy(&self, row: &LegacyRow) -> Result<ElectorEntry> {
        use legacy_field::*;
        let s = &row.sealed;
        let opt = |field, v: &Option<Vec<u8>>| {
            v.as_ref().map(|v| self.open_legacy_field(row, field, v)).transpose()
        };
        let (date_of_birth, attainer_date) = match opt(DATE_OF_BIRTH, &s.date_of_birth)? {
            Some(d) => codec::decode_dates(&d)?,
            None => (None, None),
        };
        let corrupt = || {
            VaultError::Corrupt(format!("legacy elector {} has an unknown franchise or absent vote", row.id))
        };
        Ok(ElectorEntry {
            number: codec::decode_number(&self.open_legacy_field(row, NUMBER, &s.number)?)?,
            name: codec::decode_name(&self.open_legacy_field(row, NAME, &s.name)?)?,
            previous_names: match opt(PREVIOUS_NAMES, &s.previous_names)? {
                Some(p) => codec::decode_previous_names(&p)?,
                None => Vec::new(),
            },
            address: codec::decode_address(&self.open_legacy_field(row, ADDRESS, &s.address)?)?,
            date_of_birth,
            attainer_date,
            franchise: self.table.marker("franchise_marker", &row.franchise).map_err(|_| corrupt())?,
            open_register_opt_out: row.flags & 1 != 0,
            anonymous: row.flags & 2 != 0,
            absent_vote: match &row.absent_vote {
                Some(kind) => Some(AbsentVote {
                    kind: kind.parse().map_err(|_| corrupt())?,
                    expires: row.absent_vote_expires,
                }),
                None => None,
            },
            overseas: opt(OVERSEAS, &s.overseas)?.map(|o| codec::decode_overseas(&o)).transpose()?,
            contact: opt(CONTACT, &s.contact)?
                .map(|c| codec::decode_contact(&c))
                .transpose()?
                .unwrap_or_default(),
        })
    }
}

impl Vault {
    /// A legacy version, opened, under the id it moves to.
    pub(crate) fn open_legacy_elector(&self, row: &LegacyRow) -> Result<Elector> {
        let entry = self.keys(&row.authority)?.open_legacy(row)?;
        Ok(Elector {
            id: self.moved_id(row.id)?,
            authority: row.authority.clone(),
            version: row.version,
            valid_from: row.valid_from,
            valid_to: row.valid_to,
            deleted: row.deleted,
            change: row.change.clone(),
            entry,
        })
    }

    /// The id a legacy entry takes when it moves: its old id is its sequence number, and its
    /// cluster is 0 (no authority's), so the mapping needs nothing but the old id.
    pub(crate) fn moved_id(&self, old_id: u64) -> Result<u64> {
        self.elector_id(0, old_id)
    }

    /// The legacy entry an id names, if it has not moved yet: by its old id or its new one.
    pub(crate) fn legacy_for(&self, tx: &dyn ReadTx, id: u64) -> Result<Option<LegacyRow>> {
        if !tx.legacy_pending()? {
            return Ok(None);
        }
        if let Some(row) = tx.legacy_elector(id)? {
            return Ok(Some(row));
        }
        // Only the very id the entry moves to names it: an id of another cluster with the
        // same sequence bits is no alias of it.
        match self.elector_sequence(id) {
            Some(seq) if self.moved_id(seq)? == id => Ok(tx.legacy_elector(seq)?),
            _ => Ok(None),
        }
    }

    /// The current id of the entry `id` names: itself, or for an id of the legacy layout,
    /// the id its entry moved to.
    pub fn resolve_id(&self, tx: &dyn ReadTx, id: u64) -> Result<u64> {
        if tx.elector(id)?.is_some() {
            return Ok(id);
        }
        if id < tx.legacy_watermark()? {
            return self.moved_id(id);
        }
        Ok(id)
    }

    /// Moves one legacy entry (every version) into the sealed layout in `tx`, and returns
    /// its new id. Its index entries take the authority's current widths.
    pub(crate) fn move_legacy(&self, tx: &mut dyn WriteTx, old_id: u64) -> Result<u64> {
        let versions = tx.legacy_history(old_id)?;
        let Some(current) = versions.last() else { return Err(VaultError::UnknownElector(old_id)) };
        let keys = self.keys(&current.authority)?;
        let id = self.moved_id(old_id)?;
        let widths = Widths::of(&*tx, &current.authority)?;
        let mut rows = Vec::with_capacity(versions.len());
        for v in &versions {
            let entry = keys.open_legacy(v)?;
            let what = Version {
                id,
                version: v.version,
                valid_from: v.valid_from,
                recorded_at: v.recorded_at,
                deleted: v.deleted,
            };
            let mut row = keys.row_of(&what, &v.change, &entry, v.nino);
            row.valid_to = v.valid_to;
            rows.push((row, entry, v.nino));
        }
        tx.legacy_remove(old_id)?;
        let (last, history) = rows.split_last().expect("at least the current version");
        for (row, _, _) in history {
            tx.insert_history(row)?;
        }
        let (row, entry, nino) = last;
        let entries = keys.blind_values(entry, *nino).stored(&keys.refs, id, row.deleted, &widths);
        tx.insert_elector(row, &entries)?;
        Ok(id)
    }

    /// Moves up to `max_batches` batches of `batch` legacy entries (all if None). Every
    /// canary is first recorded under its new id too, so supplies leave it out and detection
    /// knows it by either id while entries move. Each batch is one transaction holding its
    /// audit event (`event(moved)`, the same for every batch, so the log says nothing of where
    /// canaries are). When none is left, references to old ids are rewritten and the
    /// canaries' old ids forgotten.
    pub fn upgrade_layout(
        self: &std::sync::Arc<Self>,
        register: &Register,
        batch: usize,
        max_batches: Option<u64>,
        event: std::sync::Arc<dyn Fn(u64) -> Vec<u8> + Send + Sync>,
    ) -> Result<UpgradeReport> {
        let mut report = UpgradeReport::default();
        let (vault, ev) = (self.clone(), event.clone());
        register.write(move |tx| -> Result<()> {
            if !tx.legacy_pending()? {
                return Ok(());
            }
            // Moved entries take their authority's widths: plan them from its whole size
            // first, so the narrowest width is never what a large authority gets.
            for a in tx.authorities()? {
                if tx.index_plans(&a.code)?.is_empty() {
                    let rows = tx.count_electors(&a.code)?;
                    for table in IndexTable::BUCKETED {
                        let plan = IndexPlan { table, bits: crate::planned_bits(table, rows), resize: None };
                        tx.set_index_plan(&a.code, &plan)?;
                    }
                }
            }
            if vault.canaries_under_both_ids(tx)? {
                tx.append_event(&ev(0))?;
            }
            Ok(())
        })?;
        (report.moved, report.finished) = crate::plans::in_batches(max_batches, || {
            let (vault, ev) = (self.clone(), event.clone());
            let moved = register.write(move |tx| -> Result<u64> {
                let ids = tx.legacy_batch(batch.max(1))?;
                for old in &ids {
                    vault.move_legacy(tx, *old)?;
                }
                if !ids.is_empty() {
                    tx.append_event(&ev(ids.len() as u64))?;
                }
                Ok(ids.len() as u64)
            })?;
            if moved > 0 {
                return Ok(Some(moved));
            }
            // Every entry has moved: references and canaries follow, then the work is done.
            let (vault, ev) = (self.clone(), event.clone());
            register.write(move |tx| -> Result<()> {
                tx.legacy_remap_references(&|old| vault.moved_id(old).unwrap_or(old))?;
                if vault.forget_old_canary_ids(tx)? {
                    tx.append_event(&ev(0))?;
                }
                Ok(())
            })?;
            Ok(None)
        })?;
        Ok(report)
    }

    /// Adds each legacy canary's new id beside its old one; whether any was added.
    fn canaries_under_both_ids(&self, tx: &mut dyn WriteTx) -> Result<bool> {
        let below = tx.legacy_watermark()?;
        let registry = self.registry(&*tx)?;
        let known: std::collections::HashSet<u64> = registry.canary_ids().into_iter().collect();
        let mut added = Vec::new();
        for c in registry.canaries.iter().filter(|c| c.id < below) {
            let new = self.moved_id(c.id)?;
            if !known.contains(&new) {
                added.push(crate::CanaryRecord { id: new, ..c.clone() });
            }
        }
        if added.is_empty() {
            return Ok(false);
        }
        let now = registry.canaries.iter().map(|c| c.planted_at).max().unwrap_or_default();
        self.update_registry(tx, now, move |r| {
            r.canaries.extend(added);
            Ok(())
        })?;
        Ok(true)
    }

    /// Drops the canaries' legacy ids once every entry has moved; whether any was dropped.
    fn forget_old_canary_ids(&self, tx: &mut dyn WriteTx) -> Result<bool> {
        let below = tx.legacy_watermark()?;
        let registry = self.registry(&*tx)?;
        if !registry.canaries.iter().any(|c| c.id < below) {
            return Ok(false);
        }
        let now = registry.canaries.iter().map(|c| c.planted_at).max().unwrap_or_default();
        self.update_registry(tx, now, |r| {
            r.canaries.retain(|c| c.id >= below);
            Ok(())
        })?;
        Ok(true)
    }

    /// Every version of a legacy entry, opened (for reads during an upgrade).
    pub(crate) fn legacy_versions(&self, tx: &dyn ReadTx, row: &LegacyRow) -> Result<Vec<Elector>> {
        tx.legacy_history(row.id)?.iter().map(|r| self.open_legacy_elector(r)).collect()
    }
}

#[cfg(test)]
#[path = "upgrade_tests.rs"]
mod tests;
