//! Verifying a stored log from scratch: every event is read in order, checked to be in
//! canonical form at its own index, hashed into a fresh tree, and every signed checkpoint
//! (the log's own and any witnessed copies) must match the recomputed tree at its size.

use crate::event::Event;
use crate::merkle::{self, Tree};
use crate::note::{Checkpoint, NoteVerifier};
use rollguard_store::AuditStore;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("reading the log: {0}")]
    Store(String),
    #[error("event {index} is missing (deleted, or the log was cut there)")]
    Missing { index: u64 },
    #[error("event {index} is not a valid event: {reason}")]
    Malformed { index: u64, reason: String },
    #[error("the event stored at {index} says it is event {claimed}: events were moved or reordered")]
    OutOfPlace { index: u64, claimed: u64 },
    #[error("checkpoint of size {size}: {reason}")]
    Checkpoint { size: u64, reason: String },
    #[error("the log holds {len} events, but a checkpoint of size {size} was signed over it: events were cut from the end, or an older copy was restored")]
    Truncated { len: u64, size: u64 },
    #[error(
        "the log no longer matches the checkpoint of size {size}: the first changed event is at index {from} or later (and before {size})"
    )]
    Diverged { from: u64, size: u64 },
}

impl VerifyError {
    /// The first index at which the stored log is known to diverge, if known.
    pub fn first_divergent_index(&self) -> Option<u64> {
        match self {
            VerifyError::Missing { index }
            | VerifyError::Malformed { index, .. }
            | VerifyError::OutOfPlace { index, .. } => Some(*index),
            VerifyError::Truncated { len, .. } => Some(*len),
            VerifyError::Diverged { from, .. } => Some(*from),
            _ => None,
        }
    }
}

/// The index an event's canonical bytes claim: they begin `{"v":1,"seq":N,`. Reading only
/// the prefix keeps verification at hashing speed; the Merkle root covers every other byte.
fn claimed_seq(body: &[u8]) -> Option<u64> {
    let rest = body.strip_prefix(br#"{"v":1,"seq":"#)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 || rest.get(digits) != Some(&b',') || (digits > 1 && rest[0] == b'0') {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// What a successful verification saw.
#[derive(Debug)]
pub struct Report {
    /// The recomputed tree.
    pub tree: Tree,
    pub checkpoints: usize,
    pub witnessed: usize,
}

/// Replays the whole log and checks every checkpoint, stored and `witnessed` (signed notes
/// kept elsewhere, for example by a witness).
pub fn replay(
    store: &dyn AuditStore,
    verifier: &NoteVerifier,
    witnessed: &[String],
) -> Result<Report, VerifyError> {
    let len = store.len().map_err(|e| VerifyError::Store(e.to_string()))?;
    let mut tree = Tree::new();
    let mut problem: Option<VerifyError> = None;
    store
        .scan(0, len, &mut |ev| {
            if problem.is_some() {
                return Ok(());
            }
            let expected = tree.size();
            if ev.index != expected {
                problem = Some(VerifyError::Missing { index: expected });
                return Ok(());
            }
            match claimed_seq(&ev.body) {
                None => {
                    let reason =
                        Event::from_canonical(&ev.body).err().unwrap_or_else(|| "not canonical".into());
                    problem = Some(VerifyError::Malformed { index: ev.index, reason });
                }
                Some(seq) if seq != ev.index => {
                    problem = Some(VerifyError::OutOfPlace { index: ev.index, claimed: seq })
                }
                Some(_) => {
                    tree.push(merkle::leaf_hash(&ev.body));
                }
            }
            Ok(())
        })
        .map_err(|e| VerifyError::Store(e.to_string()))?;
    if let Some(p) = problem {
        return Err(p);
    }
    if tree.size() != len {
        return Err(VerifyError::Missing { index: tree.size() });
    }

    let stored = store.checkpoints().map_err(|e| VerifyError::Store(e.to_string()))?;
    let mut all: Vec<Checkpoint> = Vec::with_capacity(stored.len() + witnessed.len());
    for c in &stored {
        let cp = Checkpoint::open(&c.note, verifier)
            .map_err(|e| VerifyError::Checkpoint { size: c.size, reason: e.to_string() })?;
        if cp.size != c.size {
            return Err(VerifyError::Checkpoint {
                size: c.size,
                reason: format!("stored under size {}, signed for {}", c.size, cp.size),
            });
        }
        all.push(cp);
    }
    for note in witnessed {
        let cp = Checkpoint::open(note, verifier).map_err(|e| VerifyError::Checkpoint {
            size: 0,
            reason: format!("a witnessed checkpoint: {e}"),
        })?;
        all.push(cp);
    }
    all.sort_by_key(|c| c.size);
    let mut matched: Vec<u64> = Vec::new();
    for cp in &all {
        if cp.size > tree.size() {
            return Err(VerifyError::Truncated { len: tree.size(), size: cp.size });
        }
        if tree.root_at(cp.size) != cp.root {
            let from = matched.iter().copied().filter(|s| *s < cp.size).max().unwrap_or(0);
            return Err(VerifyError::Diverged { from, size: cp.size });
        }
        matched.push(cp.size);
    }
    Ok(Report { tree, checkpoints: stored.len(), witnessed: witnessed.len() })
}
