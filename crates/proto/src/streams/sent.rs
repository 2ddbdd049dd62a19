//! What stream frames went into a packet, and what happens when that
//! packet is acknowledged or lost (RFC 9000 §13.3).

use std::ops::Range;

use smallvec::SmallVec;

use super::{
    Control, RecvState, SendState, StreamEvent, Streams, app::recv_half, app::send_half, di,
};
use crate::frame::{Dir, StreamId};

/// The stream and flow control frames written into one packet.
///
/// Give it back to [`Streams::on_acked`] or [`Streams::on_lost`] when the
/// packet's fate is known. Up to two frames are held inline,
/// so the usual packet (one STREAM frame, perhaps a credit update) records
/// its frames without allocating.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentStreamFrames {
    frames: SmallVec<[SentFrame; INLINE_FRAMES]>,
}

/// Frames a packet's record holds without allocating.
const INLINE_FRAMES: usize = 2;

/// One frame recorded in [`SentStreamFrames`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SentFrame {
    /// A STREAM frame: its stream, byte range and FIN bit.
    Stream {
        id: StreamId,
        range: Range<u64>,
        fin: bool,
    },
    MaxData,
    MaxStreamData(StreamId),
    /// A MAX_STREAMS and the limit it carried.
    MaxStreams(Dir, u64),
    DataBlocked(u64),
    StreamDataBlocked(StreamId, u64),
    StreamsBlocked(Dir, u64),
    ResetStream(StreamId),
    StopSending(StreamId),
}

impl SentStreamFrames {
    /// Whether no stream frame was recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The STREAM frames recorded: stream, byte range and FIN bit.
    pub fn stream_frames(&self) -> impl Iterator<Item = (StreamId, Range<u64>, bool)> + '_ {
        self.frames.iter().filter_map(|frame| match frame {
            SentFrame::Stream { id, range, fin } => Some((*id, range.clone(), *fin)),
            _ => None,
        })
    }

    /// Records a frame.
    pub(super) fn push(&mut self, frame: SentFrame) {
        self.frames.push(frame);
    }
}

impl Streams {
    /// The packet holding `sent` was acknowledged: frees acknowledged data,
    /// completes finished streams and acknowledged resets.
    pub fn on_acked(&mut self, sent: SentStreamFrames) {
        let mut freed_any = false;
        for frame in sent.frames {
            match frame {
                SentFrame::Stream { id, range, fin } => {
                    let Some(send) = send_half(&mut self.streams, id) else {
                        continue;
                    };
                    let before = send.state;
                    let freed = send.on_acked(range, fin);
                    self.send_flow.buffered -= freed;
                    freed_any |= freed > 0;
                    if before != SendState::DataRecvd && send.state == SendState::DataRecvd {
                        self.events.push_back(StreamEvent::Finished { id });
                        self.maybe_free(id);
                    }
                }
                SentFrame::ResetStream(id) => {
                    if let Some(send) = send_half(&mut self.streams, id) {
                        send.on_reset_acked();
                        self.maybe_free(id);
                    }
                }
                SentFrame::MaxStreams(dir, count) => {
                    let remote = &mut self.remote[di(dir)];
                    remote.acked = remote.acked.max(count);
                }
                _ => {}
            }
        }
        if freed_any {
            self.on_send_capacity();
        }
    }

    /// The packet holding `sent` was lost: its STREAM data is queued again,
    /// exactly the lost ranges, and its control frames are sent again with
    /// their current values when they still matter (RFC 9000 §13.3).
    pub fn on_lost(&mut self, sent: SentStreamFrames) {
        for frame in sent.frames {
            match frame {
                SentFrame::Stream { id, range, fin } => {
                    if let Some(send) = send_half(&mut self.streams, id) {
                        send.on_lost(range, fin);
                        self.schedule(id);
                    }
                }
                // RFC 9000 §13.3: flow control updates are resent with the
                // current value.
                SentFrame::MaxData => self.recv_flow.queued = true,
                SentFrame::MaxStreams(dir, count) => self.requeue_max_streams(dir, count),
                SentFrame::MaxStreamData(id) => self.requeue_max_stream_data(id),
                SentFrame::DataBlocked(limit) => {
                    let flow = &mut self.send_flow;
                    if flow.max_data == limit && flow.written >= limit {
                        flow.blocked_queued = true;
                    }
                }
                SentFrame::StreamDataBlocked(id, limit) => self.requeue_blocked(id, limit),
                SentFrame::StreamsBlocked(dir, limit) => {
                    let local = &mut self.local[di(dir)];
                    if local.max == limit && local.next >= limit {
                        local.blocked_queued = true;
                    }
                }
                SentFrame::ResetStream(id) => self.requeue_reset(id),
                SentFrame::StopSending(id) => self.requeue_stop(id),
            }
        }
    }

    /// RFC 9000 §13.3: a lost MAX_STREAMS is resent with the current limit,
    /// at once, unless the peer acknowledged as high a limit since.
    fn requeue_max_streams(&mut self, dir: Dir, count: u64) {
        let remote = &mut self.remote[di(dir)];
        if remote.acked < count {
            remote.max_queued = true;
            remote.max_urgent = true;
        }
    }

    /// RFC 9000 §13.3: MAX_STREAM_DATA is resent until the final size is known.
    fn requeue_max_stream_data(&mut self, id: StreamId) {
        if let Some(recv) = recv_half(&mut self.streams, id)
            && recv.state == RecvState::Recv
            && recv.stop_code.is_none()
            && !recv.max_data_queued
        {
            recv.max_data_queued = true;
            self.control.push_back(Control::MaxStreamData(id));
        }
    }

    /// RFC 9000 §13.3: STREAM_DATA_BLOCKED is resent while still blocked at
    /// the same limit.
    fn requeue_blocked(&mut self, id: StreamId, limit: u64) {
        if let Some(send) = send_half(&mut self.streams, id) {
            let blocked = send.max_data == limit && send.write_offset >= limit;
            if blocked && send.is_writable() && !send.blocked_queued {
                send.blocked_queued = true;
                self.control.push_back(Control::StreamDataBlocked(id));
            }
        }
    }

    /// RFC 9000 §13.3: RESET_STREAM is resent until acknowledged.
    fn requeue_reset(&mut self, id: StreamId) {
        if let Some(send) = send_half(&mut self.streams, id)
            && send.state == SendState::ResetSent
            && !send.reset_queued
        {
            send.reset_queued = true;
            self.control.push_back(Control::ResetStream(id));
        }
    }

    /// RFC 9000 §13.3: STOP_SENDING is resent until the stream leaves Recv or
    /// Size Known.
    fn requeue_stop(&mut self, id: StreamId) {
        if let Some(recv) = recv_half(&mut self.streams, id) {
            let live = matches!(recv.state, RecvState::Recv | RecvState::SizeKnown);
            if live && recv.stop_code.is_some() && !recv.stop_queued {
                recv.stop_queued = true;
                self.control.push_back(Control::StopSending(id));
            }
        }
    }
}
