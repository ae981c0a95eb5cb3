use crate::error::{Rule, ValidationError};

pub use time::Date;

const ISO_DATE: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// Parses an ISO 8601 calendar date (`YYYY-MM-DD`), naming `field` on failure.
pub fn parse_date(field: &str, value: &str) -> Result<Date, ValidationError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ValidationError::new(field, Rule::Required));
    }
    if value.len() != 10 {
        return Err(ValidationError::new(field, Rule::DateFormat));
    }
    Date::parse(value, ISO_DATE).map_err(|_| ValidationError::new(field, Rule::DateFormat))
}

/// Formats a date as `YYYY-MM-DD`.
pub fn format_date(date: Date) -> String {
    date.format(ISO_DATE).expect("ISO date formatting cannot fail for a valid Date")
}

pub(crate) fn earliest() -> Date {
    Date::from_calendar_date(1900, time::Month::January, 1).expect("valid constant date")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_iso_dates_and_refuses_others() {
        assert_eq!(format_date(parse_date("d", "2001-02-28").unwrap()), "2001-02-28");
        assert_eq!(parse_date("d", "2001-02-29").unwrap_err().rule, Rule::DateFormat);
        assert_eq!(parse_date("d", "28/02/2001").unwrap_err().rule, Rule::DateFormat);
        assert_eq!(parse_date("d", "").unwrap_err().rule, Rule::Required);
    }
}
