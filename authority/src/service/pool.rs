//! The storage threads: plain OS threads, each owning one backend
//! connection, fed by a queue. Async handlers hand them a job and await the
//! answer, so no database driver ever runs on (or blocks) the async runtime,
//! and the synchronous `postgres` client never sees a runtime context.
//!
//! # Group commit (SQLite)
//! SQLite has one writer and syncs once per commit, so a recharge costs a
//! whole fsync of its own. Transaction bodies handed to [`StorePool::transact`]
//! that are queued together run one after another in one transaction, each
//! inside its own savepoint (a body that refuses rolls back to it), and
//! share one commit: one fsync for the group. Every answer is sent only
//! after that commit returned, so nothing is acknowledged before it is
//! durable. When the group's transaction fails (a conflict, a failed
//! commit) nothing of it was written, and each body runs again in a
//! transaction of its own, with the usual retries. PostgreSQL already
//! shares WAL flushes between concurrent commits, and grouping unrelated
//! SERIALIZABLE transactions would only widen their conflicts, so there
//! each body keeps its own transaction.

use crate::store::{AnyBackend, Backend, Location, StoreError, Tx, TxResult, transact};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// The most bodies that share one commit.
pub const MAX_GROUP: usize = 64;

/// Work for a storage thread.
enum Job {
    /// Runs on the backend as it likes.
    Alone(Box<dyn FnOnce(&mut AnyBackend) + Send>),
    /// A transaction body that may share its commit with others.
    Member(Box<dyn GroupMember>),
}

/// A transaction body queued for [`StorePool::transact`].
trait GroupMember: Send {
    /// Runs the body inside the group's open transaction and keeps its
    /// result; true when its writes are to be kept (it did not refuse).
    fn run(&mut self, tx: &mut dyn Tx) -> Result<bool, StoreError>;
    /// Answers with the kept result, once the group committed.
    fn committed(self: Box<Self>);
    /// Runs the body in a transaction of its own (with retries) and answers.
    fn alone(self: Box<Self>, backend: &mut AnyBackend);
}

struct Member<T, E, F> {
    body: F,
    outcome: Option<Result<T, E>>,
    reply: tokio::sync::oneshot::Sender<TxResult<T, E>>,
}

impl<T, E, F> GroupMember for Member<T, E, F>
where
    T: Send,
    E: Send,
    F: FnMut(&mut dyn Tx) -> TxResult<T, E> + Send,
{
    fn run(&mut self, tx: &mut dyn Tx) -> Result<bool, StoreError> {
        let outcome = (self.body)(tx)?;
        let keep = outcome.is_ok();
        self.outcome = Some(outcome);
        Ok(keep)
    }

    fn committed(self: Box<Self>) {
        let Self { outcome, reply, .. } = *self;
        let answer = outcome.ok_or(StoreError::Corrupt("group member answered before it ran"));
        let _ = reply.send(answer);
    }

    fn alone(self: Box<Self>, backend: &mut AnyBackend) {
        let Self { body, reply, .. } = *self;
        let _ = reply.send(transact(backend, body));
    }
}

/// What the storage threads did with grouped bodies, since the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupStats {
    /// Commits shared by two or more bodies.
    pub group_commits: u64,
    /// Bodies committed in those.
    pub grouped_bodies: u64,
    /// Groups whose transaction failed (their bodies then ran on their own).
    pub failed_groups: u64,
}

/// Counters shared by the pool and its threads.
#[derive(Debug, Default)]
struct Counters {
    queued: AtomicUsize,
    group_commits: AtomicU64,
    grouped_bodies: AtomicU64,
    failed_groups: AtomicU64,
}

/// A pool of storage threads.
#[derive(Debug, Clone)]
pub struct StorePool {
    jobs: mpsc::Sender<Job>,
    engine: &'static str,
    counters: Arc<Counters>,
}

impl StorePool {
    /// Opens `threads` connections to `location` (migrating on the first)
    /// and starts one thread per connection.
    pub fn start(location: &Location, threads: usize) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let counters = Arc::new(Counters::default());
        let mut engine = "sqlite";
        for i in 0..threads.max(1) {
            let backend = AnyBackend::open(location)?;
            engine = backend.engine();
            let group = matches!(backend, AnyBackend::Sqlite(_));
            let queue = Arc::clone(&queue);
            let counters = Arc::clone(&counters);
            std::thread::Builder::new()
                .name(format!("store-{i}"))
                .spawn(move || worker(backend, &queue, &counters, group))
                .map_err(|_| StoreError::Stopped)?;
        }
        Ok(Self { jobs, engine, counters })
    }

    /// Jobs waiting for a storage thread.
    pub fn queued(&self) -> usize {
        self.counters.queued.load(Ordering::SeqCst)
    }

    /// Group-commit counters since the start.
    pub fn group_stats(&self) -> GroupStats {
        GroupStats {
            group_commits: self.counters.group_commits.load(Ordering::Relaxed),
            grouped_bodies: self.counters.grouped_bodies.load(Ordering::Relaxed),
            failed_groups: self.counters.failed_groups.load(Ordering::Relaxed),
        }
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        self.counters.queued.fetch_add(1, Ordering::SeqCst);
        self.jobs.send(job).map_err(|_| {
            self.counters.queued.fetch_sub(1, Ordering::SeqCst);
            StoreError::Stopped
        })
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
        let job = Job::Alone(Box::new(move |backend| {
            let _ = reply.send(f(backend));
        }));
        self.send(job)?;
        answer.await.map_err(|_| StoreError::Stopped)
    }

    /// Runs `body` as a transaction (as [`transact`] does: `Ok(Ok(_))`
    /// commits, a refusal rolls back, conflicts are retried), possibly
    /// sharing its commit with other bodies queued at the same time (see the
    /// module docs). Answers only after the commit that holds it.
    pub async fn transact<T, E>(
        &self,
        body: impl FnMut(&mut dyn Tx) -> TxResult<T, E> + Send + 'static,
    ) -> TxResult<T, E>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job::Member(Box::new(Member { body, outcome: None, reply }));
        self.send(job)?;
        answer.await.map_err(|_| StoreError::Stopped)?
    }
}

fn worker(mut backend: AnyBackend, queue: &Mutex<mpsc::Receiver<Job>>, counters: &Counters, group: bool) {
    let received = || {
        counters.queued.fetch_sub(1, Ordering::SeqCst);
    };
    loop {
        let (members, next) = {
            let Ok(queue) = queue.lock() else { return };
            let first = match queue.recv() {
                Ok(Job::Member(m)) => m,
                Ok(Job::Alone(f)) => {
                    drop(queue);
                    received();
                    f(&mut backend);
                    continue;
                }
                Err(_) => return,
            };
            received();
            let mut members = vec![first];
            let mut next = None;
            while group && members.len() < MAX_GROUP {
                match queue.try_recv() {
                    Ok(Job::Member(m)) => {
                        received();
                        members.push(m);
                    }
                    Ok(alone) => {
                        received();
                        next = Some(alone);
                        break;
                    }
                    Err(_) => break,
                }
            }
            (members, next)
        };
        run_group(&mut backend, members, counters);
        match next {
            Some(Job::Alone(f)) => f(&mut backend),
            Some(Job::Member(m)) => m.alone(&mut backend),
            None => {}
        }
    }
}

/// Runs `members` in one transaction with one commit, each in a savepoint;
/// when that transaction fails, each again on its own.
fn run_group(backend: &mut AnyBackend, mut members: Vec<Box<dyn GroupMember>>, counters: &Counters) {
    if members.len() == 1 {
        if let Some(only) = members.pop() {
            only.alone(backend);
        }
        return;
    }
    let outcome = backend.attempt(&mut |tx: &mut dyn Tx| {
        for member in members.iter_mut() {
            tx.execute("SAVEPOINT group_member", &[])?;
            if !member.run(tx)? {
                tx.execute("ROLLBACK TO group_member", &[])?;
            }
            tx.execute("RELEASE group_member", &[])?;
        }
        Ok(Ok::<(), std::convert::Infallible>(()))
    });
    match outcome {
        Ok(Ok(())) => {
            tracing::debug!(members = members.len(), "group committed");
            counters.group_commits.fetch_add(1, Ordering::Relaxed);
            counters.grouped_bodies.fetch_add(members.len() as u64, Ordering::Relaxed);
            members.into_iter().for_each(|m| m.committed());
        }
        Ok(Err(never)) => match never {},
        Err(e) => {
            tracing::debug!(members = members.len(), error = %e, "group failed: each on its own");
            counters.failed_groups.fetch_add(1, Ordering::Relaxed);
            for member in members {
                member.alone(backend);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Value;

    /// A one-thread pool on a fresh SQLite file with an empty `bench_group` table.
    async fn pool_with_table(name: &str) -> (Location, StorePool) {
        let dir = std::env::temp_dir().join(format!("pcmeter-pool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = Location::Sqlite(dir.join("authority.db"));
        let pool = StorePool::start(&db, 1).unwrap();
        pool.run(|b| b.batch("CREATE TABLE bench_group (id BIGINT PRIMARY KEY, note TEXT NOT NULL)"))
            .await
            .unwrap()
            .unwrap();
        (db, pool)
    }

    /// Queues `n` bodies (`body(i)`) while the single storage thread is held,
    /// so that all of them wait together when it resumes; their answers in order.
    async fn queued_together<T, E, F>(pool: &StorePool, n: i64, body: impl Fn(i64) -> F) -> Vec<TxResult<T, E>>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnMut(&mut dyn Tx) -> TxResult<T, E> + Send + 'static,
    {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel();
        let p = pool.clone();
        let held = tokio::spawn(async move {
            let _ = p
                .run(move |_| {
                    let _ = started.send(());
                    let _ = wait.recv();
                })
                .await;
        });
        running.await.unwrap();
        let bodies: Vec<_> = (0..n)
            .map(|i| {
                let (p, f) = (pool.clone(), body(i));
                tokio::spawn(async move { p.transact(f).await })
            })
            .collect();
        while pool.queued() < n as usize {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        release.send(()).unwrap();
        held.await.unwrap();
        let mut answers = Vec::new();
        for b in bodies {
            answers.push(b.await.unwrap());
        }
        answers
    }

    fn rows(db: &Location) -> i64 {
        let mut b = AnyBackend::open(db).unwrap();
        transact(&mut b, |tx: &mut dyn Tx| {
            Ok(Ok::<_, ()>(tx.query_one("SELECT COUNT(*) FROM bench_group", &[])?.int(0)?))
        })
        .unwrap()
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bodies_queued_together_share_a_commit_and_a_refusal_rolls_back_only_its_own_writes() {
        let (db, pool) = pool_with_table("group").await;
        let answers = queued_together(&pool, 40, |i| {
            move |tx: &mut dyn Tx| {
                tx.execute("INSERT INTO bench_group (id, note) VALUES ($1, $2)", &[Value::Int(i), Value::from("w")])?;
                // Every fifth refuses after writing: its row must not stay.
                Ok(if i % 5 == 0 { Err(format!("refused {i}")) } else { Ok(i) })
            }
        })
        .await;
        for (i, answer) in (0..).zip(answers) {
            let expected = if i % 5 == 0 { Err(format!("refused {i}")) } else { Ok(i) };
            assert_eq!(answer.unwrap(), expected);
        }
        assert_eq!(rows(&db), 32, "the 32 accepted rows, none of the 8 refused");
        let stats = pool.group_stats();
        assert!(stats.grouped_bodies >= 40 && stats.group_commits < 40, "bodies shared commits: {stats:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn when_the_group_fails_each_body_runs_again_on_its_own() {
        let (db, pool) = pool_with_table("regroup").await;
        let answers = queued_together(&pool, 6, |i| {
            move |tx: &mut dyn Tx| {
                // Body 3 fails in the store (a duplicate key): the group rolls back whole.
                let id = if i == 3 { 2 } else { i };
                tx.execute("INSERT INTO bench_group (id, note) VALUES ($1, 'x')", &[Value::Int(id)])?;
                Ok(Ok::<_, ()>(i))
            }
        })
        .await;
        for (i, answer) in (0..).zip(&answers) {
            match (i, answer) {
                (3, Err(e)) => assert!(e.is_unique_violation(), "{e}"),
                (3, other) => panic!("body 3 wrote a duplicate key: {other:?}"),
                (i, Ok(Ok(v))) => assert_eq!(*v, i),
                (i, other) => panic!("body {i}: {other:?}"),
            }
        }
        assert_eq!(rows(&db), 5, "the five good bodies, each committed on its own");
        assert!(pool.group_stats().failed_groups >= 1);
    }
}
