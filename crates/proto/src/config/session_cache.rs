//! The server's session cache for 0-RTT: each ticket bound to the
//! transport parameters it was issued under, and used once by default.
//!
//! rustls accepts 0-RTT only with stateful tickets (the ticket is an ID,
//! the session lives in `rustls::ServerConfig::session_storage`), and its
//! QUIC server API has no hook for the data QUIC must remember with a
//! ticket. So the store itself carries it: [`ZeroRttSessionStore`] wraps
//! the configuration's store, prefixes every session it keeps with the
//! 0-RTT limits of the server's [`TransportConfig`](super::TransportConfig)
//! and the QUIC version of the connection, and gives a session back only
//! under the same limits and version.

use std::{fmt, sync::Arc};

use bytes::BufMut;
use rustls::server::StoresServerSessions;

use crate::{VarInt, packet::Version, transport_params::TransportParameters};

/// What a server does about 0-RTT replay (RFC 9001 §9.2, RFC 8446 §8):
/// how many times one session ticket may resume a session, and so carry
/// early data.
///
/// Early data travels in the client's first flight, before the handshake
/// proves the client is live. Whoever captured that flight can send it
/// again; if the server accepts it again, the application receives the
/// same request twice (or a hundred times), from what looks like the same
/// client. Only the first flight is at risk: the rest of the connection is
/// protected as usual, and a replayed flight never completes a handshake.
///
/// Tern keeps server sessions in the rustls configuration's
/// `session_storage` (stateful tickets, the only kind rustls accepts 0-RTT
/// with). With [`SingleUseTickets`](Self::SingleUseTickets) a resumption
/// removes its session from the store, so a replayed flight finds nothing,
/// falls back to a full handshake, and its early data is rejected, never
/// delivered. That holds within one store: servers behind one address
/// that share tickets must share the store too, or a flight replayed to
/// another of them is refused anyway (it does not know the ticket).
///
/// Whatever the setting, a server can see which stream data came in 0-RTT
/// and refuse what is not safe to repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AntiReplay {
    /// Each ticket resumes at most one connection (the default): a replayed
    /// 0-RTT flight, or a second use of the ticket by the client itself,
    /// gets a full handshake with its early data rejected. A client that
    /// wants 0-RTT on several connections needs a ticket for each; rustls
    /// servers send `send_tls13_tickets` (2 by default) per connection.
    #[default]
    SingleUseTickets,
    /// A ticket resumes, and carries 0-RTT, as often as it is presented
    /// while its session stays in the store (rustls's own store keeps it
    /// until it is pushed out by newer ones). Early data can then be
    /// replayed by anyone who captured a client's first flight, as many
    /// times as they like: choose this only when every request a client
    /// may send in 0-RTT is idempotent (a GET of a static page, say), or
    /// when the application refuses 0-RTT data that is not.
    ReusableTickets,
}

/// Format of the prefix, in its first byte: a store that outlives an
/// upgrade which changes the prefix gives no old session back. Format 1
/// had the limits alone; format 2 has the limits, then the version.
const PREFIX_FORMAT: u8 = 2;
/// The format of a prefix with the version alone, for a server that
/// refuses 0-RTT (no limits to keep).
const PREFIX_FORMAT_VERSION_ONLY: u8 = 3;

/// A server's session store that binds each session to the transport
/// parameters it was issued under, and gives it back once (or, with
/// [`AntiReplay::ReusableTickets`], as often as asked).
///
/// RFC 9000 §7.4.1: a server that accepts 0-RTT must not lower the limits
/// the client remembered from the connection that gave it the ticket. Each
/// stored session is prefixed with those limits as this server would send
/// them now ([`new`](Self::new)); a session stored under other limits (the
/// configuration changed since) is not given back, so the client gets a
/// full handshake, and its 0-RTT is rejected rather than accepted under
/// lower limits.
///
/// RFC 9369 §5: a session ticket is specific to the QUIC version of the
/// connection that issued it, and a server must not accept one from
/// another; the prefix names the version too, so a v1 ticket gets a full
/// handshake on a v2 connection and the other way round. A server that
/// refuses 0-RTT but speaks several versions binds its sessions to the
/// version alone ([`new`](Self::new) without limits).
///
/// Storage and capacity are the wrapped store's: the rustls
/// configuration's own `session_storage`, rustls's in-memory cache or the
/// application's.
pub(crate) struct ZeroRttSessionStore {
    inner: Arc<dyn StoresServerSessions>,
    prefix: Box<[u8]>,
    replay: AntiReplay,
}

impl ZeroRttSessionStore {
    /// Wraps `inner` for connections of `version` at a server that sends
    /// `params` (as `endpoint::params::local_params` makes them from its
    /// transport settings) when it accepts 0-RTT, `None` when it does not,
    /// with the `replay` policy.
    pub(crate) fn new(
        inner: Arc<dyn StoresServerSessions>,
        params: Option<&TransportParameters>,
        replay: AntiReplay,
        version: Version,
    ) -> Self {
        let mut prefix = match params {
            Some(params) => zero_rtt_prefix(params).into_vec(),
            None => vec![PREFIX_FORMAT_VERSION_ONLY],
        };
        prefix.extend_from_slice(&version.to_u32().to_be_bytes());
        Self {
            inner,
            prefix: prefix.into_boxed_slice(),
            replay,
        }
    }

    /// `value` without the prefix, if it was stored under the same limits.
    fn unwrap_value(&self, mut value: Vec<u8>) -> Option<Vec<u8>> {
        if !value.starts_with(&self.prefix) {
            tracing::debug!(
                "stored session issued under other transport limits or version: not resumed"
            );
            return None;
        }
        value.drain(..self.prefix.len());
        Some(value)
    }
}

/// RFC 9000 §7.4.1, RFC 9221 §3: the parameters a client remembers for
/// 0-RTT and a server accepting it must not lower, encoded in a fixed
/// order after a format byte. Every field is a minimal varint, so the
/// encoding is prefix-free: one prefix starts another only if both encode
/// the same limits.
fn zero_rtt_prefix(params: &TransportParameters) -> Box<[u8]> {
    let mut out = Vec::with_capacity(40);
    out.put_u8(PREFIX_FORMAT);
    for value in [
        params.initial_max_data,
        params.initial_max_stream_data_bidi_local,
        params.initial_max_stream_data_bidi_remote,
        params.initial_max_stream_data_uni,
        params.initial_max_streams_bidi,
        params.initial_max_streams_uni,
        params.active_connection_id_limit,
    ] {
        value.encode(&mut out);
    }
    // Absent (no datagrams) as 0, present as 1 and the value.
    match params.max_datagram_frame_size {
        None => VarInt::from_u32(0).encode(&mut out),
        Some(size) => {
            VarInt::from_u32(1).encode(&mut out);
            size.encode(&mut out);
        }
    }
    out.into_boxed_slice()
}

impl StoresServerSessions for ZeroRttSessionStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let mut stored = Vec::with_capacity(self.prefix.len() + value.len());
        stored.extend_from_slice(&self.prefix);
        stored.extend_from_slice(&value);
        self.inner.put(key, stored)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.unwrap_value(self.inner.get(key)?)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        // rustls calls `take` for every TLS 1.3 resumption.
        let value = match self.replay {
            AntiReplay::SingleUseTickets => self.inner.take(key)?,
            AntiReplay::ReusableTickets => self.inner.get(key)?,
        };
        self.unwrap_value(value)
    }

    fn can_cache(&self) -> bool {
        self.inner.can_cache()
    }
}

impl fmt::Debug for ZeroRttSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The prefix holds only limits, but sessions never pass through
        // here; the wrapped store is the application's to show.
        f.debug_struct("ZeroRttSessionStore")
            .field("inner", &self.inner)
            .field("replay", &self.replay)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
