//! The log as a serving process holds it: the whole tree in memory (for proofs at any size),
//! caught up with whatever any process appended, and the checkpoints signed over it.
//!
//! [`AuditLog::open`] refuses a log that does not verify, or that is not the register's own:
//! missing, shorter than what the register has sequenced, foreign, or different at that
//! size. [`spawn_sequencer`] runs [`crate::sequencer`] passes whenever the register commits.

use crate::event::Event;
use crate::frontier::Frontier;
use crate::merkle::{self, Hash, Tree};
use crate::note::{Checkpoint, NoteSigner};
use crate::sequencer::{self, SequenceError, Sequenced};
use crate::verify::{replay, VerifyError};
use rollguard_store::{AuditStore, Register, StoredCheckpoint};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

/// Opens another connection to the log.
pub type LogConnector = Arc<dyn Fn() -> rollguard_store::Result<Box<dyn AuditStore>> + Send + Sync>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum LogError {
    #[error("audit store: {0}")]
    Store(rollguard_store::StoreError),
    #[error("the stored log does not verify: {0}")]
    Verify(#[from] VerifyError),
    #[error("the audit log is not this register's: {0}")]
    Mismatch(String),
    #[error("refusing to sign: {0}")]
    Inconsistent(String),
    #[error("{0}")]
    Sequence(String),
}

impl From<rollguard_store::StoreError> for LogError {
    fn from(e: rollguard_store::StoreError) -> Self {
        LogError::Store(e)
    }
}

impl From<SequenceError> for LogError {
    fn from(e: SequenceError) -> Self {
        match e {
            SequenceError::Mismatch(m) => LogError::Mismatch(m),
            SequenceError::Store(s) => LogError::Store(s),
            other => LogError::Sequence(other.to_string()),
        }
    }
}

struct Inner {
    /// For appends and catching up: one at a time, so the tree follows the log exactly.
    writer: Mutex<Box<dyn AuditStore>>,
    /// For readers (detection, analysts), so reading never waits for an append.
    reader: Mutex<Box<dyn AuditStore>>,
    tree: RwLock<Tree>,
    signer: NoteSigner,
    log_id: String,
    size: tokio::sync::watch::Sender<u64>,
    /// Signalled with every growth of the tree, for threads blocked in `wait_for`.
    grown: (Mutex<()>, Condvar),
    /// Why the last sequencing pass failed, until one succeeds.
    failing: Mutex<Option<LogError>>,
    signing: Mutex<()>,
}

/// A handle to the log; clones share it.
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

impl AuditLog {
    /// Opens the register's log: introduces the two if new, replays and checks every event
    /// and checkpoint (the log's own, `witnessed` ones kept elsewhere, and the latest the
    /// register recorded), checks the register's tree head, and finishes any sequencing
    /// interrupted by a crash.
    pub fn open(
        register: &Register,
        connect: LogConnector,
        signer: NoteSigner,
        witnessed: &[String],
    ) -> Result<Self, LogError> {
        let mut store = connect()?;
        let verifier = signer.verifier();
        let mut adopted = None;
        let state = sequencer::introduce(register, store.as_mut(), |s| {
            let report =
                replay(s, &verifier, witnessed).map_err(|e| SequenceError::Mismatch(e.to_string()))?;
            let mut f = Frontier::new();
            for i in 0..report.tree.size() {
                f.push(*report.tree.leaf(i).expect("leaf within size"));
            }
            adopted = Some(report);
            Ok(f)
        })?;
        let report = match adopted {
            Some(r) => r,
            None => replay(store.as_ref(), &verifier, witnessed)?,
        };
        let tree = report.tree;
        if tree.root_at(state.size).as_slice() != state.root.as_slice() {
            return Err(LogError::Mismatch(format!(
                "{} differs from what this register sequenced into it: its first {} events do not give the \
                 tree head the register recorded",
                store.describe(),
                state.size
            )));
        }
        if let Some(note) = &state.checkpoint {
            let cp = Checkpoint::open(note, &verifier).map_err(|e| {
                LogError::Mismatch(format!("the register's latest checkpoint does not open: {e}"))
            })?;
            if cp.size > tree.size() || tree.root_at(cp.size) != cp.root {
                return Err(LogError::Mismatch(format!(
                    "{} does not match the checkpoint of size {} the register recorded",
                    store.describe(),
                    cp.size
                )));
            }
        }
        let size = tree.size();
        let log = Self {
            inner: Arc::new(Inner {
                writer: Mutex::new(store),
                reader: Mutex::new(connect()?),
                tree: RwLock::new(tree),
                signer,
                log_id: state.log_id,
                size: tokio::sync::watch::Sender::new(size),
                grown: (Mutex::new(()), Condvar::new()),
                failing: Mutex::new(None),
                signing: Mutex::new(()),
            }),
        };
        log.drain(register)?;
        Ok(log)
    }

    pub fn log_id(&self) -> &str {
        &self.inner.log_id
    }

    /// Pushes onto the tree whatever the log holds beyond it (appended by this process or
    /// any other).
    fn catch_up(&self, store: &dyn AuditStore) -> Result<u64, LogError> {
        let have = self.size();
        let len = store.len()?;
        if len <= have {
            return Ok(have);
        }
        // Only a hint: a gap too long for memory fails below, when the scan fills it.
        let mut leaves = Vec::with_capacity(usize::try_from(len - have).unwrap_or(0));
        store.scan(have, len, &mut |e| {
            leaves.push(merkle::leaf_hash(&e.body));
            Ok(())
        })?;
        if leaves.len() as u64 != len - have {
            return Err(LogError::Mismatch(format!("{} has a gap after index {have}", store.describe())));
        }
        let mut tree = self.inner.tree.write().unwrap_or_else(|p| p.into_inner());
        for l in leaves {
            tree.push(l);
        }
        let size = tree.size();
        drop(tree);
        self.publish(size);
        Ok(size)
    }

    /// Grows the tree by a batch this process just appended at `from`, whose leaves the
    /// sequencer already hashed (if the tree is elsewhere, catching up reads the log).
    fn extend(&self, from: u64, leaves: &[Hash]) {
        let mut tree = self.inner.tree.write().unwrap_or_else(|p| p.into_inner());
        if tree.size() != from {
            return;
        }
        for l in leaves {
            tree.push(*l);
        }
        let size = tree.size();
        drop(tree);
        self.publish(size);
    }

    /// Tells waiters the tree holds `size` events.
    fn publish(&self, size: u64) {
        self.inner.size.send_replace(size);
        let (lock, cv) = &self.inner.grown;
        drop(lock.lock().unwrap_or_else(|p| p.into_inner()));
        cv.notify_all();
    }

    /// Catches up with appends made by other processes.
    pub fn refresh(&self) -> Result<u64, LogError> {
        let store = self.inner.writer.lock().unwrap_or_else(|p| p.into_inner());
        self.catch_up(store.as_ref())
    }

    /// One sequencing pass (see [`crate::sequencer::sequence`]): the tree grows as soon as the
    /// batch is in the log, then catches up with any other process's appends.
    pub fn sequence(&self, register: &Register) -> Result<Sequenced, LogError> {
        let mut store = self.inner.writer.lock().unwrap_or_else(|p| p.into_inner());
        let result =
            sequencer::sequence_telling(register, store.as_mut(), sequencer::BATCH, &mut |from, leaves| {
                self.extend(from, leaves)
            });
        let caught = self.catch_up(store.as_ref());
        let mut failing = self.inner.failing.lock().unwrap_or_else(|p| p.into_inner());
        let result = result.map_err(LogError::from);
        match (&result, &caught) {
            (Ok(_), Ok(_)) => *failing = None,
            (Err(e), _) | (_, Err(e)) => *failing = Some(e.clone()),
        }
        drop(failing);
        caught?;
        result
    }

    /// Sequences until the outbox is empty; returns how many events were appended.
    pub fn drain(&self, register: &Register) -> Result<u64, LogError> {
        let mut n = 0;
        loop {
            let pass = self.sequence(register)?;
            n += pass.appended;
            if pass.appended == 0 {
                return Ok(n);
            }
        }
    }

    /// Why sequencing is failing, if it is.
    pub fn failing(&self) -> Option<LogError> {
        self.inner.failing.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The number of events in the tree.
    pub fn size(&self) -> u64 {
        self.inner.tree.read().unwrap_or_else(|p| p.into_inner()).size()
    }

    /// Changes to [`AuditLog::size`], for waiters.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.size.subscribe()
    }

    /// Blocks until the tree holds at least `size` events, or `timeout` passes.
    pub fn wait_for(&self, size: u64, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let (lock, cv) = &self.inner.grown;
        let mut guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            // Read under the lock that `publish` takes before it signals: no wake is lost.
            if *self.inner.size.borrow() >= size {
                return true;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = cv.wait_timeout(guard, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    pub fn origin(&self) -> &str {
        self.inner.signer.name()
    }

    pub fn root_at(&self, size: u64) -> Hash {
        self.inner.tree.read().unwrap_or_else(|p| p.into_inner()).root_at(size)
    }

    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, merkle::ProofError> {
        self.inner.tree.read().unwrap_or_else(|p| p.into_inner()).inclusion_proof(index, size)
    }

    pub fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, merkle::ProofError> {
        self.inner.tree.read().unwrap_or_else(|p| p.into_inner()).consistency_proof(first, second)
    }

    /// Signs and stores a checkpoint of the tree, unless it has not grown since the last
    /// one (then that one is returned); the register records it too. Before signing, the new
    /// head is proved consistent with the previous signed one.
    pub fn checkpoint(&self, register: &Register) -> Result<String, LogError> {
        let _one_at_a_time = self.inner.signing.lock().unwrap_or_else(|p| p.into_inner());
        let mut store = self.inner.writer.lock().unwrap_or_else(|p| p.into_inner());
        self.catch_up(store.as_ref())?;
        let size = self.size();
        let previous = store.checkpoints()?;
        let verifier = self.inner.signer.verifier();
        if let Some(last) = previous.last() {
            let cp =
                Checkpoint::open(&last.note, &verifier).map_err(|e| LogError::Inconsistent(e.to_string()))?;
            if cp.size == size {
                return Ok(last.note.clone());
            }
            let tree = self.inner.tree.read().unwrap_or_else(|p| p.into_inner());
            let proof =
                tree.consistency_proof(cp.size, size).map_err(|e| LogError::Inconsistent(e.to_string()))?;
            if cp.size > 0 {
                merkle::verify_consistency(cp.size, size, &cp.root, &tree.root_at(size), &proof).map_err(
                    |e| {
                        LogError::Inconsistent(format!(
                            "the tree does not extend checkpoint {}: {e}",
                            cp.size
                        ))
                    },
                )?;
            }
        }
        let cp = Checkpoint { origin: self.origin().to_owned(), size, root: self.root_at(size) };
        let note = self.inner.signer.sign(&cp.text()).map_err(|e| LogError::Inconsistent(e.to_string()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        store.put_checkpoint(&StoredCheckpoint { size, note: note.clone(), created_at: now })?;
        drop(store);
        let recorded = note.clone();
        register.write(move |tx| -> Result<(), rollguard_store::StoreError> {
            if let Some(mut state) = tx.audit_state()? {
                if state.checkpoint_size < size {
                    state.checkpoint_size = size;
                    state.checkpoint = Some(recorded);
                    tx.set_audit_state(&state)?;
                }
            }
            Ok(())
        })?;
        Ok(note)
    }

    /// The canonical bytes of the events `from..to` (as far as the tree reaches).
    pub fn read(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, LogError> {
        let mut out = Vec::new();
        self.scan(from, to, &mut |_, body| {
            out.push(body);
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `each` with the index and canonical bytes of every event `from..to` (as far as
    /// the tree reaches), in order.
    pub fn scan(
        &self,
        from: u64,
        to: u64,
        each: &mut dyn FnMut(u64, Vec<u8>) -> rollguard_store::Result<()>,
    ) -> Result<(), LogError> {
        let to = to.min(self.size());
        if from >= to {
            return Ok(());
        }
        let store = self.inner.reader.lock().unwrap_or_else(|p| p.into_inner());
        store.scan(from, to, &mut |e| each(e.index, e.body))?;
        Ok(())
    }

    /// The events `from..to`, parsed.
    pub fn events(&self, from: u64, to: u64) -> Result<Vec<Event>, LogError> {
        let mut out = Vec::new();
        self.scan(from, to, &mut |i, body| {
            let e = Event::from_canonical(&body)
                .map_err(|r| rollguard_store::StoreError::Corrupt(format!("event {i}: {r}")))?;
            out.push(e);
            Ok(())
        })?;
        Ok(out)
    }

    /// The verifier key for this log's checkpoints.
    pub fn vkey(&self) -> String {
        self.inner.signer.verifier().vkey()
    }
}

/// Wakes a waiting thread: the register calls it after each commit.
#[derive(Default)]
pub struct Wake {
    pending: Mutex<bool>,
    cv: Condvar,
}

impl Wake {
    pub fn notify(&self) {
        *self.pending.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }

    /// Waits until notified (or `timeout`), and clears the notice.
    pub fn wait(&self, timeout: Duration) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if !*pending {
            pending = self.cv.wait_timeout(pending, timeout).unwrap_or_else(|p| p.into_inner()).0;
        }
        *pending = false;
    }
}

/// Sequences whenever the register commits (and every `poll`, for other processes'
/// events), until `stop` is set. A failing pass is retried after a pause; the events wait
/// in the outbox meanwhile, committed.
pub fn spawn_sequencer(
    log: AuditLog,
    register: Register,
    poll: Duration,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let wake = Arc::new(Wake::default());
    let w = wake.clone();
    register.on_commit(move || w.notify());
    std::thread::Builder::new().name("rg-sequencer".into()).spawn(move || {
        let mut pause = Duration::from_millis(50);
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            match log.sequence(&register) {
                Ok(s) if s.appended > 0 => {
                    pause = Duration::from_millis(50);
                    continue;
                }
                Ok(_) => {
                    pause = Duration::from_millis(50);
                    wake.wait(poll);
                }
                Err(e) => {
                    tracing::error!(error = %e, "sequencing audit events failed; they wait in the outbox");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
        // Whatever was committed before the stop still goes into the log.
        if let Err(e) = log.drain(&register) {
            tracing::error!(error = %e, "sequencing the last audit events failed; they wait in the outbox");
        }
    })
}
