//! The one writer: a thread that owns the ledger and turns queued commands into group commits.

use std::sync::{Arc, Weak};

use ledger::{Ledger, Receipt, RecordedEvent, SignedCommand};
use tokio::sync::{mpsc, oneshot};

use super::{ApiError, Shared};
use crate::app::failure::Failure;
use crate::domain::PledgeDomain;

/// What the writer is asked to do.
enum Job {
    /// Commit a command and send its outcome.
    Command { command: Box<SignedCommand>, reply: oneshot::Sender<Result<Receipt, ApiError>> },
    /// Reopen the store's files if a failed commit left it needing that (see [`Handle::recover`]).
    Recover,
}

/// The senders' side of the writer's queue.
#[derive(Clone, Debug)]
pub(super) struct Handle(mpsc::Sender<Job>);

pub(super) struct Queue(mpsc::Receiver<Job>);

/// A bounded queue: when it is full, senders wait (backpressure), nothing is dropped.
pub(super) fn channel(capacity: usize) -> (Handle, Queue) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (Handle(tx), Queue(rx))
}

impl Handle {
    /// Queues `command` and waits until it is committed durably (or refused).
    pub(super) async fn submit(&self, command: SignedCommand) -> Result<Receipt, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.0.send(Job::Command { command: Box::new(command), reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Jobs waiting in the queue.
    pub(super) fn queued(&self) -> usize {
        self.0.max_capacity() - self.0.capacity()
    }

    /// Asks the writer to reopen the store if it needs that (a full disk failed sled after a
    /// commit), so that reads work again once space returns even if no command comes. Does not
    /// wait; a full queue means commands are coming, and each of them recovers first.
    pub(super) fn recover(&self) {
        let _ = self.0.try_send(Job::Recover);
    }
}

fn stopped() -> ApiError {
    ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the server is shutting down")
}

/// Starts the writer thread. It runs until every [`Handle`] is dropped, then closes the ledger.
pub(super) fn spawn(
    ledger: Ledger<PledgeDomain>,
    queue: Queue,
    shared: Weak<Shared>,
    options: &super::Options,
) -> Result<std::thread::JoinHandle<()>, Failure> {
    let (max_batch, repro) = (options.max_batch.max(1), options.reproducible.clone());
    std::thread::Builder::new()
        .name("pledge-writer".into())
        .spawn(move || run(ledger, queue, shared, max_batch, repro))
        .map_err(Failure::internal)
}

/// While serving, a snapshot is written when the events since the last one reach this
/// fraction of the ledger (and at least [`ledger::snapshot::EVERY`]): copying the state costs
/// as much as the ledger is large, so it happens ever more rarely.
const SNAPSHOT_FRACTION: u64 = 8;

fn run(
    mut ledger: Ledger<PledgeDomain>,
    Queue(mut rx): Queue,
    shared: Weak<Shared>,
    max_batch: usize,
    repro: Option<Arc<crate::app::clock::Reproducible>>,
) {
    // Snapshots are encoded and written on a thread of their own, one at a time, so that the
    // writer does not stall; a clean stop writes the last one when the ledger is dropped.
    let mut snapshotting: Option<std::thread::JoinHandle<()>> = None;
    while let Some(first) = rx.blocking_recv() {
        let mut commands = Vec::new();
        let mut replies = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            if let Job::Command { command, reply } = job {
                commands.push(*command);
                replies.push(reply);
            }
            if commands.len() < max_batch {
                next = rx.try_recv().ok();
            }
        }
        if commands.is_empty() {
            // Only recovery was asked for.
            recover(&mut ledger, &shared);
            continue;
        }
        let size = commands.len();
        if let Some(r) = &repro {
            r.restart(ledger.store().head().map(|h| h.recorded_at));
        }
        // A panic in the decide step would be a bug; it must not take the writer down (every
        // later write would then fail). The batch is answered with an internal error and the
        // ledger folds the store again, since the panic may have left its state half-folded.
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ledger.submit_commands(commands)));
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let err = ApiError::internal(format!("the decide step panicked: {what}"));
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
                if let Err(e) = ledger.reload() {
                    tracing::error!(error = %e, "cannot fold the ledger again after a panic");
                }
                continue;
            }
        };
        let committed = outcome.is_ok();
        match outcome {
            Ok(results) => {
                let fresh: Vec<&RecordedEvent> = results
                    .iter()
                    .filter_map(|r| r.as_ref().ok())
                    .filter(|r| !r.duplicate)
                    .flat_map(|r| r.events.iter())
                    .collect();
                if let Some(shared) = shared.upgrade() {
                    publish(&shared, &fresh);
                }
                tracing::debug!(commands = size, events = fresh.len(), "group commit");
                for (reply, r) in replies.into_iter().zip(results) {
                    let _ = reply.send(r.map_err(|e| ApiError::from_submit(&e)));
                }
            }
            Err(e) => {
                let err = ApiError::storage(&e);
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
        // A full disk can leave the store needing its files reopened although the batch was
        // committed (sled failed after the journal made it durable): reopen now if there is
        // space again (else the storage watcher or the next command tries), and publish whatever the store holds
        // that readers have not seen (a commit whose outcome was in doubt and turned out
        // durable).
        if committed {
            recover(&mut ledger, &shared);
        } else if let Some(shared) = shared.upgrade() {
            catch_up(&shared, ledger.store());
        }
        if snapshotting.as_ref().is_none_or(|t| t.is_finished()) {
            let every = (ledger.store().len() / SNAPSHOT_FRACTION).max(ledger::snapshot::EVERY);
            if let Some(job) = ledger.snapshot_job(every) {
                snapshotting = std::thread::Builder::new().name("pledge-snapshot".into()).spawn(job).ok();
            }
        }
    }
    if let Some(t) = snapshotting {
        let _ = t.join();
    }
    tracing::info!("writer stopped; closing the ledger");
}

/// Reopens the store if it needs that, then publishes what readers have not seen.
fn recover(ledger: &mut Ledger<PledgeDomain>, shared: &Weak<Shared>) {
    if ledger.store().needs_recovery() {
        match ledger.recover() {
            Ok(()) => tracing::info!("the ledger's storage recovered"),
            Err(e) => tracing::warn!(error = %e, "the ledger's storage has not recovered yet"),
        }
    }
    if let Some(shared) = shared.upgrade() {
        catch_up(&shared, ledger.store());
    }
}

/// Publishes events the store holds beyond what readers were told of (see [`run`]).
fn catch_up(shared: &Arc<Shared>, store: &ledger::Store) {
    let told = *shared.committed.borrow();
    if store.len() <= told {
        return;
    }
    match store.range(told..store.len()).collect::<Result<Vec<_>, _>>() {
        Ok(events) => publish(shared, &events.iter().collect::<Vec<_>>()),
        Err(e) => tracing::error!(error = %e, "cannot read committed events to publish them"),
    }
}

/// Folds freshly committed events into the read model, then tells live tails.
fn publish(shared: &Arc<Shared>, fresh: &[&RecordedEvent]) {
    let Some(last) = fresh.last() else { return };
    {
        let mut model = shared.read.write().unwrap_or_else(|e| e.into_inner());
        for ev in fresh {
            // Only trust events change the trust state; copying it (readers may hold the old
            // one) is left to those.
            if ledger::trust::kinds::EVENTS.contains(&ev.event.kind.as_str()) {
                if let Err(reason) = Arc::make_mut(&mut model.trust).apply(ev) {
                    tracing::error!(seq = ev.seq(), %reason, "committed trust event does not fold");
                }
            }
            if let Err(reason) = ledger::Domain::apply(&mut model.domain, ev) {
                tracing::error!(seq = ev.seq(), %reason, "committed event does not fold");
            }
        }
    }
    // Serving switches to new champions before anyone is told of the commit (and before its
    // sender is answered): a client that saw the change acknowledged is served by it.
    shared.refresh_serving();
    shared.committed.send_replace(last.seq() + 1);
}
