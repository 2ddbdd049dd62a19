//! Toy nodes: a pinger, an echo (or sink), and misbehaving nodes.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tern_sim::Node;
use tern_sim::tern_proto::{EcnCodepoint, Transmit};

/// Sends `count` numbered datagrams of `size` bytes to `peer`, all at once
/// or one per `interval`, and records what comes back.
pub(crate) struct Pinger {
    pub(crate) peer: SocketAddr,
    pub(crate) count: u32,
    pub(crate) size: usize,
    pub(crate) interval: Duration,
    /// With `Some(n)`, sends everything in GSO batches of `n` bytes each.
    pub(crate) segment: Option<usize>,
    pub(crate) next: u32,
    pub(crate) next_at: Option<Instant>,
    pub(crate) received: Vec<u32>,
}

impl Pinger {
    pub(crate) fn new(peer: SocketAddr, count: u32, size: usize) -> Self {
        Self {
            peer,
            count,
            size: size.max(4),
            interval: Duration::ZERO,
            segment: None,
            next: 0,
            next_at: None,
            received: Vec::new(),
        }
    }

    pub(crate) fn every(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    fn write(&self, seq: u32, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&seq.to_be_bytes());
        buf.resize(buf.len() + self.size - 4, 0xa5);
    }
}

/// Echoes every datagram back to its sender, or just keeps it (a sink).
pub(crate) struct Echo {
    pub(crate) reply: bool,
    pub(crate) queue: VecDeque<(SocketAddr, Vec<u8>)>,
    pub(crate) received: Vec<(Instant, SocketAddr, Vec<u8>)>,
}

impl Echo {
    pub(crate) fn replying() -> Self {
        Self {
            reply: true,
            queue: VecDeque::new(),
            received: Vec::new(),
        }
    }

    pub(crate) fn sink() -> Self {
        Self {
            reply: false,
            ..Self::replying()
        }
    }

    /// The sequence numbers received, in arrival order.
    pub(crate) fn seqs(&self) -> Vec<u32> {
        self.received.iter().map(|(_, _, d)| seq_of(d)).collect()
    }
}

pub(crate) fn seq_of(data: &[u8]) -> u32 {
    u32::from_be_bytes([data[0], data[1], data[2], data[3]])
}

/// The toy nodes, in one type so one sim can hold them all.
pub(crate) enum Toy {
    Pinger(Pinger),
    Echo(Echo),
    /// Always wants a timeout at this instant, and handling it changes
    /// nothing.
    StuckTimer(Instant),
    /// Never stops sending to this address.
    Flood(SocketAddr),
}

impl Toy {
    pub(crate) fn pinger(&self) -> &Pinger {
        match self {
            Self::Pinger(p) => p,
            _ => panic!("not a pinger"),
        }
    }

    pub(crate) fn echo(&self) -> &Echo {
        match self {
            Self::Echo(e) => e,
            _ => panic!("not an echo"),
        }
    }
}

fn transmit(destination: SocketAddr, size: usize) -> Transmit {
    Transmit {
        destination,
        ecn: None,
        size,
        segment_size: None,
        src_ip: None,
    }
}

impl Node for Toy {
    fn handle(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        _local: SocketAddr,
        _ecn: Option<EcnCodepoint>,
        data: BytesMut,
    ) {
        match self {
            Self::Pinger(p) => p.received.push(seq_of(&data)),
            Self::Echo(e) => {
                if e.reply {
                    e.queue.push_back((remote, data.to_vec()));
                }
                e.received.push((now, remote, data.to_vec()));
            }
            Self::StuckTimer(_) | Self::Flood(_) => {}
        }
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        match self {
            Self::Pinger(p) => {
                if p.next >= p.count || p.next_at.is_some_and(|t| t > now) {
                    return None;
                }
                if let Some(segment) = p.segment {
                    // One GSO batch of everything left, `segment` bytes each.
                    while p.next < p.count {
                        p.write(p.next, buf);
                        p.next += 1;
                        if p.next < p.count {
                            buf.resize(buf.len().next_multiple_of(segment), 0);
                        }
                    }
                    let mut t = transmit(p.peer, buf.len());
                    t.segment_size = Some(segment);
                    return Some(t);
                }
                p.write(p.next, buf);
                p.next += 1;
                if !p.interval.is_zero() {
                    p.next_at = Some(now + p.interval);
                }
                Some(transmit(p.peer, buf.len()))
            }
            Self::Echo(e) => {
                let (to, data) = e.queue.pop_front()?;
                buf.extend_from_slice(&data);
                Some(transmit(to, data.len()))
            }
            Self::StuckTimer(_) => None,
            Self::Flood(to) => {
                buf.push(0);
                Some(transmit(*to, 1))
            }
        }
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        match self {
            Self::Pinger(p) if p.next < p.count => p.next_at,
            Self::StuckTimer(at) => Some(*at),
            _ => None,
        }
    }

    fn handle_timeout(&mut self, _now: Instant) {}
}
