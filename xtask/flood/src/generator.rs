//! The sender: one UDP socket per source address in 127.0.0.0/8, each
//! datagram a new client, at a fixed rate, never reading an answer.

#[cfg(test)]
mod tests;

use std::{
    io,
    net::{Ipv4Addr, SocketAddr, SocketAddrV4},
    time::Duration,
};

use rand::{RngCore, SeedableRng, rngs::StdRng};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::{
    initial::{ClientHello, HelloError, INITIAL_DATAGRAM_SIZE},
    now,
    pacing::Pacer,
};

/// Bytes of every flood Initial's Destination Connection ID: RFC 9000
/// §7.2's minimum for a client, and what most clients send.
const DCID_LEN: usize = 8;

/// Datagrams sent in one go at most before the pacer is asked again, so
/// that a sender that fell behind catches up in bounded bursts.
const MAX_BURST: u64 = 64;

/// What to send, where, how fast and for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FloodConfig {
    /// The server: a loopback address.
    pub target: SocketAddr,
    /// Datagrams a second, at most [`MAX_RATE`](Self::MAX_RATE).
    pub rate: u32,
    /// How long to send, at most [`MAX_DURATION`](Self::MAX_DURATION).
    pub duration: Duration,
    /// Source addresses, one socket each, at most
    /// [`MAX_SOURCES`](Self::MAX_SOURCES).
    pub sources: usize,
    /// Seeds the random DCIDs, so that a run can be repeated.
    pub seed: u64,
}

impl FloodConfig {
    /// The highest rate: 100,000 Initials a second, about 1 Gbit/s, five
    /// times the benchmark's top rate.
    pub const MAX_RATE: u32 = 100_000;
    /// The longest flood: two minutes, twelve times a benchmark run.
    pub const MAX_DURATION: Duration = Duration::from_secs(120);
    /// The most source addresses: 10,000 sockets, within a usual limit of
    /// open files once raised, ten times the benchmark's thousand.
    pub const MAX_SOURCES: usize = 10_000;
}

/// What a flood did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FloodReport {
    /// Datagrams handed to the kernel.
    pub sent: u64,
    /// Datagrams the kernel refused (a full send buffer), not sent.
    pub send_errors: u64,
    /// From the first datagram to the end of the schedule.
    pub elapsed: Duration,
    /// Source addresses used.
    pub sources: usize,
}

/// Why a flood could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FloodError {
    /// The target is not a loopback address: the flood never leaves the
    /// machine.
    #[error("the flood sends to loopback addresses only, not {0}")]
    NotLoopback(SocketAddr),
    /// A rate, duration or number of sources over its limit, or no source.
    #[error("{0}")]
    OutOfBounds(String),
    /// A source socket could not be made or bound; for `EMFILE`, raise the
    /// limit of open files (`ulimit -n`) or use fewer sources.
    #[error("source {address}: {error}")]
    Bind {
        /// The source address.
        address: Ipv4Addr,
        /// What the kernel said.
        error: io::Error,
    },
    /// The ClientHello could not be sealed.
    #[error(transparent)]
    Hello(#[from] HelloError),
}

/// Source address `i` of a flood: 127.1.x.y with y in 1..=250, so that
/// none is 127.0.0.1 (where the honest clients are) and none ends in 0 or
/// 255. Linux delivers every address of 127.0.0.0/8 on loopback.
#[must_use]
pub fn source_address(i: usize) -> Ipv4Addr {
    let x = u8::try_from(i / 250 % 256).unwrap_or(0);
    let y = u8::try_from(i % 250 + 1).unwrap_or(1);
    Ipv4Addr::new(127, 1, x, y)
}

/// A flood ready to go: its sockets bound, its datagram template ready.
#[derive(Debug)]
pub struct Flood {
    config: FloodConfig,
    hello: ClientHello,
    target: SockAddr,
    sockets: Vec<Socket>,
}

impl Flood {
    /// Checks `config` and binds one socket per source address.
    ///
    /// # Errors
    /// [`FloodError::NotLoopback`] or [`FloodError::OutOfBounds`] for a
    /// configuration out of bounds; [`FloodError::Bind`] when a socket
    /// cannot be made.
    pub fn new(config: FloodConfig, hello: ClientHello) -> Result<Self, FloodError> {
        if !config.target.ip().is_loopback() {
            return Err(FloodError::NotLoopback(config.target));
        }
        if config.rate > FloodConfig::MAX_RATE {
            return Err(FloodError::OutOfBounds(format!(
                "a rate of {}/s is over {}/s",
                config.rate,
                FloodConfig::MAX_RATE
            )));
        }
        if config.duration > FloodConfig::MAX_DURATION {
            return Err(FloodError::OutOfBounds(format!(
                "{:?} is longer than {:?}",
                config.duration,
                FloodConfig::MAX_DURATION
            )));
        }
        if !(1..=FloodConfig::MAX_SOURCES).contains(&config.sources) {
            return Err(FloodError::OutOfBounds(format!(
                "{} sources: from 1 to {}",
                config.sources,
                FloodConfig::MAX_SOURCES
            )));
        }
        // Check once that the ClientHello seals before any socket is made.
        hello.seal(&[0; DCID_LEN], &mut Vec::new())?;
        let sockets = (0..config.sources)
            .map(|i| bind(source_address(i)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            target: config.target.into(),
            config,
            hello,
            sockets,
        })
    }

    /// The source addresses, in the order they take turns.
    pub fn sources(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.sockets
            .iter()
            .filter_map(|s| s.local_addr().ok()?.as_socket())
    }

    /// Sends the flood: `rate` Initials a second for `duration`, each with
    /// a fresh random DCID, the sources taking turns. Returns when the
    /// schedule is over, even when the sender could not keep up; the
    /// report says what was sent.
    ///
    /// # Errors
    /// [`FloodError::Hello`] if a datagram cannot be sealed (checked in
    /// [`new`](Self::new), so not in practice).
    pub fn run(self) -> Result<FloodReport, FloodError> {
        let pacer = Pacer::new(self.config.rate, self.config.duration);
        let mut rng = StdRng::seed_from_u64(self.config.seed);
        let mut datagram = Vec::with_capacity(INITIAL_DATAGRAM_SIZE);
        let mut dcid = [0; DCID_LEN];
        let mut report = FloodReport {
            sources: self.sockets.len(),
            ..FloodReport::default()
        };
        let mut attempted = 0_u64;
        let start = now();
        while let Some(pause) = pacer.pause(start.elapsed(), attempted) {
            if !pause.is_zero() {
                std::thread::sleep(pause);
                continue;
            }
            let due = pacer.due(start.elapsed());
            let burst = due.saturating_sub(attempted).clamp(1, MAX_BURST);
            for _ in 0..burst {
                rng.fill_bytes(&mut dcid);
                self.hello.seal(&dcid, &mut datagram)?;
                let index = usize::try_from(attempted).unwrap_or(0) % self.sockets.len();
                match self.sockets[index].send_to(&datagram, &self.target) {
                    Ok(_) => report.sent += 1,
                    Err(_) => report.send_errors += 1,
                }
                attempted += 1;
            }
        }
        report.elapsed = start.elapsed();
        Ok(report)
    }
}

/// A non-blocking UDP socket on `address`, any port, with the smallest
/// receive buffer the kernel allows: the flood never reads, so whatever
/// the server answers is dropped at once instead of piling up.
fn bind(address: Ipv4Addr) -> Result<Socket, FloodError> {
    let err = |error| FloodError::Bind { address, error };
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(err)?;
    socket.set_recv_buffer_size(1).map_err(err)?;
    socket.set_nonblocking(true).map_err(err)?;
    socket
        .bind(&SocketAddrV4::new(address, 0).into())
        .map_err(err)?;
    Ok(socket)
}
