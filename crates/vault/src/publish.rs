//! Publication: the full register and the open register, as CSV. Anonymous entries appear
//! in the full register as their number and the marker N only, and never in the open
//! register; electors who opted out are left out of the open register.

use crate::{Elector, Result, Vault, VaultError};
use rollguard_register::format_date;
use rollguard_store::ReadTx;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterKind {
    /// Every registered elector; for those entitled to the full register.
    Full,
    /// Without opted-out and anonymous electors; may be sold to anyone.
    Open,
}

pub type Sink<'a> = &'a mut dyn Write;

const HEADER: &[&str] = &[
    "elector_number",
    "franchise_marker",
    "surname",
    "given_names",
    "address_line_1",
    "address_line_2",
    "address_line_3",
    "address_line_4",
    "address_line_5",
    "postcode",
    "attainer_date",
];

fn io(e: impl std::fmt::Display) -> VaultError {
    VaultError::Io(format!("writing the register: {e}"))
}

fn included(e: &Elector, kind: RegisterKind) -> bool {
    kind == RegisterKind::Full || !(e.entry.open_register_opt_out || e.entry.anonymous)
}

/// The ids of the electors a register of `kind` would include: what an export's audit event
/// lists before the export is written.
pub fn included_ids(electors: &[Elector], kind: RegisterKind) -> Vec<u64> {
    electors.iter().filter(|e| included(e, kind)).map(|e| e.id).collect()
}

/// Writes electors in register order; returns how many rows were written.
pub fn write_register(electors: &[Elector], kind: RegisterKind, out: Sink<'_>) -> Result<u64> {
    write_register_marked(electors, kind, &[], out)
}

fn district_of(number: &str) -> &str {
    crate::registry::split_number(number).map(|(d, _)| d).unwrap_or("")
}

fn write_mark(w: &mut csv::Writer<Sink<'_>>, m: &crate::Mark) -> Result<()> {
    let line = |i: usize| m.address_lines.get(i).map(String::as_str).unwrap_or("");
    w.write_record([
        m.elector_number.as_str(),
        "",
        &m.surname,
        &m.given_names,
        line(0),
        line(1),
        line(2),
        line(3),
        line(4),
        &m.postcode,
        "",
    ])
    .map_err(io)
}

/// Writes electors in register order with a supply's watermark entries, each after the
/// last elector of its polling district (where a recent addition would be numbered).
/// Returns how many rows were written, marks included.
pub fn write_register_marked(
    electors: &[Elector],
    kind: RegisterKind,
    marks: &[crate::Mark],
    out: Sink<'_>,
) -> Result<u64> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(HEADER).map_err(io)?;
    let mut n = 0;
    let mut written = vec![false; marks.len()];
    let mut district = String::new();
    for e in electors {
        let entry = &e.entry;
        if !included(e, kind) {
            continue;
        }
        let number = entry.number.to_string();
        if district_of(&number) != district {
            for (i, m) in marks.iter().enumerate() {
                if !written[i] && district_of(&m.elector_number) == district {
                    write_mark(&mut w, m)?;
                    written[i] = true;
                    n += 1;
                }
            }
            district = district_of(&number).to_owned();
        }
        if entry.anonymous {
            let mut rec = vec![number.as_str(), "N"];
            rec.resize(HEADER.len(), "");
            w.write_record(&rec).map_err(io)?;
        } else {
            let lines = &entry.address.lines;
            let line = |i: usize| lines.get(i).map(String::as_str).unwrap_or("");
            let attainer = entry.attainer_date.map(format_date).unwrap_or_default();
            w.write_record([
                number.as_str(),
                entry.franchise.as_str(),
                &entry.name.surname,
                &entry.name.given_names,
                line(0),
                line(1),
                line(2),
                line(3),
                line(4),
                entry.address.postcode.as_str(),
                &attainer,
            ])
            .map_err(io)?;
        }
        n += 1;
    }
    for (i, m) in marks.iter().enumerate() {
        if !written[i] {
            write_mark(&mut w, m)?;
            n += 1;
        }
    }
    w.flush().map_err(io)?;
    Ok(n)
}

impl Vault {
    /// Current registered electors of `authority`, opened, in elector-number order.
    pub fn current_register(&self, tx: &dyn ReadTx, authority: &str) -> Result<Vec<Elector>> {
        self.keys(authority)?;
        let mut rows = Vec::new();
        tx.current_registered(authority, &mut |r| {
            rows.push(r);
            Ok(())
        })?;
        let mut out = rows.iter().map(|r| self.open_elector(r)).collect::<Result<Vec<_>>>()?;
        // During a layout upgrade, the entries not moved yet.
        let mut legacy = Vec::new();
        tx.legacy_registered(authority, None, &mut |r| {
            legacy.push(r);
            Ok(())
        })?;
        for r in &legacy {
            out.push(self.open_legacy_elector(r)?);
        }
        out.sort_by(|a, b| a.entry.number.cmp(&b.entry.number));
        Ok(out)
    }
}
