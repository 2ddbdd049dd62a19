//! Stream limits and buffer sizes of one connection.

use crate::{transport_params::TransportParameters, varint::VarInt};

/// How many streams the peer may open, how much it may send, and how much
/// we buffer for sending.
///
/// Every limit here bounds memory: what a peer can make us hold is at most
/// `max_concurrent_*_streams` streams, each with at most
/// `max_stream_receive_window` bytes in at most `max_reassembly_chunks`
/// chunks, and `max_receive_window` bytes in total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamsConfig {
    /// Bidirectional streams the peer may have open at once; advertised as
    /// initial_max_streams_bidi and raised by MAX_STREAMS as streams close.
    /// At most 2^60.
    pub max_concurrent_bidi_streams: u64,
    /// Unidirectional streams the peer may have open at once; advertised as
    /// initial_max_streams_uni. At most 2^60.
    pub max_concurrent_uni_streams: u64,
    /// The initial receive window of each stream, in bytes: advertised as
    /// initial_max_stream_data_* and kept open as the application reads.
    pub stream_receive_window: u64,
    /// The initial receive window of the whole connection (initial_max_data).
    pub receive_window: u64,
    /// The largest a stream's receive window grows to when autotuning finds
    /// the application reading faster than the window allows.
    pub max_stream_receive_window: u64,
    /// The largest the connection's receive window grows to.
    pub max_receive_window: u64,
    /// Bytes written to one stream and not yet acknowledged, at most; a
    /// write beyond it is refused with [`WriteError::Blocked`](super::WriteError::Blocked).
    pub stream_send_buffer: u64,
    /// Bytes written to all streams and not yet acknowledged, at most.
    pub send_buffer: u64,
    /// Separate out-of-order pieces held per receiving stream; a peer that
    /// fragments more than this (one-byte gaps) closes the connection with
    /// FLOW_CONTROL_ERROR instead of pinning memory.
    pub max_reassembly_chunks: usize,
    /// Bytes that out-of-order and unread stream data may cost the whole
    /// connection, counted as memory really held: each chunk's bytes (or
    /// the packet buffer it pins) plus its bookkeeping (see
    /// [`assembler::CHUNK_OVERHEAD`](super::assembler::CHUNK_OVERHEAD) and
    /// [`assembler::ROOT_OVERHEAD`](super::assembler::ROOT_OVERHEAD)).
    /// The budget in force is the larger of this and twice the connection
    /// receive window advertised now: an honest peer's packet-sized chunks
    /// cost about 1.1 times their bytes, so it never reaches it, while a
    /// peer leaving one-byte gaps (about 150 times) closes the connection
    /// with FLOW_CONTROL_ERROR. 4 MiB by default.
    pub reassembly_budget: u64,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        Self {
            max_concurrent_bidi_streams: 100,
            max_concurrent_uni_streams: 100,
            stream_receive_window: 256 * 1024,
            receive_window: 1024 * 1024,
            max_stream_receive_window: 16 * 1024 * 1024,
            max_receive_window: 64 * 1024 * 1024,
            stream_send_buffer: 1024 * 1024,
            send_buffer: 8 * 1024 * 1024,
            // A legitimate sender fills a gap-ridden window with ~1 KB
            // frames: allow one piece per KiB of the largest stream window.
            max_reassembly_chunks: 16 * 1024,
            // Twice the default connection window, which is what applies
            // until the window grows.
            reassembly_budget: 4 * 1024 * 1024,
        }
    }
}

impl StreamsConfig {
    /// Writes the limits we advertise into our transport parameters:
    /// initial_max_data, the three initial_max_stream_data_* and the two
    /// initial_max_streams_*. Values beyond their legal range are clamped.
    pub fn apply_to(&self, params: &mut TransportParameters) {
        let window = varint(self.stream_receive_window);
        params.initial_max_data = varint(self.receive_window);
        params.initial_max_stream_data_bidi_local = window;
        params.initial_max_stream_data_bidi_remote = window;
        params.initial_max_stream_data_uni = window;
        params.initial_max_streams_bidi = varint(self.max_bidi());
        params.initial_max_streams_uni = varint(self.max_uni());
    }

    /// The bidirectional stream count we advertise, clamped to 2^60.
    pub(super) fn max_bidi(&self) -> u64 {
        self.max_concurrent_bidi_streams
            .min(crate::frame::MAX_STREAM_COUNT)
    }

    /// The unidirectional stream count we advertise, clamped to 2^60.
    pub(super) fn max_uni(&self) -> u64 {
        self.max_concurrent_uni_streams
            .min(crate::frame::MAX_STREAM_COUNT)
    }

    /// The initial stream window, clamped to what a varint holds.
    pub(super) fn stream_window(&self) -> u64 {
        self.stream_receive_window.min(VarInt::MAX.into_inner())
    }

    /// The initial connection window, clamped to what a varint holds.
    pub(super) fn conn_window(&self) -> u64 {
        self.receive_window.min(VarInt::MAX.into_inner())
    }
}

/// A limit as a varint, clamped to 2^62-1.
pub(super) fn varint(value: u64) -> VarInt {
    VarInt::from_u64(value).unwrap_or(VarInt::MAX)
}
