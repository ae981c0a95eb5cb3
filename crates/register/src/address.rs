use crate::error::{text_fault, Rule, ValidationError};
use crate::postcode::Postcode;

/// A Unique Property Reference Number: up to 12 digits, the national key for an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uprn(pub u64);

impl Uprn {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        let v = value.trim();
        if v.is_empty() || v.len() > 12 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ValidationError::new(field, Rule::UprnFormat));
        }
        let n: u64 = v.parse().map_err(|_| ValidationError::new(field, Rule::UprnFormat))?;
        if n == 0 {
            return Err(ValidationError::new(field, Rule::UprnFormat));
        }
        Ok(Self(n))
    }
}

/// A postal address: optional UPRN, one to five lines, and a postcode.
#[derive(Clone, PartialEq, Eq)]
pub struct Address {
    pub uprn: Option<Uprn>,
    pub lines: Vec<String>,
    pub postcode: Postcode,
}
crate::redacted_debug!(Address);

pub const MAX_ADDRESS_LINES: usize = 5;
const MAX_LINE: usize = 100;

impl Address {
    /// Validates the lines (empty ones are dropped) and builds the address.
    pub fn new(
        prefix: &str,
        uprn: Option<Uprn>,
        lines: &[&str],
        postcode: Postcode,
    ) -> Result<Self, ValidationError> {
        let lines: Vec<String> =
            lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty()).map(str::to_owned).collect();
        if lines.is_empty() {
            return Err(ValidationError::new(format!("{prefix}.address_line_1"), Rule::Required));
        }
        if lines.len() > MAX_ADDRESS_LINES {
            return Err(ValidationError::new(
                format!("{prefix}.lines"),
                Rule::TooMany { max: MAX_ADDRESS_LINES },
            ));
        }
        for (i, line) in lines.iter().enumerate() {
            if let Some(rule) = text_fault(line, MAX_LINE) {
                return Err(ValidationError::new(format!("{prefix}.address_line_{}", i + 1), rule));
            }
        }
        Ok(Self { uprn, lines, postcode })
    }
}
