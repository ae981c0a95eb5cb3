use crate::error::{check_text, Rule, ValidationError};

/// A person's name as registered: given names (forenames and middle names) and surname.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonName {
    pub given_names: String,
    pub surname: String,
}
crate::redacted_debug!(PersonName);

const MAX_NAME: usize = 100;

fn check_name_part(field: &str, value: &str) -> Result<String, ValidationError> {
    check_text(field, value, MAX_NAME)?;
    // Letters from any script, plus the punctuation names really use.
    if !value.chars().all(|c| c.is_alphabetic() || matches!(c, ' ' | '-' | '\'' | '.' | '’')) {
        return Err(ValidationError::new(field, Rule::DisallowedCharacter));
    }
    Ok(value.split_whitespace().collect::<Vec<_>>().join(" "))
}

impl PersonName {
    /// Validates both parts; `prefix` names the field group in errors (`name`, `previous_names[0]`).
    pub fn new(prefix: &str, given_names: &str, surname: &str) -> Result<Self, ValidationError> {
        Ok(Self {
            given_names: check_name_part(&format!("{prefix}.given_names"), given_names)?,
            surname: check_name_part(&format!("{prefix}.surname"), surname)?,
        })
    }
}
