//! The all-or-nothing bulk path: one transaction, elector rows inserted as they come, blind
//! indexes gathered and loaded sorted at commit.

use super::rows::{entry_exists, insert_elector_with, load_sorted, INSERT_ELECTOR};
use super::{db_err, AuthorityCache, REFRESH_STATISTICS};
use crate::rows::{ElectorRow, IndexEntry, IndexPlan, IndexTable};
use crate::{DuplicateKind, ImportSession, Result, StoreError};
use rusqlite::{params, Connection, Transaction, TransactionBehavior};

/// A rollback journal in place of the WAL for the length of a bulk import, when no other
/// connection has the database open. In WAL mode every page of a large import is written twice:
/// into the WAL at commit, then into the database at the checkpoint. A rollback journal records
/// only the pages that existed before the transaction, so the import's new pages are written
/// once (docs/benchmarks.md). All or nothing holds either way. With another connection open the
/// switch is refused at once and the import runs in WAL mode. Dropping the guard restores WAL.
pub(crate) struct BulkJournal<'c> {
    conn: &'c Connection,
    switched: bool,
}

impl<'c> BulkJournal<'c> {
    pub(crate) fn enter(conn: &'c Connection) -> Result<Self> {
        // Without waiting: another connection holds its lock for as long as it is open.
        conn.busy_timeout(std::time::Duration::ZERO).map_err(db_err)?;
        let mode = conn.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get::<_, String>(0));
        conn.busy_timeout(super::BUSY_TIMEOUT).map_err(db_err)?;
        let switched = matches!(mode, Ok(m) if m.eq_ignore_ascii_case("delete"));
        Ok(Self { conn, switched })
    }
}

impl Drop for BulkJournal<'_> {
    fn drop(&mut self) {
        if self.switched {
            // If this fails the database stays in rollback mode until the next open, which
            // sets WAL again.
            let _ = self.conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0));
        }
    }
}

pub(crate) fn begin<'c>(conn: &'c Connection, cache: &AuthorityCache) -> Result<Box<dyn ImportSession + 'c>> {
    let authorities = {
        let mut stmt = conn.prepare_cached("SELECT id, code FROM authorities").map_err(db_err)?;
        let all = stmt
            .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(0)?)))
            .map_err(db_err)?
            .collect::<rusqlite::Result<std::collections::HashMap<String, i64>>>()
            .map_err(db_err)?;
        all
    };
    *cache.0.borrow_mut() = authorities.iter().map(|(c, id)| (*id, c.clone())).collect();
    let journal = BulkJournal::enter(conn)?;
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate).map_err(db_err)?;
    let first: u64 =
        tx.query_row("SELECT next FROM counters WHERE name = 'elector'", [], |r| r.get(0)).map_err(db_err)?;
    Ok(Box::new(SqliteImport {
        tx,
        first_sequence: first,
        batches: Vec::new(),
        authorities,
        pending: Default::default(),
        _journal: journal,
    }))
}

struct SqliteImport<'c> {
    // Declared before the journal guard: an abandoned transaction rolls back before the
    // journal mode is restored.
    tx: rusqlite::Transaction<'c>,
    first_sequence: u64,
    /// Batches of rows with their authority's id, each sorted by id, merged into id order
    /// at commit. Kept as batches so the import never copies a growing array of every row.
    batches: Vec<(i64, Vec<ElectorRow>)>,
    authorities: std::collections::HashMap<String, i64>,
    /// Blind-index entries gathered per (authority, table) in batches, loaded sorted at commit.
    pending: std::collections::BTreeMap<(i64, IndexTable), Vec<Entries>>,
    _journal: BulkJournal<'c>,
}

impl SqliteImport<'_> {
    fn aid(&self, code: &str) -> Result<i64> {
        self.authorities.get(code).copied().ok_or_else(|| StoreError::UnknownAuthority(code.to_owned()))
    }
}

impl ImportSession for SqliteImport<'_> {
    fn first_sequence(&self) -> u64 {
        self.first_sequence
    }

    fn authority_has_rows(&self, authority: &str) -> Result<bool> {
        let aid = self.aid(authority)?;
        self.tx
            .query_row("SELECT EXISTS (SELECT 1 FROM ix_number WHERE authority_id = ?1)", params![aid], |r| {
                r.get(0)
            })
            .map_err(db_err)
    }

    fn index_plans(&self, authority: &str) -> Result<Vec<IndexPlan>> {
        super::plans::index_plans(&self.tx, self.aid(authority)?)
    }

    fn set_index_plan(&mut self, authority: &str, plan: &IndexPlan) -> Result<()> {
        super::plans::set_index_plan(&self.tx, self.aid(authority)?, plan)
    }

    fn insert_batch(&mut self, authority: &str, rows: Vec<ElectorRow>, index: Vec<IndexEntry>) -> Result<()> {
        let aid = self.aid(authority)?;
        let mut rows = rows;
        rows.sort_unstable_by_key(|r| r.id);
        self.batches.push((aid, rows));
        let mut by_table: [Vec<(i64, u64)>; 6] = Default::default();
        for e in index {
            by_table[e.table as usize].push((e.value, e.reference));
        }
        for (table, pairs) in IndexTable::ALL.into_iter().zip(by_table) {
            if !pairs.is_empty() {
                self.pending.entry((aid, table)).or_default().push(pairs);
            }
        }
        Ok(())
    }

    fn index_exists(&self, authority: &str, table: IndexTable, value: i64) -> Result<bool> {
        entry_exists(&self.tx, self.aid(authority)?, table, value)
    }

    fn append_event(&mut self, body: &[u8]) -> Result<()> {
        super::state::append_event(&self.tx, body).map(|_| ())
    }

    fn add_district_sizes(&mut self, authority: &str, sizes: &[(i64, u64)]) -> Result<()> {
        let mut st = self
            .tx
            .prepare_cached(
                "INSERT INTO district_sizes (authority, area, electors) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (authority, area) DO UPDATE SET electors = electors + excluded.electors",
            )
            .map_err(db_err)?;
        for &(area, n) in sizes {
            st.execute(params![authority.to_ascii_uppercase(), area, n]).map_err(db_err)?;
        }
        Ok(())
    }

    fn registry_blob(&self, name: &str) -> Result<Option<Vec<u8>>> {
        super::detection::registry_blob(&self.tx, name)
    }

    fn put_registry_blob(&mut self, name: &str, sealed: &[u8], now: i64) -> Result<()> {
        super::detection::put_registry_blob(&self.tx, name, sealed, now)
    }

    fn commit(mut self: Box<Self>, next_sequence: u64, widths: &[(IndexTable, u32)]) -> Result<u64> {
        // A helper thread sorts the rows by id, then each table's entries, while this one
        // loads what is already sorted: ids and references are permutations, so sorted is
        // the only order that reaches the pages.
        let pending = std::mem::take(&mut self.pending);
        let widths: Vec<(IndexTable, u32)> = widths.to_vec();
        if let Some(t) = IndexTable::BUCKETED.into_iter().find(|t| !widths.iter().any(|(w, _)| w == t)) {
            return Err(StoreError::Corrupt(format!("an import gave no width for the {} index", t.code())));
        }
        let batches = std::mem::take(&mut self.batches);
        let inserted = batches.iter().map(|(_, b)| b.len() as u64).sum();
        let (sorted_tx, sorted_rx) = std::sync::mpsc::sync_channel::<Sorted>(1);
        let tx = &self.tx;
        std::thread::scope(|scope| -> Result<()> {
            let sorted_rx = sorted_rx;
            std::thread::Builder::new()
                .name("rg-import-sort".into())
                .spawn_scoped(scope, move || {
                    for (key, chunks) in pending {
                        // One allocation of the exact size, not a doubling array.
                        let mut pairs = Vec::with_capacity(chunks.iter().map(Vec::len).sum());
                        for c in chunks {
                            pairs.extend(c);
                        }
                        if let Some((_, bits)) = widths.iter().find(|(t, _)| *t == key.1) {
                            for p in &mut pairs {
                                p.0 = crate::rows::bucket(p.0, *bits);
                            }
                        }
                        pairs.sort_unstable();
                        if sorted_tx.send(Sorted(key, pairs)).is_err() {
                            return;
                        }
                    }
                })
                .map_err(|e| StoreError::Io(format!("starting the index sorter: {e}")))?;
            // The rows, merged from their sorted batches, while the helper sorts the entries.
            let mut stmt = tx.prepare_cached(INSERT_ELECTOR).map_err(db_err)?;
            merge_sorted(&batches, |aid, row| insert_elector_with(&mut stmt, aid, row))?;
            drop(stmt);
            drop(batches);
            for Sorted((aid, t), pairs) in sorted_rx.iter() {
                // Sorted, two entries with the same NINO or identity sit side by side.
                let duplicate = match t {
                    IndexTable::Nino => Some(DuplicateKind::Nino),
                    IndexTable::Identity => Some(DuplicateKind::Identity),
                    _ => None,
                };
                if let Some(dk) = duplicate {
                    if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
                        return Err(StoreError::DuplicateInImport {
                            kind: dk,
                            first: w[0].1,
                            second: w[1].1,
                        });
                    }
                }
                load_sorted(tx, aid, t, &pairs)?;
            }
            Ok(())
        })?;
        self.tx
            .execute("UPDATE counters SET next = max(next, ?1) WHERE name = 'elector'", [next_sequence])
            .map_err(db_err)?;
        self.tx.execute_batch(REFRESH_STATISTICS).map_err(db_err)?;
        self.tx.commit().map_err(db_err)?;
        Ok(inserted)
    }
}

/// Index entries as (value, reference) pairs.
type Entries = Vec<(i64, u64)>;

/// One table's entries of one authority, sorted.
struct Sorted((i64, IndexTable), Entries);

/// Calls `each` on every row of `batches` (each sorted by id) in id order: a k-way merge.
fn merge_sorted(
    batches: &[(i64, Vec<ElectorRow>)],
    mut each: impl FnMut(i64, &ElectorRow) -> Result<()>,
) -> Result<()> {
    use std::cmp::Reverse;
    let mut heads: std::collections::BinaryHeap<Reverse<(u64, usize, usize)>> = batches
        .iter()
        .enumerate()
        .filter_map(|(b, (_, rows))| rows.first().map(|r| Reverse((r.id, b, 0))))
        .collect();
    while let Some(Reverse((_, b, i))) = heads.pop() {
        let (aid, rows) = &batches[b];
        each(*aid, &rows[i])?;
        if let Some(next) = rows.get(i + 1) {
            heads.push(Reverse((next.id, b, i + 1)));
        }
    }
    Ok(())
}
