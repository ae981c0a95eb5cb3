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
mod import;
mod import_canaries;
mod keys;
mod publish;
pub mod registry;
mod tickets;

pub use applications::ApplicationView;
pub use csv_format::{CsvColumn, CSV_COLUMNS};
pub use error::{ImportError, VaultError};
pub use import::{read_entries, ImportOptions, ImportReport, Progress, CANARIES_PER_100K};
pub use keys::{purpose, KekRotation, KeyringOpener, Keys, ResealReport};
pub use publish::{included_ids, write_register, write_register_marked, RegisterKind, Sink};
pub use registry::{CanaryRecord, Mark, PreparedSupply, Registry, SupplyRecord, SupplyRequest};
pub use tickets::{Collection, Decision, SupplyTicket, TicketState};

use rollguard_register::normalise::{date_key, identity_key, name_key, number_key, postcode_key};
use rollguard_register::{ChangeKind, Date, DeletionReason, ElectorEntry, EntryText, FranchiseTable, Nino};
use rollguard_sealing::{FieldContext, IndexKey, IndexKind, KeyBytes, SealKey};
use rollguard_store::{
    AuthorityRecord, BlindIndexes, BlindQuery, ElectorRow, EntryFlags, IdKind, ReadTx, SealedFields, WriteTx,
};
use std::collections::{BTreeMap, HashMap};
use zeroize::Zeroizing;

pub type Result<T> = std::result::Result<T, VaultError>;

/// Field names bound into each ciphertext's associated data.
pub(crate) mod field {
    pub const NUMBER: &str = "number";
    pub const NAME: &str = "name";
    pub const PREVIOUS_NAMES: &str = "previous_names";
    pub const ADDRESS: &str = "address";
    pub const DATE_OF_BIRTH: &str = "date_of_birth";
    pub const OVERSEAS: &str = "overseas";
    pub const CONTACT: &str = "contact";
    pub const APPLICATION: &str = "application";
}

/// One authority's unwrapped keys and rules.
#[derive(Clone)]
pub(crate) struct AuthorityKeys {
    pub code: String,
    pub table: FranchiseTable,
    /// Every seal-key generation still referenced; the highest unretired one seals.
    pub seal: BTreeMap<u32, SealKey>,
    pub active_seal: u32,
    pub index: IndexKey,
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

    pub(crate) fn blind_indexes(&self, entry: &ElectorEntry, nino: Option<&Nino>) -> BlindIndexes {
        let b = |kind, v: &str| self.index.blind(kind, v).0;
        // Anonymous entries keep name, address and birth out of every index: they cannot be
        // found by what is withheld.
        let personal = !entry.anonymous;
        BlindIndexes {
            surname: personal.then(|| b(IndexKind::Surname, &name_key(&entry.name.surname))),
            postcode: personal.then(|| b(IndexKind::Postcode, &postcode_key(&entry.address.postcode))),
            date_of_birth: entry
                .date_of_birth
                .filter(|_| personal)
                .map(|d| b(IndexKind::DateOfBirth, &date_key(d))),
            number: b(IndexKind::ElectorNumber, &number_key(&entry.number)),
            nino: nino.map(|n| b(IndexKind::Nino, n.normalised())),
            identity: b(IndexKind::Identity, &identity_key(&entry.name, entry.date_of_birth, &entry.address)),
        }
    }

    pub(crate) fn seal_fields(&self, id: u64, version: u32, e: &ElectorEntry) -> SealedFields {
        let key = self.active();
        let seal = |f: &str, text: &str| key.seal(&self.ctx(id, f, version), text.as_bytes()).0;
        SealedFields {
            number: seal(field::NUMBER, &codec::number(&e.number)),
            name: seal(field::NAME, &codec::name(&e.name)),
            previous_names: codec::previous_names(&e.previous_names).map(|t| seal(field::PREVIOUS_NAMES, &t)),
            address: seal(field::ADDRESS, &codec::address(&e.address)),
            date_of_birth: codec::dates(e.date_of_birth, e.attainer_date)
                .map(|t| seal(field::DATE_OF_BIRTH, &t)),
            overseas: e.overseas.as_ref().map(|o| seal(field::OVERSEAS, &codec::overseas(o))),
            contact: codec::contact(&e.contact).map(|t| seal(field::CONTACT, &t)),
        }
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
        nino: Option<&Nino>,
    ) -> ElectorRow {
        ElectorRow {
            id,
            authority: self.code.clone(),
            version,
            valid_from,
            valid_to: None,
            recorded_at,
            deleted: change.is_deletion(),
            change: change.code(),
            franchise: entry.franchise.as_str().to_owned(),
            flags: EntryFlags {
                open_register_opt_out: entry.open_register_opt_out,
                anonymous: entry.anonymous,
            },
            absent_vote: entry.absent_vote.as_ref().map(|a| a.kind.code().to_owned()),
            absent_vote_expires: entry.absent_vote.as_ref().and_then(|a| a.expires),
            key_generation: self.active_seal,
            sealed: self.seal_fields(id, version, entry),
            blind: self.blind_indexes(entry, nino),
        }
    }

    fn open_field(&self, row: &ElectorRow, field: &'static str, sealed: &[u8]) -> Result<Zeroizing<String>> {
        let key = self.seal_key(row.key_generation)?;
        let plain = key.open(&self.ctx(row.id, field, row.version), sealed)?;
        String::from_utf8(plain.to_vec()).map(Zeroizing::new).map_err(|_| codec::DecodeError(field).into())
    }

    /// Opens every sealed field of a stored row. Fails closed: any tampered field fails the read.
    pub(crate) fn open_row(&self, row: &ElectorRow) -> Result<ElectorEntry> {
        let s = &row.sealed;
        let number = codec::decode_number(&self.open_field(row, field::NUMBER, &s.number)?)?;
        let name = codec::decode_name(&self.open_field(row, field::NAME, &s.name)?)?;
        let previous_names = match &s.previous_names {
            Some(p) => codec::decode_previous_names(&self.open_field(row, field::PREVIOUS_NAMES, p)?)?,
            None => Vec::new(),
        };
        let address = codec::decode_address(&self.open_field(row, field::ADDRESS, &s.address)?)?;
        let (date_of_birth, attainer_date) = match &s.date_of_birth {
            Some(d) => codec::decode_dates(&self.open_field(row, field::DATE_OF_BIRTH, d)?)?,
            None => (None, None),
        };
        let overseas = match &s.overseas {
            Some(o) => Some(codec::decode_overseas(&self.open_field(row, field::OVERSEAS, o)?)?),
            None => None,
        };
        let contact = match &s.contact {
            Some(c) => codec::decode_contact(&self.open_field(row, field::CONTACT, c)?)?,
            None => Default::default(),
        };
        let franchise = self.table.marker("franchise_marker", &row.franchise).map_err(|_| {
            VaultError::Corrupt(format!("elector {} has an unknown franchise marker", row.id))
        })?;
        let absent_vote = match &row.absent_vote {
            Some(kind) => Some(rollguard_register::AbsentVote {
                kind: kind
                    .parse()
                    .map_err(|_| VaultError::Corrupt(format!("elector {} absent vote", row.id)))?,
                expires: row.absent_vote_expires,
            }),
            None => None,
        };
        Ok(ElectorEntry {
            number,
            name,
            previous_names,
            address,
            date_of_birth,
            attainer_date,
            franchise,
            open_register_opt_out: row.flags.open_register_opt_out,
            anonymous: row.flags.anonymous,
            absent_vote,
            overseas,
            contact,
        })
    }
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

    /// Reads the current version of one elector.
    pub fn elector(&self, tx: &dyn ReadTx, id: u64) -> Result<Elector> {
        let row = tx.elector(id)?.ok_or(VaultError::UnknownElector(id))?;
        self.open_elector(&row)
    }

    pub(crate) fn open_elector(&self, row: &ElectorRow) -> Result<Elector> {
        let entry = self.keys(&row.authority)?.open_row(row)?;
        Ok(Elector {
            id: row.id,
            authority: row.authority.clone(),
            version: row.version,
            valid_from: row.valid_from,
            valid_to: row.valid_to,
            deleted: row.deleted,
            change: row.change.clone(),
            entry,
        })
    }

    /// Every version of one elector, oldest first.
    pub fn history(&self, tx: &dyn ReadTx, id: u64) -> Result<Vec<Elector>> {
        tx.elector_history(id)?.iter().map(|r| self.open_elector(r)).collect()
    }

    /// Blind-index search within one authority. Results are opened and re-checked against the
    /// normalised query, so a blind-index collision never returns a wrong elector.
    pub fn search(&self, tx: &dyn ReadTx, authority: &str, q: &Search) -> Result<Vec<Elector>> {
        let keys = self.keys(authority)?;
        let b = |kind, v: String| Some(keys.index.blind(kind, &v).0);
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
        let query = BlindQuery {
            surname: surname.clone().and_then(|s| b(IndexKind::Surname, s)),
            postcode: postcode.as_ref().and_then(|p| b(IndexKind::Postcode, postcode_key(p))),
            date_of_birth: dob.and_then(|d| b(IndexKind::DateOfBirth, date_key(d))),
            number: number.as_ref().and_then(|n| b(IndexKind::ElectorNumber, number_key(n))),
        };
        if query.is_empty() {
            return Err(VaultError::EmptySearch);
        }
        let mut out = Vec::new();
        for row in tx.find_electors(authority, &query)? {
            let e = self.open_elector(&row)?;
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
        let id = tx.reserve_ids(IdKind::Elector, 1)?;
        let row = keys.row(id, 1, effective, now, &ChangeKind::Added, &entry, nino.as_ref());
        check_duplicates(&*tx, authority, &row, allow_possible_duplicate)?;
        tx.insert_elector(&row)?;
        Ok(id)
    }

    /// The current version of an entry that may take a new version effective `effective`:
    /// not deleted, and not back-dated before the version it replaces.
    fn changeable(&self, tx: &dyn ReadTx, id: u64, effective: Date) -> Result<(ElectorRow, Elector)> {
        let row = tx.elector(id)?.ok_or(VaultError::UnknownElector(id))?;
        if row.deleted {
            return Err(rollguard_register::LifecycleError::EntryDeleted.into());
        }
        if effective < row.valid_from {
            return Err(VaultError::EffectiveBeforeCurrent);
        }
        let opened = self.open_elector(&row)?;
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
        let (current_row, current) = self.changeable(&*tx, id, effective)?;
        if let Some(v) = expected_version.filter(|v| *v != current_row.version) {
            return Err(rollguard_store::StoreError::VersionConflict { id, expected: v }.into());
        }
        let keys = self.keys(&current_row.authority)?;
        let (entry, nino) = text.validate(&keys.table, today)?;
        // An empty NINO keeps the stored hash.
        let new_nino = match &nino {
            Some(n) => Some(keys.index.blind(IndexKind::Nino, n.normalised()).0),
            None => current_row.blind.nino,
        };
        let mut changed = changed_fields(&current.entry, &entry);
        if new_nino != current_row.blind.nino {
            changed.push("nino".into());
        }
        if changed.is_empty() {
            return Err(VaultError::NothingChanged);
        }
        let version = current_row.version + 1;
        let change = ChangeKind::Amended(changed.clone());
        let mut row = keys.row(id, version, effective, now, &change, &entry, None);
        row.blind.nino = new_nino;
        if row.blind.nino != current_row.blind.nino || row.blind.identity != current_row.blind.identity {
            let others: Vec<u64> = tx
                .possible_duplicates(
                    &current_row.authority,
                    row.blind.identity,
                    row.blind.nino.filter(|n| Some(*n) != current_row.blind.nino),
                )?
                .into_iter()
                .filter(|o| *o != id)
                .collect();
            if !others.is_empty() {
                return Err(VaultError::PossibleDuplicate { existing: others });
            }
        }
        tx.supersede_elector(&row)?;
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
        let (current_row, current) = self.changeable(&*tx, id, effective)?;
        let keys = self.keys(&current_row.authority)?;
        let version = current_row.version + 1;
        let mut row =
            keys.row(id, version, effective, now, &ChangeKind::Deleted(reason), &current.entry, None);
        row.blind.nino = current_row.blind.nino;
        tx.supersede_elector(&row)?;
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

pub(crate) fn check_duplicates(
    tx: &dyn ReadTx,
    authority: &str,
    row: &ElectorRow,
    allow_possible: bool,
) -> Result<()> {
    let ids = tx.possible_duplicates(authority, row.blind.identity, row.blind.nino)?;
    if ids.is_empty() {
        return Ok(());
    }
    if row.blind.nino.is_some() {
        for id in &ids {
            if let Some(other) = tx.elector(*id)? {
                if other.blind.nino == row.blind.nino {
                    return Err(VaultError::DuplicateNino { existing: *id });
                }
            }
        }
    }
    if allow_possible {
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
