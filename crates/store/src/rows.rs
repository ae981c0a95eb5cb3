use rollguard_register::{Date, Nation};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityRecord {
    /// Government Statistical Service code or another stable short code, e.g. `E07000223`.
    pub code: String,
    pub name: String,
    pub nation: Nation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyPurpose {
    Seal,
    Index,
}

impl KeyPurpose {
    pub fn code(self) -> &'static str {
        match self {
            KeyPurpose::Seal => "seal",
            KeyPurpose::Index => "index",
        }
    }
}

/// A data key as the database keeps it: wrapped, naming the KEK that wrapped it.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKeyRecord {
    pub authority: String,
    pub purpose: KeyPurpose,
    pub generation: u32,
    pub kek_id: String,
    pub wrapped: Vec<u8>,
    pub retired: bool,
}

impl std::fmt::Debug for DataKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DataKeyRecord {{ {}/{}/{} kek {} wrapped <{} bytes>{} }}",
            self.authority,
            self.purpose.code(),
            self.generation,
            self.kek_id,
            self.wrapped.len(),
            if self.retired { " retired" } else { "" }
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Elector,
    Application,
}

/// Blind-index tables. Number and identity are unique per elector and keep full-width values
/// and the elector id; surname, postcode and date of birth keep bucketed values (each shared by
/// several distinct values), and they and NINO keep a keyed permutation of the id, so no two
/// tables' rows of one elector can be joined without the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IndexTable {
    Number,
    Surname,
    Postcode,
    DateOfBirth,
    Nino,
    Identity,
}

impl IndexTable {
    pub const ALL: [IndexTable; 6] = [
        IndexTable::Number,
        IndexTable::Surname,
        IndexTable::Postcode,
        IndexTable::DateOfBirth,
        IndexTable::Nino,
        IndexTable::Identity,
    ];

    /// The tables whose values are bucketed, sized from the authority's row count.
    pub const BUCKETED: [IndexTable; 3] =
        [IndexTable::Surname, IndexTable::Postcode, IndexTable::DateOfBirth];

    pub fn code(self) -> &'static str {
        match self {
            IndexTable::Number => "number",
            IndexTable::Surname => "surname",
            IndexTable::Postcode => "postcode",
            IndexTable::DateOfBirth => "dob",
            IndexTable::Nino => "nino",
            IndexTable::Identity => "identity",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }
}

/// One blind-index row: its value and its reference (the elector id, or for tables that must
/// not join, a keyed permutation of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IndexEntry {
    pub table: IndexTable,
    pub value: i64,
    pub reference: u64,
}

/// How wide an authority's bucketed index is: values keep `bits` bits of the HMAC. While a
/// re-size runs, entries of electors up to `cursor` (in id order) have `target` bits and the
/// rest still `bits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexPlan {
    pub table: IndexTable,
    pub bits: u32,
    pub resize: Option<Resize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resize {
    pub target: u32,
    /// The highest elector id re-indexed so far (0: none yet).
    pub cursor: u64,
}

/// One version of an elector's entry as storage keeps it. Everything that describes the
/// person (fields, flags, franchise, absent vote, what the version changed, the NINO's
/// index value) is in `sealed`: one AEAD value, padded to one of a few sizes.
#[derive(Clone, PartialEq, Eq)]
pub struct ElectorRow {
    pub id: u64,
    pub authority: String,
    pub version: u32,
    pub valid_from: Date,
    /// Set on history rows: the day the next version took effect.
    pub valid_to: Option<Date>,
    /// Unix seconds when this version was written.
    pub recorded_at: i64,
    pub deleted: bool,
    pub key_generation: u32,
    /// nonce ‖ ciphertext ‖ tag.
    pub sealed: Vec<u8>,
}

impl std::fmt::Debug for ElectorRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ElectorRow {{ id {} of {} v{}{} sealed <{} bytes> }}",
            self.id,
            self.authority,
            self.version,
            if self.deleted { " deleted" } else { "" },
            self.sealed.len()
        )
    }
}

/// An application, with the applicant's details sealed as one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationRow {
    pub id: u64,
    pub authority: String,
    /// `received`, `identity-checked`, `added`, `rejected`.
    pub status: String,
    pub route: Option<String>,
    pub received_on: Date,
    pub determined_on: Option<Date>,
    /// The rejection reason code, when rejected.
    pub outcome: Option<String>,
    pub elector_id: Option<u64>,
    pub key_generation: u32,
    pub sealed_application: Vec<u8>,
    pub nino: Option<i64>,
    pub recorded_at: i64,
}

/// The stored value of a bucketed index entry: the top `bits` bits of the full blind value,
/// marked with the width (`1 << bits`), so entries of two widths never share a value.
pub fn bucket(full: i64, bits: u32) -> i64 {
    let bits = bits.clamp(1, 40);
    #[allow(clippy::cast_sign_loss)]
    let top = (full as u64) >> (64 - bits);
    #[allow(clippy::cast_possible_wrap)]
    let value = ((1u64 << bits) | top) as i64;
    value
}
