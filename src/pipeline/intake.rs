//! The single writer on its own thread, fed by one channel: collection tasks send
//! item chunks (pooled into batches), an import sends its own batches and waits for
//! their totals, and anyone may ask for everything sent so far to be committed.
//! The server holds a sender too, so an upload lands through the same writer as
//! the sprint running beside it.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use super::identity::{Answer, Command, CommandError};
use super::{Item, PipelineError, Totals, Writer};
use crate::search::SearchIndex;
use crate::store::Store;

/// What the writer thread is asked to do.
pub enum Job {
    /// Records to pool with others into the next batch.
    Items(Vec<Item>),
    /// Commit what is pooled, then these records as a batch of their own, and
    /// answer with their totals (or the reason the writer failed).
    Batch(Vec<Item>, flume::Sender<Result<Totals, String>>),
    /// Commit what is pooled and answer once it is durable.
    Flush(flume::Sender<()>),
    /// Commit what is pooled, then run an identity command and answer with what it did.
    Command(Command, flume::Sender<Result<Answer, CommandError>>),
    /// Commit what is pooled and stop, even while other senders remain (a server
    /// shutting down); their later sends fail.
    Stop,
}

/// A handle for sending work to the writer; cheap to clone. Once the writer has
/// stopped, sends fail with the reason it stopped.
#[derive(Clone)]
pub struct IntakeSender {
    tx: flume::Sender<Job>,
    failure: Arc<OnceLock<String>>,
}

impl IntakeSender {
    pub fn send(&self, job: Job) -> Result<(), PipelineError> {
        self.tx.send(job).map_err(|_| self.stopped())
    }

    pub async fn send_async(&self, job: Job) -> Result<(), PipelineError> {
        self.tx.send_async(job).await.map_err(|_| self.stopped())
    }

    pub fn is_disconnected(&self) -> bool {
        self.tx.is_disconnected()
    }

    /// Why the writer failed, once it has: new records can no longer be stored.
    pub fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }

    /// The error for a send the writer can no longer take.
    pub fn stopped(&self) -> PipelineError {
        match self.failure() {
            Some(reason) => PipelineError::WriterFailed(reason.to_owned()),
            None => PipelineError::WriterLost,
        }
    }
}

/// The running writer thread and what readers share with it.
pub struct Intake {
    tx: IntakeSender,
    thread: JoinHandle<(Writer, Result<(), PipelineError>)>,
    store: Arc<Store>,
    index: Arc<SearchIndex>,
    unique: Arc<AtomicU64>,
    committed: Arc<AtomicU64>,
}

impl Intake {
    /// Starts `writer` on its own thread.
    pub fn start(writer: Writer) -> Intake {
        let (store, index) = (writer.shared_store(), writer.search_index());
        let (unique, committed) = (writer.unique_leads(), writer.committed_records());
        // Bounded: producers wait while the writer is behind (back-pressure).
        let (tx, rx) = flume::bounded(64);
        let failure = Arc::new(OnceLock::new());
        let failed = failure.clone();
        let thread = std::thread::spawn(move || {
            let mut writer = writer;
            let drained = writer.drain(&rx);
            if let Err(e) = &drained {
                tracing::error!("the writer stopped: {e}");
                // Before the channel closes, so every failed send can say why.
                let _ = failed.set(e.to_string());
            }
            drop(rx);
            (writer, drained)
        });
        Intake { tx: IntakeSender { tx, failure }, thread, store, index, unique, committed }
    }

    pub fn sender(&self) -> IntakeSender {
        self.tx.clone()
    }

    /// The store, for readers (the writer thread stays the only writer).
    pub fn store(&self) -> Arc<Store> {
        self.store.clone()
    }

    pub fn index(&self) -> Arc<SearchIndex> {
        self.index.clone()
    }

    /// The committed unique-lead count.
    pub fn unique_leads(&self) -> Arc<AtomicU64> {
        self.unique.clone()
    }

    /// Records committed since the writer started.
    pub fn committed_records(&self) -> Arc<AtomicU64> {
        self.committed.clone()
    }

    /// Waits until every record sent before this call is committed; false when the
    /// writer has stopped (its error comes from [`Intake::finish`]).
    pub async fn flush(&self) -> bool {
        let (done, answer) = flume::bounded(1);
        self.tx.send_async(Job::Flush(done)).await.is_ok() && answer.recv_async().await.is_ok()
    }

    /// Commits everything sent before this call, stops the writer and the search
    /// index feed. Returns the writer's totals for this run.
    pub fn finish(self) -> Result<Totals, PipelineError> {
        // Fails only when the writer already stopped; joining then reports why.
        let _ = self.tx.send(Job::Stop);
        let (writer, drained) = self.thread.join().map_err(|_| PipelineError::WriterLost)?;
        let totals = writer.totals().clone();
        let finished = writer.finish();
        drained?;
        finished?;
        Ok(totals)
    }
}

/// Sends `items` as one batch of their own and waits for their totals.
pub fn write_batch(tx: &IntakeSender, items: Vec<Item>) -> Result<Totals, PipelineError> {
    let (answer_tx, answer) = flume::bounded(1);
    tx.send(Job::Batch(items, answer_tx))?;
    match answer.recv() {
        Ok(Ok(totals)) => Ok(totals),
        Ok(Err(reason)) => Err(PipelineError::WriterFailed(reason)),
        Err(_) => Err(tx.stopped()),
    }
}

/// Runs an identity command through the writer and waits for its answer.
pub fn run_command(tx: &IntakeSender, command: Command) -> Result<Answer, CommandError> {
    let (answer_tx, answer) = flume::bounded(1);
    tx.send(Job::Command(command, answer_tx)).map_err(|e| CommandError::Failed(e.to_string()))?;
    answer.recv().unwrap_or_else(|_| Err(CommandError::Failed(tx.stopped().to_string())))
}

/// [`run_command`] for async callers (the server).
pub async fn run_command_async(tx: &IntakeSender, command: Command) -> Result<Answer, CommandError> {
    let (answer_tx, answer) = flume::bounded(1);
    tx.send_async(Job::Command(command, answer_tx)).await.map_err(|e| CommandError::Failed(e.to_string()))?;
    answer.recv_async().await.unwrap_or_else(|_| Err(CommandError::Failed(tx.stopped().to_string())))
}
