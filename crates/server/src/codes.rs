//! The register's code tables in requests: parsed with errors that list the codes, and
// These types only describe closed sets in the OpenAPI document; handlers parse the codes
// with the register's own tables (a test keeps the two the same).
#![allow(dead_code)]
//! declared in the OpenAPI document as closed enumerations, so a generated client knows
//! them. A test checks each declared enumeration against the table it mirrors.

use crate::problem::ApiError;
use serde::Serialize;
use std::fmt::Display;
use std::str::FromStr;
use utoipa::ToSchema;

pub fn parse<T: FromStr + Display>(field: &str, value: &str, all: &[T]) -> Result<T, ApiError> {
    value.parse().map_err(|_| {
        let known: Vec<String> = all.iter().map(|c| c.to_string()).collect();
        ApiError::bad_request(format!("{field}: unknown code (one of {})", known.join(", ")))
    })
}

/// Why an entry is deleted.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DeletionReasonCode {
    MovedAway,
    Deceased,
    Duplicate,
    NotEligible,
    ReviewOutcome,
    ElectorRequest,
    CourtOrder,
}

/// How an applicant's identity was verified.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityRouteCode {
    NationalMatch,
    LocalData,
    DocumentaryEvidence,
    Attestation,
}

/// Why an application is rejected.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RejectionReasonCode {
    IdentityNotVerified,
    NotEligible,
    NotResident,
    Duplicate,
    Incomplete,
}

/// Which register a supply is.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RegisterKindCode {
    Full,
    Open,
}

/// A determination's outcome.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OutcomeCode {
    Add,
    Reject,
}

/// What kind of principal.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PrincipalKindCode {
    Human,
    Service,
}

/// Add or remove.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GrantActionCode {
    Add,
    Remove,
}

/// What to do to a principal.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PrincipalActionCode {
    Suspend,
    Restore,
    ResetMfa,
    Logout,
}

/// A permission an API token carries.
#[derive(Serialize, ToSchema)]
pub enum PermissionCode {
    #[serde(rename = "elector:read")]
    ElectorRead,
    #[serde(rename = "elector:write")]
    ElectorWrite,
    #[serde(rename = "application:read")]
    ApplicationRead,
    #[serde(rename = "application:write")]
    ApplicationWrite,
    #[serde(rename = "register:export")]
    RegisterExport,
    #[serde(rename = "audit:read")]
    AuditRead,
    #[serde(rename = "alert:read")]
    AlertRead,
    #[serde(rename = "user:admin")]
    UserAdmin,
    #[serde(rename = "token:admin")]
    TokenAdmin,
    #[serde(rename = "key:admin")]
    KeyAdmin,
    #[serde(rename = "supply:collect")]
    SupplyCollect,
    #[serde(rename = "supply:approve")]
    SupplyApprove,
}

/// `ROLE@AUTHORITY` or `ROLE@*`, exactly as `rollguard_access::parse_grant` takes it.
#[derive(ToSchema)]
#[schema(
    pattern = "^(registration-staff|supplies-officer|security-analyst|administrator|recipient|supplies-approver)@(\\*|[A-Za-z0-9]{1,12})$"
)]
pub struct GrantText(String);

/// An authority code (1 to 12 letters or digits) or `*`, as a token's scope.
#[derive(ToSchema)]
#[schema(pattern = "^(\\*|[A-Za-z0-9]{1,12})$")]
pub struct ScopeText(String);

/// A principal's name, as `Accounts::add_principal` takes it.
#[derive(ToSchema)]
#[schema(pattern = "^[A-Za-z0-9._@-]{1,64}$")]
pub struct NameText(String);

#[cfg(test)]
mod tests {
    use super::*;

    fn names<T: Serialize>(all: &[T]) -> Vec<String> {
        all.iter().map(|v| serde_json::to_value(v).unwrap().as_str().unwrap().to_owned()).collect()
    }

    fn codes<T: Display>(all: &[T]) -> Vec<String> {
        all.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn declared_enumerations_are_the_tables_they_mirror() {
        use rollguard_register::{DeletionReason, IdentityRoute, RejectionReason};
        use DeletionReasonCode as D;
        assert_eq!(
            names(&[
                D::MovedAway,
                D::Deceased,
                D::Duplicate,
                D::NotEligible,
                D::ReviewOutcome,
                D::ElectorRequest,
                D::CourtOrder
            ]),
            codes(DeletionReason::ALL)
        );
        use IdentityRouteCode as I;
        assert_eq!(
            names(&[I::NationalMatch, I::LocalData, I::DocumentaryEvidence, I::Attestation]),
            codes(IdentityRoute::ALL)
        );
        use RejectionReasonCode as R;
        assert_eq!(
            names(&[R::IdentityNotVerified, R::NotEligible, R::NotResident, R::Duplicate, R::Incomplete]),
            codes(RejectionReason::ALL)
        );
        use PermissionCode as Pm;
        let permissions = names(&[
            Pm::ElectorRead,
            Pm::ElectorWrite,
            Pm::ApplicationRead,
            Pm::ApplicationWrite,
            Pm::RegisterExport,
            Pm::AuditRead,
            Pm::AlertRead,
            Pm::UserAdmin,
            Pm::TokenAdmin,
            Pm::KeyAdmin,
            Pm::SupplyCollect,
            Pm::SupplyApprove,
        ]);
        let table: Vec<String> =
            rollguard_access::Permission::ALL.iter().map(|p| p.code().to_owned()).collect();
        assert_eq!(permissions, table);
        use PrincipalActionCode as P;
        let actions = names(&[P::Suspend, P::Restore, P::ResetMfa, P::Logout]);
        assert!(actions.iter().all(|a| rollguard_service::PrincipalAction::parse(a).is_some()));
    }
}
