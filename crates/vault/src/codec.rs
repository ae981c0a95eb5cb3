//! Text encodings of the personal fields, as the legacy layout sealed them one field at a
//! time (and as benchmarks and applications still use them). Parts are joined by unit
//! separators (0x1F) and repeated items by record separators (0x1E); validation refuses
//! control characters, so neither occurs in a value. The sealed layout's record is
//! [`crate::record`].

use rollguard_register::{
    format_date, parse_date, Address, Contact, Date, ElectorNumber, OverseasDetails, PersonName, Postcode,
    Uprn,
};

const UNIT: char = '\u{1f}';
const RECORD: char = '\u{1e}';

#[derive(Debug, thiserror::Error)]
#[error("sealed {0} opened but does not decode; the store is corrupt")]
pub struct DecodeError(pub &'static str);

// The encoders build their strings with `push_str`: import runs them for every field of
// every elector, and the general formatter showed in its profile.

pub fn number(n: &ElectorNumber) -> String {
    let mut out = String::with_capacity(16);
    n.push_to(&mut out);
    out
}

pub fn decode_number(s: &str) -> Result<ElectorNumber, DecodeError> {
    ElectorNumber::parse("number", s).map_err(|_| DecodeError("number"))
}

pub fn name(n: &PersonName) -> String {
    let mut out = String::with_capacity(n.given_names.len() + n.surname.len() + 1);
    push_name(&mut out, n);
    out
}

fn push_name(out: &mut String, n: &PersonName) {
    out.push_str(&n.given_names);
    out.push(UNIT);
    out.push_str(&n.surname);
}

pub fn decode_name(s: &str) -> Result<PersonName, DecodeError> {
    let (g, sn) = s.split_once(UNIT).ok_or(DecodeError("name"))?;
    Ok(PersonName { given_names: g.to_owned(), surname: sn.to_owned() })
}

pub fn previous_names(names: &[PersonName]) -> Option<String> {
    let (first, rest) = names.split_first()?;
    let mut out = String::new();
    push_name(&mut out, first);
    for n in rest {
        out.push(RECORD);
        push_name(&mut out, n);
    }
    Some(out)
}

pub fn decode_previous_names(s: &str) -> Result<Vec<PersonName>, DecodeError> {
    s.split(RECORD).map(decode_name).collect()
}

pub fn address(a: &Address) -> String {
    let mut out = String::with_capacity(a.lines.iter().map(|l| l.len() + 1).sum::<usize>() + 24);
    push_address(&mut out, a);
    out
}

fn push_address(out: &mut String, a: &Address) {
    if let Some(u) = a.uprn {
        out.push_str(&u.0.to_string());
    }
    out.push(UNIT);
    out.push_str(a.postcode.as_str());
    for line in &a.lines {
        out.push(UNIT);
        out.push_str(line);
    }
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
    let mut out = String::with_capacity(21);
    if let Some(d) = dob {
        out.push_str(&format_date(d));
    }
    out.push(UNIT);
    if let Some(a) = attainer {
        out.push_str(&format_date(a));
    }
    Some(out)
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
    let mut out = format_date(o.declaration_expires);
    out.push(UNIT);
    push_address(&mut out, &o.qualifying_address);
    out
}

pub fn decode_overseas(s: &str) -> Result<OverseasDetails, DecodeError> {
    let (exp, addr) = s.split_once(UNIT).ok_or(DecodeError("overseas"))?;
    Ok(OverseasDetails {
        declaration_expires: parse_date("d", exp).map_err(|_| DecodeError("overseas"))?,
        qualifying_address: decode_address(addr).map_err(|_| DecodeError("overseas"))?,
    })
}

pub fn contact(c: &Contact) -> Option<String> {
    if c.is_empty() {
        return None;
    }
    let (email, phone) = (c.email.as_deref().unwrap_or(""), c.phone.as_deref().unwrap_or(""));
    let mut out = String::with_capacity(email.len() + phone.len() + 1);
    out.push_str(email);
    out.push(UNIT);
    out.push_str(phone);
    Some(out)
}

pub fn decode_contact(s: &str) -> Result<Contact, DecodeError> {
    let (e, p) = s.split_once(UNIT).ok_or(DecodeError("contact"))?;
    let opt = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    Ok(Contact { email: opt(e), phone: opt(p) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollguard_register::{parse_date, Uprn};

    fn d(s: &str) -> Date {
        parse_date("d", s).unwrap()
    }

    fn address_with(uprn: Option<u64>, lines: &[&str]) -> Address {
        Address::new("a", uprn.map(Uprn), lines, Postcode::parse("p", "M1 1AE").unwrap()).unwrap()
    }

    // Stored ciphertexts hold these exact bytes: the encodings must not drift.
    #[test]
    fn encodings_are_stable_and_decode_back() {
        let n = ElectorNumber::parse("n", "KB1-204/3").unwrap();
        assert_eq!(number(&n), "KB1-204/3");
        assert_eq!(decode_number(&number(&n)).unwrap(), n);

        let ada = PersonName::new("n", "Ada Mary", "Pemberton").unwrap();
        let bo = PersonName::new("n", "Bo", "Lund").unwrap();
        assert_eq!(name(&ada), "Ada Mary\u{1f}Pemberton");
        assert_eq!(decode_name(&name(&ada)).unwrap(), ada);
        assert_eq!(previous_names(&[]), None);
        let prev = previous_names(&[ada.clone(), bo.clone()]).unwrap();
        assert_eq!(prev, "Ada Mary\u{1f}Pemberton\u{1e}Bo\u{1f}Lund");
        assert_eq!(decode_previous_names(&prev).unwrap(), vec![ada, bo]);

        let a = address_with(Some(10_023_456), &["Flat 4", "12 Mill Lane"]);
        assert_eq!(address(&a), "10023456\u{1f}M1 1AE\u{1f}Flat 4\u{1f}12 Mill Lane");
        assert_eq!(decode_address(&address(&a)).unwrap(), a);
        let no_uprn = address_with(None, &["3 Kiln Row"]);
        assert_eq!(address(&no_uprn), "\u{1f}M1 1AE\u{1f}3 Kiln Row");
        assert_eq!(decode_address(&address(&no_uprn)).unwrap(), no_uprn);

        assert_eq!(dates(None, None), None);
        assert_eq!(dates(Some(d("2008-03-01")), None).unwrap(), "2008-03-01\u{1f}");
        assert_eq!(dates(None, Some(d("2026-03-01"))).unwrap(), "\u{1f}2026-03-01");
        let both = dates(Some(d("2008-03-01")), Some(d("2026-03-01"))).unwrap();
        assert_eq!(decode_dates(&both).unwrap(), (Some(d("2008-03-01")), Some(d("2026-03-01"))));

        let o = OverseasDetails { declaration_expires: d("2027-01-31"), qualifying_address: no_uprn };
        assert_eq!(overseas(&o), "2027-01-31\u{1f}\u{1f}M1 1AE\u{1f}3 Kiln Row");
        assert_eq!(decode_overseas(&overseas(&o)).unwrap(), o);

        assert_eq!(contact(&Contact::default()), None);
        let c = Contact { email: Some("ada@example.org".into()), phone: None };
        assert_eq!(contact(&c).unwrap(), "ada@example.org\u{1f}");
        assert_eq!(decode_contact(&contact(&c).unwrap()).unwrap(), c);
    }
}
