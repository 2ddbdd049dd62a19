//! Stream frames from the peer (RFC 9000 §19.4, §19.5, §19.8-§19.14).

use super::{
    Control, RecvState, SendState, StreamEvent, Streams,
    app::{recv_half, send_half},
    di,
};
use crate::{
    error::TransportError,
    frame::{
        Frame, FrameType, MaxStreamData, MaxStreams, ResetStream, StopSending, Stream,
        StreamDataBlocked, StreamsBlocked,
    },
    varint::VarInt,
};

impl Streams {
    /// Handles `frame` when it is a stream or flow control frame; hands any
    /// other frame back untouched as `Ok(Some(frame))`.
    ///
    /// # Errors
    /// The [`TransportError`] to close the connection with, as the handler
    /// for the frame returns it.
    pub fn on_frame(&mut self, frame: Frame) -> Result<Option<Frame>, TransportError> {
        match frame {
            Frame::Stream(frame) => self.on_stream(frame)?,
            Frame::ResetStream(frame) => self.on_reset_stream(frame)?,
            Frame::StopSending(frame) => self.on_stop_sending(frame)?,
            Frame::MaxData(max) => self.on_max_data(max),
            Frame::MaxStreamData(frame) => self.on_max_stream_data(frame)?,
            Frame::MaxStreams(frame) => self.on_max_streams(frame),
            Frame::DataBlocked(limit) => self.on_data_blocked(limit),
            Frame::StreamDataBlocked(frame) => self.on_stream_data_blocked(frame)?,
            Frame::StreamsBlocked(frame) => self.on_streams_blocked(frame),
            other => return Ok(Some(other)),
        }
        Ok(None)
    }

    /// Handles a STREAM frame.
    ///
    /// # Errors
    /// STREAM_STATE_ERROR for a send-only stream or a local stream not yet
    /// opened, STREAM_LIMIT_ERROR for a peer stream beyond our limit,
    /// FLOW_CONTROL_ERROR for data beyond a limit or too fragmented, and
    /// FINAL_SIZE_ERROR for data past or changing the final size.
    pub fn on_stream(&mut self, frame: Stream) -> Result<(), TransportError> {
        let ty = frame.header().ty();
        let id = frame.id;
        // RFC 9000 §19.8: a STREAM frame for a send-only stream is
        // STREAM_STATE_ERROR.
        if !self.can_recv(id) {
            return Err(
                TransportError::stream_state_error("stream frame for a send-only stream")
                    .in_frame(ty),
            );
        }
        if self
            .incoming_stream(id)
            .map_err(|e| e.in_frame(ty))?
            .is_none()
        {
            return Ok(()); // RFC 9000 §3.2: a closed stream's late data is ignored.
        }
        let Some(recv) = recv_half(&mut self.streams, id) else {
            return Ok(());
        };
        recv.received_0rtt |= self.zero_rtt_input;
        let before = recv.asm.cost();
        let result = recv.on_data(frame.offset.into_inner(), frame.data, frame.fin);
        let after = recv.asm.cost();
        self.recost(before, after);
        let used = result.map_err(|e| e.in_frame(ty))?;
        // RFC 9000 §21.9: a peer whose data costs far more to hold than its
        // bytes (one-byte gaps on many streams) is closed; flow control
        // sized our buffers for its bytes, so the code is FLOW_CONTROL_ERROR.
        if self.reassembly_cost > self.reassembly_budget() {
            return Err(TransportError::flow_control_error(
                "stream data too fragmented for the connection's reassembly budget",
            )
            .in_frame(ty));
        }
        let Some(recv) = recv_half(&mut self.streams, id) else {
            return Ok(());
        };
        recv.settle_stopped();
        let readable = recv.stop_code.is_none()
            && !recv.readable_signalled
            && (recv.is_readable() || recv.state == RecvState::DataRecvd);
        if readable {
            recv.readable_signalled = true;
            self.events.push_back(StreamEvent::Readable { id });
        }
        self.use_credit(used).map_err(|e| e.in_frame(ty))?;
        self.retire(id);
        self.maybe_free(id);
        Ok(())
    }

    /// Counts credit the peer used against our connection limit.
    fn use_credit(&mut self, used: u64) -> Result<(), TransportError> {
        self.recv_flow.received = self.recv_flow.received.saturating_add(used);
        // RFC 9000 §4.1: data beyond the connection limit is FLOW_CONTROL_ERROR.
        if self.recv_flow.received > self.recv_flow.max_data {
            return Err(TransportError::flow_control_error(
                "stream data beyond the connection limit",
            ));
        }
        Ok(())
    }

    /// Handles a RESET_STREAM frame.
    ///
    /// # Errors
    /// STREAM_STATE_ERROR for a send-only stream, the stream ID errors of
    /// [`on_stream`](Self::on_stream), FINAL_SIZE_ERROR for a final size
    /// that contradicts what arrived, FLOW_CONTROL_ERROR beyond a limit.
    pub fn on_reset_stream(&mut self, frame: ResetStream) -> Result<(), TransportError> {
        let ty = FrameType::RESET_STREAM;
        let id = frame.id;
        // RFC 9000 §19.4: RESET_STREAM for a send-only stream is
        // STREAM_STATE_ERROR.
        if !self.can_recv(id) {
            return Err(
                TransportError::stream_state_error("reset for a send-only stream").in_frame(ty),
            );
        }
        if self
            .incoming_stream(id)
            .map_err(|e| e.in_frame(ty))?
            .is_none()
        {
            return Ok(());
        }
        let Some(recv) = recv_half(&mut self.streams, id) else {
            return Ok(());
        };
        let before = recv.state;
        let cost = recv.asm.cost();
        let result = recv.on_reset(frame.error_code, frame.final_size.into_inner());
        let after = recv.asm.cost();
        let used = result.map_err(|e| e.in_frame(ty))?;
        let stopped = recv.stop_code.is_some();
        recv.settle_stopped();
        if before != RecvState::ResetRecvd && recv.state == RecvState::ResetRecvd && !stopped {
            let code = frame.error_code;
            self.events.push_back(StreamEvent::Reset { id, code });
        }
        self.recost(cost, after);
        self.use_credit(used).map_err(|e| e.in_frame(ty))?;
        self.retire(id);
        self.maybe_free(id);
        Ok(())
    }

    /// Handles a STOP_SENDING frame: we reset the stream with the same code.
    ///
    /// # Errors
    /// STREAM_STATE_ERROR for a receive-only stream, and the stream ID
    /// errors of [`on_stream`](Self::on_stream).
    pub fn on_stop_sending(&mut self, frame: StopSending) -> Result<(), TransportError> {
        let ty = FrameType::STOP_SENDING;
        let id = frame.id;
        // RFC 9000 §19.5: STOP_SENDING for a receive-only stream is
        // STREAM_STATE_ERROR.
        if !self.can_send(id) {
            return Err(TransportError::stream_state_error(
                "stop sending for a receive-only stream",
            )
            .in_frame(ty));
        }
        if self
            .incoming_stream(id)
            .map_err(|e| e.in_frame(ty))?
            .is_none()
        {
            return Ok(());
        }
        let Some(send) = send_half(&mut self.streams, id) else {
            return Ok(());
        };
        if send.stop_code.is_some() {
            return Ok(());
        }
        let code = frame.error_code;
        send.stop_code = Some(code);
        // RFC 9000 §3.5: STOP_SENDING is answered with RESET_STREAM carrying
        // the same error code.
        if matches!(
            send.state,
            SendState::Ready | SendState::Send | SendState::DataSent
        ) {
            let freed = send.reset(code);
            self.send_flow.buffered -= freed;
            if !send.reset_queued {
                send.reset_queued = true;
                self.control.push_back(Control::ResetStream(id));
            }
            self.events.push_back(StreamEvent::Stopped { id, code });
            tracing::trace!(stream = %id, code = code.into_inner(), "peer stopped stream");
        }
        Ok(())
    }

    /// Handles a MAX_DATA frame: the connection's send limit grows.
    pub fn on_max_data(&mut self, max: VarInt) {
        // RFC 9000 §19.9: a MAX_DATA that does not raise the limit is ignored.
        if max.into_inner() > self.send_flow.max_data {
            self.send_flow.max_data = max.into_inner();
            self.on_send_capacity();
        }
    }

    /// Handles a MAX_STREAM_DATA frame: a stream's send limit grows.
    ///
    /// # Errors
    /// STREAM_STATE_ERROR for a receive-only stream or a local stream not
    /// yet opened; STREAM_LIMIT_ERROR beyond our stream limit.
    pub fn on_max_stream_data(&mut self, frame: MaxStreamData) -> Result<(), TransportError> {
        let ty = FrameType::MAX_STREAM_DATA;
        let id = frame.id;
        // RFC 9000 §19.10: MAX_STREAM_DATA for a receive-only stream is
        // STREAM_STATE_ERROR.
        if !self.can_send(id) {
            return Err(TransportError::stream_state_error(
                "max stream data for a receive-only stream",
            )
            .in_frame(ty));
        }
        if self
            .incoming_stream(id)
            .map_err(|e| e.in_frame(ty))?
            .is_none()
        {
            return Ok(());
        }
        let Some(send) = send_half(&mut self.streams, id) else {
            return Ok(());
        };
        // RFC 9000 §19.10: a MAX_STREAM_DATA that does not raise the limit is
        // ignored.
        if frame.max_data.into_inner() > send.max_data {
            send.max_data = frame.max_data.into_inner();
            if send.write_blocked {
                send.write_blocked = false;
                self.events.push_back(StreamEvent::Writable { id });
            }
        }
        Ok(())
    }

    /// Handles a MAX_STREAMS frame: we may open more streams.
    pub fn on_max_streams(&mut self, frame: MaxStreams) {
        // RFC 9000 §19.11: a MAX_STREAMS that does not raise the limit is
        // ignored; the codec already refused counts above 2^60.
        self.raise_local_max(frame.dir, frame.count.into_inner());
    }

    /// Handles a DATA_BLOCKED frame: when we already allow more than the
    /// peer's limit, the MAX_DATA it missed goes out at once.
    pub fn on_data_blocked(&mut self, limit: VarInt) {
        tracing::trace!(
            limit = limit.into_inner(),
            "peer blocked by connection flow control"
        );
        // RFC 9000 §4.1, §19.12: the peer is blocked at a limit below ours;
        // our update was lost or is still on its way.
        if self.recv_flow.max_data > limit.into_inner() {
            self.recv_flow.queued = true;
        }
    }

    /// Handles a STREAM_DATA_BLOCKED frame; it may open a peer stream.
    ///
    /// # Errors
    /// STREAM_STATE_ERROR for a send-only stream or a local stream not yet
    /// opened; STREAM_LIMIT_ERROR beyond our stream limit.
    pub fn on_stream_data_blocked(
        &mut self,
        frame: StreamDataBlocked,
    ) -> Result<(), TransportError> {
        let ty = FrameType::STREAM_DATA_BLOCKED;
        // RFC 9000 §19.13: STREAM_DATA_BLOCKED for a send-only stream is
        // STREAM_STATE_ERROR.
        if !self.can_recv(frame.id) {
            return Err(TransportError::stream_state_error(
                "stream data blocked for a send-only stream",
            )
            .in_frame(ty));
        }
        if self
            .incoming_stream(frame.id)
            .map_err(|e| e.in_frame(ty))?
            .is_none()
        {
            return Ok(());
        }
        tracing::trace!(stream = %frame.id, limit = frame.limit.into_inner(), "peer stream blocked");
        // RFC 9000 §4.1, §19.13: the peer is blocked at a limit below ours;
        // our MAX_STREAM_DATA was lost or is still on its way.
        if let Some(recv) = recv_half(&mut self.streams, frame.id)
            && recv.max_data > frame.limit.into_inner()
            && recv.state == RecvState::Recv
            && recv.stop_code.is_none()
            && !recv.max_data_queued
        {
            recv.max_data_queued = true;
            self.control.push_back(Control::MaxStreamData(frame.id));
        }
        Ok(())
    }

    /// Handles a STREAMS_BLOCKED frame: when streams the peer opened were
    /// freed since the limit it is blocked at, the MAX_STREAMS goes out at
    /// once (otherwise our limit rises as its streams close).
    pub fn on_streams_blocked(&mut self, frame: StreamsBlocked) {
        tracing::trace!(dir = ?frame.dir, limit = frame.limit.into_inner(), "peer blocked by stream limit");
        // RFC 9000 §4.6, §19.14: a peer blocked by the stream limit must not
        // wait for a packet we send for another reason.
        let remote = &mut self.remote[di(frame.dir)];
        if remote.max > frame.limit.into_inner() {
            remote.max_queued = true;
            remote.max_urgent = true;
        }
    }
}
