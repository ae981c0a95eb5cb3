//! Compact plaintext encodings of the personal fields, sealed one field at a time.
//! Parts are joined by ASCII unit separators (0x1F) and repeated items by record
//! separators (0x1E); validation refuses control characters, so neither occurs in a value.

use rollguard_register::{
    format_date, parse_date, Address, Contact, Date, ElectorNumber, OverseasDetails, PersonName, Postcode,
    Uprn,
};

const UNIT: char = '\u{1f}';
const RECORD: char = '\u{1e}';

#[derive(Debug, thiserror::Error)]
#[error("sealed {0} opened but does not decode; the store is corrupt")]
pub struct DecodeError(pub &'static str);

pub fn number(n: &ElectorNumber) -> String {
    n.to_string()
}

pub fn decode_number(s: &str) -> Result<ElectorNumber, DecodeError> {
    ElectorNumber::parse("number", s).map_err(|_| DecodeError("number"))
}

pub fn name(n: &PersonName) -> String {
    format!("{}{UNIT}{}", n.given_names, n.surname)
}

pub fn decode_name(s: &str) -> Result<PersonName, DecodeError> {
    let (g, sn) = s.split_once(UNIT).ok_or(DecodeError("name"))?;
    Ok(PersonName { given_names: g.to_owned(), surname: sn.to_owned() })
}

pub fn previous_names(names: &[PersonName]) -> Option<String> {
    (!names.is_empty()).then(|| names.iter().map(name).collect::<Vec<_>>().join(&RECORD.to_string()))
}

pub fn decode_previous_names(s: &str) -> Result<Vec<PersonName>, DecodeError> {
    s.split(RECORD).map(decode_name).collect()
}

pub fn address(a: &Address) -> String {
    let mut out = a.uprn.map(|u| u.0.to_string()).unwrap_or_default();
    out.push(UNIT);
    out.push_str(a.postcode.as_str());
    for line in &a.lines {
        out.push(UNIT);
        out.push_str(line);
    }
    out
}

pub fn decode_address(s: &str) -> Result<Address, DecodeError> {
    let mut parts = s.split(UNIT);
    let uprn = parts.next().ok_or(DecodeError("address"))?;
    let uprn =
        if uprn.is_empty() { None } else { Some(Uprn(uprn.parse().map_err(|_| DecodeError("address"))?)) };
    let postcode = Postcode::parse("postcode", parts.next().ok_or(DecodeError("address"))?)
        .map_err(|_| DecodeError("address"))?;
    let lines: Vec<String> = parts.map(str::to_owned).collect();
    if lines.is_empty() {
        return Err(DecodeError("address"));
    }
    Ok(Address { uprn, lines, postcode })
}

/// Date of birth and attainer date travel together: the attainer date reveals the birth date.
pub fn dates(dob: Option<Date>, attainer: Option<Date>) -> Option<String> {
    if dob.is_none() && attainer.is_none() {
        return None;
    }
    Some(format!(
        "{}{UNIT}{}",
        dob.map(format_date).unwrap_or_default(),
        attainer.map(format_date).unwrap_or_default()
    ))
}

pub fn decode_dates(s: &str) -> Result<(Option<Date>, Option<Date>), DecodeError> {
    let (d, a) = s.split_once(UNIT).ok_or(DecodeError("date_of_birth"))?;
    let p = |v: &str| -> Result<Option<Date>, DecodeError> {
        if v.is_empty() {
            Ok(None)
        } else {
            parse_date("d", v).map(Some).map_err(|_| DecodeError("date_of_birth"))
        }
    };
    Ok((p(d)?, p(a)?))
}

pub fn overseas(o: &OverseasDetails) -> String {
    format!("{}{UNIT}{}", format_date(o.declaration_expires), address(&o.qualifying_address))
}

pub fn decode_overseas(s: &str) -> Result<OverseasDetails, DecodeError> {
    let (exp, addr) = s.split_once(UNIT).ok_or(DecodeError("overseas"))?;
    Ok(OverseasDetails {
        declaration_expires: parse_date("d", exp).map_err(|_| DecodeError("overseas"))?,
        qualifying_address: decode_address(addr).map_err(|_| DecodeError("overseas"))?,
    })
}

pub fn contact(c: &Contact) -> Option<String> {
    (!c.is_empty())
        .then(|| format!("{}{UNIT}{}", c.email.as_deref().unwrap_or(""), c.phone.as_deref().unwrap_or("")))
}

pub fn decode_contact(s: &str) -> Result<Contact, DecodeError> {
    let (e, p) = s.split_once(UNIT).ok_or(DecodeError("contact"))?;
    let opt = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    Ok(Contact { email: opt(e), phone: opt(p) })
}
