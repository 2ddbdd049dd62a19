//! The send path allocates nothing per packet: during a steady-state bulk
//! transfer between two protocol endpoints (in memory, no simulator in
//! between), a counting global allocator armed only around
//! `Endpoint::poll_transmit` counts the allocations made while building
//! each packet. The client writes GSO batches in place into one reused
//! buffer, as the event loop has it do. A binary of its own, since the
//! allocator is per binary.
#![expect(
    unsafe_code,
    reason = "a counting global allocator implements the unsafe GlobalAlloc trait; it only \
              forwards to the system allocator"
)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::{Bytes, BytesMut};
use tern_proto::{
    Dir, StreamId,
    config::{ClientConfig, EndpointConfig, ServerConfig},
    endpoint::{ConnectionHandle, Endpoint},
};
use tern_sim::{certs, quic::GSO_SEGMENTS};

/// Whether to print the first allocations' backtraces (read from the
/// environment once, before counting: reading it allocates).
static TRACE: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Whether this thread's allocations are counted now.
    static ARMED: Cell<bool> = const { Cell::new(false) };
    /// Allocations (and reallocations) counted on this thread.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let count = ALLOCATIONS.try_with(|n| {
                n.set(n.get() + 1);
                n.get()
            });
            // TRACE_ALLOCATIONS=1 prints where the first few come from.
            if count.is_ok_and(|n| n <= 4) && TRACE.load(Ordering::Relaxed) {
                armed.set(false);
                eprintln!("{}", std::backtrace::Backtrace::force_capture());
                armed.set(true);
            }
        }
    });
}

/// The system allocator, counting allocations while armed.
struct Counting;

// SAFETY: every method forwards its arguments unchanged to `System`, which
// upholds the trait's contract; the counting touches only const-initialised
// thread-local `Cell`s, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CLIENT: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    4433,
);
const SERVER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)),
    443,
);

#[expect(
    clippy::disallowed_methods,
    reason = "a base instant for the virtual clock of this test"
)]
fn epoch() -> Instant {
    Instant::now()
}

/// Two endpoints that hand each other's datagrams over at once.
struct Link {
    client: Endpoint,
    server: Endpoint,
    now: Instant,
    buf: Vec<u8>,
    /// Packets the client sent while counting, and the allocations made.
    counted_packets: u64,
    /// Sends of several datagrams (GSO batches) while counting.
    counted_batches: u64,
    counting: bool,
}

impl Link {
    /// Runs one exchange: every datagram either side has now is delivered;
    /// with nothing to send, the clock moves to the next deadline.
    fn step(&mut self) {
        let mut sent = false;
        loop {
            // GSO batches, built in place as the driver has them built.
            self.buf.clear();
            ARMED.with(|armed| armed.set(self.counting));
            let transmit = self
                .client
                .poll_transmit(self.now, GSO_SEGMENTS, &mut self.buf);
            ARMED.with(|armed| armed.set(false));
            let Some(transmit) = transmit else { break };
            let segment = transmit.segment_size.unwrap_or(transmit.size);
            if self.counting && transmit.segment_size.is_some() {
                self.counted_batches += 1;
            }
            for datagram in self.buf[..transmit.size].chunks(segment) {
                if self.counting {
                    self.counted_packets += 1;
                }
                let data = BytesMut::from(datagram);
                self.server
                    .handle(self.now, CLIENT, Some(SERVER.ip()), transmit.ecn, data);
            }
            sent = true;
        }
        while let Some(id) = self.server.poll_incoming() {
            self.server
                .accept_incoming(self.now, id, None)
                .expect("accepted");
        }
        self.buf.clear();
        while let Some(transmit) = self.server.poll_transmit(self.now, 1, &mut self.buf) {
            let data = BytesMut::from(&self.buf[..transmit.size]);
            self.buf.clear();
            self.client
                .handle(self.now, SERVER, Some(CLIENT.ip()), transmit.ecn, data);
            sent = true;
        }
        while self.client.poll_event().is_some() {}
        while self.server.poll_event().is_some() {}
        if !sent {
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(self.now + Duration::from_millis(1));
            self.now = next.max(self.now + Duration::from_micros(100));
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
        }
    }
}

/// Keeps the client's stream full and the server reading.
fn pump(link: &mut Link, client: ConnectionHandle, stream: StreamId, chunk: &Bytes) {
    if let Some(conn) = link.client.connection_mut(client) {
        while conn
            .write_stream(stream, chunk.clone())
            .is_ok_and(|n| n > 0)
        {}
    }
    let handles: Vec<ConnectionHandle> = (0..4).map(ConnectionHandle).collect();
    for handle in handles {
        if let Some(conn) = link.server.connection_mut(handle) {
            while conn.accept_stream(Dir::Uni).is_some() {}
            while let Ok(Some(_)) = conn.read_stream(stream, usize::MAX, true) {}
        }
    }
}

#[test]
fn building_packets_of_a_steady_transfer_allocates_nothing_per_packet() {
    TRACE.store(
        std::env::var_os("TRACE_ALLOCATIONS").is_some(),
        Ordering::Relaxed,
    );
    let (client_tls, server_tls) = certs::test_configs(&[b"hq-interop"]);
    let client_config = ClientConfig::new(client_tls).expect("client config");
    let server_config = Arc::new(ServerConfig::new(server_tls).expect("server config"));
    let config = Arc::new(EndpointConfig::default());
    let now = epoch();
    let mut link = Link {
        client: Endpoint::new(config.clone(), None, Some(CLIENT), 1),
        server: Endpoint::new(config, Some(server_config), Some(SERVER), 2),
        now,
        buf: Vec::with_capacity(2048),
        counted_packets: 0,
        counted_batches: 0,
        counting: false,
    };
    let client = link
        .client
        .connect(now, &client_config, SERVER, "localhost")
        .expect("connect");
    let mut stream = None;
    let chunk = Bytes::from_static(&[7; 64 * 1024]);
    for _ in 0..20_000 {
        link.step();
        if stream.is_none()
            && let Some(conn) = link.client.connection_mut(client)
            && !conn.is_handshaking()
        {
            stream = conn.open_stream(Dir::Uni);
        }
        if let Some(stream) = stream {
            pump(&mut link, client, stream, &chunk);
        }
        // Past the handshake, slow start and buffer growth: steady state.
        if link.counted_packets == 0 && !link.counting && link.client.stats().connections == 1 {
            let sent = link
                .client
                .connection(client)
                .map_or(0, |c| c.stats().packets_sent);
            link.counting = sent > 5_000;
        }
        if link.counted_packets >= 20_000 {
            break;
        }
    }
    let allocations = ALLOCATIONS.with(Cell::get);
    let packets = link.counted_packets;
    eprintln!(
        "{packets} packets built in steady state in {} batches, {allocations} allocations: \
         {:.3} per packet",
        link.counted_batches,
        allocations as f64 / packets.max(1) as f64
    );
    assert!(
        packets >= 10_000,
        "the transfer reached steady state: {packets} packets counted"
    );
    assert!(
        link.counted_batches > 0,
        "the client wrote batches of several datagrams"
    );
    assert_eq!(
        allocations, 0,
        "allocations while building {packets} packets"
    );
}
