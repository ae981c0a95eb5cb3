use crate::error::{Rule, ValidationError};

/// A National Insurance number, held normalised (`QQ123456C`). It is used only to match
/// identity and find duplicates; storage keeps nothing but its keyed hash.
#[derive(Clone, PartialEq, Eq)]
pub struct Nino(String);
crate::redacted_debug!(Nino);

const NOT_FIRST: &[u8] = b"DFIQUV";
const NOT_SECOND: &[u8] = b"DFIQUVO";
const NOT_PREFIX: [&str; 7] = ["BG", "GB", "NK", "KN", "TN", "NT", "ZZ"];

impl Nino {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        let compact: String =
            value.chars().filter(|c| !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
        if compact.is_empty() {
            return Err(ValidationError::new(field, Rule::Required));
        }
        let b = compact.as_bytes();
        let ok = b.len() == 9
            && b[0].is_ascii_uppercase()
            && b[1].is_ascii_uppercase()
            && !NOT_FIRST.contains(&b[0])
            && !NOT_SECOND.contains(&b[1])
            && !NOT_PREFIX.contains(&&compact[..2])
            && b[2..8].iter().all(u8::is_ascii_digit)
            && (b'A'..=b'D').contains(&b[8]);
        if ok {
            Ok(Self(compact))
        } else {
            Err(ValidationError::new(field, Rule::NinoFormat))
        }
    }

    /// The normalised form, the input to the keyed hash.
    pub fn normalised(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_and_normalises_spacing() {
        assert_eq!(Nino::parse("nino", "ab 12 34 56 c").unwrap().normalised(), "AB123456C");
    }

    #[test]
    fn refuses_disallowed_prefixes_and_suffixes() {
        for bad in ["DA123456A", "AO123456A", "GB123456A", "AB123456E", "AB12345C", "A1123456A"] {
            assert_eq!(Nino::parse("nino", bad).unwrap_err().rule, Rule::NinoFormat, "{bad}");
        }
    }

    #[test]
    fn debug_never_shows_the_number() {
        let n = Nino::parse("nino", "AB123456C").unwrap();
        assert_eq!(format!("{n:?}"), "Nino(<redacted>)");
    }
}
