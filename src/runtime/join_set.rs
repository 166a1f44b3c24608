//! [`JoinSet`]: a group of tasks awaited together — as they complete (asyncio's
//! `as_completed`) or all at once (asyncio's `gather`).

use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use slab::Slab;

use super::task::{spawn, AbortHandle, JoinError, JoinHandle};

/// A set of tasks spawned on the current runtime, joined in completion order.
///
/// Each task's handle gets its own waker that records the task as ready, so
/// [`join_next`](JoinSet::join_next) only polls tasks that finished: collecting n results
/// costs O(n), not O(n²). Dropping the set aborts every task still in it.
///
/// ```
/// use proactor::JoinSet;
/// proactor::block_on(async {
///     let mut set = JoinSet::new();
///     for i in 0..10u64 {
///         set.spawn(async move { i * 2 });
///     }
///     let mut sum = 0;
///     while let Some(res) = set.join_next().await {
///         sum += res.unwrap();
///     }
///     assert_eq!(sum, 90);
/// });
/// ```
pub struct JoinSet<T> {
    entries: Slab<Entry<T>>,
    ready: Arc<Ready>,
    next_seq: u64,
}

struct Entry<T> {
    handle: JoinHandle<T>,
    waker: Waker,
    notify: Arc<EntryWaker>,
    seq: u64,
}

/// Keys of entries whose task may have finished, and the waker of the set's awaiter.
#[derive(Default)]
struct Ready {
    keys: Mutex<VecDeque<usize>>,
    waker: Mutex<Option<Waker>>,
}

struct EntryWaker {
    key: usize,
    notified: AtomicBool,
    ready: Arc<Ready>,
}

impl Wake for EntryWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if self.notified.swap(true, Ordering::AcqRel) {
            return;
        }
        lock(&self.ready.keys).push_back(self.key);
        if let Some(w) = lock(&self.ready.waker).take() {
            w.wake();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<T> Default for JoinSet<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> JoinSet<T> {
    /// An empty set.
    pub fn new() -> Self {
        JoinSet {
            entries: Slab::new(),
            ready: Arc::new(Ready::default()),
            next_seq: 0,
        }
    }

    /// Number of tasks in the set (running, or finished but not yet joined).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the set holds no task.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Aborts every task in the set; they stay in it until joined (as cancelled).
    pub fn abort_all(&mut self) {
        for (_, e) in &self.entries {
            e.handle.abort();
        }
    }

    /// Polls for the next finished task; `Ready(None)` when the set is empty.
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        self.poll_join_next_seq(cx)
            .map(|next| next.map(|(_, res)| res))
    }

    /// Waits for the next task to finish and returns its result; `None` once the set is
    /// empty. Results come in completion order (asyncio's `as_completed`).
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// Waits for every task and returns their results **in the order they were spawned**
    /// (asyncio's `gather(..., return_exceptions=True)`): a panic or cancellation is an
    /// `Err` in its place, never a panic here.
    pub async fn join_all(mut self) -> Vec<Result<T, JoinError>> {
        let mut out = Vec::with_capacity(self.len());
        let mut seqs: Vec<(u64, usize)> = Vec::with_capacity(self.len());
        loop {
            let next = poll_fn(|cx| self.poll_join_next_seq(cx)).await;
            let Some((seq, res)) = next else { break };
            seqs.push((seq, out.len()));
            out.push(Some(res));
        }
        seqs.sort_unstable();
        seqs.into_iter()
            .map(|(_, i)| out[i].take().expect("each index taken once"))
            .collect()
    }

    fn poll_join_next_seq(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(u64, Result<T, JoinError>)>> {
        if self.entries.is_empty() {
            return Poll::Ready(None);
        }
        // Register first, then look: a task finishing in between is not missed.
        *lock(&self.ready.waker) = Some(cx.waker().clone());
        match self.take_finished() {
            Some(next) => Poll::Ready(Some(next)),
            None => Poll::Pending,
        }
    }

    /// A task of the set that finished, with its sequence number, if any.
    fn take_finished(&mut self) -> Option<(u64, Result<T, JoinError>)> {
        loop {
            let key = lock(&self.ready.keys).pop_front()?;
            let Some(entry) = self.entries.get_mut(key) else {
                continue; // a stale notification for an entry already joined
            };
            entry.notify.notified.store(false, Ordering::Release);
            let mut task_cx = Context::from_waker(&entry.waker);
            if let Poll::Ready(res) = Pin::new(&mut entry.handle).poll(&mut task_cx) {
                let seq = self.entries.remove(key).seq;
                return Some((seq, res));
            }
        }
    }

    /// The result of a task that already finished, without waiting; `None` when none has
    /// (or the set is empty). Results come in completion order, as from
    /// [`join_next`](JoinSet::join_next).
    ///
    /// ```
    /// use proactor::JoinSet;
    /// proactor::block_on(async {
    ///     let mut set = JoinSet::new();
    ///     assert!(set.try_join_next().is_none(), "empty");
    ///     set.spawn(async { 1 });
    ///     while set.try_join_next().is_none() {
    ///         proactor::task::yield_now().await; // let the task run
    ///     }
    ///     assert!(set.is_empty());
    /// });
    /// ```
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        self.take_finished().map(|(_, res)| res)
    }

    /// Aborts every task in the set and waits for all of them to finish: when it returns,
    /// the set is empty and every task's future has been dropped (or ran to its end, if it
    /// finished first). Their results are discarded.
    ///
    /// ```
    /// use proactor::JoinSet;
    /// proactor::block_on(async {
    ///     let mut set = JoinSet::new();
    ///     set.spawn(proactor::time::sleep(std::time::Duration::from_secs(3600)));
    ///     set.shutdown().await;
    ///     assert!(set.is_empty());
    /// });
    /// ```
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }

    /// Removes every task from the set without aborting it: they keep running, detached.
    pub fn detach_all(&mut self) {
        self.entries.clear();
    }
}

impl<T: 'static> JoinSet<T> {
    /// Spawns `fut` on the current runtime as a member of this set.
    ///
    /// # Panics
    /// Outside a runtime, like [`spawn`](crate::spawn).
    #[track_caller]
    pub fn spawn<F>(&mut self, fut: F) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
    {
        self.insert(spawn(fut))
    }

    /// Adds an already spawned task to the set.
    pub fn insert(&mut self, handle: JoinHandle<T>) -> AbortHandle {
        let abort = handle.abort_handle();
        let entry = self.entries.vacant_entry();
        let notify = Arc::new(EntryWaker {
            key: entry.key(),
            notified: AtomicBool::new(false),
            ready: self.ready.clone(),
        });
        let waker = Waker::from(notify.clone());
        let seq = self.next_seq;
        self.next_seq += 1;
        entry.insert(Entry {
            handle,
            waker: waker.clone(),
            notify,
            seq,
        });
        // Poll it once through its own waker on the next join: that registers the waker.
        waker.wake();
        abort
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        self.abort_all();
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len()).finish()
    }
}
