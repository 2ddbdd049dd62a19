//! The application's side of [`Streams`]: open, accept, write, read, finish,
//! reset, stop and priorities.

use std::collections::HashMap;

use bytes::Bytes;

use super::{
    Chunk, Control, ReadError, RecvState, SendState, Stream, Streams, WriteError, di,
    recv::RecvHalf, send::SendHalf, send::len64, send::usize_len,
};
use crate::{
    frame::{Dir, StreamId},
    varint::VarInt,
};

impl Streams {
    /// Opens a stream of `dir`; `None` when the peer's stream limit is
    /// reached, in which case STREAMS_BLOCKED is queued and
    /// [`StreamEvent::Available`](super::StreamEvent::Available) follows
    /// when the peer raises the limit.
    pub fn open(&mut self, dir: Dir) -> Option<StreamId> {
        let local = &mut self.local[di(dir)];
        if local.next >= local.max {
            local.open_blocked = true;
            // RFC 9000 §4.6: a sender blocked by the stream limit should say
            // so with STREAMS_BLOCKED, once per limit.
            if local.blocked_at != Some(local.max) {
                local.blocked_at = Some(local.max);
                local.blocked_queued = true;
            }
            return None;
        }
        let id = Self::make_id(self.side, dir, local.next);
        local.next += 1;
        let stream = self.new_stream(id);
        self.streams.insert(id, stream);
        tracing::trace!(stream = %id, "opened stream");
        Some(id)
    }

    /// The next stream of `dir` the peer opened, in ID order.
    pub fn accept(&mut self, dir: Dir) -> Option<StreamId> {
        let peer = if self.side.is_client() {
            crate::Side::Server
        } else {
            crate::Side::Client
        };
        let remote = &mut self.remote[di(dir)];
        remote.opened_signalled = false;
        while remote.next_accept < remote.next {
            let id = Self::make_id(peer, dir, remote.next_accept);
            remote.next_accept += 1;
            if self.streams.contains_key(&id) {
                return Some(id);
            }
        }
        None
    }

    /// Queues `data` on the stream without copying it. Takes as much as the
    /// stream's and the connection's flow control and the send buffers
    /// allow, splitting `data` with [`Bytes::slice`]; returns how much.
    ///
    /// # Errors
    /// [`WriteError::Blocked`] when nothing could be taken (DATA_BLOCKED or
    /// STREAM_DATA_BLOCKED is queued when flow control is the cause), and
    /// the other [`WriteError`]s for streams that cannot take data.
    pub fn write(&mut self, id: StreamId, data: Bytes) -> Result<usize, WriteError> {
        self.check_writable(id)?;
        let Some(send) = send_half(&mut self.streams, id) else {
            return Err(WriteError::UnknownStream);
        };
        if data.is_empty() {
            return Ok(0);
        }
        let flow = &mut self.send_flow;
        let room = [
            send.max_data.saturating_sub(send.write_offset),
            flow.max_data.saturating_sub(flow.written),
            self.config
                .stream_send_buffer
                .saturating_sub(send.buffered()),
            self.config.send_buffer.saturating_sub(flow.buffered),
        ];
        let take = usize_len(room.into_iter().min().unwrap_or(0)).min(data.len());
        if take == 0 {
            if !send.write_blocked {
                send.write_blocked = true;
                // A stream unblocked by MAX_STREAM_DATA may still be listed.
                if !self.write_blocked.contains(&id) {
                    self.write_blocked.push(id);
                }
            }
            // RFC 9000 §4.1: a sender blocked by flow control should send
            // STREAM_DATA_BLOCKED or DATA_BLOCKED, once per limit.
            if room[0] == 0 && send.blocked_at != Some(send.max_data) {
                send.blocked_at = Some(send.max_data);
                if !send.blocked_queued {
                    send.blocked_queued = true;
                    self.control.push_back(Control::StreamDataBlocked(id));
                }
            }
            if room[1] == 0 && flow.blocked_at != Some(flow.max_data) {
                flow.blocked_at = Some(flow.max_data);
                flow.blocked_queued = true;
            }
            return Err(WriteError::Blocked);
        }
        let chunk = if take < data.len() {
            data.slice(..take)
        } else {
            data
        };
        send.push(chunk);
        flow.written += len64(take);
        flow.buffered += len64(take);
        self.schedule(id);
        Ok(take)
    }

    /// Ends the stream after the data written so far (a FIN).
    ///
    /// # Errors
    /// The [`WriteError`]s of [`write`](Self::write), except `Blocked`.
    pub fn finish(&mut self, id: StreamId) -> Result<(), WriteError> {
        self.check_writable(id)?;
        if let Some(send) = send_half(&mut self.streams, id) {
            send.finish();
        }
        self.schedule(id);
        Ok(())
    }

    /// Abandons sending on the stream with RESET_STREAM and `code`; data not
    /// yet acknowledged is dropped.
    ///
    /// # Errors
    /// [`WriteError::UnknownStream`] for a stream we cannot send on, and
    /// [`WriteError::ClosedStream`] when it was already reset or fully
    /// acknowledged.
    pub fn reset(&mut self, id: StreamId, code: VarInt) -> Result<(), WriteError> {
        let missing = self.missing_write(id);
        let send = send_half(&mut self.streams, id).ok_or(missing)?;
        // RFC 9000 §3.1: a reset is possible from Ready, Send and Data Sent.
        if !matches!(
            send.state,
            SendState::Ready | SendState::Send | SendState::DataSent
        ) {
            return Err(WriteError::ClosedStream);
        }
        let freed = send.reset(code);
        self.send_flow.buffered -= freed;
        if !send.reset_queued {
            send.reset_queued = true;
            self.control.push_back(Control::ResetStream(id));
        }
        tracing::trace!(stream = %id, code = code.into_inner(), "reset stream");
        Ok(())
    }

    /// Stops reading the stream: buffered data is dropped, later data is
    /// discarded, and the peer is asked with STOP_SENDING and `code` to stop.
    ///
    /// # Errors
    /// [`ReadError::UnknownStream`] for a stream we cannot receive on, and
    /// [`ReadError::ClosedStream`] when it was already read, stopped, or its
    /// reset reported.
    pub fn stop(&mut self, id: StreamId, code: VarInt) -> Result<(), ReadError> {
        let missing = self.missing_read(id);
        let recv = recv_half(&mut self.streams, id).ok_or(missing)?;
        if recv.stop_code.is_some() || recv.is_closed() {
            return Err(ReadError::ClosedStream);
        }
        recv.stop_code = Some(code);
        let read_offset = recv.asm.read_offset();
        let cost = recv.asm.cost();
        recv.asm.discard_to(read_offset);
        self.reassembly_cost -= cost.min(self.reassembly_cost);
        let Some(recv) = recv_half(&mut self.streams, id) else {
            return Ok(());
        };
        // RFC 9000 §3.5: STOP_SENDING is only useful while data may still
        // arrive: in Recv and Size Known.
        if matches!(recv.state, RecvState::Recv | RecvState::SizeKnown) && !recv.stop_queued {
            recv.stop_queued = true;
            self.control.push_back(Control::StopSending(id));
        }
        recv.settle_stopped();
        self.retire(id);
        self.maybe_free(id);
        Ok(())
    }

    /// Reads up to `max_len` bytes (a `max_len` of 0 reads nothing and
    /// returns [`ReadError::Blocked`]). `Ok(None)` means the stream is finished
    /// and every byte was read. In-order data is returned as slices of the
    /// packets it arrived in.
    ///
    /// With `ordered = false` any buffered chunk is returned, lowest offset
    /// first, so that data behind a loss need not wait for it; each byte is
    /// still returned once. Flow control credit is released only as the
    /// in-order prefix completes.
    ///
    /// # Errors
    /// [`ReadError::Blocked`] when nothing is ready, [`ReadError::Reset`]
    /// (once) when the peer reset the stream, and the ID errors.
    pub fn read(
        &mut self,
        id: StreamId,
        max_len: usize,
        ordered: bool,
    ) -> Result<Option<Chunk>, ReadError> {
        let clock = self.clock;
        let max_window = self.config.max_stream_receive_window;
        let missing = self.missing_read(id);
        let recv = recv_half(&mut self.streams, id).ok_or(missing)?;
        recv.readable_signalled = false;
        if recv.stop_code.is_some() {
            return Err(ReadError::ClosedStream);
        }
        match recv.state {
            RecvState::ResetRecvd => {
                // RFC 9000 §3.2: the application learning of the reset moves
                // Reset Recvd to Reset Read.
                recv.state = RecvState::ResetRead;
                let code = recv.reset_code.unwrap_or_default();
                self.maybe_free(id);
                return Err(ReadError::Reset { code });
            }
            RecvState::ResetRead | RecvState::DataRead => return Err(ReadError::ClosedStream),
            _ => {}
        }
        let cost = recv.asm.cost();
        let read = recv.read(max_len, ordered);
        let after = recv.asm.cost();
        self.recost(cost, after);
        let Some(recv) = recv_half(&mut self.streams, id) else {
            return Err(ReadError::ClosedStream);
        };
        if let Some((offset, bytes)) = read {
            if recv.maybe_raise(clock, max_window.max(recv.window)) && !recv.max_data_queued {
                recv.max_data_queued = true;
                self.control.push_back(Control::MaxStreamData(id));
            }
            self.retire(id);
            return Ok(Some(Chunk { offset, bytes }));
        }
        if recv.state == RecvState::DataRecvd && recv.asm.is_empty() {
            // RFC 9000 §3.2: reading all data moves Data Recvd to Data Read.
            recv.state = RecvState::DataRead;
            self.maybe_free(id);
            return Ok(None);
        }
        Err(ReadError::Blocked)
    }

    /// Sets the stream's urgency: streams with a lower value are sent first,
    /// streams with equal values share the link round-robin. 0 by default.
    ///
    /// # Errors
    /// [`WriteError::UnknownStream`] or [`WriteError::ClosedStream`] when
    /// there is no sending half to prioritise.
    pub fn set_priority(&mut self, id: StreamId, urgency: i32) -> Result<(), WriteError> {
        let missing = self.missing_write(id);
        let send = send_half(&mut self.streams, id).ok_or(missing)?;
        let old = std::mem::replace(&mut send.urgency, urgency);
        if send.queued && old != urgency {
            if let Some(level) = self.scheduler.get_mut(&old) {
                level.retain(|&queued| queued != id);
                if level.is_empty() {
                    self.drop_level(old);
                }
            }
            self.level(urgency).push_back(id);
        }
        Ok(())
    }

    /// Bytes written to the stream and not yet acknowledged; `None` when
    /// there is no such sending half (any more).
    #[must_use]
    pub fn send_buffered(&self, id: StreamId) -> Option<u64> {
        self.streams.get(&id)?.send.as_ref().map(SendHalf::buffered)
    }

    /// The state of the stream's sending half; `None` once freed or for a
    /// stream without one.
    #[must_use]
    pub fn send_state(&self, id: StreamId) -> Option<SendState> {
        Some(self.streams.get(&id)?.send.as_ref()?.state)
    }

    /// The state of the stream's receiving half; `None` once freed or for a
    /// stream without one.
    #[must_use]
    pub fn recv_state(&self, id: StreamId) -> Option<RecvState> {
        Some(self.streams.get(&id)?.recv.as_ref()?.state)
    }

    /// Bytes written on all streams and not yet acknowledged.
    #[must_use]
    pub fn send_buffered_total(&self) -> u64 {
        self.send_flow.buffered
    }

    /// Bytes received and not yet read, over all streams.
    #[must_use]
    pub fn recv_buffered(&self) -> u64 {
        self.streams
            .values()
            .filter_map(|s| s.recv.as_ref())
            .map(|recv| recv.asm.buffered())
            .sum()
    }

    /// Puts a stream with something to send into the scheduler.
    pub(super) fn schedule(&mut self, id: StreamId) {
        let Some(send) = send_half(&mut self.streams, id) else {
            return;
        };
        if !send.queued && send.has_sendable() {
            send.queued = true;
            let urgency = send.urgency;
            self.level(urgency).push_back(id);
        }
    }

    /// Checks that the application may write to (or finish) the stream.
    fn check_writable(&self, id: StreamId) -> Result<(), WriteError> {
        let send = self
            .streams
            .get(&id)
            .and_then(|s| s.send.as_ref())
            .ok_or_else(|| self.missing_write(id))?;
        if let Some(code) = send.stop_code {
            return Err(WriteError::Stopped { code });
        }
        if !send.is_writable() {
            return Err(WriteError::ClosedStream);
        }
        Ok(())
    }

    /// The error for a stream ID without a sending half.
    fn missing_write(&self, id: StreamId) -> WriteError {
        if self.can_send(id) && self.was_opened(id) {
            WriteError::ClosedStream
        } else {
            WriteError::UnknownStream
        }
    }

    /// The error for a stream ID without a receiving half.
    fn missing_read(&self, id: StreamId) -> ReadError {
        if self.can_recv(id) && self.was_opened(id) {
            ReadError::ClosedStream
        } else {
            ReadError::UnknownStream
        }
    }

    /// Whether the stream was ever opened, by either side.
    fn was_opened(&self, id: StreamId) -> bool {
        let d = di(id.dir());
        if self.is_local(id) {
            id.index() < self.local[d].next
        } else {
            id.index() < self.remote[d].next
        }
    }
}

/// The sending half of `id`, when the stream is held and has one.
pub(super) fn send_half(
    streams: &mut HashMap<StreamId, Stream>,
    id: StreamId,
) -> Option<&mut SendHalf> {
    streams.get_mut(&id)?.send.as_mut()
}

/// The receiving half of `id`, when the stream is held and has one.
pub(super) fn recv_half(
    streams: &mut HashMap<StreamId, Stream>,
    id: StreamId,
) -> Option<&mut RecvHalf> {
    streams.get_mut(&id)?.recv.as_mut()
}
