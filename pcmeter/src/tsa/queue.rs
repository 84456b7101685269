//! The card is one serial resource: one worker thread owns the meter and
//! runs jobs one at a time from a bounded queue.
//!
//! A job that has not started by its deadline, or whose requester went away,
//! is cancelled and never touches the card. A job that has started runs to
//! the end and its requester waits for it: a postmark the card has charged is
//! never thrown away because a timer fired.

use host_driver::Meter;
use host_driver::transport::Transport;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::thread::JoinHandle;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Why a job did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The queue is full.
    #[error("the meter is busy: the queue is full")]
    Full,
    /// The deadline passed before the job reached the card.
    #[error("the meter is busy: the request timed out before it reached the card")]
    TimedOut,
    /// The worker has stopped.
    #[error("the meter worker has stopped")]
    Stopped,
}

type Job<T> = Box<dyn FnOnce(&mut Meter<T>) + Send>;

const QUEUED: u8 = 0;
const STARTED: u8 = 1;
const CANCELLED: u8 = 2;

/// Cancels a queued job when its requester goes away (timeout or dropped future).
struct CancelOnDrop(Arc<AtomicU8>);

impl CancelOnDrop {
    /// Cancels the job if it has not started; `false` when it has.
    fn cancel(&self) -> bool {
        match self.0.compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => true,
            Err(state) => state == CANCELLED,
        }
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// A handle on the worker that owns the meter.
pub struct MeterQueue<T: Transport> {
    jobs: SyncSender<Job<T>>,
}

impl<T: Transport> Clone for MeterQueue<T> {
    fn clone(&self) -> Self {
        Self { jobs: self.jobs.clone() }
    }
}

impl<T: Transport + Send + 'static> MeterQueue<T> {
    /// Starts the worker thread with room for `depth` waiting jobs. The
    /// thread ends, returning the meter, when every handle is dropped.
    pub fn start(mut meter: Meter<T>, depth: usize) -> std::io::Result<(Self, JoinHandle<Meter<T>>)> {
        let (jobs, queue) = mpsc::sync_channel::<Job<T>>(depth);
        let worker = std::thread::Builder::new().name("pcmeter-card".into()).spawn(move || {
            for job in queue {
                job(&mut meter);
            }
            meter
        })?;
        Ok((Self { jobs }, worker))
    }

    /// Queues `job` and waits for its result. It is cancelled if it has not
    /// reached the card by `deadline`; once it has, it is waited for.
    pub async fn run<R: Send + 'static>(
        &self,
        deadline: Instant,
        job: impl FnOnce(&mut Meter<T>) -> R + Send + 'static,
    ) -> Result<R, QueueError> {
        let state = Arc::new(AtomicU8::new(QUEUED));
        let guard = CancelOnDrop(Arc::clone(&state));
        let (reply, answer) = oneshot::channel();
        let wrapped: Job<T> = Box::new(move |meter| {
            if state.compare_exchange(QUEUED, STARTED, Ordering::AcqRel, Ordering::Acquire).is_err() {
                return;
            }
            if reply.send(job(meter)).is_err() {
                tracing::warn!("a meter job finished after its requester went away; its result is dropped");
            }
        });
        self.jobs.try_send(wrapped).map_err(|e| match e {
            TrySendError::Full(_) => QueueError::Full,
            TrySendError::Disconnected(_) => QueueError::Stopped,
        })?;
        let mut answer = answer;
        match tokio::time::timeout_at(deadline, &mut answer).await {
            Ok(result) => result.map_err(|_| QueueError::Stopped),
            Err(_) if guard.cancel() => Err(QueueError::TimedOut),
            Err(_) => answer.await.map_err(|_| QueueError::Stopped),
        }
    }

    /// Runs `job` on the meter and waits for it, blocking the calling thread
    /// (not from inside the async runtime).
    pub fn call<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Meter<T>) -> R + Send + 'static,
    ) -> Result<R, QueueError> {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let wrapped: Job<T> = Box::new(move |meter| {
            // The caller blocks on `answer` until this is sent: it cannot be gone.
            let _ = reply.send(job(meter));
        });
        self.jobs.send(wrapped).map_err(|_| QueueError::Stopped)?;
        answer.recv().map_err(|_| QueueError::Stopped)
    }
}
