//! The plaintext of one sealed version of an entry: a compact binary record, so that nearly
//! every entry pads to the smallest size. Strings are UTF-8 with a varint length, dates are
//! days since 1900-01-01 in two bytes, the NINO's index value is eight bytes.
//!
//! ```text
//! layout(1) flags(1) more(1) number name(given, surname) [previous names] address [dob]
//! [attainer] franchise [absent kind(1) [expiry]] [overseas(expiry, address)] [email] [phone]
//! change [nino(8)]
//! ```

use crate::codec::DecodeError;
use rollguard_register::{
    AbsentVote, AbsentVoteKind, Address, Contact, Date, ElectorEntry, ElectorNumber, FranchiseTable,
    OverseasDetails, PersonName, Postcode, Uprn,
};

const LAYOUT: u8 = 1;
const BAD: DecodeError = DecodeError("entry");

/// One version of an entry as it is sealed: the entry, what the version changed
/// (`added`, `amended:…`, `deleted:…`) and the NINO's index value (a NINO is never stored).
pub struct EntryRecord {
    pub entry: ElectorEntry,
    pub change: String,
    pub nino: Option<i64>,
}

impl std::fmt::Debug for EntryRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EntryRecord(<personal>)")
    }
}

mod flag {
    pub const OPT_OUT: u8 = 1;
    pub const ANONYMOUS: u8 = 2;
    pub const DOB: u8 = 4;
    pub const ATTAINER: u8 = 8;
    pub const ABSENT: u8 = 16;
    pub const OVERSEAS: u8 = 32;
    pub const NINO: u8 = 64;
    pub const PREVIOUS: u8 = 128;
    // The second byte.
    pub const EMAIL: u8 = 1;
    pub const PHONE: u8 = 2;
    pub const ABSENT_EXPIRES: u8 = 4;
}

fn days_from_1900(d: Date) -> u16 {
    let origin = Date::from_calendar_date(1900, time::Month::January, 1).expect("a valid date");
    u16::try_from((d - origin).whole_days()).unwrap_or(u16::MAX)
}

fn date_from_days(n: u16) -> Result<Date, DecodeError> {
    let origin = Date::from_calendar_date(1900, time::Month::January, 1).expect("a valid date");
    origin.checked_add(time::Duration::days(i64::from(n))).ok_or(BAD)
}

fn low_seven(v: u64) -> u8 {
    u8::try_from(v & 0x7f).expect("seven bits fit a byte")
}

struct Writer(Vec<u8>);

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push(low_seven(v) | 0x80);
            v >>= 7;
        }
        self.0.push(low_seven(v));
    }

    fn text(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    fn date(&mut self, d: Date) {
        self.0.extend_from_slice(&days_from_1900(d).to_be_bytes());
    }

    fn address(&mut self, a: &Address) {
        self.varint(a.uprn.map_or(0, |u| u.0 + 1));
        self.text(a.postcode.as_str());
        self.varint(a.lines.len() as u64);
        for line in &a.lines {
            self.text(line);
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let (b, rest) = self.0.split_first().ok_or(BAD)?;
        self.0 = rest;
        Ok(*b)
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(BAD);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(BAD)
    }

    fn text(&mut self) -> Result<String, DecodeError> {
        let n = usize::try_from(self.varint()?).map_err(|_| BAD)?;
        String::from_utf8(self.bytes(n)?.to_vec()).map_err(|_| BAD)
    }

    fn date(&mut self) -> Result<Date, DecodeError> {
        let b = self.bytes(2)?;
        date_from_days(u16::from_be_bytes([b[0], b[1]]))
    }

    fn address(&mut self) -> Result<Address, DecodeError> {
        let uprn = match self.varint()? {
            0 => None,
            n => Some(Uprn(n - 1)),
        };
        let postcode = Postcode::parse("postcode", &self.text()?).map_err(|_| DecodeError("address"))?;
        let count = self.varint()?;
        let lines = (0..count.min(16)).map(|_| self.text()).collect::<Result<Vec<_>, _>>()?;
        if lines.is_empty() || count > 16 {
            return Err(DecodeError("address"));
        }
        Ok(Address { uprn, lines, postcode })
    }
}

/// The fields an amendment names, in the order it names them: an amendment's change is
/// stored as a two-byte mask, so its length says nothing of which fields changed.
const AMENDABLE: [&str; 13] = [
    "elector_number",
    "name",
    "previous_names",
    "address",
    "date_of_birth",
    "attainer_date",
    "franchise_marker",
    "open_register_opt_out",
    "anonymous",
    "absent_vote",
    "overseas",
    "contact",
    "nino",
];

mod change_kind {
    pub const ADDED: u8 = 0;
    pub const AMENDED: u8 = 1;
    pub const DELETED: u8 = 2;
    /// Anything else (a change written by another version), as text.
    pub const TEXT: u8 = 3;
}

fn amended_mask(list: &str) -> Option<u16> {
    let mut mask = 0u16;
    for name in list.split(',') {
        mask |= 1 << AMENDABLE.iter().position(|f| *f == name)?;
    }
    Some(mask)
}

fn amended_list(mask: u16) -> String {
    let names: Vec<&str> =
        AMENDABLE.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, f)| *f).collect();
    format!("amended:{}", names.join(","))
}

/// A change in a fixed width where it is a known one (added, amended fields, deleted with a
/// reason), else as text.
fn push_change(w: &mut Writer, change: &str) {
    use rollguard_register::DeletionReason;
    if change == "added" {
        return w.0.push(change_kind::ADDED);
    }
    if let Some(mask) =
        change.strip_prefix("amended:").and_then(amended_mask).filter(|m| amended_list(*m) == change)
    {
        w.0.push(change_kind::AMENDED);
        return w.0.extend_from_slice(&mask.to_be_bytes());
    }
    let reason =
        change.strip_prefix("deleted:").and_then(|r| DeletionReason::ALL.iter().position(|d| d.code() == r));
    if let Some(i) = reason.and_then(|i| u8::try_from(i).ok()) {
        return w.0.extend_from_slice(&[change_kind::DELETED, i]);
    }
    w.0.push(change_kind::TEXT);
    w.text(change);
}

fn read_change(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    match r.byte()? {
        change_kind::ADDED => Ok("added".into()),
        change_kind::AMENDED => {
            let b = r.bytes(2)?;
            Ok(amended_list(u16::from_be_bytes([b[0], b[1]])))
        }
        change_kind::DELETED => {
            let reason = rollguard_register::DeletionReason::ALL.get(usize::from(r.byte()?)).ok_or(BAD)?;
            Ok(format!("deleted:{}", reason.code()))
        }
        change_kind::TEXT => r.text(),
        _ => Err(BAD),
    }
}

fn absent_code(kind: AbsentVoteKind) -> u8 {
    match kind {
        AbsentVoteKind::Postal => 1,
        AbsentVoteKind::Proxy => 2,
        AbsentVoteKind::PostalProxy => 3,
    }
}

/// The record of one version.
pub fn encode(e: &ElectorEntry, change: &str, nino: Option<i64>) -> Vec<u8> {
    let mut flags = 0u8;
    let mut more = 0u8;
    let set = |f: &mut u8, bit: u8, on: bool| *f |= if on { bit } else { 0 };
    set(&mut flags, flag::OPT_OUT, e.open_register_opt_out);
    set(&mut flags, flag::ANONYMOUS, e.anonymous);
    set(&mut flags, flag::DOB, e.date_of_birth.is_some());
    set(&mut flags, flag::ATTAINER, e.attainer_date.is_some());
    set(&mut flags, flag::ABSENT, e.absent_vote.is_some());
    set(&mut flags, flag::OVERSEAS, e.overseas.is_some());
    set(&mut flags, flag::NINO, nino.is_some());
    set(&mut flags, flag::PREVIOUS, !e.previous_names.is_empty());
    set(&mut more, flag::EMAIL, e.contact.email.is_some());
    set(&mut more, flag::PHONE, e.contact.phone.is_some());
    set(&mut more, flag::ABSENT_EXPIRES, e.absent_vote.as_ref().is_some_and(|a| a.expires.is_some()));
    let mut w = Writer(Vec::with_capacity(160));
    w.0.extend_from_slice(&[LAYOUT, flags, more]);
    let mut number = String::with_capacity(12);
    e.number.push_to(&mut number);
    w.text(&number);
    w.text(&e.name.given_names);
    w.text(&e.name.surname);
    if !e.previous_names.is_empty() {
        w.varint(e.previous_names.len() as u64);
        for p in &e.previous_names {
            w.text(&p.given_names);
            w.text(&p.surname);
        }
    }
    w.address(&e.address);
    for d in [e.date_of_birth, e.attainer_date].into_iter().flatten() {
        w.date(d);
    }
    w.text(e.franchise.as_str());
    if let Some(av) = &e.absent_vote {
        w.0.push(absent_code(av.kind));
        if let Some(x) = av.expires {
            w.date(x);
        }
    }
    if let Some(o) = &e.overseas {
        w.date(o.declaration_expires);
        w.address(&o.qualifying_address);
    }
    for c in [&e.contact.email, &e.contact.phone].into_iter().flatten() {
        w.text(c);
    }
    push_change(&mut w, change);
    if let Some(n) = nino {
        w.0.extend_from_slice(&n.to_be_bytes());
    }
    w.0
}

pub fn decode(bytes: &[u8], table: &FranchiseTable) -> Result<EntryRecord, DecodeError> {
    let mut r = Reader(bytes);
    if r.byte()? != LAYOUT {
        return Err(BAD);
    }
    let (flags, more) = (r.byte()?, r.byte()?);
    let has = |bit: u8| flags & bit != 0;
    let number = ElectorNumber::parse("number", &r.text()?).map_err(|_| DecodeError("number"))?;
    let name = PersonName { given_names: r.text()?, surname: r.text()? };
    let mut previous_names = Vec::new();
    if has(flag::PREVIOUS) {
        for _ in 0..r.varint()?.min(32) {
            previous_names.push(PersonName { given_names: r.text()?, surname: r.text()? });
        }
    }
    let address = r.address()?;
    let date_of_birth = has(flag::DOB).then(|| r.date()).transpose()?;
    let attainer_date = has(flag::ATTAINER).then(|| r.date()).transpose()?;
    let franchise = table.marker("franchise_marker", &r.text()?).map_err(|_| DecodeError("franchise"))?;
    let absent_vote = if has(flag::ABSENT) {
        let kind = match r.byte()? {
            1 => AbsentVoteKind::Postal,
            2 => AbsentVoteKind::Proxy,
            3 => AbsentVoteKind::PostalProxy,
            _ => return Err(DecodeError("absent_vote")),
        };
        let expires = (more & flag::ABSENT_EXPIRES != 0).then(|| r.date()).transpose()?;
        Some(AbsentVote { kind, expires })
    } else {
        None
    };
    let overseas = if has(flag::OVERSEAS) {
        let declaration_expires = r.date()?;
        Some(OverseasDetails { declaration_expires, qualifying_address: r.address()? })
    } else {
        None
    };
    let email = (more & flag::EMAIL != 0).then(|| r.text()).transpose()?;
    let phone = (more & flag::PHONE != 0).then(|| r.text()).transpose()?;
    let change = read_change(&mut r)?;
    let nino = if has(flag::NINO) {
        let b = r.bytes(8)?;
        Some(i64::from_be_bytes(b.try_into().map_err(|_| BAD)?))
    } else {
        None
    };
    if !r.0.is_empty() {
        return Err(BAD);
    }
    let entry = ElectorEntry {
        number,
        name,
        previous_names,
        address,
        date_of_birth,
        attainer_date,
        franchise,
        open_register_opt_out: has(flag::OPT_OUT),
        anonymous: has(flag::ANONYMOUS),
        absent_vote,
        overseas,
        contact: Contact { email, phone },
    };
    Ok(EntryRecord { entry, change, nino })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollguard_register::{EntryText, Nation};

    fn table() -> FranchiseTable {
        FranchiseTable::default_for(Nation::England)
    }

    #[test]
    fn every_generated_entry_round_trips_and_nearly_all_fit_the_smallest_size() {
        let today = rollguard_register::parse_date("d", "2026-12-01").unwrap();
        let texts: Vec<EntryText> = rollguard_synth::Generator::new(9, table(), today).take(5_000).collect();
        let mut small = 0;
        for (i, t) in texts.iter().enumerate() {
            let (e, _) = t.validate(&table(), today).unwrap();
            let nino = (i % 3 == 0).then_some(-i64::try_from(i).unwrap() * 7_777_777_777);
            let change = [
                "added",
                "amended:name,address",
                "amended:open_register_opt_out",
                "deleted:deceased",
                "reinstated",
            ][i % 5];
            let bytes = encode(&e, change, nino);
            let back = decode(&bytes, &table()).unwrap();
            assert!(back.entry == e && back.change == change && back.nino == nino, "entry {i}");
            let added = encode(&e, "added", Some(1));
            if crate::ENTRY_SIZES.padded_len(added.len()) == crate::ENTRY_SIZES.0[0] {
                small += 1;
            }
        }
        assert!(small >= 4_925, "{small} of 5,000 in the smallest size");
    }

    #[test]
    fn the_length_of_a_record_does_not_say_which_fields_changed() {
        let today = rollguard_register::parse_date("d", "2026-12-01").unwrap();
        let t = rollguard_synth::Generator::new(4, table(), today).next_entry();
        let (e, _) = t.validate(&table(), today).unwrap();
        let one = encode(&e, "amended:address", None).len();
        let all = format!("amended:{}", AMENDABLE.join(","));
        for change in ["amended:open_register_opt_out", all.as_str(), "added"] {
            assert_eq!(encode(&e, change, None).len(), one - usize::from(change == "added") * 2, "{change}");
        }
        assert_eq!(
            encode(&e, "deleted:deceased", None).len(),
            encode(&e, "deleted:elector-request", None).len()
        );
    }

    #[test]
    fn a_truncated_or_extended_record_is_refused() {
        let today = rollguard_register::parse_date("d", "2026-12-01").unwrap();
        let t = rollguard_synth::Generator::new(2, table(), today).next_entry();
        let (e, _) = t.validate(&table(), today).unwrap();
        let bytes = encode(&e, "added", Some(5));
        for cut in [0, 1, 3, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode(&bytes[..cut], &table()).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer, &table()).is_err());
    }
}
