//! Normal forms for blind-index inputs. Two spellings a person would call the same must
//! normalise to the same bytes, or search and duplicate detection miss them.

use crate::{format_date, Address, Date, ElectorNumber, PersonName, Postcode};

/// Upper case letters only, with common diacritics folded: `O'Brien-Smith` → `OBRIENSMITH`.
pub fn name_key(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    push_name_key(&mut out, name);
    out
}

fn push_name_key(out: &mut String, name: &str) {
    for c in name.chars() {
        // Most names are ASCII; the Unicode tables are for the rest.
        if c.is_ascii() {
            if c.is_ascii_alphabetic() {
                out.push(c.to_ascii_uppercase());
            }
            continue;
        }
        let folded = fold_diacritic(c);
        if folded.is_alphabetic() {
            out.extend(folded.to_uppercase());
        }
    }
}

fn fold_diacritic(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => 'a',
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => 'i',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => 'u',
        'ý' | 'ÿ' | 'Ý' => 'y',
        'ñ' | 'Ñ' => 'n',
        'ç' | 'Ç' => 'c',
        'ŵ' | 'Ŵ' => 'w',
        'ŷ' | 'Ŷ' => 'y',
        other => other,
    }
}

pub fn surname_key(name: &PersonName) -> String {
    name_key(&name.surname)
}

/// `SW1A1AA`: the postcode without its space.
pub fn postcode_key(p: &Postcode) -> String {
    let mut out = String::with_capacity(8);
    push_postcode_key(&mut out, p);
    out
}

fn push_postcode_key(out: &mut String, p: &Postcode) {
    out.extend(p.as_str().chars().filter(|&c| c != ' '));
}

pub fn date_key(d: Date) -> String {
    format_date(d)
}

pub fn number_key(n: &ElectorNumber) -> String {
    let mut out = String::with_capacity(16);
    n.push_to(&mut out);
    out
}

/// Letters and digits only, upper case: `Flat 4, 12 Mill Lane` → `FLAT412MILLLANE`.
/// House numbers matter here, unlike in names.
pub fn address_line_key(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    push_address_line_key(&mut out, line);
    out
}

fn push_address_line_key(out: &mut String, line: &str) {
    out.extend(line.chars().map(fold_diacritic).filter(|c| c.is_alphanumeric()).flat_map(char::to_uppercase));
}

/// The identity used for duplicate detection: normalised full name, date of birth, and the
/// address (its UPRN when known, else postcode and first line).
pub fn identity_key(name: &PersonName, dob: Option<Date>, address: &Address) -> String {
    let mut out = String::with_capacity(name.given_names.len() + name.surname.len() + 48);
    push_name_key(&mut out, &name.given_names);
    out.push('|');
    push_name_key(&mut out, &name.surname);
    out.push('|');
    if let Some(d) = dob {
        out.push_str(&format_date(d));
    }
    out.push('|');
    match address.uprn {
        Some(u) => {
            out.push('U');
            out.push_str(&u.0.to_string());
        }
        None => {
            out.push('P');
            push_postcode_key(&mut out, &address.postcode);
            out.push('|');
            push_address_line_key(&mut out, &address.lines[0]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_people_treat_as_equal_normalise_equal() {
        assert_eq!(name_key("O'Brien-Smith"), name_key("obrien smith"));
        assert_eq!(name_key("Zoë"), name_key("ZOE"));
        assert_ne!(name_key("Smith"), name_key("Smyth"));
    }

    #[test]
    fn identity_key_layout_is_stable() {
        // Stored blind indexes are keyed on these exact bytes: a change here orphans them.
        let pc = Postcode::parse("p", "M1 1AE").unwrap();
        let name = PersonName::new("n", "Zoë Ann", "O'Brien").unwrap();
        let dob = crate::parse_date("d", "1980-02-29").unwrap();
        let with_uprn = Address::new("a", Some(crate::Uprn(100_023)), &["4 Mill Lane"], pc.clone()).unwrap();
        let without = Address::new("a", None, &["Flat 4, Mill Lane"], pc).unwrap();
        assert_eq!(identity_key(&name, Some(dob), &with_uprn), "ZOEANN|OBRIEN|1980-02-29|U100023");
        assert_eq!(identity_key(&name, None, &without), "ZOEANN|OBRIEN||PM11AE|FLAT4MILLLANE");
    }

    #[test]
    fn neighbours_are_not_the_same_address() {
        assert_ne!(address_line_key("1 Mill Lane"), address_line_key("3 Mill Lane"));
        assert_eq!(address_line_key("1, Mill  lane"), address_line_key("1 MILL LANE"));
    }

    #[test]
    fn identity_prefers_uprn_over_address_text() {
        let pc = Postcode::parse("p", "M1 1AE").unwrap();
        let name = PersonName::new("n", "Ada", "Pemberton").unwrap();
        let a = Address::new("a", Some(crate::Uprn(100)), &["4 Mill Lane"], pc.clone()).unwrap();
        let b = Address::new("a", Some(crate::Uprn(100)), &["Flat 4, Mill Lane"], pc).unwrap();
        assert_eq!(identity_key(&name, None, &a), identity_key(&name, None, &b));
    }
}
