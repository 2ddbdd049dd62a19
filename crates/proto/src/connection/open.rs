//! Removing a received packet's protection with the keys of its level
//! (RFC 9001 §5), or keeping it for keys still to come (§5.7).

use std::time::Instant;

use super::{Connection, spaces::index};
use crate::{EncryptionLevel, crypto::CryptoError, packet::PartialDecode};

impl Connection {
    /// Removes a packet's protection with the keys of its level, or says
    /// to keep it for keys not there yet.
    pub(super) fn open_packet(
        &mut self,
        now: Instant,
        packet: &mut PartialDecode,
        level: EncryptionLevel,
    ) -> Opening {
        let opened = if level == EncryptionLevel::ZeroRtt {
            match self.zero_rtt_disposition() {
                Some(true) => self.open_zero_rtt(packet),
                // RFC 9001 §5.7: 0-RTT packets that arrive before the
                // ClientHello was read may be kept until it is.
                Some(false) => return Opening::Keep,
                None => None,
            }
        } else {
            let deferred = self.defers(level);
            if deferred {
                self.nudge_handshake(now);
            }
            let sp = &self.spaces[index(level.space())];
            let Some(keys) = sp.keys.as_ref().filter(|_| !deferred) else {
                // RFC 9001 §5.7: a packet that arrives before its keys (or,
                // at a server, a 1-RTT packet before the handshake
                // completed) may be kept, a bounded few, until it can be
                // read; one for discarded keys never will be readable.
                return if sp.discarded {
                    Opening::Failed
                } else {
                    Opening::Keep
                };
            };
            if level == EncryptionLevel::OneRtt {
                self.open_one_rtt(now, packet)
            } else {
                // RFC 9369 §4: a client's Initial still in the original
                // version, after the server moved to another.
                let remote = match level {
                    EncryptionLevel::Initial => self.original_initial_keys(packet),
                    _ => None,
                }
                .unwrap_or(&keys.remote);
                match remote.open_decoded(packet, sp.largest_received) {
                    Ok(opened) => Some(opened),
                    Err(CryptoError::AuthenticationFailed) => {
                        self.on_authentication_failure(now);
                        None
                    }
                    Err(_) => None,
                }
            }
        };
        opened.map_or(Opening::Failed, Opening::Opened)
    }
}

/// What [`Connection::open_packet`] made of a packet.
pub(super) enum Opening {
    /// Its protection is off.
    Opened(crate::crypto::OpenedPacket),
    /// Its keys are not there yet: keep it (RFC 9001 §5.7).
    Keep,
    /// It cannot be opened: drop it.
    Failed,
}
