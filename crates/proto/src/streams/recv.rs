//! The receiving half of a stream (RFC 9000 §3.2): reassembly, final size
//! and the stream's receive window.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{
    assembler::{Assembler, AssemblerError, AssemblerLimits},
    send::len64,
};
use crate::{error::TransportError, range_set::RangeSet, varint::VarInt};

/// RFC 9000 §3.2: the states of a receiving stream half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvState {
    /// Receiving data; the final size is not known.
    Recv,
    /// The FIN arrived; some data is still missing.
    SizeKnown,
    /// Every byte up to the final size arrived.
    DataRecvd,
    /// The peer reset the stream.
    ResetRecvd,
    /// The application read everything (terminal).
    DataRead,
    /// The application saw the reset (terminal).
    ResetRead,
}

/// The receiving half of a stream.
#[derive(Debug)]
pub(super) struct RecvHalf {
    pub(super) state: RecvState,
    /// Data not yet read; its chunk map allocates only when data arrives.
    pub(super) asm: Assembler,
    /// RFC 9000 §4.5: the final size, once a FIN or RESET_STREAM gave it.
    pub(super) final_size: Option<u64>,
    /// The highest offset received: flow control credit the peer used.
    pub(super) max_received: u64,
    /// RFC 9000 §4.1: the limit we advertised for this stream.
    pub(super) max_data: u64,
    /// The window kept open ahead of the read offset; grows by autotuning.
    pub(super) window: u64,
    /// When we last raised `max_data`, for autotuning.
    last_raise: Option<Instant>,
    /// Ranges above the assembler's read offset already handed out by
    /// unordered reads; they are never buffered again.
    delivered: RangeSet,
    /// The application read out of order at least once.
    unordered: bool,
    /// The most chunks plus delivered ranges held.
    max_chunks: usize,
    /// The peer's RESET_STREAM error code.
    pub(super) reset_code: Option<VarInt>,
    /// Our STOP_SENDING code, once the application stopped the stream.
    pub(super) stop_code: Option<VarInt>,
    /// Bytes of this stream already counted as consumed for the
    /// connection's window.
    pub(super) retired: u64,
    /// A MAX_STREAM_DATA is queued.
    pub(super) max_data_queued: bool,
    /// A STOP_SENDING is queued.
    pub(super) stop_queued: bool,
    /// A `Readable` event was raised and not yet followed by a read.
    pub(super) readable_signalled: bool,
    /// Some of its data arrived in 0-RTT packets (RFC 9001 §4.6.1), which
    /// an attacker can replay.
    pub(super) received_0rtt: bool,
}

impl RecvHalf {
    /// A new receiving half with an advertised window of `window` bytes.
    pub(super) fn new(window: u64, max_chunks: usize, max_window: u64, packet_size: u64) -> Self {
        Self {
            state: RecvState::Recv,
            asm: Assembler::new(AssemblerLimits {
                max_buffered: max_window.max(window),
                max_chunks,
            })
            .pinning(packet_size),
            final_size: None,
            max_received: 0,
            max_data: window,
            window,
            last_raise: None,
            delivered: RangeSet::new(),
            unordered: false,
            max_chunks,
            reset_code: None,
            stop_code: None,
            retired: 0,
            max_data_queued: false,
            stop_queued: false,
            readable_signalled: false,
            received_0rtt: false,
        }
    }

    /// Whether the half reached a terminal state.
    pub(super) fn is_closed(&self) -> bool {
        matches!(self.state, RecvState::DataRead | RecvState::ResetRead)
    }

    /// Takes a STREAM frame's data; returns the flow control credit it newly
    /// used (bytes past the previous highest offset).
    pub(super) fn on_data(
        &mut self,
        offset: u64,
        data: Bytes,
        fin: bool,
    ) -> Result<u64, TransportError> {
        let end = offset.saturating_add(len64(data.len()));
        self.check_final_size(end, fin)?;
        // RFC 9000 §4.1: data beyond the advertised stream limit is
        // FLOW_CONTROL_ERROR.
        if end > self.max_data {
            return Err(TransportError::flow_control_error(
                "stream data beyond the stream limit",
            ));
        }
        let used = end.saturating_sub(self.max_received);
        self.max_received = self.max_received.max(end);
        if fin && self.state == RecvState::Recv {
            self.final_size = Some(end);
            // RFC 9000 §3.2: a FIN moves Recv to Size Known.
            self.state = RecvState::SizeKnown;
        }
        if self.stop_code.is_none() && matches!(self.state, RecvState::Recv | RecvState::SizeKnown)
        {
            self.insert(offset, &data).map_err(|err| match err {
                AssemblerError::BeyondLimit => {
                    TransportError::flow_control_error("stream data beyond the receive buffer")
                }
                AssemblerError::TooFragmented => {
                    TransportError::flow_control_error("stream data too fragmented")
                }
            })?;
        }
        self.check_complete();
        Ok(used)
    }

    /// Buffers `data` at `offset`, leaving out ranges unordered reads
    /// already handed out.
    fn insert(&mut self, offset: u64, data: &Bytes) -> Result<(), AssemblerError> {
        let end = offset.saturating_add(len64(data.len()));
        let mut cursor = offset;
        let piece = |from: u64, to: u64| {
            let index = |at: u64| usize::try_from(at - offset).unwrap_or(data.len());
            data.slice(index(from)..index(to))
        };
        for range in self.delivered.iter() {
            if range.start >= end {
                break;
            }
            if range.start > cursor {
                self.asm.insert(cursor, piece(cursor, range.start))?;
            }
            cursor = cursor.max(range.end.min(end));
        }
        if cursor < end {
            self.asm.insert(cursor, piece(cursor, end))?;
        }
        // Each delivered range is a hole the assembler cannot merge over.
        if self.asm.chunks() + self.delivered.len() > self.max_chunks {
            return Err(AssemblerError::TooFragmented);
        }
        Ok(())
    }

    /// Reads up to `max_len` bytes: the next in-order bytes, or when
    /// `ordered` is false the lowest buffered chunk wherever it starts.
    pub(super) fn read(&mut self, max_len: usize, ordered: bool) -> Option<(u64, Bytes)> {
        let offset = self.asm.read_offset();
        let read = if ordered {
            self.asm.read_max(max_len).map(|bytes| (offset, bytes))
        } else {
            self.unordered = true;
            self.asm.pop_first(max_len)
        };
        let (start, bytes) = read?;
        if start != offset {
            self.delivered.insert(start..start + len64(bytes.len()));
        }
        // Skip delivered ranges the read offset reached.
        while self
            .delivered
            .min()
            .is_some_and(|start| start <= self.asm.read_offset())
        {
            let Some(first) = self.delivered.pop_min() else {
                break;
            };
            self.asm.advance_to(first.end);
        }
        Some((start, bytes))
    }

    /// Whether a read would return data now.
    pub(super) fn is_readable(&self) -> bool {
        self.asm.is_readable() || (self.unordered && !self.asm.is_empty())
    }

    /// RFC 9000 §4.5: the final size never changes, and no data reaches past it.
    fn check_final_size(&self, end: u64, fin: bool) -> Result<(), TransportError> {
        match self.final_size {
            Some(size) if end > size || (fin && end != size) => Err(
                TransportError::final_size_error("stream data beyond or changing the final size"),
            ),
            None if fin && end < self.max_received => Err(TransportError::final_size_error(
                "final size below data already received",
            )),
            _ => Ok(()),
        }
    }

    /// Moves Size Known to Data Recvd once every byte arrived.
    fn check_complete(&mut self) {
        let Some(size) = self.final_size else {
            return;
        };
        if self.state != RecvState::SizeKnown {
            return;
        }
        // Chunks and delivered ranges lie within read_offset..size and never
        // overlap, so that many bytes means all of them.
        let delivered: u64 = self.delivered.iter().map(|r| r.end - r.start).sum();
        let held = self.asm.buffered() + delivered;
        if self.stop_code.is_some() || held == size - self.asm.read_offset() {
            // RFC 9000 §3.2: all data up to the final size moves to Data Recvd.
            self.state = RecvState::DataRecvd;
        }
    }

    /// Takes a RESET_STREAM; returns the credit it newly used.
    pub(super) fn on_reset(
        &mut self,
        code: VarInt,
        final_size: u64,
    ) -> Result<u64, TransportError> {
        self.check_final_size(final_size, true)?;
        if final_size > self.max_data {
            // RFC 9000 §4.5: a final size beyond the limit is FLOW_CONTROL_ERROR.
            return Err(TransportError::flow_control_error(
                "final size beyond the stream limit",
            ));
        }
        let used = final_size.saturating_sub(self.max_received);
        self.max_received = self.max_received.max(final_size);
        self.final_size = Some(final_size);
        // RFC 9000 §3.2: a reset in Recv, Size Known (or, as we choose, Data
        // Recvd when the application stopped) moves to Reset Recvd.
        let take = match self.state {
            RecvState::Recv | RecvState::SizeKnown => true,
            RecvState::DataRecvd => self.stop_code.is_some(),
            _ => false,
        };
        if take {
            self.state = RecvState::ResetRecvd;
            self.reset_code = Some(code);
            self.asm.discard_to(final_size);
        }
        Ok(used)
    }

    /// After the application stopped the stream nobody reads it: a fully
    /// received or reset half is done.
    pub(super) fn settle_stopped(&mut self) {
        if self.stop_code.is_none() {
            return;
        }
        self.state = match self.state {
            RecvState::DataRecvd => RecvState::DataRead,
            RecvState::ResetRecvd => RecvState::ResetRead,
            state => state,
        };
    }

    /// How much of this stream counts as consumed for connection flow
    /// control: what was read, or everything received once discarded.
    pub(super) fn retire_target(&self) -> u64 {
        if self.stop_code.is_some() || self.reset_code.is_some() {
            self.max_received
        } else {
            self.asm.read_offset()
        }
    }

    /// Raises the advertised limit when the peer's remaining credit fell
    /// below half the window; returns whether a MAX_STREAM_DATA is due.
    pub(super) fn maybe_raise(&mut self, clock: Option<(Instant, Duration)>, max: u64) -> bool {
        // RFC 9000 §3.2, §13.3: no MAX_STREAM_DATA once the final size is known.
        if self.state != RecvState::Recv || self.stop_code.is_some() {
            return false;
        }
        let read = self.asm.read_offset();
        // RFC 9000 §4.2: send an update before the peer runs out, here when
        // less than half the window is left.
        if self.max_data - read >= self.window / 2 {
            return false;
        }
        self.window = autotune(self.window, max, self.last_raise, clock);
        if let Some((now, _)) = clock {
            self.last_raise = Some(now);
        }
        self.max_data = read.saturating_add(self.window);
        true
    }
}

/// Doubles `window` (up to `max`) when the previous raise was less than two
/// RTTs ago: the application reads faster than the window lets the peer send.
pub(super) fn autotune(
    window: u64,
    max: u64,
    last_raise: Option<Instant>,
    clock: Option<(Instant, Duration)>,
) -> u64 {
    match (last_raise, clock) {
        (Some(last), Some((now, rtt))) if now.saturating_duration_since(last) < rtt * 2 => {
            window.saturating_mul(2).min(max).max(window)
        }
        _ => window,
    }
}
