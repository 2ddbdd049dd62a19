//! How much memory a server's TLS session holds after the handshake,
//! measured with a counting global allocator (a binary of its own, since
//! the allocator is per binary), and how `memory_bytes` accounts it.
//!
//! The allocator counts per thread, and each test runs its whole scenario
//! on its own thread, so tests running in parallel do not disturb each
//! other's figures.
#![expect(
    unsafe_code,
    reason = "a counting global allocator implements the unsafe GlobalAlloc trait; it only \
              forwards to the system allocator"
)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    time::Duration,
};

use tern_proto::{
    config::{ClientConfig, EndpointConfig, ServerConfig},
    crypto::{TLS_SESSION_HEAP_ESTIMATE, TlsSession},
};
use tern_sim::{LinkConfig, certs, pair::Pair};

thread_local! {
    /// Bytes allocated and not yet freed by this thread.
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // During thread teardown the slot may be gone; nothing is measured then.
    let _ = LIVE.try_with(|live| live.set(live.get() + delta));
}

fn signed(size: usize) -> isize {
    isize::try_from(size).unwrap_or(isize::MAX)
}

/// Bytes this thread holds on the heap now.
fn live() -> isize {
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
            count(signed(layout.size()));
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(signed(layout.size()));
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        count(-signed(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds
        // the rest of `GlobalAlloc::realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(signed(new_size) - signed(layout.size()));
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A connected pair run for a while after the handshake, the server
/// keeping its TLS session or not; returns the heap the run left held on
/// this thread and the server connection's `memory_bytes`.
fn settled_pair(retain: bool) -> (isize, u64, Pair) {
    // The configurations (and their certificates) are made before counting,
    // fresh for each run so that both runs allocate alike.
    let (client_tls, server_tls) = certs::test_configs(&[b"hq-interop"]);
    let client_config = ClientConfig::new(client_tls).expect("client config");
    let server_config = ServerConfig::new(server_tls)
        .expect("server config")
        .retain_tls_state(retain);
    let link = LinkConfig::default().delay(Duration::from_millis(20));
    let start = live();
    let mut pair = Pair::with_configs(
        7,
        link,
        client_config,
        server_config,
        EndpointConfig::default(),
    );
    assert!(pair.connect(Duration::from_secs(10)), "connected");
    // Long enough for the tickets to be acknowledged and TLS freed.
    let _ = pair.run_until(Duration::from_secs(1), |_| false);
    let held = live() - start;
    let server = pair.view().server().map(|c| c.stats()).expect("server");
    assert_eq!(server.tls_state_retained, retain);
    (held, server.memory_bytes, pair)
}

// The figure behind TLS_SESSION_HEAP_ESTIMATE: two runs alike but for
// retain_tls_state hold heaps that differ by exactly the freed session.
#[test]
fn freeing_the_server_tls_session_drops_memory_bytes_by_what_the_allocator_sees_released() {
    let (freed_heap, freed_memory, freed_pair) = settled_pair(false);
    let (kept_heap, kept_memory, kept_pair) = settled_pair(true);
    let released = kept_heap - freed_heap;
    let session = signed(std::mem::size_of::<TlsSession>());
    let accounted = signed(usize::try_from(kept_memory - freed_memory).unwrap_or(usize::MAX));
    eprintln!(
        "freeing the server tls session released {released} heap bytes (allocator): \
         {session} of the boxed session and {} it held; memory_bytes dropped by {accounted} \
         ({kept_memory} retained, {freed_memory} freed; TLS_SESSION_HEAP_ESTIMATE is \
         {TLS_SESSION_HEAP_ESTIMATE})",
        released - session
    );
    assert!(released > session, "freeing returns memory: {released}");
    assert!(
        (accounted - released).abs() * 4 <= released,
        "memory_bytes dropped by {accounted}, the allocator saw {released} released"
    );
    let estimate = signed(TLS_SESSION_HEAP_ESTIMATE);
    let held = released - session;
    assert!(
        (held - estimate).abs() * 4 <= estimate,
        "the session held {held} heap bytes, estimated {estimate}: measure again and update \
         TLS_SESSION_HEAP_ESTIMATE"
    );
    drop((freed_pair, kept_pair));
}
