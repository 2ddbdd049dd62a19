//! Streams (RFC 9000 §2, §3, §4): every stream of one connection, its flow
//! control, and the stream frames that go with it.
//!
//! [`Streams`] is a sans-IO manager: the connection hands it the stream
//! frames it received ([`Streams::on_stream`] and friends), asks it for
//! frames to send ([`Streams::write_control_frames`],
//! [`Streams::write_stream_frames`], and [`Streams::write_deferred_credit`]
//! for a packet that elicits an ACK anyway), tells it which of those were
//! acknowledged or lost ([`Streams::on_acked`], [`Streams::on_lost`]), and
//! forwards the application's calls ([`Streams::open`], [`Streams::write`],
//! [`Streams::read`], ...). It reports what the application should learn as
//! [`StreamEvent`]s.
//!
//! Memory: nothing is allocated until a stream is used. Written data stays
//! in the application's [`Bytes`] until it is acknowledged; received data
//! stays in the packet buffers it arrived in (see [`assembler`]). What a
//! peer can make us hold is bounded by [`StreamsConfig`].
//!
//! ```
//! use bytes::Bytes;
//! use tern_proto::{
//!     Dir, Side,
//!     streams::{SentStreamFrames, Streams, StreamsConfig},
//!     transport_params::TransportParameters,
//! };
//!
//! let mut client = Streams::new(Side::Client, StreamsConfig::default());
//! let mut peer = TransportParameters::default();
//! StreamsConfig::default().apply_to(&mut peer);
//! client.set_peer_params(&peer);
//! let id = client.open(Dir::Uni).unwrap();
//! assert_eq!(client.write(id, Bytes::from_static(b"hello")), Ok(5));
//! client.finish(id).unwrap();
//! let (mut buf, mut sent) = (Vec::new(), SentStreamFrames::default());
//! client.write_stream_frames(&mut buf, 1200, &mut sent);
//! assert!(!sent.is_empty() && !client.wants_to_send());
//! ```

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    time::{Duration, Instant},
};

use bytes::Bytes;

use crate::{
    Side,
    error::TransportError,
    frame::{Dir, StreamId},
    transport_params::TransportParameters,
    varint::VarInt,
};

mod app;
pub mod assembler;
mod config;
mod error;
mod incoming;
mod outgoing;
mod recv;
mod send;
mod sent;
#[cfg(test)]
mod tests;

pub use config::StreamsConfig;
pub use error::{ReadError, WriteError};
pub use recv::RecvState;
pub use send::SendState;
pub use sent::SentStreamFrames;

use self::{recv::RecvHalf, send::SendHalf};

/// Data read from a stream: `bytes` start at stream offset `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The stream offset of the first byte.
    pub offset: u64,
    /// The data, a zero-copy slice of the packet it arrived in when possible.
    pub bytes: Bytes,
}

/// Something the application should learn about its streams.
///
/// Each kind is raised at most once until the application acts on it (for
/// `Readable`, until it reads; for `Opened`, until it accepts), so the queue
/// stays bounded by the number of streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEvent {
    /// The peer opened streams of this direction; call [`Streams::accept`].
    Opened {
        /// The direction of the new streams.
        dir: Dir,
    },
    /// Data, the end of the stream, or a reset can be read.
    Readable {
        /// The stream.
        id: StreamId,
    },
    /// A stream whose write was blocked can take data again.
    Writable {
        /// The stream.
        id: StreamId,
    },
    /// All our data and the FIN were acknowledged.
    Finished {
        /// The stream.
        id: StreamId,
    },
    /// The peer sent STOP_SENDING; we reset the stream with the same code.
    Stopped {
        /// The stream.
        id: StreamId,
        /// The peer's application error code.
        code: VarInt,
    },
    /// The peer reset the stream.
    Reset {
        /// The stream.
        id: StreamId,
        /// The peer's application error code.
        code: VarInt,
    },
    /// The peer raised its stream limit after [`Streams::open`] returned
    /// `None`: streams of this direction can be opened again.
    Available {
        /// The direction.
        dir: Dir,
    },
}

/// Both halves of one stream; a half is `None` when the direction does not
/// exist (a unidirectional stream).
#[derive(Debug)]
struct Stream {
    send: Option<SendHalf>,
    recv: Option<RecvHalf>,
}

/// Streams we open, of one direction.
#[derive(Debug, Default)]
struct LocalIds {
    /// How many we opened.
    next: u64,
    /// RFC 9000 §4.6: how many the peer lets us open (its MAX_STREAMS).
    max: u64,
    /// `open` returned `None`; raise `Available` when the limit grows.
    open_blocked: bool,
    /// The limit at which STREAMS_BLOCKED was last queued, and whether it is
    /// queued now.
    blocked_at: Option<u64>,
    blocked_queued: bool,
}

/// Streams the peer opens, of one direction.
#[derive(Debug, Default)]
struct RemoteIds {
    /// How many the peer opened (explicitly or implicitly).
    next: u64,
    /// RFC 9000 §4.6: how many we let it open (our MAX_STREAMS), counting
    /// streams freed since the last MAX_STREAMS we sent.
    max: u64,
    /// The highest limit we sent (initially the transport parameter): the
    /// most the peer may open.
    advertised: u64,
    /// The highest limit the peer acknowledged.
    acked: u64,
    /// The next index `accept` hands out.
    next_accept: u64,
    /// A MAX_STREAMS with the current `max` is queued. It waits for an
    /// ack-eliciting packet to ride in unless it is due (see
    /// [`Streams::max_streams_due`]).
    max_queued: bool,
    /// The queued MAX_STREAMS goes out at once: the peer said it is blocked,
    /// or an earlier one was lost.
    max_urgent: bool,
    /// An `Opened` event is pending.
    opened_signalled: bool,
}

/// Connection-level send flow control and buffering.
#[derive(Debug, Default)]
struct SendFlow {
    /// RFC 9000 §4.1: the peer's MAX_DATA.
    max_data: u64,
    /// Bytes written to all streams (each counts against `max_data`).
    written: u64,
    /// Bytes written and not yet acknowledged, on all streams.
    buffered: u64,
    /// The limit at which DATA_BLOCKED was last queued.
    blocked_at: Option<u64>,
    blocked_queued: bool,
}

/// Connection-level receive flow control.
#[derive(Debug)]
struct RecvFlow {
    /// The MAX_DATA we advertised.
    max_data: u64,
    /// The sum of every stream's highest received offset.
    received: u64,
    /// Bytes consumed (read or discarded) on all streams.
    retired: u64,
    /// The window kept open ahead of `retired`.
    window: u64,
    last_raise: Option<Instant>,
    /// A MAX_DATA is queued.
    queued: bool,
}

/// The peer's initial per-stream limits (its transport parameters).
#[derive(Debug, Default, Clone, Copy)]
struct PeerWindows {
    bidi_local: u64,
    bidi_remote: u64,
    uni: u64,
}

/// A per-stream control frame waiting to be sent; its values are read from
/// the stream when the frame is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    MaxStreamData(StreamId),
    StreamDataBlocked(StreamId),
    ResetStream(StreamId),
    StopSending(StreamId),
}

/// Every stream of one connection. See the [module documentation](self).
#[derive(Debug)]
pub struct Streams {
    side: Side,
    config: StreamsConfig,
    streams: HashMap<StreamId, Stream>,
    local: [LocalIds; 2],
    remote: [RemoteIds; 2],
    peer_windows: PeerWindows,
    send_flow: SendFlow,
    recv_flow: RecvFlow,
    /// The latest time and RTT from [`Streams::on_rtt_sample`].
    clock: Option<(Instant, Duration)>,
    control: VecDeque<Control>,
    /// Streams with data to send, by urgency, each level round-robin.
    scheduler: BTreeMap<i32, VecDeque<StreamId>>,
    /// The queue of the last urgency level that emptied, kept with its
    /// capacity for the next level made: a stream that keeps leaving and
    /// rejoining the scheduler costs no allocation per packet.
    spare_level: VecDeque<StreamId>,
    events: VecDeque<StreamEvent>,
    /// Streams whose last write was blocked.
    write_blocked: Vec<StreamId>,
    /// What every stream's held received data costs (the sum of their
    /// assemblers' [`cost`](assembler::Assembler::cost)).
    reassembly_cost: u64,
    /// The largest datagram the connection takes: the packet buffer a
    /// received chunk may pin.
    packet_size: u64,
    /// The frames being handled came in a 0-RTT packet.
    zero_rtt_input: bool,
}

/// The index of a direction in per-direction arrays.
const fn di(dir: Dir) -> usize {
    match dir {
        Dir::Bi => 0,
        Dir::Uni => 1,
    }
}

impl Streams {
    /// A manager for one connection on `side`. Until
    /// [`set_peer_params`](Self::set_peer_params) the peer allows nothing.
    #[must_use]
    pub fn new(side: Side, config: StreamsConfig) -> Self {
        let remote = |max| RemoteIds {
            max,
            advertised: max,
            acked: max,
            ..RemoteIds::default()
        };
        Self {
            side,
            remote: [remote(config.max_bidi()), remote(config.max_uni())],
            recv_flow: RecvFlow {
                max_data: config.conn_window(),
                received: 0,
                retired: 0,
                window: config.conn_window(),
                last_raise: None,
                queued: false,
            },
            config,
            streams: HashMap::new(),
            local: [LocalIds::default(), LocalIds::default()],
            peer_windows: PeerWindows::default(),
            send_flow: SendFlow::default(),
            clock: None,
            control: VecDeque::new(),
            scheduler: BTreeMap::new(),
            spare_level: VecDeque::new(),
            events: VecDeque::new(),
            write_blocked: Vec::new(),
            reassembly_cost: 0,
            packet_size: 0,
            zero_rtt_input: false,
        }
    }

    /// Sets the largest datagram the connection takes (its advertised
    /// max_udp_payload_size): a received chunk kept as a slice of its
    /// packet is counted as pinning that much (see
    /// [`Assembler::pinning`](assembler::Assembler::pinning)). Call it
    /// before any stream data arrives.
    pub fn set_max_packet_size(&mut self, size: u64) {
        self.packet_size = size;
    }

    /// What received stream data held now costs in memory, over all
    /// streams: out-of-order and unread chunks with their bookkeeping and
    /// the packet buffers they pin.
    #[must_use]
    pub const fn reassembly_cost(&self) -> u64 {
        self.reassembly_cost
    }

    /// The memory the streams hold beyond their send buffers: received
    /// data ([`reassembly_cost`](Self::reassembly_cost)) and each stream's
    /// own state.
    #[must_use]
    pub fn recv_memory(&self) -> u64 {
        let state = self.streams.len() * std::mem::size_of::<(StreamId, Stream)>();
        self.reassembly_cost + state as u64
    }

    /// The reassembly budget in force: the configured one, or twice the
    /// connection window when that is larger.
    fn reassembly_budget(&self) -> u64 {
        self.config
            .reassembly_budget
            .max(self.recv_flow.window.saturating_mul(2))
    }

    /// Records that a stream's held data went from costing `before` to
    /// `after`.
    fn recost(&mut self, before: u64, after: u64) {
        self.reassembly_cost = (self.reassembly_cost - before.min(self.reassembly_cost)) + after;
    }

    /// Applies the peer's transport parameters: its initial MAX_DATA,
    /// per-stream limits and stream counts (RFC 9000 §18.2). Limits only
    /// grow, so streams opened before (0-RTT) keep working.
    pub fn set_peer_params(&mut self, params: &TransportParameters) {
        self.peer_windows = PeerWindows {
            bidi_local: params.initial_max_stream_data_bidi_local.into_inner(),
            bidi_remote: params.initial_max_stream_data_bidi_remote.into_inner(),
            uni: params.initial_max_stream_data_uni.into_inner(),
        };
        let data = params.initial_max_data.into_inner();
        self.send_flow.max_data = self.send_flow.max_data.max(data);
        let ids: Vec<StreamId> = self.streams.keys().copied().collect();
        for id in ids {
            let window = self.peer_window(id);
            if let Some(send) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut()) {
                send.max_data = send.max_data.max(window);
            }
        }
        self.raise_local_max(Dir::Bi, params.initial_max_streams_bidi.into_inner());
        self.raise_local_max(Dir::Uni, params.initial_max_streams_uni.into_inner());
        self.on_send_capacity();
    }

    /// RFC 9001 §4.6.2: the server rejected 0-RTT, so the limits the
    /// client used under its remembered parameters no longer hold; the
    /// server's new ones replace them, lower or not. Returns `false` when
    /// what was opened and written in 0-RTT does not fit them (nothing is
    /// changed then).
    pub fn reset_peer_params(&mut self, params: &TransportParameters) -> bool {
        let windows = PeerWindows {
            bidi_local: params.initial_max_stream_data_bidi_local.into_inner(),
            bidi_remote: params.initial_max_stream_data_bidi_remote.into_inner(),
            uni: params.initial_max_stream_data_uni.into_inner(),
        };
        let max_bidi = params.initial_max_streams_bidi.into_inner();
        let max_uni = params.initial_max_streams_uni.into_inner();
        let max_data = params.initial_max_data.into_inner();
        let saved = std::mem::replace(&mut self.peer_windows, windows);
        let fits = self.local[di(Dir::Bi)].next <= max_bidi
            && self.local[di(Dir::Uni)].next <= max_uni
            && self.send_flow.written <= max_data
            && self.streams.iter().all(|(id, stream)| {
                stream
                    .send
                    .as_ref()
                    .is_none_or(|send| send.write_offset <= self.peer_window(*id))
            });
        if !fits {
            self.peer_windows = saved;
            return false;
        }
        self.send_flow.max_data = max_data;
        let ids: Vec<StreamId> = self.streams.keys().copied().collect();
        for id in ids {
            let window = self.peer_window(id);
            if let Some(send) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut()) {
                send.max_data = window;
            }
        }
        self.local[di(Dir::Bi)].max = max_bidi;
        self.local[di(Dir::Uni)].max = max_uni;
        self.on_send_capacity();
        true
    }

    /// Says whether the frames handled next came in a 0-RTT packet, so
    /// that the streams they carry data for are marked (see
    /// [`received_0rtt`](Self::received_0rtt)).
    pub fn set_zero_rtt_input(&mut self, zero_rtt: bool) {
        self.zero_rtt_input = zero_rtt;
    }

    /// Whether some data of stream `id` arrived in 0-RTT packets.
    #[must_use]
    pub fn received_0rtt(&self, id: StreamId) -> bool {
        self.streams
            .get(&id)
            .and_then(|s| s.recv.as_ref())
            .is_some_and(|recv| recv.received_0rtt)
    }

    /// Records a time and RTT sample; receive window autotuning compares the
    /// time between window updates with the RTT.
    pub fn on_rtt_sample(&mut self, now: Instant, rtt: Duration) {
        self.clock = Some((now, rtt));
    }

    /// The next event for the application, if any.
    pub fn poll_event(&mut self) -> Option<StreamEvent> {
        self.events.pop_front()
    }

    /// How many bytes connection flow control still lets the application
    /// write (the peer's MAX_DATA minus what was written).
    #[must_use]
    pub fn send_window(&self) -> u64 {
        self.send_flow.max_data - self.send_flow.written.min(self.send_flow.max_data)
    }

    /// How many streams are held (open, or closing with state left).
    #[must_use]
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// The peer's initial limit for a stream we send on (RFC 9000 §18.2).
    fn peer_window(&self, id: StreamId) -> u64 {
        match (id.dir(), self.is_local(id)) {
            (Dir::Bi, true) => self.peer_windows.bidi_remote,
            (Dir::Bi, false) => self.peer_windows.bidi_local,
            (Dir::Uni, _) => self.peer_windows.uni,
        }
    }

    /// Whether we opened the stream.
    fn is_local(&self, id: StreamId) -> bool {
        id.initiator() == self.side
    }

    /// Whether we send on the stream: bidirectional, or our unidirectional.
    fn can_send(&self, id: StreamId) -> bool {
        id.dir() == Dir::Bi || self.is_local(id)
    }

    /// Whether we receive on the stream: bidirectional, or the peer's
    /// unidirectional.
    fn can_recv(&self, id: StreamId) -> bool {
        id.dir() == Dir::Bi || !self.is_local(id)
    }

    /// The stream ID of index `index` opened by `initiator`.
    fn make_id(initiator: Side, dir: Dir, index: u64) -> StreamId {
        // RFC 9000 §2.1: bit 0 is the initiator, bit 1 the direction.
        let low = u64::from(initiator.is_server()) | (u64::from(dir == Dir::Uni) << 1);
        StreamId::new(send::vi(index << 2 | low))
    }

    /// A new stream with the halves its ID calls for.
    fn new_stream(&self, id: StreamId) -> Stream {
        Stream {
            send: self
                .can_send(id)
                .then(|| SendHalf::new(self.peer_window(id))),
            recv: self.can_recv(id).then(|| {
                RecvHalf::new(
                    self.config.stream_window(),
                    self.config.max_reassembly_chunks,
                    self.config.max_stream_receive_window,
                    self.packet_size,
                )
            }),
        }
    }

    /// The stream an incoming frame names, opening peer streams up to it
    /// (RFC 9000 §3.2). `Ok(None)` for a stream already closed and freed.
    fn incoming_stream(&mut self, id: StreamId) -> Result<Option<&mut Stream>, TransportError> {
        let d = di(id.dir());
        let index = id.index();
        if self.is_local(id) {
            // RFC 9000 §19.8, §19.10: a frame for a local stream not yet
            // opened is STREAM_STATE_ERROR.
            if index >= self.local[d].next {
                return Err(TransportError::stream_state_error(
                    "frame for a locally-initiated stream not yet opened",
                ));
            }
        } else if index >= self.remote[d].next {
            // RFC 9000 §4.6: a stream beyond the limit we sent is
            // STREAM_LIMIT_ERROR.
            if index >= self.remote[d].advertised {
                return Err(TransportError::stream_limit_error(
                    "peer opened a stream beyond the stream limit",
                ));
            }
            // RFC 9000 §3.2: opening a stream opens every lower-numbered
            // stream of the same type.
            for i in self.remote[d].next..=index {
                let new_id = Self::make_id(id.initiator(), id.dir(), i);
                let stream = self.new_stream(new_id);
                self.streams.insert(new_id, stream);
            }
            self.remote[d].next = index + 1;
            if !self.remote[d].opened_signalled {
                self.remote[d].opened_signalled = true;
                self.events.push_back(StreamEvent::Opened { dir: id.dir() });
            }
            tracing::trace!(stream = %id, "peer opened streams");
        }
        Ok(self.streams.get_mut(&id))
    }

    /// Frees a stream whose halves are both closed; a peer's stream makes
    /// room for one more (RFC 9000 §4.6).
    fn maybe_free(&mut self, id: StreamId) {
        let Some(stream) = self.streams.get(&id) else {
            return;
        };
        let send_done = stream.send.as_ref().is_none_or(SendHalf::is_closed);
        let recv_done = stream.recv.as_ref().is_none_or(RecvHalf::is_closed);
        if !(send_done && recv_done) {
            return;
        }
        self.streams.remove(&id);
        tracing::trace!(stream = %id, "stream freed");
        if !self.is_local(id) {
            let remote = &mut self.remote[di(id.dir())];
            // RFC 9000 §4.6: streams may be opened as earlier ones close;
            // the count stays within 2^60. The update waits for a packet
            // that goes out anyway until the peer runs low.
            if remote.max < crate::frame::MAX_STREAM_COUNT {
                remote.max += 1;
                remote.max_queued = true;
            }
        }
    }

    /// The most streams of `dir` the peer may have open at once: the window
    /// MAX_STREAMS keeps open.
    fn stream_window(&self, dir: Dir) -> u64 {
        match dir {
            Dir::Bi => self.config.max_bidi(),
            Dir::Uni => self.config.max_uni(),
        }
    }

    /// Whether the queued MAX_STREAMS of `dir` must go out on its own rather
    /// than wait for an ack-eliciting packet: the peer asked for it, an
    /// earlier one was lost, or (RFC 9000 §4.6, the timing is ours) the peer
    /// has fewer than half of its streams left under the limit we sent.
    fn max_streams_due(&self, dir: Dir) -> bool {
        let remote = &self.remote[di(dir)];
        let left = remote.advertised.saturating_sub(remote.next);
        remote.max_queued && (remote.max_urgent || left.saturating_mul(2) < self.stream_window(dir))
    }

    /// Raises the peer's limit on streams we open.
    fn raise_local_max(&mut self, dir: Dir, max: u64) {
        let local = &mut self.local[di(dir)];
        if max <= local.max {
            return;
        }
        local.max = max;
        local.blocked_queued = false;
        if local.open_blocked {
            local.open_blocked = false;
            self.events.push_back(StreamEvent::Available { dir });
        }
    }

    /// Tells every stream whose write was blocked that it may try again.
    fn on_send_capacity(&mut self) {
        for id in std::mem::take(&mut self.write_blocked) {
            let Some(send) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut()) else {
                continue;
            };
            if send.write_blocked {
                send.write_blocked = false;
                self.events.push_back(StreamEvent::Writable { id });
            }
        }
    }

    /// Counts newly consumed bytes of `id` for the connection window and
    /// queues MAX_DATA when the peer's credit ran low (RFC 9000 §4.2).
    fn retire(&mut self, id: StreamId) {
        let Some(recv) = self.streams.get_mut(&id).and_then(|s| s.recv.as_mut()) else {
            return;
        };
        let target = recv.retire_target();
        let delta = target.saturating_sub(recv.retired);
        recv.retired = recv.retired.max(target);
        let flow = &mut self.recv_flow;
        flow.retired += delta;
        if flow.max_data - flow.retired.min(flow.max_data) < flow.window / 2 {
            flow.window = recv::autotune(
                flow.window,
                self.config.max_receive_window.max(flow.window),
                flow.last_raise,
                self.clock,
            );
            if let Some((now, _)) = self.clock {
                flow.last_raise = Some(now);
            }
            let max = flow.retired.saturating_add(flow.window);
            flow.max_data = max.min(VarInt::MAX.into_inner());
            flow.queued = true;
        }
    }
}

impl Streams {
    /// The scheduler's queue for `urgency`, made from the spare one if it
    /// has none.
    fn level(&mut self, urgency: i32) -> &mut VecDeque<StreamId> {
        let spare = &mut self.spare_level;
        self.scheduler
            .entry(urgency)
            .or_insert_with(|| std::mem::take(spare))
    }

    /// Removes an emptied level, keeping its queue as the spare.
    fn drop_level(&mut self, urgency: i32) {
        if let Some(level) = self.scheduler.remove(&urgency) {
            self.spare_level = level;
        }
    }
}
