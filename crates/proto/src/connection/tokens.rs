//! Address validation by token (RFC 9000 §8.1): how the client's address
//! was validated, and the token a client's Initials carry with the Retry
//! it came from.

use bytes::Bytes;

use crate::{ConnectionId, handshake_info::AddressValidation};

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
}

impl Tokens {
    pub(super) fn new(validation: AddressValidation, initial: Bytes) -> Self {
        Self {
            validation,
            retry_scid: None,
            initial,
        }
    }

    /// Bytes held on the heap.
    pub(super) fn heap_bytes(&self) -> usize {
        self.initial.len()
    }
}
