//! A counting global allocator for the zero-allocation tests (reel's
//! `tests/zero_alloc.rs`, and the baselines' in `bench/tests/`): it counts
//! the allocations made by the threads marked with [`count_this_thread`]
//! while counting is [`set_on`]; everything else passes straight to the
//! system allocator.
//!
//! The counter is global: a test takes [`exclusive`] first, one at a time.

#![allow(dead_code)] // each test binary uses its own subset

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Counts the allocations of the marked threads while counting is on.
struct Counting;

static ON: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Whether this thread's allocations count: a server's under test.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn note_allocation() {
    if ON.load(Ordering::Relaxed) && COUNTED.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to the system allocator with the caller's
// arguments unchanged; the counting touches only atomics and a const
// thread-local (no allocation, no re-entrancy).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: as above; `ptr` came from this allocator, i.e. from System.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The tests share the counter: one at a time. Holding the guard, the
/// counter is at 0 and counting is off.
pub fn exclusive() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    ON.store(false, Ordering::SeqCst);
    ALLOCATIONS.store(0, Ordering::SeqCst);
    guard
}

/// Marks the calling thread's allocations as counted (or not).
pub fn count_this_thread(counted: bool) {
    COUNTED.with(|c| c.set(counted));
}

/// Turns counting on or off.
pub fn set_on(on: bool) {
    ON.store(on, Ordering::SeqCst);
}

/// The allocations counted since [`exclusive`].
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::SeqCst)
}
