//! Address validation by token (RFC 9000 §8.1): how the client's address
//! was validated, the token a client's Initials carry with the Retry it
//! came from, the NEW_TOKEN frames a server sends (§8.1.3, §19.7) and
//! where a client keeps the tokens it receives in them.

use std::sync::Arc;

use bytes::Bytes;

use crate::{
    ConnectionId, Side, config::TokenStore, frame::NewToken, handshake_info::AddressValidation,
};

/// The longest token a client puts in its Initials, from a Retry or a
/// NEW_TOKEN frame, and the longest a server sends in NEW_TOKEN. An
/// Initial must fit a 1200-byte datagram (RFC 9000 §14.1); with the
/// longest header (20-byte connection IDs) a token of this length leaves
/// more than half of it for the ClientHello, where a token near the
/// datagram's size would leave no room at all and stall the handshake. A
/// Retry with a longer token is dropped, and a longer NEW_TOKEN token is
/// neither sent nor kept. Servers' tokens are well under 200 bytes (an
/// address, a connection ID, a time and an AEAD tag).
pub(crate) const MAX_TOKEN_LEN: usize = 512;

/// NEW_TOKEN frames a server sends per connection at most; further tokens
/// it is given are dropped. A server sends one or two (RFC 9000 §8.1.3
/// puts no number on them), and a bit each in a sent packet's record keeps
/// that record one byte, with no allocation.
pub(crate) const MAX_NEW_TOKENS: usize = 8;

/// Which of the server's NEW_TOKEN tokens a packet carried, one bit each
/// (bit `i` for token `i`).
pub(super) type NewTokenMask = u8;

/// The connection's address validation tokens.
#[derive(Debug)]
pub(super) struct Tokens {
    /// How the client's address was validated before the handshake: on a
    /// server, what the endpoint found; on a client, whether its Initials
    /// carry a NEW_TOKEN token or it followed a Retry.
    pub(super) validation: AddressValidation,
    /// The Source Connection ID of the Retry the client followed (RFC 9000
    /// §17.2.5.2), which the server's retry_source_connection_id must
    /// repeat (§7.3); `None` without one, and on a server.
    pub(super) retry_scid: Option<ConnectionId>,
    /// The token every Initial carries (RFC 9000 §17.2.2): on a client,
    /// from the Retry it followed or an earlier connection's NEW_TOKEN
    /// frame; empty otherwise.
    pub(super) initial: Bytes,
    /// A client's store for the tokens of NEW_TOKEN frames, with the
    /// server name they are for.
    store: Option<(Arc<dyn TokenStore>, Arc<str>)>,
    /// A server's NEW_TOKEN tokens, each until it is acknowledged.
    outgoing: Vec<Outgoing>,
}

/// Where one of a server's NEW_TOKEN tokens stands.
#[derive(Debug)]
enum Outgoing {
    /// To be sent, first or again.
    Pending(Bytes),
    /// Sent, not acknowledged yet.
    InFlight(Bytes),
    /// Acknowledged: its bytes are released.
    Acked,
}

impl Tokens {
    /// Forgets a server's NEW_TOKEN tokens, before any was sent: they were
    /// minted for another version (RFC 9369 §5).
    pub(super) fn forget_new_tokens(&mut self) {
        self.outgoing = Vec::new();
    }

    /// The state of a new connection on `side`. A client's validation
    /// follows from its token; a server's is the endpoint's, and only a
    /// server keeps `new_tokens`, at most [`MAX_NEW_TOKENS`], each non-empty
    /// (RFC 9000 §19.7) and at most [`MAX_TOKEN_LEN`] bytes.
    pub(super) fn new(
        side: Side,
        validation: AddressValidation,
        mut initial: Bytes,
        store: Option<(Arc<dyn TokenStore>, Arc<str>)>,
        new_tokens: Vec<Bytes>,
    ) -> Self {
        if side.is_server() {
            return Self {
                validation,
                retry_scid: None,
                initial: Bytes::new(),
                store: None,
                outgoing: new_tokens
                    .into_iter()
                    .filter(|token| !token.is_empty() && token.len() <= MAX_TOKEN_LEN)
                    .take(MAX_NEW_TOKENS)
                    .map(Outgoing::Pending)
                    .collect(),
            };
        }
        if initial.len() > MAX_TOKEN_LEN {
            initial = Bytes::new();
        }
        Self {
            // RFC 9000 §8.1.3: a token in the client's first Initial comes
            // from a NEW_TOKEN frame (a Retry's comes later).
            validation: if initial.is_empty() {
                AddressValidation::None
            } else {
                AddressValidation::Token
            },
            retry_scid: None,
            initial,
            store,
            outgoing: Vec::new(),
        }
    }

    /// The state `init` asks for (see [`new`](Self::new)), taking its
    /// tokens and store.
    pub(super) fn from_init(init: &mut super::ConnectionInit) -> Self {
        Self::new(
            init.side,
            init.validation,
            std::mem::take(&mut init.token),
            init.token_store.take(),
            std::mem::take(&mut init.new_tokens),
        )
    }

    /// Bytes held on the heap.
    pub(super) fn heap_bytes(&self) -> usize {
        let outgoing: usize = self
            .outgoing
            .iter()
            .map(|token| match token {
                Outgoing::Pending(bytes) | Outgoing::InFlight(bytes) => bytes.len(),
                Outgoing::Acked => 0,
            })
            .sum();
        self.initial.len() + self.outgoing.capacity() * std::mem::size_of::<Outgoing>() + outgoing
    }

    /// A client's NEW_TOKEN frame (RFC 9000 §19.7; the decoder already
    /// refused an empty token with FRAME_ENCODING_ERROR): the token goes
    /// to the store for the next connection to this server (§8.1.3). It is
    /// copied, so that the store does not pin the packet it came in.
    pub(super) fn on_new_token(&self, token: &Bytes) {
        let Some((store, server_name)) = &self.store else {
            return;
        };
        if token.len() > MAX_TOKEN_LEN {
            tracing::trace!(len = token.len(), "new_token too long to use: ignored");
            return;
        }
        tracing::trace!(len = token.len(), "new_token kept");
        store.insert(server_name, Bytes::copy_from_slice(token));
    }

    /// Whether a NEW_TOKEN frame waits to be sent (first or again).
    pub(super) fn has_new_tokens_to_send(&self) -> bool {
        self.outgoing
            .iter()
            .any(|token| matches!(token, Outgoing::Pending(_)))
    }

    /// Writes the NEW_TOKEN frames that wait and fit before `limit`;
    /// returns which ones, for the packet's record.
    pub(super) fn write_new_tokens(&mut self, buf: &mut Vec<u8>, limit: usize) -> NewTokenMask {
        let mut mask = 0;
        for (i, slot) in self.outgoing.iter_mut().enumerate() {
            let Outgoing::Pending(token) = slot else {
                continue;
            };
            let frame = NewToken {
                token: token.clone(),
            };
            if buf.len() + frame.encoded_len() > limit {
                continue;
            }
            frame.encode(buf);
            mask |= 1 << i;
            *slot = Outgoing::InFlight(frame.token);
        }
        mask
    }

    /// The packet that carried the tokens of `mask` was acknowledged: they
    /// are released, and once all are, so is the list.
    pub(super) fn on_new_tokens_acked(&mut self, mask: NewTokenMask) {
        for (i, slot) in self.outgoing.iter_mut().enumerate() {
            if mask & (1 << i) != 0 {
                *slot = Outgoing::Acked;
            }
        }
        if self
            .outgoing
            .iter()
            .all(|token| matches!(token, Outgoing::Acked))
        {
            self.outgoing = Vec::new();
        }
    }

    /// The packet that carried the tokens of `mask` was lost: those not
    /// acknowledged since (in a retransmission) are sent again (RFC 9000
    /// §13.3).
    pub(super) fn on_new_tokens_lost(&mut self, mask: NewTokenMask) {
        for (i, slot) in self.outgoing.iter_mut().enumerate() {
            if mask & (1 << i) == 0 {
                continue;
            }
            if let Outgoing::InFlight(token) = slot {
                *slot = Outgoing::Pending(std::mem::take(token));
            }
        }
    }
}
