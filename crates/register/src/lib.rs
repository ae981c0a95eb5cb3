//! The register core: what an elector's entry is, what makes it valid, and how an
//! entry and an application move through their lifecycle.
//!
//! This crate does no I/O. Storage, sealing and interfaces live in other crates and
//! speak to the register through these types.
//!
//! Personal data never leaks through `Debug`: every type that holds a name, an address,
//! a date of birth, a NINO or contact details prints a redaction.
#![forbid(unsafe_code)]

mod address;
mod date;
mod entry;
mod error;
mod franchise;
mod lifecycle;
mod name;
mod nino;
pub mod normalise;
mod number;
mod postcode;

pub use address::{Address, Uprn};
pub use date::{format_date, parse_date, Date};
pub use entry::{parse_bool, AbsentVote, AbsentVoteKind, Contact, ElectorEntry, EntryText, OverseasDetails};
pub use error::{Rule, ValidationError, ValidationErrors};
pub use franchise::{FranchiseMarker, FranchiseTable, Nation};
pub use lifecycle::{
    Application, ApplicationStatus, ChangeKind, DeletionReason, Determination, EntryStatus, IdentityRoute,
    LifecycleError, RejectionReason, VersionSpan,
};
pub use name::PersonName;
pub use nino::Nino;
pub use number::{ElectorNumber, PollingDistrict};
pub use postcode::Postcode;

/// Writes a fixed redaction, so personal values never reach logs or panics through `Debug`.
macro_rules! redacted_debug {
    ($($ty:ty),+ $(,)?) => {$(
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(concat!(stringify!($ty), "(<redacted>)"))
            }
        }
    )+};
}
pub(crate) use redacted_debug;
