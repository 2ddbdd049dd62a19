//! Secrets several endpoints may share.

use std::{fmt, time::Instant};

use zeroize::Zeroize;

/// The secret of address validation tokens shared by several endpoints
/// (see [`EndpointConfig::token_key`](super::EndpointConfig::token_key)): 32 secret bytes, and the instant
/// from which key periods and issue times count, the same for all of
/// them.
///
/// `Debug` prints `<redacted>`, and the bytes are zeroized when the key is
/// dropped (each clone wipes its own copy).
#[derive(Clone)]
pub struct TokenKey {
    bytes: [u8; 32],
    epoch: Instant,
}

impl TokenKey {
    /// A key of these bytes (take them from a secure random source),
    /// counting from `epoch`.
    #[must_use]
    pub const fn new(bytes: [u8; 32], epoch: Instant) -> Self {
        Self { bytes, epoch }
    }

    /// The key's bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The instant key periods and issue times count from.
    #[must_use]
    pub const fn epoch(&self) -> Instant {
        self.epoch
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

impl Drop for TokenKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}
