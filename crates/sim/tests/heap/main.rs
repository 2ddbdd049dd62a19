//! What the heap really holds, measured with a counting global allocator
//! (a binary of its own, since the allocator is per binary): a chunk held
//! by the stream reassembler against what it is charged, and a server
//! flooded with Initials it does not keep.
//!
//! The allocator counts per thread, and each test runs its whole scenario on
//! its own thread, so tests running in parallel do not disturb each other's
//! figures. It counts what the system allocator really spends on each block:
//! glibc's malloc adds an 8-byte header to the requested size, rounds up to
//! 16 bytes and never hands out less than 32.
#![expect(
    unsafe_code,
    reason = "a counting global allocator implements the unsafe GlobalAlloc trait; it only \
              forwards to the system allocator"
)]

mod admission;
mod reassembly;
mod session_cache;

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
};

thread_local! {
    /// Heap bytes this thread's live blocks take, malloc's overhead included.
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

/// What the system allocator spends on a block of `size` bytes.
fn footprint(size: usize) -> isize {
    let block = (size + 8).div_ceil(16) * 16;
    isize::try_from(block.max(32)).unwrap_or(isize::MAX)
}

fn count(delta: isize) {
    // During thread teardown the slot may be gone; nothing is measured then.
    let _ = LIVE.try_with(|live| live.set(live.get() + delta));
}

/// Heap bytes this thread holds now.
pub(crate) fn live() -> isize {
    LIVE.with(Cell::get)
}

/// The system allocator, counting what each thread holds.
struct Counting;

// SAFETY: every method forwards its arguments unchanged to `System`, which
// upholds the trait's contract; the counting touches only a const-initialised
// thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count(footprint(layout.size()));
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(footprint(layout.size()));
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        count(-footprint(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds
        // the rest of `GlobalAlloc::realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(footprint(new_size) - footprint(layout.size()));
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `scenario` on a thread of its own, so that only its allocations
/// are counted.
fn alone(scenario: impl FnOnce() + Send + 'static) {
    std::thread::spawn(scenario).join().expect("measured");
}
