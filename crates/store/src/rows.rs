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

/// The sealed personal fields of one version. Each is nonce ‖ ciphertext ‖ tag.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SealedFields {
    pub number: Vec<u8>,
    pub name: Vec<u8>,
    pub previous_names: Option<Vec<u8>>,
    pub address: Vec<u8>,
    pub date_of_birth: Option<Vec<u8>>,
    pub overseas: Option<Vec<u8>>,
    pub contact: Option<Vec<u8>>,
}

impl std::fmt::Debug for SealedFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedFields(<sealed>)")
    }
}

/// Blind indexes of one version. Anonymous entries carry no name, address or birth indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlindIndexes {
    pub surname: Option<i64>,
    pub postcode: Option<i64>,
    pub date_of_birth: Option<i64>,
    pub number: i64,
    pub nino: Option<i64>,
    pub identity: i64,
}

/// Equality search over blind indexes; every field given must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlindQuery {
    pub surname: Option<i64>,
    pub postcode: Option<i64>,
    pub date_of_birth: Option<i64>,
    pub number: Option<i64>,
}

impl BlindQuery {
    pub fn is_empty(&self) -> bool {
        self.surname.is_none()
            && self.postcode.is_none()
            && self.date_of_birth.is_none()
            && self.number.is_none()
    }
}

/// One version of an elector's entry as storage keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// What this version changed: `added`, `amended:field,field`, `deleted:reason`.
    pub change: String,
    pub franchise: String,
    pub flags: EntryFlags,
    pub absent_vote: Option<String>,
    pub absent_vote_expires: Option<Date>,
    pub key_generation: u32,
    pub sealed: SealedFields,
    pub blind: BlindIndexes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntryFlags {
    pub open_register_opt_out: bool,
    pub anonymous: bool,
}

impl EntryFlags {
    pub fn bits(self) -> i64 {
        i64::from(self.open_register_opt_out) | (i64::from(self.anonymous) << 1)
    }

    pub fn from_bits(bits: i64) -> Self {
        Self { open_register_opt_out: bits & 1 != 0, anonymous: bits & 2 != 0 }
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
