use crate::address::{Address, Uprn};
use crate::date::{earliest, parse_date, Date};
use crate::error::{check_text, Rule, ValidationError, ValidationErrors};
use crate::franchise::{FranchiseMarker, FranchiseTable};
use crate::name::PersonName;
use crate::nino::Nino;
use crate::number::ElectorNumber;
use crate::postcode::Postcode;
use std::fmt;
use std::str::FromStr;

/// The kind of absent vote an elector holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AbsentVoteKind {
    Postal,
    Proxy,
    PostalProxy,
}

impl AbsentVoteKind {
    pub fn code(self) -> &'static str {
        match self {
            AbsentVoteKind::Postal => "postal",
            AbsentVoteKind::Proxy => "proxy",
            AbsentVoteKind::PostalProxy => "postal-proxy",
        }
    }
}

impl FromStr for AbsentVoteKind {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "postal" => Ok(Self::Postal),
            "proxy" => Ok(Self::Proxy),
            "postal-proxy" | "postal_proxy" => Ok(Self::PostalProxy),
            _ => Err(ValidationError::new(
                "absent_vote",
                Rule::UnknownCode("absent vote kind (postal, proxy, postal-proxy)"),
            )),
        }
    }
}

impl fmt::Display for AbsentVoteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbsentVote {
    pub kind: AbsentVoteKind,
    pub expires: Option<Date>,
}

/// An overseas elector's qualifying address and the expiry of their declaration.
#[derive(Clone, PartialEq, Eq)]
pub struct OverseasDetails {
    pub qualifying_address: Address,
    pub declaration_expires: Date,
}
crate::redacted_debug!(OverseasDetails);

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Contact {
    pub email: Option<String>,
    pub phone: Option<String>,
}
crate::redacted_debug!(Contact);

impl Contact {
    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.phone.is_none()
    }
}

/// One elector's entry in the register, validated.
#[derive(Clone, PartialEq, Eq)]
pub struct ElectorEntry {
    pub number: ElectorNumber,
    pub name: PersonName,
    pub previous_names: Vec<PersonName>,
    pub address: Address,
    pub date_of_birth: Option<Date>,
    /// The day the person reaches voting age, for attainers.
    pub attainer_date: Option<Date>,
    pub franchise: FranchiseMarker,
    pub open_register_opt_out: bool,
    /// Anonymous entry: shown only as number and "N", name and address withheld everywhere.
    pub anonymous: bool,
    pub absent_vote: Option<AbsentVote>,
    pub overseas: Option<OverseasDetails>,
    pub contact: Contact,
}

impl fmt::Debug for ElectorEntry {
    // Only categorical fields: names, addresses and dates of birth stay out of logs and panics.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ElectorEntry")
            .field("franchise", &self.franchise)
            .field("open_register_opt_out", &self.open_register_opt_out)
            .field("anonymous", &self.anonymous)
            .field("absent_vote", &self.absent_vote.as_ref().map(|a| a.kind))
            .finish_non_exhaustive()
    }
}

/// An entry's fields as text, as they arrive from a file, a form or an API.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EntryText {
    pub elector_number: String,
    pub surname: String,
    pub given_names: String,
    /// `Given Names|Surname` pairs separated by `;`.
    pub previous_names: String,
    pub uprn: String,
    pub address_lines: [String; 5],
    pub postcode: String,
    pub date_of_birth: String,
    pub nino: String,
    pub franchise_marker: String,
    pub open_register_opt_out: String,
    pub anonymous: String,
    pub absent_vote: String,
    pub absent_vote_expires: String,
    pub attainer_date: String,
    pub overseas_address: String,
    pub overseas_postcode: String,
    pub overseas_declaration_expires: String,
    pub email: String,
    pub phone: String,
}
crate::redacted_debug!(EntryText);

pub const MAX_PREVIOUS_NAMES: usize = 10;

pub fn parse_bool(field: &str, value: &str) -> Result<bool, ValidationError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "n" | "no" | "false" | "0" => Ok(false),
        "y" | "yes" | "true" | "1" => Ok(true),
        _ => Err(ValidationError::new(field, Rule::BooleanFormat)),
    }
}

fn optional(v: &str) -> Option<&str> {
    let t = v.trim();
    (!t.is_empty()).then_some(t)
}

impl EntryText {
    /// Validates every field against the rules and `table`, with `today` for date checks.
    /// Returns the entry and the NINO (which is never part of the stored entry).
    pub fn validate(
        &self,
        table: &FranchiseTable,
        today: Date,
    ) -> Result<(ElectorEntry, Option<Nino>), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let number = errs.check(ElectorNumber::parse("elector_number", &self.elector_number));
        let name =
            errs.check(PersonName::new("name", &self.given_names, &self.surname).map_err(strip_prefix));
        let mut previous_names = Vec::new();
        if let Some(prev) = optional(&self.previous_names) {
            let items: Vec<&str> = prev.split(';').map(str::trim).filter(|s| !s.is_empty()).collect();
            if items.len() > MAX_PREVIOUS_NAMES {
                errs.push(ValidationError::new("previous_names", Rule::TooMany { max: MAX_PREVIOUS_NAMES }));
            }
            for item in items.iter().take(MAX_PREVIOUS_NAMES) {
                match item.split_once('|') {
                    Some((g, s)) => {
                        if let Some(n) = errs.check(PersonName::new("previous_names", g, s)) {
                            previous_names.push(n);
                        }
                    }
                    None => errs.push(ValidationError::new(
                        "previous_names",
                        Rule::Inconsistent("must be Given Names|Surname pairs separated by ;"),
                    )),
                }
            }
        }
        let uprn = optional(&self.uprn).and_then(|u| errs.check(Uprn::parse("uprn", u)));
        let postcode = errs.check(Postcode::parse("postcode", &self.postcode));
        let lines: Vec<&str> = self.address_lines.iter().map(String::as_str).collect();
        let address = postcode
            .and_then(|pc| errs.check(Address::new("address", uprn, &lines, pc).map_err(strip_prefix)));
        let date_of_birth =
            optional(&self.date_of_birth).and_then(|d| errs.check(past_date("date_of_birth", d, today)));
        let nino = optional(&self.nino).and_then(|n| errs.check(Nino::parse("nino", n)));
        let franchise = errs.check(table.marker("franchise_marker", &self.franchise_marker));
        let open_register_opt_out =
            errs.check(parse_bool("open_register_opt_out", &self.open_register_opt_out));
        let anonymous = errs.check(parse_bool("anonymous", &self.anonymous));
        let absent_vote = match optional(&self.absent_vote) {
            Some(kind) => {
                let kind = errs.check(kind.parse::<AbsentVoteKind>());
                let expires = optional(&self.absent_vote_expires)
                    .and_then(|d| errs.check(stored_date("absent_vote_expires", d)));
                kind.map(|kind| AbsentVote { kind, expires })
            }
            None => {
                if optional(&self.absent_vote_expires).is_some() {
                    errs.push(ValidationError::new(
                        "absent_vote_expires",
                        Rule::Inconsistent("is set but absent_vote is empty"),
                    ));
                }
                None
            }
        };
        let attainer_date =
            optional(&self.attainer_date).and_then(|d| errs.check(stored_date("attainer_date", d)));
        if let (Some(dob), Some(att)) = (date_of_birth, attainer_date) {
            if att <= dob {
                errs.push(ValidationError::new("attainer_date", Rule::DateOrder("after date_of_birth")));
            }
        }
        let overseas = self.overseas(&mut errs);
        let contact = Contact {
            email: optional(&self.email).and_then(|e| errs.check(check_email(e))),
            phone: optional(&self.phone).and_then(|p| errs.check(check_phone(p))),
        };
        errs.clone().into_result()?;
        let entry = ElectorEntry {
            number: number.expect("checked"),
            name: name.expect("checked"),
            previous_names,
            address: address.expect("checked"),
            date_of_birth,
            attainer_date,
            franchise: franchise.expect("checked"),
            open_register_opt_out: open_register_opt_out.expect("checked"),
            anonymous: anonymous.expect("checked"),
            absent_vote,
            overseas,
            contact,
        };
        Ok((entry, nino))
    }

    fn overseas(&self, errs: &mut ValidationErrors) -> Option<OverseasDetails> {
        let addr = optional(&self.overseas_address);
        let pc = optional(&self.overseas_postcode);
        let exp = optional(&self.overseas_declaration_expires);
        if addr.is_none() && pc.is_none() && exp.is_none() {
            return None;
        }
        let pc = errs.check(Postcode::parse("overseas_postcode", pc.unwrap_or("")));
        let lines: Vec<&str> = addr.unwrap_or("").split('|').collect();
        let address = pc.and_then(|pc| {
            errs.check(
                Address::new("overseas", None, &lines, pc)
                    .map_err(|e| ValidationError::new("overseas_address", e.rule)),
            )
        });
        let expires = errs.check(stored_date("overseas_declaration_expires", exp.unwrap_or("")));
        Some(OverseasDetails { qualifying_address: address?, declaration_expires: expires? })
    }
}

/// `name.surname` → `surname`: the flat field names of the text form.
fn strip_prefix(mut e: ValidationError) -> ValidationError {
    if let Some((_, rest)) = e.field.split_once('.') {
        e.field = rest.to_owned();
    }
    e
}

/// The last day a sealed record can hold (two bytes of days from 1900-01-01).
fn latest() -> Date {
    Date::from_calendar_date(2079, time::Month::June, 6).expect("valid constant date")
}

/// A date the register stores: from 1900-01-01 to 2079-06-06.
fn stored_date(field: &str, value: &str) -> Result<Date, ValidationError> {
    let d = parse_date(field, value)?;
    if d < earliest() {
        return Err(ValidationError::new(field, Rule::DateTooEarly));
    }
    if d > latest() {
        return Err(ValidationError::new(
            field,
            Rule::Inconsistent("is after 2079-06-06, the last date the register holds"),
        ));
    }
    Ok(d)
}

fn past_date(field: &str, value: &str, today: Date) -> Result<Date, ValidationError> {
    let d = parse_date(field, value)?;
    if d > today {
        return Err(ValidationError::new(field, Rule::DateInFuture));
    }
    if d < earliest() {
        return Err(ValidationError::new(field, Rule::DateTooEarly));
    }
    Ok(d)
}

fn check_email(v: &str) -> Result<String, ValidationError> {
    check_text("email", v, 254)?;
    let ok = match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !v.contains(char::is_whitespace)
        }
        None => false,
    };
    if ok {
        Ok(v.to_owned())
    } else {
        Err(ValidationError::new("email", Rule::EmailFormat))
    }
}

fn check_phone(v: &str) -> Result<String, ValidationError> {
    check_text("phone", v, 30)?;
    let digits = v.chars().filter(char::is_ascii_digit).count();
    if digits >= 7 && v.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')')) {
        Ok(v.to_owned())
    } else {
        Err(ValidationError::new("phone", Rule::PhoneFormat))
    }
}

impl ElectorEntry {
    /// Back to the text form, e.g. for export or amendment. The NINO is never kept, so it is empty.
    pub fn to_text(&self) -> EntryText {
        let date = |d: Option<Date>| d.map(crate::format_date).unwrap_or_default();
        let mut address_lines: [String; 5] = Default::default();
        for (slot, line) in address_lines.iter_mut().zip(&self.address.lines) {
            *slot = line.clone();
        }
        EntryText {
            elector_number: self.number.to_string(),
            surname: self.name.surname.clone(),
            given_names: self.name.given_names.clone(),
            previous_names: self
                .previous_names
                .iter()
                .map(|n| format!("{}|{}", n.given_names, n.surname))
                .collect::<Vec<_>>()
                .join(";"),
            uprn: self.address.uprn.map(|u| u.0.to_string()).unwrap_or_default(),
            address_lines,
            postcode: self.address.postcode.to_string(),
            date_of_birth: date(self.date_of_birth),
            nino: String::new(),
            franchise_marker: self.franchise.as_str().to_owned(),
            open_register_opt_out: yn(self.open_register_opt_out),
            anonymous: yn(self.anonymous),
            absent_vote: self.absent_vote.as_ref().map(|a| a.kind.code().to_owned()).unwrap_or_default(),
            absent_vote_expires: date(self.absent_vote.as_ref().and_then(|a| a.expires)),
            attainer_date: date(self.attainer_date),
            overseas_address: self
                .overseas
                .as_ref()
                .map(|o| o.qualifying_address.lines.join("|"))
                .unwrap_or_default(),
            overseas_postcode: self
                .overseas
                .as_ref()
                .map(|o| o.qualifying_address.postcode.to_string())
                .unwrap_or_default(),
            overseas_declaration_expires: date(self.overseas.as_ref().map(|o| o.declaration_expires)),
            email: self.contact.email.clone().unwrap_or_default(),
            phone: self.contact.phone.clone().unwrap_or_default(),
        }
    }
}

fn yn(b: bool) -> String {
    if b { "Y" } else { "N" }.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::franchise::Nation;

    pub(crate) fn good() -> EntryText {
        EntryText {
            elector_number: "AB-12".into(),
            surname: "Pemberton".into(),
            given_names: "Ada Rose".into(),
            address_lines: [
                "4 Mill Lane".into(),
                "Ashby".into(),
                String::new(),
                String::new(),
                String::new(),
            ],
            postcode: "le65 1aa".into(),
            date_of_birth: "1980-03-14".into(),
            nino: "AB123456C".into(),
            ..Default::default()
        }
    }

    fn today() -> Date {
        parse_date("t", "2026-11-24").unwrap()
    }

    #[test]
    fn a_good_entry_validates_and_round_trips_through_text() {
        let table = FranchiseTable::default_for(Nation::England);
        let (entry, nino) = good().validate(&table, today()).unwrap();
        assert_eq!(nino.unwrap().normalised(), "AB123456C");
        assert_eq!(entry.address.postcode.as_str(), "LE65 1AA");
        let mut text = entry.to_text();
        text.nino = "AB123456C".into();
        let (again, _) = text.validate(&table, today()).unwrap();
        assert_eq!(again, entry);
    }

    #[test]
    fn every_bad_field_is_named_with_its_rule() {
        let table = FranchiseTable::default_for(Nation::England);
        let mut t = good();
        t.postcode = "XX".into();
        t.date_of_birth = "2030-01-01".into();
        t.nino = "ZZ123456A".into();
        t.franchise_marker = "B".into();
        t.surname = "Sm1th".into();
        let errs = t.validate(&table, today()).unwrap_err();
        let fields: Vec<(&str, Rule)> = errs.0.iter().map(|e| (e.field.as_str(), e.rule)).collect();
        assert!(fields.contains(&("postcode", Rule::Bs7666Postcode)), "{fields:?}");
        assert!(fields.contains(&("date_of_birth", Rule::DateInFuture)));
        assert!(fields.contains(&("nino", Rule::NinoFormat)));
        assert!(fields.contains(&("franchise_marker", Rule::UnknownFranchiseMarker)));
        assert!(fields.contains(&("surname", Rule::DisallowedCharacter)));
    }

    #[test]
    fn a_date_the_register_cannot_hold_is_refused_by_name() {
        let table = FranchiseTable::default_for(Nation::England);
        let mut late = good();
        late.absent_vote = "postal".into();
        late.absent_vote_expires = "2090-01-01".into();
        let errs = late.validate(&table, today()).unwrap_err();
        assert_eq!(errs.0[0].field, "absent_vote_expires");
        assert!(errs.0[0].rule.to_string().contains("2079-06-06"), "{}", errs.0[0].rule);
        let mut early = good();
        early.attainer_date = "1899-12-31".into();
        let errs = early.validate(&table, today()).unwrap_err();
        assert_eq!((errs.0[0].field.as_str(), errs.0[0].rule), ("attainer_date", Rule::DateTooEarly));
    }

    #[test]
    fn nested_fields_are_named_by_position() {
        let table = FranchiseTable::default_for(Nation::England);
        let fields_of = |t: EntryText| -> Vec<(String, Rule)> {
            t.validate(&table, today()).unwrap_err().0.into_iter().map(|e| (e.field, e.rule)).collect()
        };
        let mut t = good();
        t.address_lines[1] = "Quarry\u{7}field".into();
        t.given_names = "A".repeat(101);
        let fields = fields_of(t);
        assert!(fields.contains(&("address_line_2".into(), Rule::ControlCharacter)), "{fields:?}");
        assert!(fields.contains(&("given_names".into(), Rule::TooLong { max: 100 })), "{fields:?}");
        let mut t = good();
        t.previous_names = "Ada|Pemberton; Ada|Pember7on".into();
        t.given_names = " Ada   Mary ".into();
        assert_eq!(fields_of(t), vec![("previous_names.surname".to_string(), Rule::DisallowedCharacter)]);
        let mut t = good();
        t.given_names = " Ada   Mary ".into();
        assert_eq!(t.validate(&table, today()).unwrap().0.name.given_names, "Ada Mary");
    }

    #[test]
    fn errors_never_echo_the_value() {
        let table = FranchiseTable::default_for(Nation::England);
        let mut t = good();
        t.surname = "Pember\u{7}ton".into();
        let msg = t.validate(&table, today()).unwrap_err().to_string();
        assert!(msg.contains("surname"));
        assert!(!msg.contains("Pember"));
    }

    #[test]
    fn overseas_details_need_address_postcode_and_expiry() {
        let table = FranchiseTable::default_for(Nation::England);
        let mut t = good();
        t.overseas_address = "1 Harbour Road|Ashby".into();
        let errs = t.validate(&table, today()).unwrap_err();
        let fields: Vec<&str> = errs.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["overseas_postcode", "overseas_declaration_expires"]);
        t.overseas_postcode = "LE65 2AB".into();
        t.overseas_declaration_expires = "2027-01-01".into();
        let (entry, _) = t.validate(&table, today()).unwrap();
        assert_eq!(entry.overseas.unwrap().qualifying_address.lines.len(), 2);
    }

    #[test]
    fn attainer_date_must_follow_birth() {
        let table = FranchiseTable::default_for(Nation::England);
        let mut t = good();
        t.attainer_date = "1979-01-01".into();
        let errs = t.validate(&table, today()).unwrap_err();
        assert_eq!(errs.0[0].field, "attainer_date");
    }

    #[test]
    fn debug_of_entry_and_text_is_redacted() {
        let table = FranchiseTable::default_for(Nation::England);
        let (entry, _) = good().validate(&table, today()).unwrap();
        let dbg = format!("{entry:?} {:?}", good());
        for secret in ["Pemberton", "Ada", "Mill Lane", "LE65", "AB123456C", "1980", "AB-12"] {
            assert!(!dbg.contains(secret), "{secret} leaked in {dbg}");
        }
    }
}
