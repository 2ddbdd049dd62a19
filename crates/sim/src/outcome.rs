//! How a run ends, and what can go wrong with the nodes.

use std::error::Error;
use std::fmt;
use std::time::Duration;

/// A node (or the nodes together) kept the sim from moving on in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimError {
    /// The node kept reporting a timeout at or before now after
    /// `handle_timeout`, too many times in one instant. Fix the node's timer:
    /// handling a timeout must move it past now or clear it.
    StuckTimer {
        /// The node's index.
        node: usize,
        /// Sim time.
        at: Duration,
    },
    /// The node's `poll_transmit` did not return `None` after very many
    /// datagrams in one go. Fix the node: it must run out of things to send.
    EndlessTransmit {
        /// The node's index.
        node: usize,
        /// Sim time.
        at: Duration,
    },
    /// Too many rounds of deliveries and sends without sim time moving on,
    /// typically nodes answering each other over zero-delay links. Give the
    /// links a delay, or raise [`Sim::set_round_limit`](crate::Sim::set_round_limit).
    Livelock {
        /// Sim time.
        at: Duration,
    },
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StuckTimer { node, at } => {
                write!(f, "node {node} is stuck on a timeout at {at:?}")
            }
            Self::EndlessTransmit { node, at } => {
                write!(f, "node {node} never stops transmitting at {at:?}")
            }
            Self::Livelock { at } => write!(f, "sim time does not advance past {at:?}"),
        }
    }
}

impl Error for SimError {}

/// How [`Sim::run_until`](crate::Sim::run_until) ended.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// The predicate held.
    Satisfied,
    /// The time limit passed with the predicate false; the sim's clock
    /// stands at the limit.
    TimedOut,
    /// Nothing was left to happen (no datagram in flight, no timeout set)
    /// and the predicate was false.
    Idle,
    /// A node misbehaved; the sim stopped at that instant.
    Stuck(SimError),
}

impl RunOutcome {
    /// Whether the predicate held.
    #[must_use]
    pub const fn is_satisfied(&self) -> bool {
        matches!(self, Self::Satisfied)
    }
}

impl fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Satisfied => f.write_str("satisfied"),
            Self::TimedOut => f.write_str("timed out"),
            Self::Idle => f.write_str("idle"),
            Self::Stuck(e) => write!(f, "stuck: {e}"),
        }
    }
}
