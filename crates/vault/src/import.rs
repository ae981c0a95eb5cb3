//! All-or-nothing CSV import. One thread parses, validates and seals; the calling thread
//! writes into a single store transaction. Any error (a bad field, a duplicate, a store
//! failure) abandons the transaction, so a failed import stores nothing.

use crate::csv_format::{CSV_COLUMNS, REGISTERED_ON};
use crate::error::ImportError;
use crate::import_canaries::CanaryPlan;
use crate::{AuthorityKeys, Result, Vault, VaultError};
use rollguard_register::{parse_date, ChangeKind, Date, EntryText};
use rollguard_sealing::IndexKind;
use rollguard_store::{DuplicateKind, ElectorRow, ImportSession, IndexEntry, IndexTable, Store, StoreError};
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

pub struct ImportOptions {
    /// The file name errors are reported against.
    pub source_name: String,
    /// The effective date for rows without a `registered_on` column.
    pub effective: Date,
    pub today: Date,
    /// When the rows are written (Unix seconds).
    pub now: i64,
    /// Canaries to plant among the rows, per 100,000 (see `import_canaries`); only into an
    /// authority with no entries yet, whose postcodes the file holds in full.
    pub canaries_per_100k: u32,
}

/// The default canary density: one per thousand electors (see `docs/detection.md`).
pub const CANARIES_PER_100K: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: u64,
    /// The sequence number of the file's first row (later rows and planted canaries take
    /// the numbers after it; see [`Vault::elector_id`]).
    pub first_sequence: u64,
    /// The ids of the file's rows, in the file's order (canaries are not among them).
    pub ids: Vec<u64>,
    /// Canaries planted among the imported rows (their ids are in the sealed registry only).
    pub canaries: u64,
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
    ids: crate::IdScheme,
    /// The store's number for the authority (its ids' cluster).
    authority_number: u64,
    source_name: String,
    effective: Date,
    today: Date,
    recorded_at: i64,
}

/// One parsed row on its way to a sealing thread, its sequence number already assigned.
struct Parsed {
    line: u64,
    sequence: u64,
    text: EntryText,
    registered_on: Option<String>,
}

impl RowSealer {
    /// Validates and seals one row as elector `id`; its index entries hold the id where their
    /// references go (see `seal_batch`).
    fn seal(&self, p: &Parsed, id: u64) -> std::result::Result<(ElectorRow, Vec<IndexEntry>), ImportError> {
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
        let nino = nino.as_ref().map(|n| self.keys.nino_value(n));
        // Full-width values: the store buckets them at commit, once the widths are known.
        let index = self.keys.blind_values(&entry, nino).entries_by_id(id, false, &|_, _| None);
        Ok((self.keys.row(id, 1, effective, self.recorded_at, &ChangeKind::Added, &entry, nino), index))
    }
}

type Sealed = std::result::Result<Vec<SealedRow>, ImportError>;

/// A sealed row of the file: its line and sequence number, the row and its index entries.
struct SealedRow {
    line: u64,
    sequence: u64,
    row: ElectorRow,
    index: Vec<IndexEntry>,
}

impl RowSealer {
    /// Seals a batch, stopping at its first bad row.
    fn seal_batch(&self, batch: &[Parsed]) -> Sealed {
        // Sized up front: growing a batch of rows by doubling showed in profiles.
        // Ids a batch at once. Rows before an exhausted sequence are sealed first, so an
        // earlier bad line is still the one reported.
        let held = batch.iter().position(|p| !self.ids.holds(p.sequence)).unwrap_or(batch.len());
        let sequences: Vec<u64> = batch[..held].iter().map(|p| p.sequence).collect();
        let mut rows = Vec::with_capacity(batch.len());
        for (p, id) in batch.iter().zip(self.ids.ids(self.authority_number, &sequences)) {
            let (row, index) = self.seal(p, id)?;
            rows.push(SealedRow { line: p.line, sequence: p.sequence, row, index });
        }
        if let Some(p) = batch.get(held) {
            return Err(ImportError {
                source_name: self.source_name.clone(),
                line: p.line,
                field: None,
                reason: "the register's elector sequence is exhausted".into(),
            });
        }
        let mut entries: Vec<&mut IndexEntry> = rows.iter_mut().flat_map(|r| r.index.iter_mut()).collect();
        self.keys.refs.refer_many(&mut entries);
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
        let ids = self.id_scheme()?.clone();
        // Duplicate checks and canary planting see only the sealed layout.
        let authority_number = {
            let tx = store.read()?;
            if tx.legacy_pending()? {
                return Err(VaultError::UpgradePending);
            }
            tx.authority_number(authority)?
        };
        let mut session = store.begin_import()?;
        let first_id = session.first_sequence();
        let plans = crate::Widths::from_plans(session.index_plans(authority)?);
        Self::refuse_while_resizing(authority, &plans)?;
        let sealer = RowSealer {
            keys,
            ids,
            authority_number,
            source_name: opts.source_name.clone(),
            effective: opts.effective,
            today: opts.today,
            recorded_at: opts.now,
        };
        let check_stored = session.authority_has_rows(authority)?;
        let mut writer = BatchWriter {
            session: &mut *session,
            authority,
            check_stored,
            source_name: &opts.source_name,
            first_id,
            lines: Vec::new(),
            ids: Vec::new(),
            done: 0,
        };
        let plan = Mutex::new(CanaryPlan::new(if check_stored { 0 } else { opts.canaries_per_100k }));
        // On error `session` drops without commit: the transaction rolls back.
        pipeline(reader, &sealer, (first_id, &plan), |rows| {
            writer.write(rows)?;
            progress(writer.done);
            Ok(())
        })?;
        let mut plan = plan.into_inner().map_err(|_| VaultError::Io("the import parser failed".into()))?;
        let canaries = self.plant_import_canaries(&mut writer, &sealer, &mut plan, authority)?;
        let index = &sealer.keys.index;
        let sizes: Vec<(i64, u64)> =
            plan.districts.iter().map(|(d, n)| (index.blind(IndexKind::District, d).0, *n)).collect();
        writer.session.add_district_sizes(authority, &sizes)?;
        let (done, count, lines, ids) = (
            writer.done,
            writer.done - canaries.len() as u64,
            std::mem::take(&mut writer.lines),
            std::mem::take(&mut writer.ids),
        );
        let next_sequence = first_id + lines.len() as u64;
        session.append_event(&event(count, first_id))?;
        let widths = self.import_widths(&mut *session, authority, check_stored, &plans, done)?;
        match session.commit(next_sequence, &widths) {
            Ok(total) => Ok(ImportReport {
                imported: total - canaries.len() as u64,
                first_sequence: first_id,
                ids: ids.iter().zip(&lines).filter(|(_, line)| **line != 0).map(|(id, _)| *id).collect(),
                canaries: canaries.len() as u64,
            }),
            Err(StoreError::DuplicateInImport { kind, first, second }) => {
                let table = match kind {
                    DuplicateKind::Nino => IndexTable::Nino,
                    DuplicateKind::Identity => IndexTable::Identity,
                };
                let line = |reference: u64| {
                    sealer
                        .keys
                        .refs
                        .id(table, reference)
                        .and_then(|id| sealer.ids.sequence(id))
                        .and_then(|seq| usize::try_from(seq.checked_sub(first_id)?).ok())
                        .and_then(|i| lines.get(i))
                        .copied()
                        .unwrap_or(0)
                };
                Err(duplicate_in_file(&opts.source_name, kind, line(first), line(second)).into())
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl Vault {
    /// Seals and writes the canaries `plan` reserved ids for, with the same dates as the
    /// rows around them, and records them in the registry in the import's transaction.
    fn plant_import_canaries(
        &self,
        writer: &mut BatchWriter<'_>,
        sealer: &RowSealer,
        plan: &mut CanaryPlan,
        authority: &str,
    ) -> Result<Vec<u64>> {
        if plan.reserved.is_empty() {
            return Ok(Vec::new());
        }
        let entries = plan.entries(sealer.keys.table.clone(), sealer.today).ok_or_else(|| ImportError {
            source_name: sealer.source_name.clone(),
            line: 0,
            field: None,
            reason: "no postcode free of the file's rows was found for a canary; import with --canaries-per-thousand 0".into(),
        })?;
        let parsed: Vec<Parsed> = entries
            .into_iter()
            .map(|(sequence, text, registered_on)| {
                plan.count_district(&text.elector_number);
                Parsed { line: 0, sequence, text, registered_on }
            })
            .collect();
        let rows = sealer.seal_batch(&parsed)?;
        let ids: Vec<u64> = rows.iter().map(|r| r.row.id).collect();
        writer.write(rows)?;
        self.record_canaries_in_import(&mut *writer.session, authority, &ids, sealer.recorded_at)?;
        Ok(ids)
    }
}

/// Parses `reader` on one thread, seals its rows on one thread per core (up to 8), and hands
/// each sealed batch to `write` on this thread. Stops at the first error; of the rows'
/// errors, the earliest line's is returned.
fn pipeline<R: Read + Send>(
    reader: R,
    sealer: &RowSealer,
    (first_id, plan): (u64, &Mutex<CanaryPlan>),
    mut write: impl FnMut(Vec<SealedRow>) -> Result<()>,
) -> Result<()> {
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 8);
    let stop = AtomicBool::new(false);
    let (work_tx, work_rx) = sync_channel::<Vec<Parsed>>(workers * 2);
    // Owned by the workers only: when they all stop, the queue closes and the parser stops.
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = sync_channel::<Sealed>(workers * 4);
    std::thread::scope(|scope| {
        // Dropped when this closure returns, before the scope joins: a worker blocked on a
        // full queue then fails its send and stops.
        let done_rx = done_rx;
        spawn_parser(
            scope,
            reader,
            (&sealer.source_name, plan),
            first_id,
            &stop,
            (work_tx, done_tx.clone()),
        )?;
        for _ in 0..workers {
            spawn_sealer(scope, sealer.clone(), work_rx.clone(), done_tx.clone())?;
        }
        drop(done_tx);
        drop(work_rx);
        // Whatever way this thread leaves, the parser and workers wind down.
        let _stop_on_exit = StopOnExit(&stop);
        let mut failure: Option<ImportError> = None;
        for sealed in done_rx.iter() {
            match sealed {
                Ok(rows) if failure.is_none() => write(rows)?,
                Ok(_) => {}
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    failure = earliest(failure, e);
                }
            }
        }
        failure.map_or(Ok(()), |e| Err(e.into()))
    })
}

struct StopOnExit<'a>(&'a AtomicBool);

impl Drop for StopOnExit<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The parser thread: reads rows into batches with their ids, and sends its error, if any,
/// where the sealed batches go.
fn spawn_parser<'scope, R: Read + Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    reader: R,
    (source_name, plan): (&'scope str, &'scope Mutex<CanaryPlan>),
    first_id: u64,
    stop: &'scope AtomicBool,
    (work_tx, error_tx): (SyncSender<Vec<Parsed>>, SyncSender<Sealed>),
) -> Result<()> {
    let parse = move || {
        let Ok(mut plan) = plan.lock() else { return };
        let mut batch = Vec::with_capacity(BATCH);
        let mut id = first_id;
        // Set when the rest of the import has stopped: then reading stops too, and the error
        // that ends reading is not news to anyone.
        let mut abandoned = false;
        let result = read_entries(reader, source_name, |line, text, reg| {
            if plan.before_row(&text, reg, id) {
                id += 1;
            }
            batch.push(Parsed { line, sequence: id, text, registered_on: reg.map(str::to_owned) });
            id += 1;
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if stop.load(Ordering::Relaxed) || work_tx.send(full).is_err() {
                    abandoned = true;
                    return Err(ImportError {
                        source_name: source_name.to_owned(),
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
                let _ = error_tx.send(Err(e));
            }
            Err(_) => {}
        }
    };
    std::thread::Builder::new()
        .name("rg-import-parse".into())
        .spawn_scoped(scope, parse)
        .map(drop)
        .map_err(|e| VaultError::Io(format!("starting the import parser: {e}")))
}

/// A sealing thread: takes batches until the queue closes or nobody wants the results.
fn spawn_sealer<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    sealer: RowSealer,
    work_rx: Arc<Mutex<Receiver<Vec<Parsed>>>>,
    done_tx: SyncSender<Sealed>,
) -> Result<()> {
    let seal = move || loop {
        let Ok(batch) = work_rx.lock().expect("work queue").recv() else { return };
        // A batch once taken is finished, so no earlier line goes unchecked.
        if done_tx.send(sealer.seal_batch(&batch)).is_err() {
            return;
        }
    };
    std::thread::Builder::new()
        .name("rg-import-seal".into())
        .spawn_scoped(scope, seal)
        .map(drop)
        .map_err(|e| VaultError::Io(format!("starting an import worker: {e}")))
}

/// Writes sealed batches into the import's transaction, checking each row against the
/// electors already stored.
struct BatchWriter<'a> {
    session: &'a mut dyn ImportSession,
    authority: &'a str,
    check_stored: bool,
    source_name: &'a str,
    first_id: u64,
    /// Line of each written row by sequence offset, to name lines in duplicate errors.
    lines: Vec<u64>,
    /// Id of each written row by sequence offset, for the report.
    ids: Vec<u64>,
    done: u64,
}

impl BatchWriter<'_> {
    fn write(&mut self, rows: Vec<SealedRow>) -> Result<()> {
        let mut checked = Vec::with_capacity(rows.len());
        let mut index = Vec::with_capacity(rows.len() * 6);
        for r in rows {
            if self.check_stored {
                self.refuse_if_stored(r.line, &r.index)?;
            }
            // Sequence numbers are handed out one per line read, so the offset counts rows
            // held in memory.
            let slot = usize::try_from(r.sequence - self.first_id).expect("a sequence offset fits in memory");
            if self.lines.len() <= slot {
                self.lines.resize(slot + 1, 0);
                self.ids.resize(slot + 1, 0);
            }
            self.lines[slot] = r.line;
            self.ids[slot] = r.row.id;
            checked.push(r.row);
            index.extend(r.index);
        }
        self.done += checked.len() as u64;
        self.session.insert_batch(self.authority, checked, index)?;
        Ok(())
    }

    fn refuse_if_stored(&self, line: u64, index: &[IndexEntry]) -> Result<()> {
        let refuse = |field: &str, reason: &str| -> VaultError {
            ImportError {
                source_name: self.source_name.to_owned(),
                line,
                field: Some(field.into()),
                reason: reason.into(),
            }
            .into()
        };
        for e in index {
            let (field, reason) = match e.table {
                IndexTable::Identity => (
                    "surname",
                    "possible duplicate of an elector already registered: same name, date of birth and address",
                ),
                IndexTable::Nino => ("nino", "an elector with this National Insurance number is already registered"),
                _ => continue,
            };
            if self.session.index_exists(self.authority, e.table, e.value)? {
                return Err(refuse(field, reason));
            }
        }
        Ok(())
    }
}

impl Vault {
    /// The widths the import's bucketed entries are stored at: the authority's plan, or for
    /// an authority's first rows, the plan for their number (recorded in the import).
    fn import_widths(
        &self,
        session: &mut dyn ImportSession,
        authority: &str,
        had_rows: bool,
        plans: &crate::Widths,
        rows: u64,
    ) -> Result<Vec<(IndexTable, u32)>> {
        let mut out = Vec::new();
        for table in IndexTable::BUCKETED {
            let bits = if had_rows {
                plans.bits(table, 0)
            } else {
                let bits = crate::planned_bits(table, rows);
                session
                    .set_index_plan(authority, &rollguard_store::IndexPlan { table, bits, resize: None })?;
                bits
            };
            out.push((table, bits));
        }
        Ok(out)
    }
}

/// Two rows of the file that are the same elector, reported at the later line.
fn duplicate_in_file(source_name: &str, kind: DuplicateKind, line_a: u64, line_b: u64) -> ImportError {
    let (field, what, suffix) = match kind {
        DuplicateKind::Nino => ("nino", "same National Insurance number as line", ""),
        DuplicateKind::Identity => {
            ("surname", "possible duplicate of line", ": same name, date of birth and address")
        }
    };
    ImportError {
        source_name: source_name.to_owned(),
        line: line_a.max(line_b),
        field: Some(field.into()),
        reason: format!("{what} {}{suffix}", line_a.min(line_b)),
    }
}
