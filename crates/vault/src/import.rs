//! All-or-nothing CSV import. One thread parses, validates and seals; the calling thread
//! writes into a single store transaction. Any error (a bad field, a duplicate, a store
//! failure) abandons the transaction, so a failed import stores nothing.

use crate::csv_format::{CSV_COLUMNS, REGISTERED_ON};
use crate::error::ImportError;
use crate::{now_secs, AuthorityKeys, Result, Vault, VaultError};
use rollguard_register::{parse_date, Date, EntryText};
use rollguard_store::{ElectorRow, RegisterStore, StoreError};
use std::collections::HashMap;
use std::io::Read;
use std::sync::mpsc::sync_channel;

pub struct ImportOptions {
    /// The file name errors are reported against.
    pub source_name: String,
    /// The effective date for rows without a `registered_on` column.
    pub effective: Date,
    pub today: Date,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: u64,
    pub first_id: u64,
}

/// Receives a count of rows done so far, for progress bars.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

const BATCH: usize = 2048;

type Setter = fn(&mut EntryText, String);

/// Reads register CSV, calling `each` with the line number, the entry's text and its
/// `registered_on` value. Stops at the first error, naming file, line and column.
pub fn read_entries<R: Read>(
    reader: R,
    source_name: &str,
    mut each: impl FnMut(u64, EntryText, Option<&str>) -> std::result::Result<(), ImportError>,
) -> std::result::Result<u64, ImportError> {
    let err = |line: u64, field: Option<&str>, reason: String| ImportError {
        source_name: source_name.to_owned(),
        line,
        field: field.map(str::to_owned),
        reason,
    };
    let mut csv = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(reader);
    let headers = csv
        .byte_headers()
        .map_err(|e| err(1, None, format!("cannot read the header row: {}", csv_reason(&e))))?
        .clone();
    // Map each header to a column setter; refuse unknown and repeated columns.
    // `None` marks the registered_on column.
    let mut setters: Vec<Option<Setter>> = Vec::with_capacity(headers.len());
    let mut seen = std::collections::HashSet::new();
    for (i, h) in headers.iter().enumerate() {
        let name = std::str::from_utf8(h)
            .map_err(|_| err(1, None, format!("header column {} is not UTF-8", i + 1)))?
            .trim();
        if !seen.insert(name.to_owned()) {
            return Err(err(1, Some(name), "column appears twice in the header".into()));
        }
        if name == REGISTERED_ON {
            setters.push(None);
        } else if let Some(col) = CSV_COLUMNS.iter().find(|c| c.name == name) {
            setters.push(Some(col.set));
        } else {
            return Err(err(
                1,
                Some(name),
                "unknown column (see `rollguard import --help` for the format)".into(),
            ));
        }
    }
    for col in CSV_COLUMNS.iter().filter(|c| c.required) {
        if !seen.contains(col.name) {
            return Err(err(1, Some(col.name), "required column missing from the header".into()));
        }
    }
    let mut record = csv::ByteRecord::new();
    let mut n = 0;
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                return Err(err(line, None, csv_reason(&e)));
            }
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let mut text = EntryText::default();
        let mut registered_on = None;
        for (i, value) in record.iter().enumerate() {
            let value = std::str::from_utf8(value).map_err(|_| {
                let col = std::str::from_utf8(&headers[i]).unwrap_or("?");
                err(line, Some(col), "is not valid UTF-8".into())
            })?;
            match setters[i] {
                Some(set) if !value.is_empty() => set(&mut text, value.to_owned()),
                Some(_) => {}
                None => registered_on = Some(value),
            }
        }
        each(line, text, registered_on)?;
        n += 1;
    }
    Ok(n)
}

/// csv error text without any field content.
fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("row has {len} fields but the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "row is not valid UTF-8".into(),
        csv::ErrorKind::Io(io) => format!("read error: {io}"),
        _ => "malformed CSV".into(),
    }
}

/// Validates and seals one row: the work of the sealing thread.
pub(crate) struct RowSealer {
    keys: AuthorityKeys,
    source_name: String,
    effective: Date,
    today: Date,
    next_id: u64,
    recorded_at: i64,
    ninos: HashMap<i64, u64>,
    identities: HashMap<i64, u64>,
}

impl RowSealer {
    fn seal(
        &mut self,
        line: u64,
        text: &EntryText,
        registered_on: Option<&str>,
    ) -> std::result::Result<ElectorRow, ImportError> {
        let err = |field: &str, reason: String| ImportError {
            source_name: self.source_name.clone(),
            line,
            field: Some(field.to_owned()),
            reason,
        };
        let (entry, nino) = text.validate(&self.keys.table, self.today).map_err(|errs| {
            let first = &errs.0[0];
            let mut reason = first.rule.to_string();
            if errs.0.len() > 1 {
                reason.push_str(&format!(
                    " (and {} more: {})",
                    errs.0.len() - 1,
                    errs.0[1..].iter().map(|e| e.field.as_str()).collect::<Vec<_>>().join(", ")
                ));
            }
            err(&first.field, reason)
        })?;
        let effective = match registered_on.filter(|s| !s.trim().is_empty()) {
            Some(d) => parse_date(REGISTERED_ON, d).map_err(|e| err(REGISTERED_ON, e.rule.to_string()))?,
            None => self.effective,
        };
        let id = self.next_id;
        let row =
            self.keys.row(id, 1, effective, self.recorded_at, "added".into(), false, &entry, nino.as_ref());
        if let Some(n) = row.blind.nino {
            if let Some(first) = self.ninos.insert(n, line) {
                return Err(err("nino", format!("same National Insurance number as line {first}")));
            }
        }
        if let Some(first) = self.identities.insert(row.blind.identity, line) {
            return Err(err(
                "surname",
                format!("possible duplicate of line {first}: same name, date of birth and address"),
            ));
        }
        self.next_id += 1;
        Ok(row)
    }
}

type Batch = std::result::Result<Vec<(u64, ElectorRow)>, ImportError>;

impl<S: RegisterStore> Vault<S> {
    /// Imports register CSV into `authority`, all or nothing.
    pub fn import_csv<R: Read + Send>(
        &mut self,
        authority: &str,
        reader: R,
        opts: &ImportOptions,
        progress: Progress<'_>,
    ) -> Result<ImportReport> {
        let keys = self.keys(authority)?.clone();
        let mut session = self.store.begin_import()?;
        let first_id = session.first_id();
        let check_stored = session.authority_has_rows(authority)?;
        let mut sealer = RowSealer {
            keys,
            source_name: opts.source_name.clone(),
            effective: opts.effective,
            today: opts.today,
            next_id: first_id,
            recorded_at: now_secs(),
            ninos: HashMap::new(),
            identities: HashMap::new(),
        };
        let source_name = opts.source_name.clone();
        let (tx, rx) = sync_channel::<Batch>(8);
        let outcome: Result<u64> = std::thread::scope(|scope| {
            // Owned here so an early return drops it, which stops the sealing thread.
            let rx = rx;
            scope.spawn(move || {
                let mut batch = Vec::with_capacity(BATCH);
                let result = read_entries(reader, &source_name, |line, text, reg| {
                    batch.push((line, sealer.seal(line, &text, reg)?));
                    if batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        // A closed channel means the writer stopped on an error: stop too.
                        tx.send(Ok(full)).map_err(|_| ImportError {
                            source_name: source_name.clone(),
                            line,
                            field: None,
                            reason: "import abandoned".into(),
                        })?;
                    }
                    Ok(())
                });
                let _ = match result {
                    Ok(_) => tx.send(Ok(batch)),
                    Err(e) => tx.send(Err(e)),
                };
            });
            let mut done = 0u64;
            for batch in rx.iter() {
                for (line, row) in batch? {
                    let line_err = |field: &str, reason: &str| ImportError {
                        source_name: opts.source_name.clone(),
                        line,
                        field: Some(field.into()),
                        reason: reason.into(),
                    };
                    if check_stored && session.identity_exists(authority, row.blind.identity)? {
                        return Err(line_err("surname", "possible duplicate of an elector already registered: same name, date of birth and address").into());
                    }
                    if check_stored
                        && row.blind.nino.map(|n| session.nino_exists(authority, n)).transpose()?
                            == Some(true)
                    {
                        return Err(line_err(
                            "nino",
                            "an elector with this National Insurance number is already registered",
                        )
                        .into());
                    }
                    match session.insert(&row) {
                        Ok(()) => {}
                        Err(StoreError::DuplicateNino) => {
                            return Err(line_err(
                                "nino",
                                "an elector with this National Insurance number is already registered",
                            )
                            .into())
                        }
                        Err(e) => return Err(VaultError::Store(e)),
                    }
                    done += 1;
                }
                progress(done);
            }
            Ok(done)
        });
        // On error `session` drops here without commit: the transaction rolls back.
        outcome?;
        let imported = session.commit()?;
        Ok(ImportReport { imported, first_id })
    }
}
