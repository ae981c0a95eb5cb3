//! Applications move received → identity checked → determined; entries move registered →
//! amended … → deleted. Every change of an entry is a version with an effective date, so the
//! register as it stood on any past date can be rebuilt.

use crate::date::Date;
use std::fmt;
use std::str::FromStr;

/// How an applicant's identity was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityRoute {
    /// Matched against national records (NINO and date of birth).
    NationalMatch,
    /// Matched against local data the authority holds.
    LocalData,
    /// Documentary evidence supplied by the applicant.
    DocumentaryEvidence,
    /// Attested by a registered elector of good standing.
    Attestation,
}

/// Why an entry was deleted. A code table, so reasons can be counted without reading notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeletionReason {
    MovedAway,
    Deceased,
    Duplicate,
    NotEligible,
    ReviewOutcome,
    ElectorRequest,
    CourtOrder,
}

/// Why an application was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectionReason {
    IdentityNotVerified,
    NotEligible,
    NotResident,
    Duplicate,
    Incomplete,
}

macro_rules! code_table {
    ($ty:ident, $table:literal, $($variant:ident => $code:literal),+ $(,)?) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            pub fn code(self) -> &'static str {
                match self { $($ty::$variant => $code),+ }
            }
        }
        impl FromStr for $ty {
            type Err = crate::ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim() {
                    $($code => Ok($ty::$variant),)+
                    _ => Err(crate::ValidationError::new($table, crate::Rule::UnknownCode($table))),
                }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.code())
            }
        }
    };
}

code_table!(IdentityRoute, "identity route",
    NationalMatch => "national-match", LocalData => "local-data",
    DocumentaryEvidence => "documentary-evidence", Attestation => "attestation");
code_table!(DeletionReason, "deletion reason",
    MovedAway => "moved-away", Deceased => "deceased", Duplicate => "duplicate",
    NotEligible => "not-eligible", ReviewOutcome => "review-outcome",
    ElectorRequest => "elector-request", CourtOrder => "court-order");
code_table!(RejectionReason, "rejection reason",
    IdentityNotVerified => "identity-not-verified", NotEligible => "not-eligible",
    NotResident => "not-resident", Duplicate => "duplicate", Incomplete => "incomplete");

/// Where an entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryStatus {
    Registered,
    Deleted(DeletionReason),
}

/// What a version of an entry changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    /// Amended, naming the fields changed (never their values).
    Amended(Vec<String>),
    Deleted(DeletionReason),
}

impl ChangeKind {
    /// The stored form: `added`, `amended:field,field`, `deleted:reason`.
    pub fn code(&self) -> String {
        match self {
            ChangeKind::Added => "added".into(),
            ChangeKind::Amended(fields) => format!("amended:{}", fields.join(",")),
            ChangeKind::Deleted(reason) => format!("deleted:{}", reason.code()),
        }
    }

    pub fn is_deletion(&self) -> bool {
        matches!(self, ChangeKind::Deleted(_))
    }
}

/// What happened to an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Determination {
    Added { elector_id: u64 },
    Rejected(RejectionReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplicationStatus {
    Received,
    IdentityChecked(IdentityRoute),
    Determined(Determination),
}

impl ApplicationStatus {
    pub fn code(&self) -> &'static str {
        match self {
            ApplicationStatus::Received => "received",
            ApplicationStatus::IdentityChecked(_) => "identity-checked",
            ApplicationStatus::Determined(Determination::Added { .. }) => "added",
            ApplicationStatus::Determined(Determination::Rejected(_)) => "rejected",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("application is {0}; the identity check can only be recorded on a received application")]
    IdentityAlreadyChecked(&'static str),
    #[error("application is {0}; only an identity-checked application can be added to the register")]
    NotIdentityChecked(&'static str),
    #[error("application is already determined ({0})")]
    AlreadyDetermined(&'static str),
    #[error("entry is deleted; a deleted entry cannot be amended or deleted again")]
    EntryDeleted,
}

/// An application to register, as the lifecycle sees it: its state, not its personal fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub id: u64,
    pub received_on: Date,
    pub status: ApplicationStatus,
    pub determined_on: Option<Date>,
}

impl Application {
    pub fn received(id: u64, received_on: Date) -> Self {
        Self { id, received_on, status: ApplicationStatus::Received, determined_on: None }
    }

    pub fn check_identity(&mut self, route: IdentityRoute) -> Result<(), LifecycleError> {
        match self.status {
            ApplicationStatus::Received => {
                self.status = ApplicationStatus::IdentityChecked(route);
                Ok(())
            }
            other => Err(LifecycleError::IdentityAlreadyChecked(other.code())),
        }
    }

    /// Adds the applicant to the register. Identity must have been checked first.
    pub fn determine_added(&mut self, elector_id: u64, on: Date) -> Result<(), LifecycleError> {
        match self.status {
            ApplicationStatus::IdentityChecked(_) => {
                self.status = ApplicationStatus::Determined(Determination::Added { elector_id });
                self.determined_on = Some(on);
                Ok(())
            }
            ApplicationStatus::Determined(_) => Err(LifecycleError::AlreadyDetermined(self.status.code())),
            other => Err(LifecycleError::NotIdentityChecked(other.code())),
        }
    }

    /// Rejects the application; allowed before or after the identity check.
    pub fn determine_rejected(&mut self, reason: RejectionReason, on: Date) -> Result<(), LifecycleError> {
        if let ApplicationStatus::Determined(_) = self.status {
            return Err(LifecycleError::AlreadyDetermined(self.status.code()));
        }
        self.status = ApplicationStatus::Determined(Determination::Rejected(reason));
        self.determined_on = Some(on);
        Ok(())
    }
}

/// One version of an entry in the history: when it took effect and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionSpan {
    pub valid_from: Date,
    /// `None` for the current version.
    pub valid_to: Option<Date>,
    pub status: EntryStatus,
}

impl VersionSpan {
    /// Whether this version shows a registered elector on `date`.
    pub fn registered_on(&self, date: Date) -> bool {
        matches!(self.status, EntryStatus::Registered)
            && self.valid_from <= date
            && self.valid_to.is_none_or(|to| date < to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_date;

    fn d(s: &str) -> Date {
        parse_date("d", s).unwrap()
    }

    #[test]
    fn application_must_pass_identity_check_before_being_added() {
        let mut app = Application::received(1, d("2026-01-02"));
        assert_eq!(
            app.determine_added(9, d("2026-01-03")),
            Err(LifecycleError::NotIdentityChecked("received"))
        );
        app.check_identity(IdentityRoute::Attestation).unwrap();
        assert!(app.check_identity(IdentityRoute::LocalData).is_err());
        app.determine_added(9, d("2026-01-03")).unwrap();
        assert_eq!(app.status, ApplicationStatus::Determined(Determination::Added { elector_id: 9 }));
        assert!(app.determine_rejected(RejectionReason::Duplicate, d("2026-01-04")).is_err());
    }

    #[test]
    fn rejection_is_possible_before_identity_check() {
        let mut app = Application::received(1, d("2026-01-02"));
        app.determine_rejected(RejectionReason::Incomplete, d("2026-01-05")).unwrap();
        assert_eq!(app.status.code(), "rejected");
    }

    #[test]
    fn version_span_is_half_open() {
        let span = VersionSpan {
            valid_from: d("2026-01-01"),
            valid_to: Some(d("2026-02-01")),
            status: EntryStatus::Registered,
        };
        assert!(!span.registered_on(d("2025-12-31")));
        assert!(span.registered_on(d("2026-01-01")));
        assert!(!span.registered_on(d("2026-02-01")));
        let deleted =
            VersionSpan { status: EntryStatus::Deleted(DeletionReason::Deceased), valid_to: None, ..span };
        assert!(!deleted.registered_on(d("2026-01-15")));
    }

    #[test]
    fn change_kinds_name_fields_and_reasons_never_values() {
        assert_eq!(ChangeKind::Added.code(), "added");
        assert_eq!(ChangeKind::Amended(vec!["name".into(), "address".into()]).code(), "amended:name,address");
        assert_eq!(ChangeKind::Deleted(DeletionReason::MovedAway).code(), "deleted:moved-away");
    }

    #[test]
    fn codes_round_trip() {
        for r in DeletionReason::ALL {
            assert_eq!(r.code().parse::<DeletionReason>().unwrap(), *r);
        }
        assert!("lost".parse::<DeletionReason>().is_err());
    }
}
