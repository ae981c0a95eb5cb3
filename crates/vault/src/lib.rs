//! The vault: the protected register. Everything personal is sealed here before it reaches
//! a store transaction, and opened here after it leaves one. [`Keys`] holds the process's
//! unwrapped data keys (reloaded when the register's key epoch moves); the keyring holds the
//! keys that wrap them; the store holds only wrapped keys, ciphertexts and blind indexes.
//!
//! A [`Vault`] is one snapshot of those keys. Its operations take the caller's transaction,
//! so a use case that seals, checks and writes is one unit with its audit event.
#![forbid(unsafe_code)]

mod applications;
/// The plaintext encodings of sealed fields; public so benchmarks can store the same bytes.
pub mod codec;
mod csv_format;
mod error;
mod ids;
mod import;
mod import_canaries;
mod keys;
mod plans;
mod publish;
pub mod record;
mod search;
pub(crate) use search::{BlindValues, References};
pub mod registry;
mod tickets;
mod upgrade;

pub use applications::ApplicationView;
pub use csv_format::{CsvColumn, CSV_COLUMNS};
pub use error::{ImportError, VaultError};
pub(crate) use ids::IdScheme;
pub use ids::{ID_BASE, SEQUENCE_BITS};
pub use import::{read_entries, ImportOptions, ImportReport, Progress, CANARIES_PER_100K};
pub use keys::{purpose, KekRotation, KeyringOpener, Keys, ResealReport};
pub use plans::{planned_bits, ReindexReport, Widths};
pub use publish::{included_ids, write_register, write_register_marked, RegisterKind, Sink};
pub use registry::{CanaryRecord, Mark, PreparedSupply, Registry, SupplyRecord, SupplyRequest};
pub use tickets::{Collection, Decision, SupplyTicket, TicketState};
pub use upgrade::UpgradeReport;

use rollguard_register::normalise::{date_key, identity_key, name_key, number_key, postcode_key};
use rollguard_register::{ChangeKind, Date, DeletionReason, ElectorEntry, EntryText, FranchiseTable, Nino};
use rollguard_sealing::{unpad, FieldContext, IndexKey, IndexKind, KeyBytes, PadSizes, SealKey};
use rollguard_store::{AuthorityRecord, ElectorRow, IdKind, IndexTable, ReadTx, WriteTx};
use std::collections::{BTreeMap, HashMap};
use zeroize::Zeroizing;

pub type Result<T> = std::result::Result<T, VaultError>;

/// Field names bound into each ciphertext's associated data.
pub(crate) mod field {
    /// The whole of one version of an entry (see [`crate::codec::entry`]).
    pub const ENTRY: &str = "entry";
    pub const APPLICATION: &str = "application";
}

/// The sizes a sealed entry's record is padded to. Nearly every entry fits the first (99% of
/// generated ones as imported, `record` tests); previous names, overseas details and long contact details
/// may take the next.
pub const ENTRY_SIZES: PadSizes = PadSizes(&[136, 256, 512, 1024]);

/// One authority's unwrapped keys and rules.
#[derive(Clone)]
pub(crate) struct AuthorityKeys {
    pub code: String,
    pub table: FranchiseTable,
    /// Every seal-key generation still referenced; the highest unretired one seals.
    pub seal: BTreeMap<u32, SealKey>,
    pub active_seal: u32,
    pub index: IndexKey,
    /// The references of the surname, postcode, birth-date and NINO tables.
    pub refs: References,
}

impl AuthorityKeys {
    fn active(&self) -> &SealKey {
        &self.seal[&self.active_seal]
    }

    fn seal_key(&self, generation: u32) -> Result<&SealKey> {
        self.seal.get(&generation).ok_or_else(|| {
            VaultError::Corrupt(format!("{} has no seal key generation {generation}", self.code))
        })
    }

    pub(crate) fn ctx<'a>(&'a self, record: u64, field: &'a str, version: u32) -> FieldContext<'a> {
        FieldContext { authority: &self.code, record, field, version }
    }

    pub(crate) fn blind_values(&self, entry: &ElectorEntry, nino: Option<i64>) -> BlindValues {
        let b = |kind, v: &str| self.index.blind(kind, v).0;
        // Anonymous entries keep name, address and birth out of every index: they cannot be
        // found by what is withheld.
        let personal = !entry.anonymous;
        BlindValues {
            surname: personal.then(|| b(IndexKind::Surname, &name_key(&entry.name.surname))),
            postcode: personal.then(|| b(IndexKind::Postcode, &postcode_key(&entry.address.postcode))),
            date_of_birth: entry
                .date_of_birth
                .filter(|_| personal)
                .map(|d| b(IndexKind::DateOfBirth, &date_key(d))),
            number: b(IndexKind::ElectorNumber, &number_key(&entry.number)),
            nino,
            identity: b(IndexKind::Identity, &identity_key(&entry.name, entry.date_of_birth, &entry.address)),
        }
    }

    pub(crate) fn nino_value(&self, nino: &Nino) -> i64 {
        self.index.blind(IndexKind::Nino, nino.normalised()).0
    }

    /// Seals one version of an entry as one padded value.
    pub(crate) fn seal_entry(
        &self,
        id: u64,
        version: u32,
        e: &ElectorEntry,
        change: &str,
        nino: Option<i64>,
    ) -> Vec<u8> {
        let plain = Zeroizing::new(ENTRY_SIZES.pad(&Zeroizing::new(record::encode(e, change, nino))));
        self.active().seal(&self.ctx(id, field::ENTRY, version), &plain).0
    }

    /// Seals an already padded plaintext of a version (a re-seal).
    pub(crate) fn seal_padded(&self, id: u64, version: u32, plain: &[u8]) -> Vec<u8> {
        self.active().seal(&self.ctx(id, field::ENTRY, version), plain).0
    }

    /// Builds the stored row for a version of an entry.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn row(
        &self,
        id: u64,
        version: u32,
        valid_from: Date,
        recorded_at: i64,
        change: &ChangeKind,
        entry: &ElectorEntry,
        nino: Option<i64>,
    ) -> ElectorRow {
        let what = Version { id, version, valid_from, recorded_at, deleted: change.is_deletion() };
        self.row_of(&what, &change.code(), entry, nino)
    }

    /// Builds the stored row for a version whose change is already coded.
    pub(crate) fn row_of(
        &self,
        v: &Version,
        change: &str,
        entry: &ElectorEntry,
        nino: Option<i64>,
    ) -> ElectorRow {
        ElectorRow {
            id: v.id,
            authority: self.code.clone(),
            version: v.version,
            valid_from: v.valid_from,
            valid_to: None,
            recorded_at: v.recorded_at,
            deleted: v.deleted,
            key_generation: self.active_seal,
            sealed: self.seal_entry(v.id, v.version, entry, change, nino),
        }
    }

    /// The padded plaintext of a stored row. Fails closed: a tampered row fails the read.
    pub(crate) fn open_plain(&self, row: &ElectorRow) -> Result<Zeroizing<Vec<u8>>> {
        let key = self.seal_key(row.key_generation)?;
        Ok(key.open(&self.ctx(row.id, field::ENTRY, row.version), &row.sealed)?)
    }

    /// Opens a stored row.
    pub(crate) fn open_row(&self, row: &ElectorRow) -> Result<record::EntryRecord> {
        let plain = self.open_plain(row)?;
        let bytes = unpad(&plain).ok_or(codec::DecodeError(field::ENTRY))?;
        Ok(record::decode(bytes, &self.table)?)
    }
}

/// Where a version sits: the clear columns of its row.
pub(crate) struct Version {
    pub id: u64,
    pub version: u32,
    pub valid_from: Date,
    pub recorded_at: i64,
    pub deleted: bool,
}

/// One version of an elector's entry, opened.
#[derive(Debug, Clone)]
pub struct Elector {
    pub id: u64,
    pub authority: String,
    pub version: u32,
    pub valid_from: Date,
    pub valid_to: Option<Date>,
    pub deleted: bool,
    /// What this version changed: `added`, `amended:field,…`, `deleted:reason`.
    pub change: String,
    pub entry: ElectorEntry,
}

/// Equality search; every field given must match (after normalisation).
#[derive(Debug, Default, Clone)]
pub struct Search {
    pub surname: Option<String>,
    pub postcode: Option<String>,
    pub date_of_birth: Option<String>,
    pub elector_number: Option<String>,
}

/// The unwrapped keys as of one key epoch: every authority's data keys, and the system keys.
pub struct Vault {
    pub(crate) epoch: u64,
    pub(crate) authorities: HashMap<String, AuthorityKeys>,
    pub(crate) system: HashMap<String, KeyBytes>,
    /// Elector sequence numbers → ids (see [`purpose::ELECTOR_IDS`]).
    pub(crate) ids: Option<IdScheme>,
}

impl Vault {
    pub(crate) fn keys(&self, authority: &str) -> Result<&AuthorityKeys> {
        self.authorities.get(authority).ok_or_else(|| VaultError::UnknownAuthority(authority.to_owned()))
    }

    /// Whether these keys include `authority`'s.
    pub fn knows(&self, authority: &str) -> bool {
        self.authorities.contains_key(authority)
    }

    /// The blind index of polling district `district` (upper case, as an elector number
    /// holds it) in `authority`: district coverage counts reads by it, and the import counts
    /// each district's entries under it.
    pub fn district_area(&self, authority: &str, district: &str) -> Result<i64> {
        Ok(self.keys(authority)?.index.blind(IndexKind::District, district).0)
    }

    /// The key epoch these keys were loaded at.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// A system key (see [`purpose`]).
    pub fn system_key(&self, purpose: &str) -> Result<&KeyBytes> {
        self.system
            .get(purpose)
            .ok_or_else(|| VaultError::Corrupt(format!("the register has no system key {purpose}")))
    }

    pub fn franchise_table(&self, authority: &str) -> Result<&FranchiseTable> {
        Ok(&self.keys(authority)?.table)
    }

    /// Whether the authority exists (as of these keys).
    pub fn has_authority(&self, authority: &str) -> bool {
        self.authorities.contains_key(authority)
    }

    /// The id of the elector of the authority numbered `authority_number` (see
    /// [`rollguard_store::RegisterRead::authority_number`]) given sequence number `sequence`:
    /// ids are a keyed permutation of the register's sequence, so they carry no order.
    pub fn elector_id(&self, authority_number: u64, sequence: u64) -> Result<u64> {
        self.id_scheme()?
            .id(authority_number, sequence)
            .ok_or_else(|| VaultError::Corrupt("the elector sequence is exhausted".into()))
    }

    pub(crate) fn id_scheme(&self) -> Result<&IdScheme> {
        self.ids.as_ref().ok_or_else(|| VaultError::Corrupt("the register has no elector id key".into()))
    }

    /// A new elector id of `authority`, reserved in `tx`.
    pub(crate) fn new_elector_id(&self, tx: &mut dyn WriteTx, authority: &str) -> Result<u64> {
        let number = tx.authority_number(authority)?;
        self.elector_id(number, tx.reserve_ids(IdKind::Elector, 1)?)
    }

    /// The sequence number behind an elector id of any authority (see [`Vault::elector_id`]).
    pub fn elector_sequence(&self, id: u64) -> Option<u64> {
        self.ids.as_ref()?.sequence(id)
    }

    /// Reads the current version of one elector.
    pub fn elector(&self, tx: &dyn ReadTx, id: u64) -> Result<Elector> {
        if let Some(row) = tx.elector(id)? {
            return self.open_elector(&row);
        }
        if let Some(legacy) = self.legacy_for(tx, id)? {
            return self.open_legacy_elector(&legacy);
        }
        match self.resolve_id(tx, id)? {
            moved if moved != id => self.elector(tx, moved),
            _ => Err(VaultError::UnknownElector(id)),
        }
    }

    pub(crate) fn open_elector(&self, row: &ElectorRow) -> Result<Elector> {
        let record = self.keys(&row.authority)?.open_row(row)?;
        Ok(Elector {
            id: row.id,
            authority: row.authority.clone(),
            version: row.version,
            valid_from: row.valid_from,
            valid_to: row.valid_to,
            deleted: row.deleted,
            change: record.change,
            entry: record.entry,
        })
    }

    /// Every version of one elector, oldest first.
    pub fn history(&self, tx: &dyn ReadTx, id: u64) -> Result<Vec<Elector>> {
        match tx.elector_history(id) {
            Ok(rows) => return rows.iter().map(|r| self.open_elector(r)).collect(),
            Err(rollguard_store::StoreError::UnknownElector(_)) => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(legacy) = self.legacy_for(tx, id)? {
            return self.legacy_versions(tx, &legacy);
        }
        match self.resolve_id(tx, id)? {
            moved if moved != id => self.history(tx, moved),
            _ => Err(VaultError::UnknownElector(id)),
        }
    }

    /// The id `id` names now, moving its entry out of the legacy layout first if it is still
    /// there (a write meets the entry only in the sealed layout).
    fn writable_id(&self, tx: &mut dyn WriteTx, id: u64) -> Result<u64> {
        if tx.elector(id)?.is_some() {
            return Ok(id);
        }
        if let Some(legacy) = self.legacy_for(&*tx, id)? {
            return self.move_legacy(tx, legacy.id);
        }
        self.resolve_id(&*tx, id)
    }

    /// Adds an elector directly (for example a correction by the ERO), in `tx`. Refuses a NINO
    /// already registered, and a possible duplicate (same normalised name, birth date and
    /// address) unless `allow_possible_duplicate`. `now` is Unix seconds.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &self,
        tx: &mut dyn WriteTx,
        authority: &str,
        text: &EntryText,
        effective: Date,
        today: Date,
        now: i64,
        allow_possible_duplicate: bool,
    ) -> Result<u64> {
        let keys = self.keys(authority)?;
        let (entry, nino) = text.validate(&keys.table, today)?;
        let nino = nino.as_ref().map(|n| keys.nino_value(n));
        let blind = keys.blind_values(&entry, nino);
        check_duplicates(&*tx, keys, &blind, None, allow_possible_duplicate)?;
        let id = self.new_elector_id(tx, authority)?;
        let row = keys.row(id, 1, effective, now, &ChangeKind::Added, &entry, nino);
        let widths = Widths::of(&*tx, authority)?;
        tx.insert_elector(&row, &blind.stored(&keys.refs, id, false, &widths))?;
        Ok(id)
    }

    /// The current version of an entry that may take a new version effective `effective`:
    /// not deleted, and not back-dated before the version it replaces.
    fn changeable(
        &self,
        tx: &dyn ReadTx,
        id: u64,
        effective: Date,
    ) -> Result<(ElectorRow, record::EntryRecord)> {
        let row = tx.elector(id)?.ok_or(VaultError::UnknownElector(id))?;
        if row.deleted {
            return Err(rollguard_register::LifecycleError::EntryDeleted.into());
        }
        if effective < row.valid_from {
            return Err(VaultError::EffectiveBeforeCurrent);
        }
        let opened = self.keys(&row.authority)?.open_row(&row)?;
        Ok((row, opened))
    }

    /// Amends an entry in `tx`: `text` is the whole new entry (leave `nino` empty to keep the
    /// stored hash). Records which fields changed, never their values. `expected_version`,
    /// if given, must be the current version (else a version conflict).
    #[allow(clippy::too_many_arguments)]
    pub fn amend(
        &self,
        tx: &mut dyn WriteTx,
        id: u64,
        text: &EntryText,
        effective: Date,
        today: Date,
        now: i64,
        expected_version: Option<u32>,
    ) -> Result<Amended> {
        let id = self.writable_id(tx, id)?;
        let (current_row, current) = self.changeable(&*tx, id, effective)?;
        if let Some(v) = expected_version.filter(|v| *v != current_row.version) {
            return Err(rollguard_store::StoreError::VersionConflict { id, expected: v }.into());
        }
        let keys = self.keys(&current_row.authority)?;
        let (entry, nino) = text.validate(&keys.table, today)?;
        // An empty NINO keeps the stored hash.
        let new_nino = nino.as_ref().map(|n| keys.nino_value(n)).or(current.nino);
        let mut changed = changed_fields(&current.entry, &entry);
        if new_nino != current.nino {
            changed.push("nino".into());
        }
        if changed.is_empty() {
            return Err(VaultError::NothingChanged);
        }
        let old = keys.blind_values(&current.entry, current.nino);
        let new = keys.blind_values(&entry, new_nino);
        if new.nino != old.nino || new.identity != old.identity {
            let fresh_nino = new.nino.filter(|n| Some(*n) != old.nino);
            let probe = BlindValues { nino: fresh_nino, ..new };
            check_duplicates(&*tx, keys, &probe, Some(id), false)?;
        }
        let version = current_row.version + 1;
        let change = ChangeKind::Amended(changed.clone());
        let row = keys.row(id, version, effective, now, &change, &entry, new_nino);
        let widths = Widths::of(&*tx, &current_row.authority)?;
        let (remove, add) =
            (old.stored(&keys.refs, id, false, &widths), new.stored(&keys.refs, id, false, &widths));
        tx.supersede_elector(&row, &remove, &add)?;
        Ok(Amended { authority: current_row.authority, version, fields: changed })
    }

    /// Deletes an entry with a reason, in `tx`. The entry's history stays, sealed as it was.
    /// Returns the authority and the new version.
    pub fn delete(
        &self,
        tx: &mut dyn WriteTx,
        id: u64,
        reason: DeletionReason,
        effective: Date,
        now: i64,
    ) -> Result<(String, u32)> {
        let id = self.writable_id(tx, id)?;
        let (current_row, current) = self.changeable(&*tx, id, effective)?;
        let keys = self.keys(&current_row.authority)?;
        let version = current_row.version + 1;
        let row =
            keys.row(id, version, effective, now, &ChangeKind::Deleted(reason), &current.entry, current.nino);
        let widths = Widths::of(&*tx, &current_row.authority)?;
        let blind = keys.blind_values(&current.entry, current.nino);
        let (remove, add) =
            (blind.stored(&keys.refs, id, false, &widths), blind.stored(&keys.refs, id, true, &widths));
        tx.supersede_elector(&row, &remove, &add)?;
        Ok((current_row.authority, version))
    }

    /// The register as it stood on `date`: every elector registered that day, in elector
    /// number order.
    pub fn register_on(&self, tx: &dyn ReadTx, authority: &str, date: Date) -> Result<Vec<Elector>> {
        self.keys(authority)?;
        let mut out = Vec::new();
        tx.registered_on(authority, date, &mut |row| {
            out.push(row);
            Ok(())
        })?;
        let mut opened = out.iter().map(|r| self.open_elector(r)).collect::<Result<Vec<_>>>()?;
        let mut legacy = Vec::new();
        tx.legacy_registered(authority, Some(date), &mut |r| {
            legacy.push(r);
            Ok(())
        })?;
        for r in &legacy {
            opened.push(self.open_legacy_elector(r)?);
        }
        opened.sort_by(|a, b| a.entry.number.cmp(&b.entry.number));
        Ok(opened)
    }
}

/// What an amendment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amended {
    pub authority: String,
    pub version: u32,
    /// The fields that changed (names only).
    pub fields: Vec<String>,
}

/// Ids of live entries of the authority that share the identity or the NINO of `blind`,
/// other than `except`: a NINO already registered is refused; a shared identity is a
/// possible duplicate, refused unless `allow_possible`.
pub(crate) fn check_duplicates(
    tx: &dyn ReadTx,
    keys: &AuthorityKeys,
    blind: &BlindValues,
    except: Option<u64>,
    allow_possible: bool,
) -> Result<()> {
    let lookup = |t: IndexTable, v: i64| -> Result<Vec<u64>> {
        Ok(tx
            .index_references(&keys.code, t, v, 100)?
            .into_iter()
            .filter_map(|r| keys.refs.id(t, r))
            .filter(|id| Some(*id) != except)
            .collect())
    };
    // During a layout upgrade, entries not moved yet count too (under the ids they move to).
    let legacy = |t: IndexTable, v: i64| -> Result<Vec<u64>> {
        if !tx.legacy_pending()? {
            return Ok(Vec::new());
        }
        let ids = tx.legacy_find(&keys.code, t, v)?;
        Ok(ids.into_iter().filter(|id| Some(*id) != except).collect())
    };
    if let Some(n) = blind.nino {
        let mut found = lookup(IndexTable::Nino, n)?;
        found.extend(legacy(IndexTable::Nino, n)?);
        if let Some(existing) = found.first() {
            return Err(VaultError::DuplicateNino { existing: *existing });
        }
    }
    let mut ids = lookup(IndexTable::Identity, blind.identity)?;
    ids.extend(legacy(IndexTable::Identity, blind.identity)?);
    if ids.is_empty() || allow_possible {
        Ok(())
    } else {
        Err(VaultError::PossibleDuplicate { existing: ids })
    }
}

/// Authorities as `tx` sees them.
pub fn authorities(tx: &dyn ReadTx) -> Result<Vec<AuthorityRecord>> {
    Ok(tx.authorities()?)
}

fn changed_fields(old: &ElectorEntry, new: &ElectorEntry) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |name: &str, differs: bool| {
        if differs {
            out.push(name.to_owned());
        }
    };
    check("elector_number", old.number != new.number);
    check("name", old.name != new.name);
    check("previous_names", old.previous_names != new.previous_names);
    check("address", old.address != new.address);
    check("date_of_birth", old.date_of_birth != new.date_of_birth);
    check("attainer_date", old.attainer_date != new.attainer_date);
    check("franchise_marker", old.franchise != new.franchise);
    check("open_register_opt_out", old.open_register_opt_out != new.open_register_opt_out);
    check("anonymous", old.anonymous != new.anonymous);
    check("absent_vote", old.absent_vote != new.absent_vote);
    check("overseas", old.overseas != new.overseas);
    check("contact", old.contact != new.contact);
    out
}
