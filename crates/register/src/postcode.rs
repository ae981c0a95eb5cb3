use crate::error::{Rule, ValidationError};
use std::fmt;

/// A UK postcode in BS 7666 form, held normalised: upper case, one space before the
/// inward code (`SW1A 1AA`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Postcode(String);
crate::redacted_debug!(Postcode);

// Letters BS 7666 allows in each position.
const FIRST: &str = "ABCDEFGHIJKLMNOPRSTUWYZ"; // not Q V X
const SECOND: &str = "ABCDEFGHKLMNOPQRSTUVWXY"; // not I J Z
const THIRD_A9A: &str = "ABCDEFGHJKPSTUW";
const FOURTH_AA9A: &str = "ABEHMNPRVWXY";
const INWARD_LETTERS: &str = "ABDEFGHJLNPQRSTUWXYZ"; // not C I K M O V

impl Postcode {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        let compact: String =
            value.chars().filter(|c| !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
        if compact.is_empty() {
            return Err(ValidationError::new(field, Rule::Required));
        }
        let bad = || ValidationError::new(field, Rule::Bs7666Postcode);
        if !compact.is_ascii() || !(5..=7).contains(&compact.len()) {
            return Err(bad());
        }
        if compact == "GIR0AA" {
            return Ok(Self("GIR 0AA".into()));
        }
        let (outward, inward) = compact.split_at(compact.len() - 3);
        if !valid_inward(inward.as_bytes()) || !valid_outward(outward.as_bytes()) {
            return Err(bad());
        }
        let mut spaced = String::with_capacity(compact.len() + 1);
        spaced.push_str(outward);
        spaced.push(' ');
        spaced.push_str(inward);
        Ok(Self(spaced))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The outward code, e.g. `SW1A`.
    pub fn outward(&self) -> &str {
        self.0.split(' ').next().unwrap_or("")
    }
}

fn is_in(c: u8, set: &str) -> bool {
    set.as_bytes().contains(&c)
}

fn valid_inward(b: &[u8]) -> bool {
    b.len() == 3 && b[0].is_ascii_digit() && is_in(b[1], INWARD_LETTERS) && is_in(b[2], INWARD_LETTERS)
}

fn valid_outward(b: &[u8]) -> bool {
    let d = |i: usize| b[i].is_ascii_digit();
    match b.len() {
        // A9
        2 => is_in(b[0], FIRST) && d(1),
        // A99, A9A, AA9
        3 => {
            is_in(b[0], FIRST)
                && ((d(1) && d(2)) || (d(1) && is_in(b[2], THIRD_A9A)) || (is_in(b[1], SECOND) && d(2)))
        }
        // AA99, AA9A
        4 => is_in(b[0], FIRST) && is_in(b[1], SECOND) && d(2) && (d(3) || is_in(b[3], FOURTH_AA9A)),
        _ => false,
    }
}

impl fmt::Display for Postcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_bs7666_shape_and_normalises() {
        for (input, want) in [
            ("m1 1ae", "M1 1AE"),
            ("B33 8TH", "B33 8TH"),
            ("CR2 6XH", "CR2 6XH"),
            ("DN551PT", "DN55 1PT"),
            ("W1A 0AX", "W1A 0AX"),
            ("EC1A 1BB", "EC1A 1BB"),
            (" gir 0aa ", "GIR 0AA"),
        ] {
            assert_eq!(Postcode::parse("postcode", input).unwrap().as_str(), want, "{input}");
        }
    }

    #[test]
    fn refuses_malformed_postcodes_naming_the_field() {
        for input in ["", "SW1A", "Q1 1AA", "AI1 1AA", "SW1A 1AC", "SW1A1AAA", "123 456", "M1 1Aé"] {
            let err = Postcode::parse("address.postcode", input).unwrap_err();
            assert_eq!(err.field, "address.postcode", "{input}");
        }
    }

    #[test]
    fn debug_is_redacted() {
        let p = Postcode::parse("p", "M1 1AE").unwrap();
        assert!(!format!("{p:?}").contains("M1"));
    }
}
