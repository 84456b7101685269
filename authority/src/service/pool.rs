//! The storage threads: plain OS threads, each owning one backend
//! connection, fed by a queue. Async handlers hand them a job and await the
//! answer, so no database driver ever runs on (or blocks) the async runtime,
//! and the synchronous `postgres` client never sees a runtime context.

use crate::store::{AnyBackend, Location, StoreError};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce(&mut AnyBackend) + Send>;

/// A pool of storage threads.
#[derive(Debug, Clone)]
pub struct StorePool {
    jobs: mpsc::Sender<Job>,
    engine: &'static str,
}

impl StorePool {
    /// Opens `threads` connections to `location` (migrating on the first)
    /// and starts one thread per connection.
    pub fn start(location: &Location, threads: usize) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let mut engine = "sqlite";
        for i in 0..threads.max(1) {
            let backend = AnyBackend::open(location)?;
            engine = crate::store::Backend::engine(&backend);
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("store-{i}"))
                .spawn(move || worker(backend, &queue))
                .map_err(|_| StoreError::Stopped)?;
        }
        Ok(Self { jobs, engine })
    }

    /// The engine name.
    pub fn engine(&self) -> &'static str {
        self.engine
    }

    /// Runs `f` on a storage thread and returns what it returns.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut AnyBackend) -> R + Send + 'static,
    ) -> Result<R, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |backend| {
            let _ = reply.send(f(backend));
        });
        self.jobs.send(job).map_err(|_| StoreError::Stopped)?;
        answer.await.map_err(|_| StoreError::Stopped)
    }
}

fn worker(mut backend: AnyBackend, queue: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let job = {
            let Ok(queue) = queue.lock() else { return };
            match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        job(&mut backend);
    }
}
