//! The register CSV format, shared by import, export and `generate`. The header row names
//! the columns; order is free, and optional columns may be left out.

use rollguard_register::EntryText;

pub struct CsvColumn {
    pub name: &'static str,
    pub required: bool,
    pub help: &'static str,
    pub get: fn(&EntryText) -> &str,
    pub set: fn(&mut EntryText, String),
}

macro_rules! col {
    ($name:literal, $req:expr, $help:literal, $($field:tt)+) => {
        CsvColumn {
            name: $name,
            required: $req,
            help: $help,
            get: |t| &t.$($field)+,
            set: |t, v| t.$($field)+ = v,
        }
    };
}

/// Every column, in the order export writes them.
pub const CSV_COLUMNS: &[CsvColumn] = &[
    col!(
        "elector_number",
        true,
        "polling district, number, optional interim suffix: AB1-123 or AB1-123/2",
        elector_number
    ),
    col!("surname", true, "surname", surname),
    col!("given_names", true, "forenames and middle names", given_names),
    col!("previous_names", false, "Given Names|Surname pairs separated by ;", previous_names),
    col!("uprn", false, "Unique Property Reference Number, up to 12 digits", uprn),
    col!("address_line_1", true, "first address line", address_lines[0]),
    col!("address_line_2", false, "", address_lines[1]),
    col!("address_line_3", false, "", address_lines[2]),
    col!("address_line_4", false, "", address_lines[3]),
    col!("address_line_5", false, "", address_lines[4]),
    col!("postcode", true, "BS 7666 postcode", postcode),
    col!("date_of_birth", false, "YYYY-MM-DD", date_of_birth),
    col!("nino", false, "National Insurance number; used for matching only, stored as a keyed hash", nino),
    col!(
        "franchise_marker",
        false,
        "a code from the nation's franchise table; empty for full franchise",
        franchise_marker
    ),
    col!("open_register_opt_out", false, "Y or N", open_register_opt_out),
    col!("anonymous", false, "Y or N; an anonymous entry is published as number and N only", anonymous),
    col!("absent_vote", false, "postal, proxy or postal-proxy", absent_vote),
    col!("absent_vote_expires", false, "YYYY-MM-DD", absent_vote_expires),
    col!("attainer_date", false, "YYYY-MM-DD, the day the elector reaches voting age", attainer_date),
    col!("overseas_address", false, "qualifying address lines separated by |", overseas_address),
    col!("overseas_postcode", false, "qualifying address postcode", overseas_postcode),
    col!("overseas_declaration_expires", false, "YYYY-MM-DD", overseas_declaration_expires),
    col!("email", false, "contact email", email),
    col!("phone", false, "contact telephone", phone),
];

/// An extra column import accepts: the date the entry took effect (default: the import date).
pub const REGISTERED_ON: &str = "registered_on";
