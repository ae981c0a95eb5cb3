//! Rows of the layout before schema 10 (one AEAD value per field, descriptive columns and
//! full-width blind indexes in the clear), as `rollguard register upgrade` reads them to
//! move them into the sealed layout. Readable until the upgrade has moved the last one.

use rollguard_register::Date;

/// The sealed fields of one legacy version: each nonce ‖ ciphertext ‖ tag.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct LegacySealed {
    pub number: Vec<u8>,
    pub name: Vec<u8>,
    pub previous_names: Option<Vec<u8>>,
    pub address: Vec<u8>,
    pub date_of_birth: Option<Vec<u8>>,
    pub overseas: Option<Vec<u8>>,
    pub contact: Option<Vec<u8>>,
}

impl std::fmt::Debug for LegacySealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LegacySealed(<sealed>)")
    }
}

/// One version of an entry in the legacy layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyRow {
    pub id: u64,
    pub authority: String,
    pub version: u32,
    pub valid_from: Date,
    pub valid_to: Option<Date>,
    pub recorded_at: i64,
    pub deleted: bool,
    pub change: String,
    pub franchise: String,
    /// Bit 0: open-register opt-out; bit 1: anonymous.
    pub flags: i64,
    pub absent_vote: Option<String>,
    pub absent_vote_expires: Option<Date>,
    pub key_generation: u32,
    pub sealed: LegacySealed,
    /// The NINO's full-width blind index (a NINO itself was never stored).
    pub nino: Option<i64>,
}

/// Reads of legacy rows, in any transaction.
pub trait LegacyRead {
    /// Whether any legacy row is left.
    fn legacy_pending(&self) -> crate::Result<bool>;
    /// The current legacy row with this (legacy) id.
    fn legacy_elector(&self, id: u64) -> crate::Result<Option<LegacyRow>>;
    /// Every version of a legacy entry, oldest first, the current one last.
    fn legacy_history(&self, id: u64) -> crate::Result<Vec<LegacyRow>>;
    /// Ids of undeleted legacy entries of `authority` whose full-width `table` index holds
    /// `value` (legacy blind values are the full HMACs).
    fn legacy_find(&self, authority: &str, table: crate::IndexTable, value: i64) -> crate::Result<Vec<u64>>;
    /// Current legacy rows of `authority` that are registered on `date` (all undeleted
    /// current rows if `date` is None), and with a date also the legacy history rows.
    fn legacy_registered(
        &self,
        authority: &str,
        date: Option<Date>,
        visit: &mut dyn FnMut(LegacyRow) -> crate::Result<()>,
    ) -> crate::Result<u64>;
    /// Up to `limit` ids of current legacy rows, lowest first.
    fn legacy_batch(&self, limit: usize) -> crate::Result<Vec<u64>>;
    /// Sequence numbers below this were ids of the legacy layout.
    fn legacy_watermark(&self) -> crate::Result<u64>;
}

/// Changes to legacy rows, in a write transaction.
pub trait LegacyWrite: LegacyRead {
    /// Removes a legacy entry: its current and history rows and its index entries.
    fn legacy_remove(&mut self, id: u64) -> crate::Result<()>;
    /// Rewrites references to legacy ids (read charges, area charges, applications) through
    /// `new_id`, once no legacy row is left; a reference that is already a current elector's
    /// id is kept, so running it again changes nothing.
    fn legacy_remap_references(&mut self, new_id: &dyn Fn(u64) -> u64) -> crate::Result<u64>;
}
