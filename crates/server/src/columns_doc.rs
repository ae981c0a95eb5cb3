//! The register's columns as OpenAPI objects: every column a property, no others allowed,
//! so a client generated from the document knows each name. The values' own rules (a valid
//! postcode, a date in the past) are the register's and come back as 422 with the field.

use rollguard_vault::CSV_COLUMNS;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

fn columns(required: impl Fn(&str, bool) -> bool, description: &str) -> RefOr<Schema> {
    let mut o = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)));
    for c in CSV_COLUMNS {
        let help = (!c.help.is_empty()).then_some(c.help);
        o = o.property(c.name, ObjectBuilder::new().schema_type(Type::String).description(help));
        if required(c.name, c.required) {
            o = o.required(c.name);
        }
    }
    RefOr::T(Schema::Object(o.build()))
}

/// A new entry: the register CSV's columns, the required ones required.
pub struct ElectorFields;

impl PartialSchema for ElectorFields {
    fn schema() -> RefOr<Schema> {
        columns(|_, required| required, "Register CSV columns and their values")
    }
}
impl ToSchema for ElectorFields {}

/// An application's entry: as a new one, but the elector number may wait until the applicant
/// is added.
pub struct ApplicationFields;

impl PartialSchema for ApplicationFields {
    fn schema() -> RefOr<Schema> {
        columns(
            |name, required| required && name != "elector_number",
            "Register CSV columns and their values; elector_number may wait until the applicant is added",
        )
    }
}
impl ToSchema for ApplicationFields {}

/// Columns to change and their new values; the others stay as they are.
pub struct ElectorChanges;

impl PartialSchema for ElectorChanges {
    fn schema() -> RefOr<Schema> {
        columns(|_, _| false, "Columns to change (register CSV names) and their new values")
    }
}
impl ToSchema for ElectorChanges {}

/// An entry as stored: the columns that have a value.
pub struct ElectorColumns;

impl PartialSchema for ElectorColumns {
    fn schema() -> RefOr<Schema> {
        columns(|_, _| false, "Register CSV columns that have a value")
    }
}
impl ToSchema for ElectorColumns {}
