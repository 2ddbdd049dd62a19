//! # tern-endpoint: the event loop
//!
//! This crate puts [`tern_proto`]'s sans-IO state machines on the
//! network: a small `Runtime` trait (spawn, timer, UDP socket) with a tokio
//! implementation by default and an async-io one behind a feature, UDP
//! through quinn-udp (GSO, GRO, ECN, packet info) on sockets sized with
//! socket2, and one event loop task per endpoint that feeds received
//! datagrams to `tern_proto`, drains its transmits and keeps one timer for
//! its earliest deadline. That timer is disarmed when there is no deadline,
//! so an idle endpoint's task sleeps until a datagram or a handle wakes it;
//! a task that used its whole turn on work wakes itself to carry on.
//!
//! An endpoint can also run as several shards on one port
//! ([`EndpointRef::start_sharded`]): one event loop per shard, each with
//! its own `SO_REUSEPORT` socket and connections, sharing no lock. Every
//! connection ID a shard issues carries the shard
//! ([`tern_proto::ConnectionIdGenerator::shard_of`]), and a datagram the
//! kernel delivered to another shard (its client's address changed) is
//! handed to the right one on a bounded queue; [`ShardStats`] counts them.
//!
//! ## The I/O layer
//!
//! The event loop never names an async runtime. It holds an
//! `Arc<dyn` [`Runtime`]`>` and gets everything from it:
//!
//! - [`Runtime::spawn`] for its task, [`Runtime::new_timer`] for the one
//!   [`AsyncTimer`] it resets to the earliest deadline `tern_proto`
//!   reports, and [`Runtime::now`], the only place the endpoint reads the
//!   clock (every `tern_proto` call takes that `now`);
//! - [`Runtime::wrap_udp_socket`], which turns a bound std socket into an
//!   [`AsyncUdpSocket`]. Receives come in batches: up to [`BATCH_SIZE`]
//!   buffers per call, each of which may hold several datagrams of
//!   [`RecvMeta::stride`] bytes when the kernel coalesced them (GRO), with
//!   the source address, ECN codepoint and destination IP. Sends take a
//!   [`tern_proto::Transmit`] as `poll_transmit` filled it: one datagram,
//!   or up to [`AsyncUdpSocket::max_gso_segments`] equal segments that the
//!   kernel splits (GSO). quinn-udp makes the system calls, so this crate
//!   has no `unsafe`.
//!
//! Two runtimes implement it: `TokioRuntime` (feature `runtime-tokio`, on
//! by default) and `SmolRuntime` (feature `runtime-smol`, async-io's
//! reactor and smol's executor). [`default_runtime`] picks one.
//!
//! ## Sockets and buffer sizes
//!
//! [`bind_udp`] opens the socket with socket2 before binding it:
//! non-blocking, dual-stack for `[::]` unless asked otherwise, optionally
//! `SO_REUSEPORT` so that several endpoints share a port, and with 4 MiB
//! receive and send buffers by default ([`SocketConfig`]). The kernel's
//! usual 208 KiB receive buffer overflows when a server takes many
//! handshakes at once (64 concurrent handshakes drop Initial packets and
//! stall on one-second probe timeouts); 4 MiB holds a burst of well over a thousand
//! full-sized datagrams. Linux caps the request at `net.core.rmem_max`
//! and `net.core.wmem_max` without failing: raise those sysctls on a busy
//! server, and read what was granted in the `debug` log of
//! `tern_endpoint::socket` or with socket2.
//!
//! [`EndpointRef::rebind`] moves a running endpoint to a socket the caller
//! bound: [`configure_bound`] gives it the same setup after binding
//! (non-blocking, buffer sizes), the runtime wraps it (its own quinn-udp
//! state), the old socket closes, and every connection migrates (RFC 9000
//! §9).
//!
//! ## Example
//!
//! A socket bound on loopback, wrapped for tokio, sends a datagram to
//! itself and receives it:
//!
//! ```
//! # #[cfg(feature = "runtime-tokio")]
//! # fn main() -> std::io::Result<()> {
//! use std::future::poll_fn;
//! use std::io::IoSliceMut;
//! use std::net::{Ipv4Addr, SocketAddr};
//!
//! use tern_endpoint::{RecvMeta, Runtime, SocketConfig, TokioRuntime, bind_udp};
//! use tern_endpoint::tern_proto::Transmit;
//!
//! let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! let runtime = TokioRuntime::new(tokio.handle().clone());
//!
//! let std_socket = bind_udp(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), &SocketConfig::default())?;
//! let socket = runtime.wrap_udp_socket(std_socket)?;
//! let here = socket.local_addr()?;
//!
//! let transmit = Transmit { destination: here, ecn: None, size: 5, segment_size: None, src_ip: None };
//! let (len, from) = tokio.block_on(async {
//!     poll_fn(|cx| socket.poll_writable(cx)).await?;
//!     socket.try_send(&transmit, b"hello")?;
//!
//!     let mut buf = [0u8; 1500];
//!     let mut meta = [RecvMeta::default()];
//!     poll_fn(|cx| socket.poll_recv(cx, &mut [IoSliceMut::new(&mut buf)], &mut meta)).await?;
//!     std::io::Result::Ok((meta[0].len, meta[0].addr))
//! })?;
//! assert_eq!((len, from), (5, here));
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "runtime-tokio"))]
//! # fn main() {}
//! ```
#![forbid(unsafe_code)]

mod conn;
mod driver;
mod endpoint_ref;
mod runtime;
mod shard;
mod shared;
mod socket;
mod udp;

pub use conn::{ConnectionRef, Lagged, Subscription, Wait};
pub use driver::split_gro;
pub use endpoint_ref::{EndpointRef, IncomingRef, ShardSetup, StartError, Stopped};
#[cfg(feature = "runtime-smol")]
pub use runtime::SmolRuntime;
#[cfg(feature = "runtime-tokio")]
pub use runtime::TokioRuntime;
pub use runtime::{AsyncTimer, AsyncUdpSocket, Runtime, default_runtime};
pub use shard::ShardStats;
pub use socket::{SocketConfig, bind_udp, configure_bound};
pub use tern_proto;
pub use udp::{BATCH_SIZE, RecvMeta};
