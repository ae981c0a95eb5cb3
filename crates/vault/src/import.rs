//! All-or-nothing CSV import. One thread parses, validates and seals; the calling thread
//! writes into a single store transaction. Any error (a bad field, a duplicate, a store
//! failure) abandons the transaction, so a failed import stores nothing.

use crate::csv_format::{CSV_COLUMNS, REGISTERED_ON};
use crate::error::ImportError;
use crate::{AuthorityKeys, Result, Vault, VaultError};
use rollguard_register::{parse_date, ChangeKind, Date, EntryText};
use rollguard_store::{DuplicateKind, ElectorRow, Store, StoreError};
use std::io::Read;
use std::sync::mpsc::sync_channel;

pub struct ImportOptions {
    /// The file name errors are reported against.
    pub source_name: String,
    /// The effective date for rows without a `registered_on` column.
    pub effective: Date,
    pub today: Date,
    /// When the rows are written (Unix seconds).
    pub now: i64,
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

/// Validates and seals rows: the work of each sealing thread.
#[derive(Clone)]
pub(crate) struct RowSealer {
    keys: AuthorityKeys,
    source_name: String,
    effective: Date,
    today: Date,
    recorded_at: i64,
}

/// One parsed row on its way to a sealing thread, its id already assigned.
struct Parsed {
    line: u64,
    id: u64,
    text: EntryText,
    registered_on: Option<String>,
}

impl RowSealer {
    fn seal(&self, p: &Parsed) -> std::result::Result<ElectorRow, ImportError> {
        let err = |field: &str, reason: String| ImportError {
            source_name: self.source_name.clone(),
            line: p.line,
            field: Some(field.to_owned()),
            reason,
        };
        let (entry, nino) = p.text.validate(&self.keys.table, self.today).map_err(|errs| {
            let first = &errs.0[0];
            let mut reason = first.rule.to_string();
            if errs.0.len() > 1 {
                let others: Vec<&str> = errs.0[1..].iter().map(|e| e.field.as_str()).collect();
                reason.push_str(&format!(" (and {} more: {})", others.len(), others.join(", ")));
            }
            err(&first.field, reason)
        })?;
        let effective = match p.registered_on.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(d) => parse_date(REGISTERED_ON, d).map_err(|e| err(REGISTERED_ON, e.rule.to_string()))?,
            None => self.effective,
        };
        Ok(self.keys.row(p.id, 1, effective, self.recorded_at, &ChangeKind::Added, &entry, nino.as_ref()))
    }
}

type Sealed = std::result::Result<Vec<(u64, ElectorRow)>, ImportError>;

impl RowSealer {
    /// Seals a batch, stopping at its first bad row.
    fn seal_batch(&self, batch: &[Parsed]) -> Sealed {
        // Sized up front: growing a batch of rows by doubling showed in profiles.
        let mut rows = Vec::with_capacity(batch.len());
        for p in batch {
            rows.push((p.line, self.seal(p)?));
        }
        Ok(rows)
    }
}

/// The smaller-line error wins, so the report does not depend on thread timing.
fn earliest(a: Option<ImportError>, b: ImportError) -> Option<ImportError> {
    match a {
        Some(a) if a.line <= b.line => Some(a),
        _ => Some(b),
    }
}

/// The audit event of an import, made once its size is known: (rows, first id) → canonical
/// bytes. It is written in the import's own transaction.
pub type ImportEvent<'a> = &'a dyn Fn(u64, u64) -> Vec<u8>;

impl Vault {
    /// Imports register CSV into `authority`, all or nothing, on `store` (a connection of
    /// its own: the import is one long transaction), with its audit event.
    ///
    /// A parser thread reads rows and assigns ids; one sealing thread per core validates,
    /// seals and blind-indexes them; this thread writes them into one store transaction.
    /// Rows may arrive out of order (their ids are fixed), and the first error by line wins.
    pub fn import_csv<R: Read + Send>(
        &self,
        store: &mut dyn Store,
        authority: &str,
        reader: R,
        opts: &ImportOptions,
        event: ImportEvent<'_>,
        progress: Progress<'_>,
    ) -> Result<ImportReport> {
        let keys = self.keys(authority)?.clone();
        let mut session = store.begin_import()?;
        let first_id = session.first_id();
        let check_stored = session.authority_has_rows(authority)?;
        let sealer = RowSealer {
            keys,
            source_name: opts.source_name.clone(),
            effective: opts.effective,
            today: opts.today,
            recorded_at: opts.now,
        };
        let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 8);
        let source_name = opts.source_name.clone();
        let stop = std::sync::atomic::AtomicBool::new(false);
        // Line of each imported row by id offset, to name lines in duplicate errors.
        let mut lines: Vec<u64> = Vec::new();
        let (work_tx, work_rx) = sync_channel::<Vec<Parsed>>(workers * 2);
        // Owned by the workers only: when they all stop, the queue closes and the parser stops.
        let work_rx = std::sync::Arc::new(std::sync::Mutex::new(work_rx));
        let (done_tx, done_rx) = sync_channel::<Sealed>(workers * 4);
        let outcome: Result<u64> = std::thread::scope(|scope| {
            let done_rx = done_rx;
            let stop = &stop;
            let parse_err_tx = done_tx.clone();
            let parser = std::thread::Builder::new().name("rg-import-parse".into());
            parser
                .spawn_scoped(scope, move || {
                    let mut batch = Vec::with_capacity(BATCH);
                    let mut id = first_id;
                    // Set when the rest of the import has stopped: then reading stops too, and
                    // the error that ends reading is not news to anyone.
                    let mut abandoned = false;
                    let result = read_entries(reader, &source_name, |line, text, reg| {
                        batch.push(Parsed { line, id, text, registered_on: reg.map(str::to_owned) });
                        id += 1;
                        if batch.len() == BATCH {
                            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                            if stop.load(std::sync::atomic::Ordering::Relaxed) || work_tx.send(full).is_err()
                            {
                                abandoned = true;
                                return Err(ImportError {
                                    source_name: source_name.clone(),
                                    line,
                                    field: None,
                                    reason: "import stopped".into(),
                                });
                            }
                        }
                        Ok(())
                    });
                    match result {
                        Ok(_) => {
                            let _ = work_tx.send(batch);
                        }
                        Err(e) if !abandoned => {
                            let _ = parse_err_tx.send(Err(e));
                        }
                        Err(_) => {}
                    }
                })
                .map_err(|e| VaultError::Io(format!("starting the import parser: {e}")))?;
            for _ in 0..workers {
                let (sealer, done_tx, work_rx) = (sealer.clone(), done_tx.clone(), work_rx.clone());
                let worker = std::thread::Builder::new().name("rg-import-seal".into());
                worker
                    .spawn_scoped(scope, move || loop {
                        let batch = match work_rx.lock().expect("work queue").recv() {
                            Ok(b) => b,
                            Err(_) => return,
                        };
                        // A batch once taken is finished, so no earlier line goes unchecked.
                        let sealed = sealer.seal_batch(&batch);
                        if done_tx.send(sealed).is_err() {
                            return;
                        }
                    })
                    .map_err(|e| VaultError::Io(format!("starting an import worker: {e}")))?;
            }
            drop(done_tx);
            drop(work_rx);
            // Whatever way this thread leaves, the parser and workers wind down.
            struct StopOnExit<'a>(&'a std::sync::atomic::AtomicBool);
            impl Drop for StopOnExit<'_> {
                fn drop(&mut self) {
                    self.0.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            let _stop_on_exit = StopOnExit(stop);
            let mut done = 0u64;
            let mut failure: Option<ImportError> = None;
            for sealed in done_rx.iter() {
                let rows = match sealed {
                    Ok(rows) if failure.is_none() => rows,
                    Ok(_) => continue,
                    Err(e) => {
                        stop.store(true, std::sync::atomic::Ordering::Relaxed);
                        failure = earliest(failure, e);
                        continue;
                    }
                };
                let mut checked = Vec::with_capacity(rows.len());
                for (line, row) in rows {
                    let line_err = |field: &str, reason: &str| ImportError {
                        source_name: opts.source_name.clone(),
                        line,
                        field: Some(field.into()),
                        reason: reason.into(),
                    };
                    if check_stored {
                        if session.identity_exists(authority, row.blind.identity)? {
                            return Err(line_err("surname", "possible duplicate of an elector already registered: same name, date of birth and address").into());
                        }
                        if let Some(n) = row.blind.nino {
                            if session.nino_exists(authority, n)? {
                                return Err(line_err(
                                    "nino",
                                    "an elector with this National Insurance number is already registered",
                                )
                                .into());
                            }
                        }
                    }
                    // Ids are handed out one per line read, so the offset counts rows held in memory.
                    let slot = usize::try_from(row.id - first_id).expect("an id offset fits in memory");
                    if lines.len() <= slot {
                        lines.resize(slot + 1, 0);
                    }
                    lines[slot] = line;
                    checked.push(row);
                }
                session.insert_batch(&checked)?;
                done += checked.len() as u64;
                checked.clear();
                progress(done);
            }
            match failure {
                Some(e) => Err(e.into()),
                None => Ok(done),
            }
        });
        // On error `session` drops here without commit: the transaction rolls back.
        let count = outcome?;
        session.append_event(&event(count, first_id))?;
        let imported = match session.commit() {
            Ok(n) => n,
            Err(StoreError::DuplicateInImport { kind, first, second }) => {
                let line = |id: u64| {
                    usize::try_from(id - first_id).ok().and_then(|i| lines.get(i)).copied().unwrap_or(0)
                };
                let (field, what) = match kind {
                    DuplicateKind::Nino => ("nino", "same National Insurance number as line"),
                    DuplicateKind::Identity => ("surname", "possible duplicate of line"),
                };
                let (a, b) = (line(first).min(line(second)), line(first).max(line(second)));
                let suffix = if kind == DuplicateKind::Identity {
                    ": same name, date of birth and address"
                } else {
                    ""
                };
                return Err(ImportError {
                    source_name: opts.source_name.clone(),
                    line: b,
                    field: Some(field.into()),
                    reason: format!("{what} {a}{suffix}"),
                }
                .into());
            }
            Err(e) => return Err(e.into()),
        };
        Ok(ImportReport { imported, first_id })
    }
}
