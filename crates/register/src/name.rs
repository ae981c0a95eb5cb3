use crate::error::{text_fault, Rule, ValidationError};

/// A person's name as registered: given names (forenames and middle names) and surname.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonName {
    pub given_names: String,
    pub surname: String,
}
crate::redacted_debug!(PersonName);

const MAX_NAME: usize = 100;

/// Checks one part of a name (`prefix.part` in errors) and collapses its whitespace.
fn check_name_part(prefix: &str, part: &str, value: &str) -> Result<String, ValidationError> {
    let fail = |rule| Err(ValidationError::new(format!("{prefix}.{part}"), rule));
    if let Some(rule) = text_fault(value, MAX_NAME) {
        return fail(rule);
    }
    // Letters from any script, plus the punctuation names really use.
    if !value.chars().all(|c| c.is_alphabetic() || matches!(c, ' ' | '-' | '\'' | '.' | '’')) {
        return fail(Rule::DisallowedCharacter);
    }
    let mut out = String::with_capacity(value.len());
    for word in value.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    Ok(out)
}

impl PersonName {
    /// Validates both parts; `prefix` names the field group in errors (`name`, `previous_names[0]`).
    pub fn new(prefix: &str, given_names: &str, surname: &str) -> Result<Self, ValidationError> {
        Ok(Self {
            given_names: check_name_part(prefix, "given_names", given_names)?,
            surname: check_name_part(prefix, "surname", surname)?,
        })
    }
}
