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
    parse_iso_digits(value).ok_or_else(|| ValidationError::new(field, Rule::DateFormat))
}

/// `YYYY-MM-DD` read by hand, like `format_date`: import parses several dates per elector.
fn parse_iso_digits(value: &str) -> Option<Date> {
    let b = value.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number = |digits: &[u8]| -> Option<u16> {
        digits.iter().try_fold(0u16, |n, &d| d.is_ascii_digit().then(|| n * 10 + u16::from(d - b'0')))
    };
    let year = number(&b[0..4])?;
    let month = time::Month::try_from(u8::try_from(number(&b[5..7])?).ok()?).ok()?;
    let day = u8::try_from(number(&b[8..10])?).ok()?;
    Date::from_calendar_date(i32::from(year), month, day).ok()
}

/// Formats a date as `YYYY-MM-DD`. Written out by hand: it runs several times per elector
/// on import, and the general formatter showed in profiles.
pub fn format_date(date: Date) -> String {
    let (y, m, d) = (date.year(), u8::from(date.month()), date.day());
    if (0..=9999).contains(&y) {
        let mut out = String::with_capacity(10);
        for digit in [y / 1000, y / 100 % 10, y / 10 % 10, y % 10] {
            // `y` is 0 to 9999 here, so each digit is 0 to 9.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let digit = digit as u8;
            out.push(char::from(b'0' + digit));
        }
        out.push('-');
        out.push(char::from(b'0' + m / 10));
        out.push(char::from(b'0' + m % 10));
        out.push('-');
        out.push(char::from(b'0' + d / 10));
        out.push(char::from(b'0' + d % 10));
        out
    } else {
        date.format(ISO_DATE).expect("ISO date formatting cannot fail for a valid Date")
    }
}

pub(crate) fn earliest() -> Date {
    Date::from_calendar_date(1900, time::Month::January, 1).expect("valid constant date")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hand_written_formatter_agrees_with_the_general_one() {
        let mut d = Date::from_calendar_date(1899, time::Month::December, 25).unwrap();
        let end = Date::from_calendar_date(2101, time::Month::January, 3).unwrap();
        while d < end {
            assert_eq!(format_date(d), d.format(ISO_DATE).unwrap());
            d = d.next_day().unwrap();
        }
    }

    #[test]
    fn the_hand_written_parser_agrees_with_the_general_one() {
        let mut d = Date::from_calendar_date(1899, time::Month::December, 25).unwrap();
        let end = Date::from_calendar_date(2101, time::Month::January, 3).unwrap();
        while d < end {
            assert_eq!(parse_date("d", &d.format(ISO_DATE).unwrap()).unwrap(), d);
            d = d.next_day().unwrap();
        }
        for bad in [
            "2001-13-01",
            "2001-00-10",
            "2001-04-31",
            "2001-04-00",
            "+001-01-01",
            "2001-1-011",
            "2001/01/01",
            "20０1-01-01",
            "2001-01-1x",
            "0000-00-00",
        ] {
            assert!(Date::parse(bad, ISO_DATE).is_err(), "{bad}");
            assert_eq!(parse_date("d", bad).unwrap_err().rule, Rule::DateFormat, "{bad}");
        }
    }

    #[test]
    fn parses_iso_dates_and_refuses_others() {
        assert_eq!(format_date(parse_date("d", "2001-02-28").unwrap()), "2001-02-28");
        assert_eq!(parse_date("d", "2001-02-29").unwrap_err().rule, Rule::DateFormat);
        assert_eq!(parse_date("d", "28/02/2001").unwrap_err().rule, Rule::DateFormat);
        assert_eq!(parse_date("d", "").unwrap_err().rule, Rule::Required);
    }
}
