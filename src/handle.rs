//! Reaching the reactor from other threads: [`ReactorHandle`], and work
//! run off the reactor thread (Twisted's `callFromThread` and
//! `deferToThread`).

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use crate::core::Core;
use crate::ReactorContext;

/// A closure sent to the reactor thread.
pub(crate) type Call = Box<dyn FnOnce(&mut ReactorContext<'_>) + Send>;

/// What the reactor shares with other threads: one waker and one queue.
pub(crate) struct Shared {
    pub(crate) waker: mio::Waker,
    pub(crate) inbox: Mutex<Vec<Call>>,
    /// Set after a call is queued: the reactor takes the lock only then
    /// (it looks twice a turn).
    pub(crate) queued: AtomicBool,
    pub(crate) stop: AtomicBool,
}

impl Shared {
    pub(crate) fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            log::warn!("waking the reactor failed: {e}");
        }
    }

    /// Takes every queued call (wakes coalesce, so drain to empty).
    pub(crate) fn take_calls(&self, into: &mut Vec<Call>) {
        if !self.queued.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut inbox = match self.inbox.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        std::mem::swap(&mut *inbox, into);
    }
}

/// A `Send + Clone` handle to a reactor, for other threads.
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let mut reactor = reel::Reactor::new()?;
/// let handle = reactor.handle();
/// std::thread::spawn(move || {
///     handle.call_from_thread(|cx| {
///         // runs on the reactor thread
///         cx.stop();
///     });
/// });
/// reactor.run()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ReactorHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ReactorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReactorHandle").finish_non_exhaustive()
    }
}

impl ReactorHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        ReactorHandle { shared }
    }

    /// Runs `f` on the reactor thread, soon. Calls from one thread run in
    /// the order they were made.
    pub fn call_from_thread(&self, f: impl FnOnce(&mut ReactorContext<'_>) + Send + 'static) {
        {
            let mut inbox = match self.shared.inbox.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            inbox.push(Box::new(f));
        }
        // Wake only if the reactor has not been told of a call it has not
        // taken yet: a burst of calls (messages between the reactors of a
        // group) costs one wake, not one system call each. The reactor
        // clears the flag before it takes the inbox, so a call pushed
        // after that take finds the flag clear and wakes it.
        if !self.shared.queued.swap(true, Ordering::AcqRel) {
            self.shared.wake();
        }
    }

    /// Asks the reactor to stop gracefully (as
    /// [`Reactor::stop`](crate::Reactor::stop)).
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake();
    }
}

/// A job for a worker thread.
type Job = Box<dyn FnOnce() + Send>;

/// A small pool of worker threads for `defer_to_thread`, started lazily.
pub(crate) struct Workers {
    sender: mpsc::Sender<Job>,
}

impl Workers {
    fn start(count: usize) -> std::io::Result<Workers> {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..count {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new().name(format!("reel-worker-{i}")).spawn(move || loop {
                let job = {
                    let guard = match receiver.lock() {
                        Ok(g) => g,
                        Err(poisoned) => poisoned.into_inner(),
                    };
                    guard.recv()
                };
                match job {
                    Ok(job) => job(),
                    Err(_) => return, // the reactor is gone
                }
            })?;
        }
        Ok(Workers { sender })
    }
}

impl Core {
    pub(crate) fn defer_to_thread<T: Send + 'static>(
        &mut self,
        work: impl FnOnce() -> T + Send + 'static,
        then: impl FnOnce(&mut ReactorContext<'_>, std::thread::Result<T>) + 'static,
    ) {
        let key = self.completions.insert(Box::new(move |cx: &mut ReactorContext<'_>, result: Box<dyn Any + Send>| {
            let result = match result.downcast::<std::thread::Result<T>>() {
                Ok(r) => *r,
                Err(other) => Err(other),
            };
            then(cx, result);
        }));
        let handle = crate::ReactorHandle::new(self.shared.clone());
        let job: Job = Box::new(move || {
            let result: std::thread::Result<T> = catch_unwind(AssertUnwindSafe(work));
            handle.call_from_thread(move |cx| cx.core.complete(key, Box::new(result)));
        });
        if self.workers.is_none() {
            let count = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
            match Workers::start(count) {
                Ok(w) => self.workers = Some(w),
                Err(e) => log::error!("could not start worker threads: {e}"),
            }
        }
        let sent = match &self.workers {
            Some(w) => w.sender.send(job).map_err(|e| e.0),
            None => Err(job),
        };
        if let Err(job) = sent {
            // No worker could take it: run it here rather than lose it.
            log::warn!("no worker thread available; running deferred work on the reactor thread");
            job();
        }
    }

    fn complete(&mut self, key: usize, result: Box<dyn Any + Send>) {
        if let Some(then) = self.completions.try_remove(key) {
            self.call_reactor("defer_to_thread completion", |cx| then(cx, result));
        }
    }
}
