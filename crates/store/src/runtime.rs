//! A register shared by the threads of one process: read transactions on a pool of
//! connections, write transactions on one writer.
//!
//! SQLite has one writer, and a durable commit costs a flush to disk (about 0.2 ms here).
//! A server therefore runs its writes on one thread that groups them: every unit queued
//! while the last group was being flushed becomes a savepoint of the next group's single
//! transaction, so a burst of requests shares one flush. Each unit is still atomic (its
//! savepoint is undone on failure without touching the others), and none is acknowledged
//! before the group is durable. A console command needs no grouping and writes directly.

use crate::{ReadTx, Store, StoreError, WriteTx};

type Result<T, E = StoreError> = std::result::Result<T, E>;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};

/// Opens one more connection to the same database.
pub type Connector = Arc<dyn Fn() -> Result<Box<dyn Store>> + Send + Sync>;

#[derive(Debug, Clone)]
pub struct RegisterConfig {
    /// Connections for read transactions (0: reads share the writer's connection).
    pub readers: usize,
    /// Write on a thread of its own, grouping concurrent units into one commit.
    pub grouped: bool,
    /// Most units in one group.
    pub max_group: usize,
}

impl Default for RegisterConfig {
    fn default() -> Self {
        Self { readers: 0, grouped: false, max_group: 512 }
    }
}

/// A write unit run by the writer, on a transaction or (when none could be had) with the
/// reason: it returns whether to keep its changes, and what to do once the group's fate is
/// known.
type Unit = Box<dyn FnOnce(std::result::Result<&mut dyn WriteTx, StoreError>) -> (bool, Finish) + Send>;
type Finish = Box<dyn FnOnce(Result<()>) + Send>;

enum Writer {
    Direct(Mutex<Box<dyn Store>>),
    Grouped(Mutex<Option<SyncSender<Unit>>>),
}

type Hook = Box<dyn Fn() + Send + Sync>;

struct Inner {
    readers: Mutex<Vec<Box<dyn Store>>>,
    reader_free: Condvar,
    reader_count: usize,
    writer: Writer,
    connect: Connector,
    describe: String,
    /// Called after every commit (the sequencer's wake-up).
    on_commit: Mutex<Vec<Arc<Hook>>>,
    /// The last write failure that said nothing about the request (a full disk, an
    /// unavailable database), cleared by the next successful commit.
    failing: Mutex<Option<StoreError>>,
}

/// A shared handle; clones use the same connections.
#[derive(Clone)]
pub struct Register {
    inner: Arc<Inner>,
}

impl Register {
    /// Opens the connections `config` asks for through `connect`.
    pub fn open(connect: Connector, config: RegisterConfig) -> Result<Self> {
        let first = connect()?;
        let describe = first.describe();
        let mut readers = Vec::with_capacity(config.readers);
        for _ in 0..config.readers {
            readers.push(connect()?);
        }
        let (writer, queue) = if config.grouped {
            let (tx, rx) = sync_channel::<Unit>(config.max_group * 4);
            (Writer::Grouped(Mutex::new(Some(tx))), Some(rx))
        } else {
            (Writer::Direct(Mutex::new(first)), None)
        };
        let inner = Arc::new(Inner {
            reader_count: readers.len(),
            readers: Mutex::new(readers),
            reader_free: Condvar::new(),
            writer,
            connect: connect.clone(),
            describe,
            on_commit: Mutex::new(Vec::new()),
            failing: Mutex::new(None),
        });
        if let Some(rx) = queue {
            let store = connect()?;
            let weak = Arc::downgrade(&inner);
            let max = config.max_group.max(1);
            std::thread::Builder::new()
                .name("rg-writer".into())
                .spawn(move || write_loop(store, rx, weak, max))
                .map_err(|e| StoreError::Io(format!("starting the register writer: {e}")))?;
        }
        Ok(Self { inner })
    }

    /// One connection, for reads and writes alike (a console command).
    pub fn single(connect: Connector) -> Result<Self> {
        Self::open(connect, RegisterConfig::default())
    }

    pub fn describe(&self) -> &str {
        &self.inner.describe
    }

    /// A connection of its own, for bulk work (an import, a backup) that holds a
    /// transaction far longer than a request.
    pub fn connect(&self) -> Result<Box<dyn Store>> {
        (self.inner.connect)()
    }

    /// Runs bulk work (an import, a backup) that holds one transaction far longer than a
    /// request. A console register lends its only connection, so nothing else of this
    /// process has the file open (an import then writes its pages once, without the WAL); a
    /// server's register, whose readers stay open, gives the work a connection of its own.
    /// The commit hooks run afterwards.
    pub fn bulk<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T, E>,
    ) -> Result<T, E> {
        let out = match &self.inner.writer {
            Writer::Direct(store) if self.inner.reader_count == 0 => {
                let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
                f(store.as_mut())
            }
            _ => {
                let mut store = self.connect()?;
                f(store.as_mut())
            }
        };
        self.inner.committed();
        out
    }

    /// Calls `hook` after every commit.
    pub fn on_commit(&self, hook: impl Fn() + Send + Sync + 'static) {
        self.inner.on_commit.lock().unwrap_or_else(|p| p.into_inner()).push(Arc::new(Box::new(hook)));
    }

    /// The last write failure caused by the database's state (full, unavailable), if the
    /// register has not committed since.
    pub fn failing(&self) -> Option<StoreError> {
        self.inner.failing.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs `f` in a read transaction.
    pub fn read<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut dyn ReadTx) -> Result<T, E>,
    ) -> Result<T, E> {
        if self.inner.reader_count == 0 {
            let Writer::Direct(store) = &self.inner.writer else {
                return Err(StoreError::Query("a grouped register needs read connections".into()).into());
            };
            let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
            let mut tx = store.read()?;
            return f(&mut *tx);
        }
        let mut lease = self.lease();
        let mut tx = lease.store().read()?;
        f(&mut *tx)
    }

    /// Runs `f` in a write transaction and commits it if `f` succeeds. `Ok` is returned only
    /// once the change is durable. `f` must not use the register itself.
    pub fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn WriteTx) -> Result<T, E> + Send + 'static,
    {
        let out = match &self.inner.writer {
            Writer::Direct(store) => {
                let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
                let mut tx = store.write()?;
                match f(&mut *tx) {
                    Ok(v) => match tx.commit() {
                        Ok(()) => Ok(v),
                        Err(e) => Err(e),
                    }
                    .map_err(|e| {
                        self.inner.note(Err(&e));
                        E::from(e)
                    }),
                    Err(e) => Err(e),
                }
            }
            Writer::Grouped(queue) => return self.write_grouped(queue, f),
        };
        if out.is_ok() {
            self.inner.note(Ok(()));
            self.inner.committed();
        }
        out
    }

    fn write_grouped<T, E, F>(&self, queue: &Mutex<Option<SyncSender<Unit>>>, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn WriteTx) -> Result<T, E> + Send + 'static,
    {
        Self::enqueue(queue, f).wait()
    }

    /// Queues `f` as a write unit and returns at once; [`Pending::wait`] gives its outcome
    /// once the group it joined is durable. For callers with many independent changes in
    /// flight (they would otherwise wait for each in turn). A direct register runs `f` now.
    pub fn submit<T, E, F>(&self, f: F) -> Pending<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn WriteTx) -> Result<T, E> + Send + 'static,
    {
        match &self.inner.writer {
            Writer::Grouped(queue) => Self::enqueue(queue, f),
            Writer::Direct(_) => Pending(PendingInner::Ready(Some(self.write(f)))),
        }
    }

    fn enqueue<T, E, F>(queue: &Mutex<Option<SyncSender<Unit>>>, f: F) -> Pending<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn WriteTx) -> Result<T, E> + Send + 'static,
    {
        let (reply, answer) = sync_channel::<Result<T, E>>(1);
        let unit: Unit = Box::new(move |tx: std::result::Result<&mut dyn WriteTx, StoreError>| {
            let result = match tx {
                Ok(tx) => f(tx),
                Err(e) => Err(E::from(e)),
            };
            let keep = result.is_ok();
            let finish: Finish = Box::new(move |group: Result<()>| {
                let out = match (result, group) {
                    (Err(e), _) => Err(e),
                    (Ok(v), Ok(())) => Ok(v),
                    (Ok(_), Err(e)) => Err(E::from(e)),
                };
                let _ = reply.send(out);
            });
            (keep, finish)
        });
        let stopped = || StoreError::Unavailable("the register writer has stopped".into());
        let sender = queue.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(sender) = sender else {
            return Pending(PendingInner::Ready(Some(Err(stopped().into()))));
        };
        match sender.send(unit) {
            Ok(()) => Pending(PendingInner::Queued(answer)),
            Err(_) => Pending(PendingInner::Ready(Some(Err(stopped().into())))),
        }
    }

    /// Bytes free where the register's data lives, if its store can tell.
    pub fn free_bytes(&self) -> Option<u64> {
        if self.inner.reader_count == 0 {
            let Writer::Direct(store) = &self.inner.writer else { return None };
            return store.lock().unwrap_or_else(|p| p.into_inner()).free_bytes();
        }
        self.lease().store().free_bytes()
    }

    fn lease(&self) -> Lease<'_> {
        let mut free = self.inner.readers.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(store) = free.pop() {
                return Lease { register: self, store: Some(store) };
            }
            free = self.inner.reader_free.wait(free).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Stops the writer once it has finished what is queued.
    pub fn close(&self) {
        if let Writer::Grouped(queue) = &self.inner.writer {
            queue.lock().unwrap_or_else(|p| p.into_inner()).take();
        }
    }
}

impl Inner {
    fn note(&self, outcome: std::result::Result<(), &StoreError>) {
        let mut failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(()) => *failing = None,
            Err(e) if e.is_transient() => *failing = Some(e.clone()),
            Err(_) => {}
        }
    }

    fn committed(&self) {
        let hooks: Vec<Arc<Hook>> = self.on_commit.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for h in hooks {
            h();
        }
    }
}

/// A read connection, returned to the pool when dropped (also when a reader panics).
struct Lease<'r> {
    register: &'r Register,
    store: Option<Box<dyn Store>>,
}

impl Lease<'_> {
    fn store(&mut self) -> &mut dyn Store {
        self.store.as_deref_mut().expect("leased")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            let inner = &self.register.inner;
            inner.readers.lock().unwrap_or_else(|p| p.into_inner()).push(store);
            inner.reader_free.notify_one();
        }
    }
}

/// A write unit submitted with [`Register::submit`].
pub struct Pending<T, E>(PendingInner<T, E>);

enum PendingInner<T, E> {
    Queued(Receiver<Result<T, E>>),
    Ready(Option<Result<T, E>>),
}

impl<T, E: From<StoreError>> Pending<T, E> {
    /// The unit's outcome, once the group it joined is durable (or failed).
    pub fn wait(self) -> Result<T, E> {
        match self.0 {
            PendingInner::Queued(answer) => answer.recv().unwrap_or_else(|_| {
                Err(StoreError::Query("a write unit failed inside the writer".into()).into())
            }),
            PendingInner::Ready(mut out) => out.take().expect("a ready outcome is taken once"),
        }
    }
}

fn write_loop(mut store: Box<dyn Store>, queue: Receiver<Unit>, inner: std::sync::Weak<Inner>, max: usize) {
    while let Ok(first) = queue.recv() {
        let mut units = vec![first];
        while units.len() < max {
            match queue.try_recv() {
                Ok(u) => units.push(u),
                Err(_) => break,
            }
        }
        let outcome = run_group(store.as_mut(), units);
        let Some(inner) = inner.upgrade() else { return };
        inner.note(outcome.as_ref().map(|_| ()));
        if outcome.is_ok() {
            inner.committed();
        }
    }
}

/// Runs one group: each unit in a savepoint, then one commit. Returns the commit's outcome
/// after telling every unit.
fn run_group(store: &mut dyn Store, units: Vec<Unit>) -> Result<()> {
    let mut group = match store.write_group() {
        Ok(g) => g,
        Err(e) => {
            // Each unit must still run to be told: give it a transaction that cannot start.
            for unit in units {
                fail_unit(unit, &e);
            }
            return Err(e);
        }
    };
    let mut finishes: Vec<Finish> = Vec::with_capacity(units.len());
    for unit in units {
        if group.is_lost() {
            fail_unit(unit, &StoreError::Unavailable("the database gave up the write group".into()));
            continue;
        }
        let mut tx = match group.unit() {
            Ok(tx) => tx,
            Err(e) => {
                fail_unit(unit, &e);
                continue;
            }
        };
        // A unit that panics loses its savepoint; the others carry on.
        let Ok((keep, finish)) = catch_unwind(AssertUnwindSafe(|| unit(Ok(&mut *tx)))) else {
            drop(tx);
            continue;
        };
        if keep {
            if let Err(e) = tx.commit() {
                finish(Err(e));
                continue;
            }
        } else {
            drop(tx);
        }
        finishes.push(finish);
    }
    let committed = if group.is_lost() {
        drop(group);
        Err(StoreError::Unavailable("the database gave up the write group".into()))
    } else {
        group.commit()
    };
    for finish in finishes {
        finish(committed.clone());
    }
    committed
}

/// Tells a unit that never got a transaction why.
fn fail_unit(unit: Unit, error: &StoreError) {
    let (_, finish) = unit(Err(error.clone()));
    finish(Err(error.clone()));
}
