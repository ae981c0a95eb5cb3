use crate::error::{Rule, ValidationError};
use std::fmt;
use std::str::FromStr;

/// A polling district code, e.g. `AA` or `KB1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PollingDistrict(String);

impl PollingDistrict {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        let v = value.trim().to_ascii_uppercase();
        let ok = (1..=4).contains(&v.len())
            && v.as_bytes()[0].is_ascii_uppercase()
            && v.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if ok {
            Ok(Self(v))
        } else if v.is_empty() {
            Err(ValidationError::new(field, Rule::Required))
        } else {
            Err(ValidationError::new(field, Rule::PollingDistrictFormat))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An elector number: polling district, number, and an interim suffix for entries
/// added between revisions (`AB1-123/2`). Ordered as the register prints them.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ElectorNumber {
    pub district: PollingDistrict,
    pub number: u32,
    pub suffix: Option<u16>,
}
crate::redacted_debug!(ElectorNumber);

impl ElectorNumber {
    pub fn new(district: PollingDistrict, number: u32, suffix: Option<u16>) -> Result<Self, ValidationError> {
        let bad = || ValidationError::new("elector_number", Rule::ElectorNumberFormat);
        if !(1..=99_999).contains(&number) || suffix.is_some_and(|s| !(1..=999).contains(&s)) {
            return Err(bad());
        }
        Ok(Self { district, number, suffix })
    }

    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(ValidationError::new(field, Rule::Required));
        }
        let bad = || ValidationError::new(field, Rule::ElectorNumberFormat);
        let (district, rest) = value.split_once('-').ok_or_else(bad)?;
        let district = PollingDistrict::parse(field, district).map_err(|_| bad())?;
        let (number, suffix) = match rest.split_once('/') {
            Some((n, s)) => (n, Some(s)),
            None => (rest, None),
        };
        let digits = |s: &str, max_len: usize| {
            if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                s.parse::<u32>().ok()
            }
        };
        let number = digits(number, 5).ok_or_else(bad)?;
        let suffix = match suffix {
            Some(s) => Some(digits(s, 3).and_then(|n| u16::try_from(n).ok()).ok_or_else(bad)?),
            None => None,
        };
        Self::new(district, number, suffix).map_err(|_| bad())
    }
}

impl ElectorNumber {
    /// Appends the printed form (`AB1-123/2`) to `out`. Import writes it several times per
    /// elector, so it avoids the general formatter.
    pub fn push_to(&self, out: &mut String) {
        out.push_str(&self.district.0);
        out.push('-');
        push_decimal(out, self.number);
        if let Some(s) = self.suffix {
            out.push('/');
            push_decimal(out, u32::from(s));
        }
    }
}

/// Appends `n` in decimal.
pub(crate) fn push_decimal(out: &mut String, n: u32) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        out.push(char::from(d));
    }
}

impl fmt::Display for ElectorNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::with_capacity(16);
        self.push_to(&mut out);
        f.write_str(&out)
    }
}

impl FromStr for ElectorNumber {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse("elector_number", s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_with_interim_suffix() {
        let n = ElectorNumber::parse("n", "ab1-123/2").unwrap();
        assert_eq!(n.to_string(), "AB1-123/2");
        assert_eq!(ElectorNumber::parse("n", "AA-7").unwrap().to_string(), "AA-7");
    }

    #[test]
    fn printed_form_round_trips_at_the_extremes() {
        for text in ["A-1", "ZZ99-99999/999", "KB1-10/10", "AA-100", "AB1-90909"] {
            let n = ElectorNumber::parse("n", text).unwrap();
            let mut pushed = String::from(">");
            n.push_to(&mut pushed);
            assert_eq!(pushed, format!(">{text}"));
            assert_eq!(ElectorNumber::parse("n", &n.to_string()).unwrap(), n);
        }
    }

    #[test]
    fn orders_as_the_register_prints() {
        let mut v: Vec<ElectorNumber> =
            ["AB-10", "AA-2/1", "AA-2", "AA-10"].iter().map(|s| s.parse().unwrap()).collect();
        v.sort();
        let printed: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(printed, ["AA-2", "AA-2/1", "AA-10", "AB-10"]);
    }

    #[test]
    fn refuses_bad_numbers() {
        for bad in ["AA", "AA-0", "AA-100000", "1A-5", "AAAAA-5", "AA-5/0", "AA-5/1000", "AA-x", "AA-5/"] {
            assert_eq!(ElectorNumber::parse("n", bad).unwrap_err().rule, Rule::ElectorNumberFormat, "{bad}");
        }
    }
}
