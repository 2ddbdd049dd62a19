//! Two [`Streams`] wired back to back: frames are written by one side,
//! decoded and handed to the other, and packets are acknowledged or lost
//! by hand.

use bytes::Bytes;

use super::*;
use crate::{EncryptionLevel, frame::Frames};

mod credit;
mod errors;
mod flow;
mod lifecycle;
mod loss;
mod prop;
mod schedule;

/// The largest packet payload the tests build.
const MTU: usize = 1200;

/// Small limits so that tests reach them quickly.
fn small_config() -> StreamsConfig {
    StreamsConfig {
        max_concurrent_bidi_streams: 8,
        max_concurrent_uni_streams: 8,
        stream_receive_window: 4096,
        receive_window: 16 * 1024,
        max_stream_receive_window: 16 * 1024,
        max_receive_window: 64 * 1024,
        stream_send_buffer: 64 * 1024,
        send_buffer: 256 * 1024,
        max_reassembly_chunks: 32,
        reassembly_budget: 64 * 1024,
    }
}

/// One packet's worth of stream frames in flight.
struct Packet {
    from: Side,
    payload: Bytes,
    sent: SentStreamFrames,
}

/// A client and a server that have exchanged transport parameters.
struct Pair {
    client: Streams,
    server: Streams,
}

impl Pair {
    fn new(config: &StreamsConfig) -> Self {
        Self::with_configs(config, config)
    }

    fn with_configs(client: &StreamsConfig, server: &StreamsConfig) -> Self {
        let mut pair = Self {
            client: Streams::new(Side::Client, client.clone()),
            server: Streams::new(Side::Server, server.clone()),
        };
        let mut params = TransportParameters::default();
        server.apply_to(&mut params);
        pair.client.set_peer_params(&params);
        client.apply_to(&mut params);
        pair.server.set_peer_params(&params);
        pair
    }

    fn side(&mut self, side: Side) -> &mut Streams {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    /// Builds the next packet `from` sends, if it has anything; credit
    /// updates not yet due ride along only when something else goes, as a
    /// connection sends them.
    fn transmit(&mut self, from: Side) -> Option<Packet> {
        let mut buf = Vec::new();
        let mut sent = SentStreamFrames::default();
        let streams = self.side(from);
        if streams.wants_to_send() {
            streams.write_deferred_credit(&mut buf, MTU, &mut sent);
        }
        streams.write_control_frames(&mut buf, MTU, &mut sent);
        streams.write_stream_frames(&mut buf, MTU, &mut sent);
        assert!(buf.len() <= MTU, "packet within its limit");
        (!buf.is_empty()).then(|| Packet {
            from,
            payload: Bytes::from(buf),
            sent,
        })
    }

    /// Hands a packet's frames to the receiver, then acknowledges it.
    fn deliver(&mut self, packet: Packet) -> Result<(), TransportError> {
        self.receive(&packet)?;
        self.side(packet.from).on_acked(packet.sent);
        Ok(())
    }

    /// Hands a packet's frames to the receiver without acknowledging it.
    fn receive(&mut self, packet: &Packet) -> Result<(), TransportError> {
        let to = match packet.from {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        };
        for frame in Frames::new(packet.payload.clone(), EncryptionLevel::OneRtt) {
            let rest = self.side(to).on_frame(frame?)?;
            assert_eq!(rest, None, "only stream frames are sent");
        }
        Ok(())
    }

    /// Declares a packet lost to its sender.
    fn lose(&mut self, packet: Packet) {
        self.side(packet.from).on_lost(packet.sent);
    }

    /// Exchanges packets without loss until neither side has anything to
    /// send, reading every readable stream on both sides into `sink`.
    fn run(&mut self, sink: &mut Sink) {
        for _ in 0..100_000 {
            let mut idle = true;
            for side in [Side::Client, Side::Server] {
                if let Some(packet) = self.transmit(side) {
                    self.deliver(packet).unwrap();
                    idle = false;
                }
                sink.drain(self.side(side), side);
            }
            if idle {
                return;
            }
        }
        panic!("the pair never went idle");
    }
}

/// What the application read, per receiving side and stream.
#[derive(Default)]
struct Sink {
    data: HashMap<(Side, StreamId), Vec<u8>>,
    finished: Vec<(Side, StreamId)>,
    resets: Vec<(Side, StreamId, VarInt)>,
    /// The byte ranges read, to prove no byte is read twice.
    seen: HashMap<(Side, StreamId), crate::range_set::RangeSet>,
    /// Read with `ordered = false`.
    unordered: bool,
    /// The `max_len` of each read; 0 means unlimited.
    max_len: usize,
}

impl Sink {
    /// Accepts and reads everything `streams` has for the application.
    fn drain(&mut self, streams: &mut Streams, side: Side) {
        for dir in [Dir::Bi, Dir::Uni] {
            while let Some(id) = streams.accept(dir) {
                self.data.entry((side, id)).or_default();
            }
        }
        let ids: Vec<StreamId> = self
            .data
            .keys()
            .filter(|(s, _)| *s == side)
            .map(|(_, id)| *id)
            .collect();
        for id in ids {
            self.read_all(streams, side, id);
        }
    }

    fn read_all(&mut self, streams: &mut Streams, side: Side, id: StreamId) {
        loop {
            match streams.read(id, self.read_len(), !self.unordered) {
                Ok(Some(chunk)) => self.place(side, id, &chunk),
                Ok(None) => self.finished.push((side, id)),
                Err(ReadError::Reset { code }) => self.resets.push((side, id, code)),
                Err(_) => return,
            }
        }
    }

    fn read_len(&self) -> usize {
        if self.max_len == 0 {
            usize::MAX
        } else {
            self.max_len
        }
    }

    /// Puts a chunk read at its offset, checking order and duplicates.
    fn place(&mut self, side: Side, id: StreamId, chunk: &Chunk) {
        let data = self.data.entry((side, id)).or_default();
        let seen = self.seen.entry((side, id)).or_default();
        if !self.unordered {
            let prefix = seen
                .iter()
                .next()
                .filter(|r| r.start == 0)
                .map_or(0, |r| r.end);
            assert_eq!(chunk.offset, prefix, "in order");
        }
        let start = usize::try_from(chunk.offset).unwrap();
        let end = start + chunk.bytes.len();
        let (lo, hi) = (len64(start), len64(end));
        assert!(
            !seen.iter().any(|r| r.start < hi && lo < r.end),
            "byte delivered twice"
        );
        seen.insert(lo..hi);
        if data.len() < end {
            data.resize(end, 0);
        }
        data[start..end].copy_from_slice(&chunk.bytes);
    }

    /// Registers a locally opened bidirectional stream for reading replies.
    fn watch(&mut self, side: Side, id: StreamId) {
        self.data.entry((side, id)).or_default();
    }

    fn bytes(&self, side: Side, id: StreamId) -> &[u8] {
        self.data.get(&(side, id)).map_or(&[], Vec::as_slice)
    }
}

/// Deterministic test data: `len` bytes that differ per stream.
fn pattern(seed: u64, len: usize) -> Bytes {
    (0..len)
        .map(|i| {
            let mixed = (seed.wrapping_mul(31).wrapping_add(len64(i))) % 251;
            u8::try_from(mixed).unwrap()
        })
        .collect::<Vec<u8>>()
        .into()
}

/// Writes all of `data` to `id`, running the pair while writes block.
fn write_all(pair: &mut Pair, sink: &mut Sink, from: Side, id: StreamId, data: &Bytes) {
    let mut at = 0;
    while at < data.len() {
        match pair.side(from).write(id, data.slice(at..)) {
            Ok(n) => at += n,
            Err(WriteError::Blocked) => pair.run(sink),
            Err(err) => panic!("write failed: {err}"),
        }
    }
}

/// All events queued on `streams`.
fn events(streams: &mut Streams) -> Vec<StreamEvent> {
    std::iter::from_fn(|| streams.poll_event()).collect()
}

/// The single base instant of these tests.
#[expect(
    clippy::disallowed_methods,
    reason = "tests need one real Instant as their epoch; offsets from it are virtual"
)]
fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

use self::send::len64;
