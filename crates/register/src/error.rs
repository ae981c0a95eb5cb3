use std::fmt;

/// The rule a value broke. Messages name the rule, never the offending value, because
/// the value may be personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Required,
    TooLong { max: usize },
    ControlCharacter,
    DisallowedCharacter,
    Bs7666Postcode,
    NinoFormat,
    DateFormat,
    DateInFuture,
    DateTooEarly,
    DateOrder(&'static str),
    UprnFormat,
    PollingDistrictFormat,
    ElectorNumberFormat,
    UnknownFranchiseMarker,
    TooMany { max: usize },
    BooleanFormat,
    UnknownCode(&'static str),
    EmailFormat,
    PhoneFormat,
    Inconsistent(&'static str),
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Required => f.write_str("is required"),
            Rule::TooLong { max } => write!(f, "is longer than {max} characters"),
            Rule::ControlCharacter => f.write_str("contains a control character"),
            Rule::DisallowedCharacter => f.write_str("contains a character not allowed here"),
            Rule::Bs7666Postcode => f.write_str(
                "is not a valid BS 7666 postcode (outward code A9, A99, A9A, AA9, AA99 or AA9A, then inward code 9AA)",
            ),
            Rule::NinoFormat => f.write_str(
                "is not a valid National Insurance number (two allowed prefix letters, six digits, suffix A-D)",
            ),
            Rule::DateFormat => f.write_str("is not a date in the form YYYY-MM-DD"),
            Rule::DateInFuture => f.write_str("is in the future"),
            Rule::DateTooEarly => f.write_str("is before 1900-01-01"),
            Rule::DateOrder(what) => write!(f, "must be {what}"),
            Rule::UprnFormat => f.write_str("is not a UPRN (1 to 12 digits)"),
            Rule::PollingDistrictFormat => f.write_str(
                "is not a polling district code (1 to 4 letters or digits, starting with a letter)",
            ),
            Rule::ElectorNumberFormat => f.write_str(
                "is not an elector number (DISTRICT-NUMBER or DISTRICT-NUMBER/SUFFIX, number 1-99999, suffix 1-999)",
            ),
            Rule::UnknownFranchiseMarker => {
                f.write_str("is not a franchise marker in this nation's table")
            }
            Rule::TooMany { max } => write!(f, "has more than {max} entries"),
            Rule::BooleanFormat => f.write_str("is not a yes/no value (Y, N, true, false, 1, 0)"),
            Rule::UnknownCode(table) => write!(f, "is not a known {table}"),
            Rule::EmailFormat => f.write_str("is not an email address"),
            Rule::PhoneFormat => f.write_str("is not a telephone number (digits, spaces, + - ( ))"),
            Rule::Inconsistent(what) => f.write_str(what),
        }
    }
}

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {rule}")]
pub struct ValidationError {
    pub field: String,
    pub rule: Rule,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, rule: Rule) -> Self {
        Self { field: field.into(), rule }
    }

    /// The same error with its field name prefixed, e.g. `overseas.` + `postcode`.
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = format!("{prefix}.{}", self.field);
        self
    }
}

/// Every field that failed validation in one entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl ValidationErrors {
    pub fn push(&mut self, err: ValidationError) {
        self.0.push(err);
    }

    pub fn check<T>(&mut self, result: Result<T, ValidationError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }

    pub fn first_field(&self) -> Option<&str> {
        self.0.first().map(|e| e.field.as_str())
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

impl From<ValidationError> for ValidationErrors {
    fn from(e: ValidationError) -> Self {
        Self(vec![e])
    }
}

/// Checks free text: required or not, length, and no control characters. Control
/// characters are refused everywhere so that field encodings can use them as separators.
pub(crate) fn check_text(field: &str, value: &str, max: usize) -> Result<(), ValidationError> {
    match text_fault(value, max) {
        Some(rule) => Err(ValidationError::new(field, rule)),
        None => Ok(()),
    }
}

/// The rule `value` breaks as free text of at most `max` characters, if any. Callers whose
/// field name must be built name it only on failure: validation runs per field on import.
pub(crate) fn text_fault(value: &str, max: usize) -> Option<Rule> {
    if value.trim().is_empty() {
        return Some(Rule::Required);
    }
    // A string has no more characters than bytes, so short ones need no count.
    if value.len() > max && value.chars().count() > max {
        return Some(Rule::TooLong { max });
    }
    if value.chars().any(char::is_control) {
        return Some(Rule::ControlCharacter);
    }
    None
}
