//! Reaching the reactor from other threads: `call_from_thread`, a
//! cross-thread `stop`, and `defer_to_thread`.

mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

#[test]
fn call_from_thread_delivers_every_call_in_order_per_thread() {
    const THREADS: usize = 4;
    const CALLS: usize = 1000;
    let mut reactor = util::reactor();
    let reactor_thread = std::thread::current().id();
    // (thread, sequence number, thread the call ran on)
    let seen: Arc<Mutex<Vec<(usize, usize, ThreadId)>>> = Arc::new(Mutex::new(Vec::new()));
    let handle = reactor.handle();
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let handle = handle.clone();
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                for i in 0..CALLS {
                    let seen = Arc::clone(&seen);
                    handle.call_from_thread(move |cx| {
                        let mut seen = seen.lock().unwrap();
                        seen.push((t, i, std::thread::current().id()));
                        if seen.len() == THREADS * CALLS {
                            cx.stop();
                        }
                    });
                }
            })
        })
        .collect();
    util::run(&mut reactor);
    for s in senders {
        s.join().expect("sender thread");
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), THREADS * CALLS, "every call delivered once");
    assert!(seen.iter().all(|&(_, _, on)| on == reactor_thread), "calls run on the reactor thread");
    for t in 0..THREADS {
        let order: Vec<usize> = seen.iter().filter(|&&(from, _, _)| from == t).map(|&(_, i, _)| i).collect();
        assert_eq!(order, (0..CALLS).collect::<Vec<_>>(), "calls of thread {t} in the order made");
    }
}

#[test]
fn stop_from_another_thread_makes_run_return() {
    let mut reactor = util::reactor();
    let (running_tx, running_rx) = mpsc::channel();
    // Tell the stopping thread once the loop is running.
    reactor.call_later(Duration::ZERO, move |_| running_tx.send(()).expect("send"));
    let handle = reactor.handle();
    let stopper = std::thread::spawn(move || {
        running_rx.recv_timeout(util::IO_TIMEOUT).expect("the reactor never ran");
        handle.stop();
    });
    let took = util::run(&mut reactor);
    stopper.join().expect("stopper");
    assert!(took < Duration::from_secs(1), "run returned after {took:?}");
}

#[test]
fn defer_to_thread_runs_off_the_reactor_thread_and_returns_on_it() {
    let mut reactor = util::reactor();
    let reactor_thread = std::thread::current().id();
    let result: Rc<RefCell<Option<(ThreadId, ThreadId, u64)>>> = Rc::new(RefCell::new(None));
    {
        let result = Rc::clone(&result);
        reactor.call_later(Duration::ZERO, move |cx| {
            cx.defer_to_thread(
                || {
                    // Blocking work: a sum, and where it ran.
                    let sum: u64 = (1..=1000u64).sum();
                    (std::thread::current().id(), sum)
                },
                move |cx, outcome| {
                    let (worker, sum) = outcome.expect("the work did not panic");
                    *result.borrow_mut() = Some((worker, std::thread::current().id(), sum));
                    cx.stop();
                },
            );
        });
    }
    util::run(&mut reactor);
    let (worker, then_on, sum) = result.borrow().expect("the completion ran");
    assert_ne!(worker, reactor_thread, "work ran off the reactor thread");
    assert_eq!(then_on, reactor_thread, "the result came back on the reactor thread");
    assert_eq!(sum, 500_500);
}

#[test]
fn a_panicking_deferred_job_delivers_err() {
    let mut reactor = util::reactor();
    let message: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(None));
    {
        let message = Rc::clone(&message);
        reactor.call_later(Duration::ZERO, move |cx| {
            cx.defer_to_thread(
                || -> u32 { panic!("deferred boom") },
                move |cx, outcome| {
                    let payload = outcome.expect_err("the work panicked");
                    let text = payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    *message.borrow_mut() = Some(text);
                    cx.stop();
                },
            );
        });
    }
    util::run(&mut reactor);
    assert_eq!(message.borrow().as_deref(), Some("deferred boom"));
}

#[test]
fn many_deferred_jobs_all_come_back() {
    let mut reactor = util::reactor();
    let results: Rc<RefCell<Vec<u32>>> = Rc::new(RefCell::new(Vec::new()));
    {
        let results = Rc::clone(&results);
        reactor.call_later(Duration::ZERO, move |cx| {
            for i in 0..200u32 {
                let results = Rc::clone(&results);
                cx.defer_to_thread(
                    move || i * 2,
                    move |cx, outcome| {
                        results.borrow_mut().push(outcome.expect("no panic"));
                        if results.borrow().len() == 200 {
                            cx.stop();
                        }
                    },
                );
            }
        });
    }
    util::run(&mut reactor);
    let mut results = results.borrow().clone();
    results.sort_unstable();
    assert_eq!(results, (0..200).map(|i| i * 2).collect::<Vec<_>>());
}
