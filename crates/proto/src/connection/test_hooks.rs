//! Hooks for tests that play a hostile peer (feature `test-hooks`): frames
//! written as given, with no check that they make sense. Never enable the
//! feature in a build that talks to real peers.

use bytes::Bytes;

use super::Connection;

impl Connection {
    /// Queues `frames` (encoded frames, back to back) to go out as they are
    /// in a 1-RTT packet of their own, once the handshake is complete. Nothing
    /// in them is checked, tracked or retransmitted; one that does not fit a
    /// packet is dropped. For tests that need this connection to misbehave.
    pub fn queue_raw_frames(&mut self, frames: Bytes) {
        self.raw_frames.push_back(frames);
    }

    /// Moves this connection's packets to the lowest unused connection ID
    /// the peer issued, retiring the one in use (as a migration to a new
    /// path does, RFC 9000 §9.5); whether there was one.
    pub fn switch_remote_cid(&mut self) -> bool {
        let Some(next) = self.remote_cids.switch_to_unused() else {
            return false;
        };
        self.remote_cid = next.id;
        true
    }

    /// Whether raw frames wait to be sent.
    pub(super) fn has_raw_frames(&self) -> bool {
        !self.raw_frames.is_empty()
    }

    /// Writes the next queued raw frames if they fit before `limit` and the
    /// packet holds nothing else yet but an ACK; returns whether it did.
    pub(super) fn write_raw_frames(&mut self, buf: &mut Vec<u8>, limit: usize) -> bool {
        let Some(frames) = self.raw_frames.front() else {
            return false;
        };
        if buf.len() + frames.len() > limit {
            if frames.len() > 1100 {
                self.raw_frames.pop_front();
            }
            return false;
        }
        buf.extend_from_slice(frames);
        self.raw_frames.pop_front();
        true
    }
}
