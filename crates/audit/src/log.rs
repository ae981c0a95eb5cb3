//! The live log: appends with group commit, and signs checkpoints.
//!
//! Callers [`AuditLog::submit`] events and get their index at once; one writer thread takes
//! everything queued, writes it in one durable transaction, extends the Merkle tree, and
//! raises the durable watermark. [`AuditLog::wait`] returns once an index is durable, so an
//! event is acknowledged only when it is on disk, and a burst of callers shares one fsync.
//! If a write fails the log stops: every later submit and wait fails, and callers must
//! refuse the work they were about to do (fail closed).

use crate::event::Event;
use crate::merkle::{self, Hash, Tree};
use crate::note::{Checkpoint, NoteSigner};
use crate::verify::{replay, VerifyError};
use rollguard_store::{AuditStore, StoredCheckpoint};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, RwLock};

/// Most events written in one transaction.
const MAX_BATCH: usize = 65_536;

#[derive(Debug, Clone, thiserror::Error)]
pub enum LogError {
    #[error("the audit log has stopped: {0}")]
    Stopped(String),
    #[error("audit store: {0}")]
    Store(String),
    #[error("the stored log does not verify: {0}")]
    Verify(#[from] VerifyError),
    #[error("refusing to sign: {0}")]
    Inconsistent(String),
}

struct Durable {
    len: u64,
    failed: Option<String>,
}

struct Shared {
    durable: Mutex<Durable>,
    changed: Condvar,
    /// The durable length, for async waiters (and `u64::MAX` once the log has stopped).
    watch: tokio::sync::watch::Sender<u64>,
    tree: RwLock<Tree>,
    store: Mutex<Box<dyn AuditStore>>,
    signer: NoteSigner,
    /// Serialises checkpoint signing, so two signers never race on "the previous one".
    signing: Mutex<()>,
}

struct Queue {
    next: u64,
    tx: Option<Sender<(u64, Event)>>,
    /// Live readers of the stream (detection), in index order.
    subscribers: Vec<Sender<Arc<Event>>>,
}

/// A handle to the log; clones share it.
#[derive(Clone)]
pub struct AuditLog {
    shared: Arc<Shared>,
    queue: Arc<Mutex<Queue>>,
}

impl AuditLog {
    /// Opens the log: replays and checks every stored event and checkpoint (see
    /// [`crate::verify`]), then starts the writer. A log that does not verify is not opened.
    pub fn open(store: Box<dyn AuditStore>, signer: NoteSigner) -> Result<Self, LogError> {
        Self::open_witnessed(store, signer, &[])
    }

    /// Opens the log after checking it against checkpoints kept by witnesses as well: a log
    /// restored from an older copy, or rewritten, does not open.
    pub fn open_witnessed(
        store: Box<dyn AuditStore>,
        signer: NoteSigner,
        witnessed: &[String],
    ) -> Result<Self, LogError> {
        let report = replay(store.as_ref(), &signer.verifier(), witnessed)?;
        let len = report.tree.size();
        let shared = Arc::new(Shared {
            durable: Mutex::new(Durable { len, failed: None }),
            changed: Condvar::new(),
            watch: tokio::sync::watch::Sender::new(len),
            tree: RwLock::new(report.tree),
            store: Mutex::new(store),
            signer,
            signing: Mutex::new(()),
        });
        let (tx, rx) = channel();
        let writer = shared.clone();
        std::thread::Builder::new()
            .name("rg-audit-writer".into())
            .spawn(move || write_loop(writer, rx))
            .map_err(|e| LogError::Store(format!("starting the audit writer: {e}")))?;
        Ok(Self {
            shared,
            queue: Arc::new(Mutex::new(Queue { next: len, tx: Some(tx), subscribers: Vec::new() })),
        })
    }

    /// Queues an event and returns the index it will have. Not yet durable: see [`wait`].
    ///
    /// [`wait`]: AuditLog::wait
    pub fn submit(&self, mut event: Event) -> Result<u64, LogError> {
        if let Some(f) = &self.shared.durable.lock().expect("audit lock").failed {
            return Err(LogError::Stopped(f.clone()));
        }
        let mut q = self.queue.lock().expect("audit queue");
        let seq = q.next;
        event.seq = seq;
        if !q.subscribers.is_empty() {
            let shared = Arc::new(event.clone());
            q.subscribers.retain(|s| s.send(shared.clone()).is_ok());
        }
        let tx = q.tx.as_ref().ok_or_else(|| LogError::Stopped("closed".into()))?;
        tx.send((seq, event)).map_err(|_| LogError::Stopped("the writer has stopped".into()))?;
        q.next += 1;
        Ok(seq)
    }

    /// A live copy of every event submitted from now on, in index order, as soon as it is
    /// queued (before it is durable: a reader acting on it does not wait for the disk).
    /// The channel is unbounded so that a slow reader never blocks the log; the reader
    /// that falls behind sees the gap as `submitted - seq`.
    pub fn subscribe(&self) -> Receiver<Arc<Event>> {
        let (tx, rx) = channel();
        self.queue.lock().expect("audit queue").subscribers.push(tx);
        rx
    }

    /// Indexes handed out so far (durable or queued).
    pub fn submitted(&self) -> u64 {
        self.queue.lock().expect("audit queue").next
    }

    /// Blocks until the event at `seq` is on disk.
    pub fn wait(&self, seq: u64) -> Result<(), LogError> {
        let mut d = self.shared.durable.lock().expect("audit lock");
        loop {
            if d.len > seq {
                return Ok(());
            }
            if let Some(f) = &d.failed {
                return Err(LogError::Stopped(f.clone()));
            }
            d = self.shared.changed.wait(d).expect("audit lock");
        }
    }

    /// Waits, without blocking a thread, until the event at `seq` is on disk.
    pub async fn wait_async(&self, seq: u64) -> Result<(), LogError> {
        let mut rx = self.shared.watch.subscribe();
        let reached = rx.wait_for(|len| *len > seq).await.map(|len| *len);
        match reached {
            Ok(u64::MAX) | Err(_) => {
                let failed = self.shared.durable.lock().expect("audit lock").failed.clone();
                Err(LogError::Stopped(failed.unwrap_or_else(|| "closed".into())))
            }
            Ok(_) => Ok(()),
        }
    }

    /// Appends an event and returns its index once it is durable.
    pub fn append(&self, event: Event) -> Result<u64, LogError> {
        let seq = self.submit(event)?;
        self.wait(seq)?;
        Ok(seq)
    }

    /// The number of durable events.
    pub fn size(&self) -> u64 {
        self.shared.durable.lock().expect("audit lock").len
    }

    pub fn origin(&self) -> &str {
        self.shared.signer.name()
    }

    pub fn root_at(&self, size: u64) -> Hash {
        self.shared.tree.read().expect("tree lock").root_at(size)
    }

    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, merkle::ProofError> {
        self.shared.tree.read().expect("tree lock").inclusion_proof(index, size)
    }

    pub fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, merkle::ProofError> {
        self.shared.tree.read().expect("tree lock").consistency_proof(first, second)
    }

    /// Signs and stores a checkpoint of the durable tree, unless the tree has not grown
    /// since the last one (then that one is returned). Before signing, the new head is
    /// proved consistent with the previous signed one.
    pub fn checkpoint(&self) -> Result<String, LogError> {
        let _one_at_a_time = self.shared.signing.lock().expect("signing lock");
        let size = self.size();
        let previous = self
            .shared
            .store
            .lock()
            .expect("store lock")
            .checkpoints()
            .map_err(|e| LogError::Store(e.to_string()))?;
        let verifier = self.shared.signer.verifier();
        if let Some(last) = previous.last() {
            let cp =
                Checkpoint::open(&last.note, &verifier).map_err(|e| LogError::Inconsistent(e.to_string()))?;
            if cp.size == size {
                return Ok(last.note.clone());
            }
            let tree = self.shared.tree.read().expect("tree lock");
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
        let note = self.shared.signer.sign(&cp.text()).map_err(|e| LogError::Inconsistent(e.to_string()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.shared
            .store
            .lock()
            .expect("store lock")
            .put_checkpoint(&StoredCheckpoint { size, note: note.clone(), created_at: now })
            .map_err(|e| LogError::Store(e.to_string()))?;
        Ok(note)
    }

    /// The canonical bytes of the durable events `from..to`.
    pub fn read(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, LogError> {
        let to = to.min(self.size());
        let mut out = Vec::new();
        self.shared
            .store
            .lock()
            .expect("store lock")
            .scan(from, to, &mut |e| {
                out.push(e.body);
                Ok(())
            })
            .map_err(|e| LogError::Store(e.to_string()))?;
        Ok(out)
    }

    /// The verifier key for this log's checkpoints.
    pub fn vkey(&self) -> String {
        self.shared.signer.verifier().vkey()
    }

    /// Stops accepting events; those already queued are still written.
    pub fn close(&self) {
        self.queue.lock().expect("audit queue").tx = None;
    }
}

fn write_loop(shared: Arc<Shared>, rx: Receiver<(u64, Event)>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        let start = batch[0].0;
        let bodies: Vec<Vec<u8>> = batch
            .iter_mut()
            .map(|(seq, e)| {
                e.seq = *seq;
                e.canonical()
            })
            .collect();
        let leaves: Vec<Hash> = bodies.iter().map(|b| merkle::leaf_hash(b)).collect();
        let written = shared.store.lock().expect("store lock").append(start, &bodies);
        let mut d = shared.durable.lock().expect("audit lock");
        match written {
            Ok(()) => {
                let mut tree = shared.tree.write().expect("tree lock");
                for l in leaves {
                    tree.push(l);
                }
                d.len = tree.size();
            }
            Err(e) => {
                d.failed = Some(e.to_string());
                shared.changed.notify_all();
                shared.watch.send_replace(u64::MAX);
                return;
            }
        }
        shared.watch.send_replace(d.len);
        shared.changed.notify_all();
    }
}
