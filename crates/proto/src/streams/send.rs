//! The sending half of a stream (RFC 9000 §3.1): buffered data, what was
//! sent, acknowledged and lost, and the FIN.

use std::collections::VecDeque;

use bytes::{Buf, Bytes};

use crate::{
    frame::{Stream as StreamFrame, StreamId},
    range_set::RangeSet,
    varint::VarInt,
};

/// RFC 9000 §3.1: the states of a sending stream half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendState {
    /// Opened; nothing sent yet.
    Ready,
    /// Sending data.
    Send,
    /// The FIN was sent; waiting for acknowledgments.
    DataSent,
    /// We reset the stream; waiting for the RESET_STREAM to be acknowledged.
    ResetSent,
    /// All data and the FIN were acknowledged (terminal).
    DataRecvd,
    /// The RESET_STREAM was acknowledged (terminal).
    ResetRecvd,
}

/// Where the FIN stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fin {
    /// The application has not finished the stream.
    None,
    /// Finished; the FIN still has to be (re)sent.
    Pending,
    /// The FIN is in flight.
    Sent,
    /// The FIN was acknowledged.
    Acked,
}

/// One STREAM frame to write: its offset, data length and FIN bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FramePlan {
    pub(super) offset: u64,
    pub(super) len: usize,
    pub(super) fin: bool,
}

/// The sending half of a stream.
#[derive(Debug)]
pub(super) struct SendHalf {
    pub(super) state: SendState,
    /// RFC 9000 §4.1: the peer's flow control limit for this stream.
    pub(super) max_data: u64,
    /// The offset the next written byte gets: bytes written so far.
    pub(super) write_offset: u64,
    /// Every byte below this offset was acknowledged; `buf` starts here.
    base: u64,
    /// Written bytes from `base` to `write_offset`, as the application's
    /// own buffers (never copied until they go into a packet).
    buf: VecDeque<Bytes>,
    /// New data is sent from here on.
    sent_offset: u64,
    /// Lost ranges to send again, all at or above `base`.
    retransmit: RangeSet,
    /// Acknowledged ranges above `base`.
    acked: RangeSet,
    fin: Fin,
    /// The error code of our RESET_STREAM, once reset.
    pub(super) reset_code: Option<VarInt>,
    /// The code of the peer's STOP_SENDING, once received.
    pub(super) stop_code: Option<VarInt>,
    /// The scheduler's urgency: lower is sent first.
    pub(super) urgency: i32,
    /// Whether the stream sits in the scheduler's queue.
    pub(super) queued: bool,
    /// A write was refused with `Blocked`; signal `Writable` when room frees.
    pub(super) write_blocked: bool,
    /// The limit at which we last queued STREAM_DATA_BLOCKED.
    pub(super) blocked_at: Option<u64>,
    /// A RESET_STREAM is queued (deduplicates the control queue).
    pub(super) reset_queued: bool,
    /// A STREAM_DATA_BLOCKED is queued.
    pub(super) blocked_queued: bool,
}

impl SendHalf {
    /// A new sending half with the peer's initial limit `max_data`.
    pub(super) fn new(max_data: u64) -> Self {
        Self {
            state: SendState::Ready,
            max_data,
            write_offset: 0,
            base: 0,
            buf: VecDeque::new(),
            sent_offset: 0,
            retransmit: RangeSet::new(),
            acked: RangeSet::new(),
            fin: Fin::None,
            reset_code: None,
            stop_code: None,
            urgency: 0,
            queued: false,
            write_blocked: false,
            blocked_at: None,
            reset_queued: false,
            blocked_queued: false,
        }
    }

    /// Whether the application may still write or finish.
    pub(super) fn is_writable(&self) -> bool {
        matches!(self.state, SendState::Ready | SendState::Send) && self.fin == Fin::None
    }

    /// Whether the half reached a terminal state.
    pub(super) fn is_closed(&self) -> bool {
        matches!(self.state, SendState::DataRecvd | SendState::ResetRecvd)
    }

    /// Bytes written and not yet acknowledged.
    pub(super) fn buffered(&self) -> u64 {
        self.write_offset - self.base
    }

    /// Appends written data.
    pub(super) fn push(&mut self, data: Bytes) {
        self.write_offset += len64(data.len());
        self.buf.push_back(data);
    }

    /// Marks the stream finished: the FIN goes with or after the last byte.
    pub(super) fn finish(&mut self) {
        self.fin = Fin::Pending;
    }

    /// Resets the half: drops every buffered byte and returns how many.
    pub(super) fn reset(&mut self, code: VarInt) -> u64 {
        let freed = self.buffered();
        self.state = SendState::ResetSent;
        self.reset_code = Some(code);
        self.buf.clear();
        self.base = self.write_offset;
        self.retransmit.clear();
        self.acked.clear();
        freed
    }

    /// Whether a STREAM frame (data or FIN) is waiting to be sent.
    pub(super) fn has_sendable(&self) -> bool {
        matches!(
            self.state,
            SendState::Ready | SendState::Send | SendState::DataSent
        ) && (!self.retransmit.is_empty()
            || self.sent_offset < self.write_offset
            || self.fin == Fin::Pending)
    }

    /// Plans the next STREAM frame within `budget` bytes of frame: lost data
    /// first, then new data. Records it as sent. `None` when nothing fits.
    pub(super) fn plan(&mut self, id: StreamId, budget: usize) -> Option<FramePlan> {
        let lost = self.retransmit.iter().next();
        let plan = match lost {
            Some(range) => {
                let max = StreamFrame::max_data_len(id, vi(range.start), budget, true)?;
                let len = max.min(usize_len(range.end - range.start));
                if len == 0 {
                    return None;
                }
                let end = range.start + len64(len);
                self.retransmit.remove(range.start..end);
                let fin = self.fin == Fin::Pending
                    && end == self.write_offset
                    && self.sent_offset == self.write_offset;
                FramePlan {
                    offset: range.start,
                    len,
                    fin,
                }
            }
            None => {
                let max = StreamFrame::max_data_len(id, vi(self.sent_offset), budget, true)?;
                let len = max.min(usize_len(self.write_offset - self.sent_offset));
                let end = self.sent_offset + len64(len);
                let fin = self.fin == Fin::Pending && end == self.write_offset;
                if len == 0 && !fin {
                    return None;
                }
                let offset = self.sent_offset;
                self.sent_offset = end;
                FramePlan { offset, len, fin }
            }
        };
        if plan.fin {
            self.fin = Fin::Sent;
        }
        // RFC 9000 §3.1: sending the first STREAM frame moves Ready to Send,
        // and sending the FIN moves to Data Sent.
        if self.state == SendState::Ready {
            self.state = SendState::Send;
        }
        if self.fin == Fin::Sent && self.state == SendState::Send {
            self.state = SendState::DataSent;
        }
        Some(plan)
    }

    /// Copies `len` bytes at stream offset `offset` into `out`.
    pub(super) fn copy_to(&self, offset: u64, len: usize, out: &mut Vec<u8>) {
        let mut at = self.base;
        let mut left = len;
        let mut from = offset;
        for chunk in &self.buf {
            if left == 0 {
                break;
            }
            let end = at + len64(chunk.len());
            if end > from {
                let start = usize_len(from - at);
                let take = (chunk.len() - start).min(left);
                out.extend_from_slice(&chunk[start..start + take]);
                left -= take;
                from += len64(take);
            }
            at = end;
        }
        debug_assert_eq!(left, 0, "planned data is buffered");
    }

    /// Records the acknowledgment of `range` (and the FIN); returns the
    /// bytes freed from the buffer.
    pub(super) fn on_acked(&mut self, range: std::ops::Range<u64>, fin: bool) -> u64 {
        if !matches!(self.state, SendState::Send | SendState::DataSent) {
            return 0;
        }
        if fin {
            self.fin = Fin::Acked;
        }
        let start = range.start.max(self.base);
        if start < range.end {
            self.acked.insert(start..range.end);
            self.retransmit.remove(start..range.end);
        }
        let mut freed = 0;
        while self.acked.min() == Some(self.base) {
            let Some(run) = self.acked.pop_min() else {
                break;
            };
            freed += self.advance(run.end);
        }
        // RFC 9000 §3.1: once all data and the FIN are acknowledged the
        // sending half is in Data Recvd.
        if self.fin == Fin::Acked && self.base == self.write_offset {
            self.state = SendState::DataRecvd;
        }
        freed
    }

    /// Drops acknowledged bytes below `to` from the buffer.
    fn advance(&mut self, to: u64) -> u64 {
        let mut drop = to - self.base;
        let freed = drop;
        while drop > 0 {
            let Some(front) = self.buf.front_mut() else {
                break;
            };
            let len = len64(front.len());
            if len <= drop {
                self.buf.pop_front();
                drop -= len;
            } else {
                front.advance(usize_len(drop));
                drop = 0;
            }
        }
        self.base = to;
        freed
    }

    /// Queues `range` (and the FIN) for retransmission, leaving out what was
    /// acknowledged meanwhile.
    pub(super) fn on_lost(&mut self, range: std::ops::Range<u64>, fin: bool) {
        if !matches!(self.state, SendState::Send | SendState::DataSent) {
            return;
        }
        if fin && self.fin == Fin::Sent {
            self.fin = Fin::Pending;
        }
        let start = range.start.max(self.base);
        if start >= range.end {
            return;
        }
        self.retransmit.insert(start..range.end);
        for acked in self.acked.iter() {
            if acked.start >= range.end {
                break;
            }
            self.retransmit.remove(acked);
        }
    }

    /// Records that the RESET_STREAM was acknowledged.
    pub(super) fn on_reset_acked(&mut self) {
        if self.state == SendState::ResetSent {
            // RFC 9000 §3.1: an acknowledged RESET_STREAM ends in Reset Recvd.
            self.state = SendState::ResetRecvd;
        }
    }
}

/// A buffer length as a stream length.
pub(super) fn len64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

/// A stream length known to fit in memory as a buffer length.
pub(super) fn usize_len(len: u64) -> usize {
    usize::try_from(len).unwrap_or(usize::MAX)
}

/// A stream offset as a varint; offsets stay below 2^62 by flow control.
pub(super) fn vi(value: u64) -> VarInt {
    VarInt::from_u64_bounded(value)
}
