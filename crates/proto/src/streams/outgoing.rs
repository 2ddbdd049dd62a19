//! Stream frames to send: flow control and stream control frames, and
//! STREAM frames chosen by priority (RFC 9000 §2.3, §4, §13.3).

use super::{
    Control, RecvState, SendState, Streams,
    app::{recv_half, send_half},
    send::{len64, vi},
    sent::{SentFrame, SentStreamFrames},
};
use crate::frame::{
    Dir, Frame, MaxStreamData, MaxStreams, ResetStream, StopSending, StreamDataBlocked,
    StreamHeader, StreamsBlocked,
};

/// Writes `frame` when it fits below `limit`; returns whether it did.
fn put(buf: &mut Vec<u8>, limit: usize, frame: &Frame) -> bool {
    if buf.len().saturating_add(frame.encoded_len()) > limit {
        return false;
    }
    frame.encode(buf);
    true
}

impl Streams {
    /// Whether a stream or control frame is waiting and could be sent now.
    /// A credit update that is not due yet does not count: it waits for a
    /// packet that goes out anyway (see
    /// [`write_deferred_credit`](Self::write_deferred_credit)).
    #[must_use]
    pub fn wants_to_send(&self) -> bool {
        let control = !self.control.is_empty()
            || self.recv_flow.queued
            || self.send_flow.blocked_queued
            || self.local.iter().any(|l| l.blocked_queued)
            || [Dir::Bi, Dir::Uni]
                .into_iter()
                .any(|dir| self.max_streams_due(dir));
        control
            || self.scheduler.values().flatten().any(|id| {
                self.streams
                    .get(id)
                    .and_then(|s| s.send.as_ref())
                    .is_some_and(super::send::SendHalf::has_sendable)
            })
    }

    /// Whether a credit update is queued that is not due yet: it rides
    /// along with the next packet that elicits an acknowledgement anyway.
    #[must_use]
    pub fn has_deferred_credit(&self) -> bool {
        [Dir::Bi, Dir::Uni]
            .into_iter()
            .any(|dir| self.remote[super::di(dir)].max_queued && !self.max_streams_due(dir))
    }

    /// Appends every queued credit update, due or not, to `buf` while it is
    /// shorter than `limit`, recording them in `sent`.
    ///
    /// Call it only for a packet that is ack-eliciting anyway (it carries
    /// stream data, or other frames that elicit an acknowledgement): a
    /// credit update alone would make an ACK-only packet ack-eliciting and
    /// cost the peer an acknowledgement. Updates that are due go out with
    /// [`write_control_frames`](Self::write_control_frames) regardless.
    ///
    /// Only MAX_STREAMS waits: MAX_DATA and MAX_STREAM_DATA are queued once
    /// the peer's credit fell below half the window, when they are due.
    pub fn write_deferred_credit(
        &mut self,
        buf: &mut Vec<u8>,
        limit: usize,
        sent: &mut SentStreamFrames,
    ) {
        for dir in [Dir::Bi, Dir::Uni] {
            if !self.write_max_streams(dir, buf, limit, sent) {
                return;
            }
        }
    }

    /// Appends pending flow control and stream control frames to `buf`
    /// while it is shorter than `limit`, recording them in `sent`. Frames
    /// that do not fit stay queued, and so do credit updates that are not
    /// due yet (see [`write_deferred_credit`](Self::write_deferred_credit)).
    pub fn write_control_frames(
        &mut self,
        buf: &mut Vec<u8>,
        limit: usize,
        sent: &mut SentStreamFrames,
    ) {
        if self.recv_flow.queued {
            let frame = Frame::MaxData(vi(self.recv_flow.max_data));
            if !put(buf, limit, &frame) {
                return;
            }
            self.recv_flow.queued = false;
            sent.push(SentFrame::MaxData);
        }
        for dir in [Dir::Bi, Dir::Uni] {
            if !self.write_stream_limits(dir, buf, limit, sent) {
                return;
            }
        }
        // RFC 9000 §19.12: DATA_BLOCKED only while still blocked at the limit.
        if self.send_flow.written < self.send_flow.max_data {
            self.send_flow.blocked_queued = false;
        }
        if self.send_flow.blocked_queued {
            let limit_now = self.send_flow.max_data;
            if !put(buf, limit, &Frame::DataBlocked(vi(limit_now))) {
                return;
            }
            self.send_flow.blocked_queued = false;
            sent.push(SentFrame::DataBlocked(limit_now));
        }
        while let Some(control) = self.control.pop_front() {
            if !self.write_control(control, buf, limit, sent) {
                self.control.push_front(control);
                return;
            }
        }
    }

    /// Writes the MAX_STREAMS of one direction when queued; `false` when it
    /// did not fit.
    fn write_max_streams(
        &mut self,
        dir: Dir,
        buf: &mut Vec<u8>,
        limit: usize,
        sent: &mut SentStreamFrames,
    ) -> bool {
        let remote = &mut self.remote[super::di(dir)];
        if !remote.max_queued {
            return true;
        }
        let count = remote.max;
        let frame = Frame::MaxStreams(MaxStreams {
            dir,
            count: vi(count),
        });
        if !put(buf, limit, &frame) {
            return false;
        }
        remote.max_queued = false;
        remote.max_urgent = false;
        remote.advertised = remote.advertised.max(count);
        sent.push(SentFrame::MaxStreams(dir, count));
        true
    }

    /// Writes MAX_STREAMS (when due) and STREAMS_BLOCKED of one direction
    /// when queued; `false` when a frame did not fit.
    fn write_stream_limits(
        &mut self,
        dir: Dir,
        buf: &mut Vec<u8>,
        limit: usize,
        sent: &mut SentStreamFrames,
    ) -> bool {
        if self.max_streams_due(dir) && !self.write_max_streams(dir, buf, limit, sent) {
            return false;
        }
        let local = &mut self.local[super::di(dir)];
        if local.blocked_queued {
            let at = local.max;
            // RFC 9000 §19.14: STREAMS_BLOCKED carries the limit we are at.
            let frame = Frame::StreamsBlocked(StreamsBlocked { dir, limit: vi(at) });
            if !put(buf, limit, &frame) {
                return false;
            }
            local.blocked_queued = false;
            sent.push(SentFrame::StreamsBlocked(dir, at));
        }
        true
    }

    /// Writes one queued per-stream control frame with its current values;
    /// `false` when it did not fit. A frame no longer needed is dropped.
    fn write_control(
        &mut self,
        control: Control,
        buf: &mut Vec<u8>,
        limit: usize,
        sent: &mut SentStreamFrames,
    ) -> bool {
        let (frame, record) = match control {
            Control::MaxStreamData(id) => {
                let Some(recv) = recv_half(&mut self.streams, id) else {
                    return true;
                };
                recv.max_data_queued = false;
                if recv.state != RecvState::Recv || recv.stop_code.is_some() {
                    return true;
                }
                let max_data = vi(recv.max_data);
                (
                    Frame::MaxStreamData(MaxStreamData { id, max_data }),
                    SentFrame::MaxStreamData(id),
                )
            }
            Control::StreamDataBlocked(id) => {
                let Some(send) = send_half(&mut self.streams, id) else {
                    return true;
                };
                send.blocked_queued = false;
                if send.write_offset < send.max_data || !send.is_writable() {
                    return true;
                }
                let at = send.max_data;
                (
                    Frame::StreamDataBlocked(StreamDataBlocked { id, limit: vi(at) }),
                    SentFrame::StreamDataBlocked(id, at),
                )
            }
            Control::ResetStream(id) => {
                let Some(send) = send_half(&mut self.streams, id) else {
                    return true;
                };
                send.reset_queued = false;
                if send.state != SendState::ResetSent {
                    return true;
                }
                // RFC 9000 §4.5: the final size is every byte written, all of
                // which counted against flow control.
                let frame = ResetStream {
                    id,
                    error_code: send.reset_code.unwrap_or_default(),
                    final_size: vi(send.write_offset),
                };
                (Frame::ResetStream(frame), SentFrame::ResetStream(id))
            }
            Control::StopSending(id) => {
                let Some(recv) = recv_half(&mut self.streams, id) else {
                    return true;
                };
                recv.stop_queued = false;
                if !matches!(recv.state, RecvState::Recv | RecvState::SizeKnown) {
                    return true;
                }
                let error_code = recv.stop_code.unwrap_or_default();
                (
                    Frame::StopSending(StopSending { id, error_code }),
                    SentFrame::StopSending(id),
                )
            }
        };
        if !put(buf, limit, &frame) {
            self.requeue_flag(control);
            return false;
        }
        sent.push(record);
        true
    }

    /// Sets the dedup flag again for a control frame put back in the queue.
    fn requeue_flag(&mut self, control: Control) {
        match control {
            Control::MaxStreamData(id) | Control::StopSending(id) => {
                if let Some(recv) = recv_half(&mut self.streams, id) {
                    match control {
                        Control::StopSending(_) => recv.stop_queued = true,
                        _ => recv.max_data_queued = true,
                    }
                }
            }
            Control::StreamDataBlocked(id) | Control::ResetStream(id) => {
                if let Some(send) = send_half(&mut self.streams, id) {
                    match control {
                        Control::ResetStream(_) => send.reset_queued = true,
                        _ => send.blocked_queued = true,
                    }
                }
            }
        }
    }

    /// Appends STREAM frames to `buf` while it is shorter than `limit`:
    /// lower urgency first, round-robin among streams of equal urgency (one
    /// frame each per turn), each stream's lost data before its new data.
    /// Data is copied from the stream's buffers into `buf` once.
    pub fn write_stream_frames(
        &mut self,
        buf: &mut Vec<u8>,
        limit: usize,
        sent: &mut SentStreamFrames,
    ) {
        while buf.len() < limit {
            let Some(mut level) = self.scheduler.first_entry() else {
                break;
            };
            let urgency = *level.key();
            let Some(id) = level.get_mut().pop_front() else {
                self.spare_level = level.remove();
                continue;
            };
            if level.get().is_empty() {
                self.spare_level = level.remove();
            }
            let Some(send) = send_half(&mut self.streams, id) else {
                continue;
            };
            if !send.has_sendable() {
                send.queued = false;
                continue;
            }
            let Some(plan) = send.plan(id, limit - buf.len()) else {
                // Not even a header fits: keep the stream's turn for the
                // next packet.
                self.level(urgency).push_front(id);
                break;
            };
            let header = StreamHeader {
                id,
                offset: vi(plan.offset),
                fin: plan.fin,
                len: Some(plan.len),
            };
            header.encode(buf);
            send.copy_to(plan.offset, plan.len, buf);
            tracing::trace!(stream = %id, offset = plan.offset, len = plan.len, fin = plan.fin, "stream frame");
            sent.push(SentFrame::Stream {
                id,
                range: plan.offset..plan.offset + len64(plan.len),
                fin: plan.fin,
            });
            if send.has_sendable() {
                self.level(urgency).push_back(id);
            } else {
                send.queued = false;
            }
        }
    }
}
