//! The sequencer: committed outbox events → the Merkle log.
//!
//! Use cases write their events into the register's outbox in the same transaction as
//! their change. [`sequence`] takes committed outbox events in id order, gives them the next
//! log indexes, appends them to the log in one durable transaction, then removes them from
//! the outbox and records the new size and tree head in the register. Any process may run
//! it (a server, a console command): the log's append refuses a writer that is behind, and
//! the register keeps the tree's right edge, so no process needs the whole tree.
//!
//! A crash between the two steps loses nothing and duplicates nothing: the log then holds
//! events beyond the size the register knows, each naming its outbox id, and the next pass
//! finishes the step (removes those ids, records the size) before taking more.

use crate::frontier::Frontier;
use crate::merkle::{leaf_hash, Hash};
use rollguard_store::{AuditState, AuditStore, Register, StoreError};

/// Events taken per pass. Small enough that removing them from the outbox is a short
/// write, so requests waiting on the register's writer hardly notice.
pub const BATCH: usize = 4096;

/// The log's identity, kept in its own meta and in the register.
const LOG_ID: &str = "log_id";

#[derive(Debug, Clone, thiserror::Error)]
pub enum SequenceError {
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The register and the log file disagree: the log is missing, shorter, foreign or
    /// changed. Nothing is appended until an operator restores the right log.
    #[error("{0}")]
    Mismatch(String),
    #[error("outbox event {id} is not an audit event in canonical form")]
    Malformed { id: u64 },
}

/// What one pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sequenced {
    /// Events appended to the log by this pass (or, after a crash, found appended).
    pub appended: u64,
    /// The log's size now.
    pub size: u64,
}

fn random_log_id() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

/// The canonical bytes of an outbox event (written with `seq` 0) at log index `seq`. The
/// canonical form always begins `{"v":1,"seq":0,`, so only that prefix changes.
pub fn at_index(body: &[u8], seq: u64) -> Option<Vec<u8>> {
    const PREFIX: &[u8] = br#"{"v":1,"seq":0,"#;
    let rest = body.strip_prefix(PREFIX)?;
    let mut out = Vec::with_capacity(body.len() + 20);
    out.extend_from_slice(br#"{"v":1,"seq":"#);
    out.extend_from_slice(seq.to_string().as_bytes());
    out.push(b',');
    out.extend_from_slice(rest);
    Some(out)
}

/// Makes sure the register and the log know each other, and returns the register's state.
/// A new register and an empty log are introduced; a register from before the outbox
/// adopts the log it has (`adopt` gives that log's frontier, from a full replay).
pub fn introduce(
    register: &Register,
    log: &mut dyn AuditStore,
    adopt: impl FnOnce(&dyn AuditStore) -> Result<Frontier, SequenceError>,
) -> Result<AuditState, SequenceError> {
    let state = register.read(|tx| tx.audit_state())?;
    let len = log.len()?;
    let log_id = log.meta(LOG_ID)?;
    match (state, log_id) {
        (Some(state), Some(id)) => {
            if id != state.log_id {
                return Err(SequenceError::Mismatch(format!(
                    "{} belongs to another register (log {id}); this register writes to log {}",
                    log.describe(),
                    state.log_id
                )));
            }
            if len < state.size {
                return Err(SequenceError::Mismatch(format!(
                    "{} holds {len} events, but this register has sequenced {} into it: it was cut short \
                     or replaced by an older copy; restore the latest copy of the log",
                    log.describe(),
                    state.size
                )));
            }
            Ok(state)
        }
        (Some(state), None) => Err(SequenceError::Mismatch(format!(
            "{} is not the register's audit log: the register has sequenced {} events into log {}, and this \
             file is {}; restore that log",
            log.describe(),
            state.size,
            state.log_id,
            if len == 0 { "new and empty (was the log deleted?)" } else { "another log" }
        ))),
        (None, existing) => {
            let log_id = match existing {
                Some(id) => id,
                None => {
                    let id = random_log_id();
                    log.set_meta(LOG_ID, &id)?;
                    id
                }
            };
            let frontier = if len == 0 { Frontier::new() } else { adopt(&*log)? };
            let state = AuditState {
                log_id,
                size: frontier.size(),
                root: frontier.root().to_vec(),
                frontier: frontier.to_bytes(),
                checkpoint_size: 0,
                checkpoint: None,
            };
            let written = state.clone();
            register.write(move |tx| -> Result<(), StoreError> {
                if tx.audit_state()?.is_none() {
                    tx.set_audit_state(&written)?;
                }
                Ok(())
            })?;
            Ok(register.read(|tx| tx.audit_state())?.unwrap_or(state))
        }
    }
}

fn frontier_of(state: &AuditState) -> Result<Frontier, SequenceError> {
    Frontier::from_bytes(state.size, &state.frontier).ok_or_else(|| {
        SequenceError::Mismatch(format!("the register's audit state at size {} is damaged", state.size))
    })
}

/// Records in the register that the log now holds `frontier.size()` events, removing their
/// outbox rows, unless another process has recorded it (or more) first.
fn record(register: &Register, from: u64, frontier: &Frontier, ids: Vec<u64>) -> Result<(), SequenceError> {
    let size = frontier.size();
    let (root, bytes): (Hash, Vec<u8>) = (frontier.root(), frontier.to_bytes());
    register.write(move |tx| -> Result<(), StoreError> {
        let Some(mut state) = tx.audit_state()? else {
            return Err(StoreError::Corrupt("the register's audit state vanished".into()));
        };
        if state.size != from {
            // Another sequencer recorded this batch (or more) already.
            return Ok(());
        }
        tx.remove_outbox(&ids)?;
        state.size = size;
        state.root = root.to_vec();
        state.frontier = bytes;
        tx.set_audit_state(&state)?;
        Ok(())
    })?;
    Ok(())
}

/// Finishes a pass that crashed between its two steps: the log holds events beyond the size
/// the register knows. Returns the new state if there was anything to finish.
fn finish_crashed(
    register: &Register,
    log: &dyn AuditStore,
    state: &AuditState,
    len: u64,
) -> Result<Option<u64>, SequenceError> {
    if len <= state.size {
        return Ok(None);
    }
    let mut frontier = frontier_of(state)?;
    let ids = log.outbox_ids(state.size, len)?;
    let mut outbox = Vec::with_capacity(ids.len());
    for (index, id) in &ids {
        match id {
            Some(id) => outbox.push(*id),
            None => {
                return Err(SequenceError::Mismatch(format!(
                    "event {index} of {} was not sequenced from this register's outbox",
                    log.describe()
                )))
            }
        }
    }
    log.scan(state.size, len, &mut |e| {
        frontier.push(leaf_hash(&e.body));
        Ok(())
    })?;
    if frontier.size() != len {
        return Err(SequenceError::Mismatch(format!("{} has a gap before index {len}", log.describe())));
    }
    record(register, state.size, &frontier, outbox)?;
    Ok(Some(len - state.size))
}

/// One pass: up to `max` committed outbox events into the log. Returns what it did; zero
/// appended means the outbox was empty.
pub fn sequence(
    register: &Register,
    log: &mut dyn AuditStore,
    max: usize,
) -> Result<Sequenced, SequenceError> {
    sequence_telling(register, log, max, &mut |_, _| {})
}

/// [`sequence`], telling `appended` the first index and the leaf hashes of a batch as soon
/// as the log holds it durably, before the register records it: readers of the log need
/// not wait for the second write.
pub fn sequence_telling(
    register: &Register,
    log: &mut dyn AuditStore,
    max: usize,
    appended: &mut dyn FnMut(u64, &[Hash]),
) -> Result<Sequenced, SequenceError> {
    loop {
        let state = register.read(|tx| tx.audit_state())?.ok_or_else(|| {
            SequenceError::Mismatch("the register has not been introduced to its log".into())
        })?;
        let len = log.len()?;
        if len < state.size {
            return Err(SequenceError::Mismatch(format!(
                "{} holds {len} events, but the register has sequenced {}",
                log.describe(),
                state.size
            )));
        }
        if let Some(finished) = finish_crashed(register, &*log, &state, len)? {
            return Ok(Sequenced { appended: finished, size: len });
        }
        let batch = register.read(|tx| tx.outbox(max))?;
        if batch.is_empty() {
            return Ok(Sequenced { appended: 0, size: state.size });
        }
        let mut frontier = frontier_of(&state)?;
        let mut events = Vec::with_capacity(batch.len());
        let mut ids = Vec::with_capacity(batch.len());
        let mut leaves = Vec::with_capacity(batch.len());
        for (i, ev) in batch.into_iter().enumerate() {
            let body =
                at_index(&ev.body, state.size + i as u64).ok_or(SequenceError::Malformed { id: ev.id })?;
            let leaf = leaf_hash(&body);
            frontier.push(leaf);
            leaves.push(leaf);
            ids.push(ev.id);
            events.push((body, ev.id));
        }
        match log.append(state.size, &events) {
            Ok(()) => {}
            // Another process appended meanwhile: start again from what it left.
            Err(StoreError::Busy(_)) => continue,
            Err(e) => return Err(e.into()),
        }
        appended(state.size, &leaves);
        record(register, state.size, &frontier, ids)?;
        return Ok(Sequenced { appended: events.len() as u64, size: frontier.size() });
    }
}

/// Sequences until the outbox is empty.
pub fn drain(register: &Register, log: &mut dyn AuditStore) -> Result<Sequenced, SequenceError> {
    let mut total = Sequenced::default();
    loop {
        let pass = sequence(register, log, BATCH)?;
        total.appended += pass.appended;
        total.size = pass.size;
        if pass.appended == 0 {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outbox_body_takes_its_index_in_the_prefix_only() {
        let mut e = crate::Event::new(5, crate::Kind::AuthLogout, crate::Outcome::Success).principal("x");
        let body = e.canonical();
        e.seq = 1234;
        assert_eq!(at_index(&body, 1234).unwrap(), e.canonical());
        assert!(at_index(b"{\"v\":2,\"seq\":0,", 1).is_none());
    }
}
