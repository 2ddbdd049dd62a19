//! When a server makes new clients prove their address before it spends a
//! handshake on them (RFC 9000 §8.1), and how many handshakes it runs at
//! once.

use std::time::Duration;

/// When the server answers a client's first Initial with a Retry packet,
/// making it prove that it receives at its address before any TLS work is
/// done (RFC 9000 §8.1.2). A Retry costs the client one round trip; a
/// client that already proved its address (a Retry token, or a NEW_TOKEN
/// token from an earlier connection) is never sent one.
///
/// The owner can also retry one client of its choosing, whatever the
/// policy, with [`Endpoint::retry_incoming`](crate::endpoint::Endpoint::retry_incoming).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryPolicy {
    /// Never send Retry on our own: a client beyond the admission limits is
    /// refused with CONNECTION_REFUSED instead.
    Never,
    /// Send Retry to every client whose address is not validated.
    Always,
    /// Send Retry to clients whose address is not validated once this many
    /// handshakes are in progress (connections not yet through their
    /// handshake, and clients waiting for the owner's decision), and to any
    /// client beyond the admission limits. A flood of Initials from forged
    /// addresses then costs the server one stateless packet each, and no
    /// state.
    UnderLoad {
        /// Handshakes in progress from which Retry is sent.
        handshakes_in_progress: usize,
    },
}

impl RetryPolicy {
    /// The default threshold of [`RetryPolicy::UnderLoad`]: 256 handshakes
    /// in progress. An honest server's handshakes last about two round
    /// trips, so it runs this many at once only at thousands of new
    /// connections per second; each holds a TLS session (tens of
    /// kilobytes), so the threshold also bounds what unvalidated clients
    /// can make it hold to about ten megabytes.
    pub const DEFAULT_UNDER_LOAD: usize = 256;

    /// Whether a client whose address is not validated is sent a Retry when
    /// `in_progress` handshakes are running and the admission limits are
    /// (`over_limit`) or are not reached.
    pub(crate) const fn wants_retry(self, in_progress: usize, over_limit: bool) -> bool {
        match self {
            Self::Never => false,
            Self::Always => true,
            Self::UnderLoad {
                handshakes_in_progress,
            } => over_limit || in_progress >= handshakes_in_progress,
        }
    }
}

impl RetryPolicy {
    /// This policy for one of `shards` shards of an endpoint: the
    /// threshold of [`UnderLoad`](Self::UnderLoad) is shared among them,
    /// rounded up.
    pub(crate) fn shared(self, shards: usize) -> Self {
        match self {
            Self::UnderLoad {
                handshakes_in_progress,
            } => Self::UnderLoad {
                handshakes_in_progress: handshakes_in_progress.div_ceil(shards.max(1)),
            },
            other => other,
        }
    }
}

impl Default for RetryPolicy {
    /// [`RetryPolicy::UnderLoad`] at
    /// [`DEFAULT_UNDER_LOAD`](Self::DEFAULT_UNDER_LOAD).
    fn default() -> Self {
        Self::UnderLoad {
            handshakes_in_progress: Self::DEFAULT_UNDER_LOAD,
        }
    }
}

/// Default [`ServerConfig::max_handshakes`](super::ServerConfig::max_handshakes).
pub(crate) const DEFAULT_MAX_HANDSHAKES: usize = 4096;
/// Default [`ServerConfig::max_handshakes_per_address`](super::ServerConfig::max_handshakes_per_address).
pub(crate) const DEFAULT_MAX_HANDSHAKES_PER_ADDRESS: usize = 256;
/// Default [`ServerConfig::retry_token_lifetime`](super::ServerConfig::retry_token_lifetime).
pub(crate) const DEFAULT_RETRY_TOKEN_LIFETIME: Duration = Duration::from_secs(15);
/// Default [`ServerConfig::new_token_lifetime`](super::ServerConfig::new_token_lifetime).
pub(crate) const DEFAULT_NEW_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// Default [`ServerConfig::new_tokens`](super::ServerConfig::new_tokens).
pub(crate) const DEFAULT_NEW_TOKENS: usize = 2;
