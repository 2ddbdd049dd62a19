//! The loop: deliver what is due, fire due timeouts, send everything, then
//! jump to the next deadline.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tracing::debug;

use super::Sim;
use crate::Node;
use crate::outcome::{RunOutcome, SimError};
use crate::trace::{DropReason, TraceEvent};

/// How often one node may handle a timeout at the same instant before it is
/// reported as stuck.
const TIMER_LIMIT: u32 = 100;

/// How many datagrams one node may send in one go before it is reported as
/// never stopping.
const TRANSMIT_LIMIT: usize = 100_000;

impl<N: Node> Sim<N> {
    /// Runs until `done(self)` holds, nothing is left to happen, a node gets
    /// stuck, or `limit` of sim time has passed from now (the clock then
    /// stands at now + `limit`). `done` is checked once the current instant
    /// is settled and after every instant the sim jumps to; it may act on
    /// the nodes (take their events, say).
    pub fn run_until(
        &mut self,
        mut done: impl FnMut(&mut Self) -> bool,
        limit: Duration,
    ) -> RunOutcome {
        let deadline = self.now.saturating_add(limit);
        loop {
            if let Err(e) = self.settle() {
                return RunOutcome::Stuck(e);
            }
            if done(self) {
                return RunOutcome::Satisfied;
            }
            match self.next_event() {
                None => return RunOutcome::Idle,
                Some(at) if at > deadline => {
                    self.now = deadline;
                    return RunOutcome::TimedOut;
                }
                Some(at) => self.now = at.max(self.now),
            }
        }
    }

    /// Runs until nothing is left to happen or `limit` of sim time has
    /// passed: [`RunOutcome::Idle`], [`RunOutcome::TimedOut`] or
    /// [`RunOutcome::Stuck`].
    pub fn run(&mut self, limit: Duration) -> RunOutcome {
        self.run_until(|_| false, limit)
    }

    /// Settles the current instant (what nodes queued since the last step is
    /// sent), then jumps to the next instant at which a datagram arrives or
    /// a timeout fires, and settles that. Returns `Ok(false)`, without
    /// moving the clock, when nothing is left to happen.
    ///
    /// # Errors
    ///
    /// A [`SimError`] when a node keeps the sim from moving on in time.
    pub fn step(&mut self) -> Result<bool, SimError> {
        self.settle()?;
        let Some(at) = self.next_event() else {
            return Ok(false);
        };
        self.now = at.max(self.now);
        self.settle()?;
        Ok(true)
    }

    /// The earliest arrival or node deadline, as sim time (a deadline in the
    /// past counts as now).
    fn next_event(&mut self) -> Option<Duration> {
        let arrival = self.in_flight.peek().map(|d| d.at);
        let epoch = self.epoch;
        let timer = self
            .nodes
            .iter_mut()
            .filter_map(|slot| slot.node.poll_timeout())
            .map(|t| t.saturating_duration_since(epoch))
            .min();
        let next = match (arrival, timer) {
            (Some(a), Some(t)) => Some(a.min(t)),
            (a, t) => a.or(t),
        };
        next.map(|at| at.max(self.now))
    }

    /// Works at the current instant until nothing is due: delivers every
    /// datagram due, fires every timeout due, lets every node send all it
    /// has, and again while that produced anything due now.
    ///
    /// [`run_until`](Self::run_until) settles each instant before its
    /// predicate looks; a predicate that acts on a node (accepts a client,
    /// say) calls this to send what that queued at the same instant.
    ///
    /// # Errors
    ///
    /// A [`SimError`] when a node keeps the sim from settling.
    pub fn settle(&mut self) -> Result<(), SimError> {
        let now = self.now();
        let mut timers = vec![0u32; self.nodes.len()];
        for _ in 0..self.round_limit {
            let mut busy = self.deliver_due();
            for (index, fired) in timers.iter_mut().enumerate() {
                let node = &mut self.nodes[index].node;
                if node.poll_timeout().is_some_and(|t| t <= now) {
                    *fired += 1;
                    if *fired > TIMER_LIMIT {
                        return Err(SimError::StuckTimer {
                            node: index,
                            at: self.now,
                        });
                    }
                    node.handle_timeout(now);
                    busy = true;
                }
            }
            for index in 0..self.nodes.len() {
                busy |= self.flush(index)?;
            }
            if !busy {
                return Ok(());
            }
        }
        Err(SimError::Livelock { at: self.now })
    }

    /// Delivers every copy due by now, in arrival then scheduling order;
    /// whether there was any.
    fn deliver_due(&mut self) -> bool {
        let mut any = false;
        while let Some(next) = self.in_flight.peek()
            && next.at <= self.now
        {
            let Some(dgram) = self.in_flight.pop() else {
                break;
            };
            any = true;
            let at = self.now;
            let Some(index) = self.node_index(dgram.to) else {
                self.emit(TraceEvent::Dropped {
                    at,
                    id: dgram.id,
                    duplicate: dgram.duplicate,
                    from: dgram.from,
                    to: dgram.to,
                    len: dgram.data.len(),
                    reason: DropReason::NoRoute,
                });
                continue;
            };
            self.emit(TraceEvent::Delivered {
                at,
                id: dgram.id,
                duplicate: dgram.duplicate,
                from: dgram.from,
                to: dgram.to,
                data: dgram.data.clone(),
            });
            let now = self.now();
            let data = BytesMut::from(&dgram.data[..]);
            self.nodes[index]
                .node
                .handle(now, dgram.from, dgram.to, dgram.ecn, data);
        }
        any
    }

    /// Polls node `index` for datagrams until it has none; whether it sent
    /// any.
    fn flush(&mut self, index: usize) -> Result<bool, SimError> {
        let now = self.now();
        let mut buf = std::mem::take(&mut self.buf);
        let mut sent = 0usize;
        let result = loop {
            buf.clear();
            let Some(transmit) = self.nodes[index].node.poll_transmit(now, &mut buf) else {
                break Ok(sent > 0);
            };
            sent += 1;
            if sent > TRANSMIT_LIMIT {
                break Err(SimError::EndlessTransmit {
                    node: index,
                    at: self.now,
                });
            }
            if transmit.size > buf.len() {
                debug!(
                    node = index,
                    size = transmit.size,
                    written = buf.len(),
                    "transmit larger than what was written; truncated"
                );
            }
            let from = self.source(index, transmit.src_ip);
            let data = &buf[..transmit.size.min(buf.len())];
            match transmit.segment_size {
                Some(segment) if segment > 0 => {
                    for chunk in data.chunks(segment) {
                        let chunk = Bytes::copy_from_slice(chunk);
                        self.send(from, transmit.destination, transmit.ecn, chunk);
                    }
                }
                _ => {
                    let data = Bytes::copy_from_slice(data);
                    self.send(from, transmit.destination, transmit.ecn, data);
                }
            }
        };
        self.buf = buf;
        result
    }
}
