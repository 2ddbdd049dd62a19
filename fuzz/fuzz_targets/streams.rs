//! `Streams` of a server driven by a fuzzed sequence of steps: STREAM,
//! RESET_STREAM, STOP_SENDING and credit frames from the client, reads
//! (ordered and not) and writes by the application. STREAM data follows a
//! fixed pattern of (stream, offset), so what is read can be checked.
//!
//! After every step:
//! - a STREAM frame accepted stays within the credit we advertised, per
//!   stream and for the connection (RFC 9000 §4.1); credit updates are
//!   flushed after each step, so what `Streams` enforces is what it sent;
//! - every byte read is the byte sent at that offset, and ordered reads
//!   are contiguous from 0 (RFC 9000 §2.2);
//! - the bytes `recv_buffered` reports never exceed what was accepted
//!   and not yet read.
//!
//! The first error ends the input: it would close the connection.
#![no_main]

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tern_proto::{
    Dir, EncryptionLevel, Side,
    frame::{Frame, Frames, MaxStreamData, MaxStreams, ResetStream, StopSending, Stream, StreamId},
    streams::{ReadError, SentStreamFrames, Streams, StreamsConfig},
    transport_params::TransportParameters,
    varint::VarInt,
};

/// The byte of stream `id` at `offset`.
fn pattern(id: u64, offset: u64) -> u8 {
    ((offset.wrapping_mul(31) + id.wrapping_mul(7)) % 251) as u8
}

fn config() -> StreamsConfig {
    StreamsConfig {
        max_concurrent_bidi_streams: 4,
        max_concurrent_uni_streams: 2,
        stream_receive_window: 4096,
        receive_window: 8192,
        max_stream_receive_window: 16 * 1024,
        max_receive_window: 32 * 1024,
        stream_send_buffer: 8192,
        send_buffer: 16 * 1024,
        max_reassembly_chunks: 64,
        // Small enough that fragmented input reaches it, and the error
        // path runs too.
        reassembly_budget: 64 * 1024,
    }
}

/// What the client was told and what it sent, per stream.
#[derive(Default)]
struct Model {
    /// MAX_STREAM_DATA we advertised, by stream.
    stream_credit: HashMap<u64, u64>,
    /// MAX_DATA we advertised.
    max_data: u64,
    /// The highest offset accepted, by stream.
    highest: HashMap<u64, u64>,
    /// The next offset of an ordered read, and whether every read of the
    /// stream was ordered.
    read_pos: HashMap<u64, (u64, bool)>,
    /// Bytes read, all streams.
    read_total: u64,
    /// Streams reset, stopped or read to the end: `Streams` may forget
    /// them and ignore later frames for them (RFC 9000 §3.2 leaves it
    /// nothing to check them against), so they are not checked.
    retired: HashSet<u64>,
}

impl Model {
    fn credit(&self, id: u64) -> u64 {
        self.stream_credit
            .get(&id)
            .copied()
            .unwrap_or(config().stream_receive_window)
    }

    /// Takes the credit updates `Streams` wants to send.
    fn flush(&mut self, streams: &mut Streams) {
        let mut buf = Vec::new();
        let mut sent = SentStreamFrames::default();
        streams.write_control_frames(&mut buf, 64 * 1024, &mut sent);
        streams.write_deferred_credit(&mut buf, 64 * 1024, &mut sent);
        if buf.is_empty() {
            return;
        }
        for frame in Frames::new(Bytes::from(buf), EncryptionLevel::OneRtt) {
            match frame.expect("streams wrote a frame that does not decode") {
                Frame::MaxData(max) => self.max_data = self.max_data.max(max.into_inner()),
                Frame::MaxStreamData(MaxStreamData { id, max_data }) => {
                    let id = id.into_inner().into_inner();
                    let credit = self.credit(id).max(max_data.into_inner());
                    self.stream_credit.insert(id, credit);
                }
                _ => {}
            }
        }
        streams.on_acked(sent);
    }
}

/// Reads the next step's bytes, zero-filled past the end of the input.
fn take<const N: usize>(data: &mut &[u8]) -> [u8; N] {
    let mut out = [0; N];
    let n = data.len().min(N);
    out[..n].copy_from_slice(&data[..n]);
    *data = &data[n..];
    out
}

/// A stream ID from a byte: mostly the client's first streams of each
/// type, sometimes the server's, sometimes beyond the limits.
fn stream_id(b: u8) -> StreamId {
    StreamId::new(VarInt::from_u32(u32::from(b % 48)))
}

fn read(streams: &mut Streams, model: &mut Model, id: StreamId, max_len: usize, ordered: bool) {
    let key = id.into_inner().into_inner();
    match streams.read(id, max_len, ordered) {
        Ok(Some(chunk)) => {
            assert!(chunk.bytes.len() <= max_len, "a read returned more than asked");
            for (i, byte) in chunk.bytes.iter().enumerate() {
                assert_eq!(
                    *byte,
                    pattern(key, chunk.offset + i as u64),
                    "stream {key}: a byte read is not the byte sent at offset {}",
                    chunk.offset + i as u64
                );
            }
            let end = chunk.offset + chunk.bytes.len() as u64;
            assert!(
                end <= model.highest.get(&key).copied().unwrap_or(0),
                "stream {key}: read past what was received"
            );
            let (pos, all_ordered) = model.read_pos.entry(key).or_insert((0, true));
            *all_ordered &= ordered;
            if *all_ordered {
                assert_eq!(chunk.offset, *pos, "stream {key}: ordered reads skipped or repeated bytes");
            }
            *pos = (*pos).max(end);
            model.read_total += chunk.bytes.len() as u64;
        }
        Ok(None) | Err(ReadError::Reset { .. } | ReadError::ClosedStream) => {
            model.retired.insert(key);
        }
        Err(_) => {}
    }
}

fuzz_target!(|input: &[u8]| {
    let mut streams = Streams::new(Side::Server, config());
    let mut peer = TransportParameters::default();
    config().apply_to(&mut peer);
    streams.set_peer_params(&peer);
    let mut model = Model {
        max_data: config().receive_window,
        ..Model::default()
    };
    let mut data = input;
    let mut accepted_total = 0_u64;
    while !data.is_empty() {
        let [op, a, b, c, d, e] = take::<6>(&mut data);
        let id = stream_id(a);
        let key = id.into_inner().into_inner();
        let offset = u64::from(u16::from_le_bytes([b, c])) * (1 + u64::from(d >> 6) * 7);
        let result = match op % 8 {
            0..=2 => {
                let len = u64::from(d & 0x3f) * 37 + u64::from(e);
                let bytes: Vec<u8> = (offset..offset + len).map(|o| pattern(key, o)).collect();
                let fin = op & 0x80 != 0;
                let r = streams.on_frame(Frame::Stream(Stream {
                    id,
                    offset: VarInt::from_u64(offset).unwrap_or(VarInt::MAX),
                    fin,
                    has_length: true,
                    data: Bytes::from(bytes),
                }));
                if r.is_ok() && !model.retired.contains(&key) {
                    let end = offset + len;
                    let credit = model.credit(key);
                    let highest = model.highest.entry(key).or_insert(0);
                    // RFC 9000 §4.1: accepted data stays within our credit.
                    assert!(
                        end <= credit,
                        "stream {key}: accepted data to {end} beyond the advertised {credit}"
                    );
                    if end > *highest {
                        accepted_total += end - *highest;
                        *highest = end;
                    }
                    assert!(
                        accepted_total <= model.max_data,
                        "accepted {accepted_total} bytes beyond MAX_DATA {}",
                        model.max_data
                    );
                }
                r.map(|_| ())
            }
            3 => {
                let r = streams.on_frame(Frame::ResetStream(ResetStream {
                    id,
                    error_code: VarInt::from_u32(u32::from(e)),
                    final_size: VarInt::from_u64(offset).unwrap_or(VarInt::MAX),
                }));
                if r.is_ok() {
                    model.retired.insert(key);
                }
                r.map(|_| ())
            }
            4 => streams
                .on_frame(Frame::StopSending(StopSending {
                    id,
                    error_code: VarInt::from_u32(u32::from(e)),
                }))
                .map(|_| ()),
            5 => {
                read(&mut streams, &mut model, id, usize::from(b) * 16 + 1, e & 1 == 0);
                Ok(())
            }
            6 => {
                let frame = match e % 3 {
                    0 => Frame::MaxData(VarInt::from_u64(offset).unwrap_or(VarInt::MAX)),
                    1 => Frame::MaxStreamData(MaxStreamData {
                        id,
                        max_data: VarInt::from_u64(offset).unwrap_or(VarInt::MAX),
                    }),
                    _ => Frame::MaxStreams(MaxStreams {
                        dir: if b & 1 == 0 { Dir::Bi } else { Dir::Uni },
                        count: VarInt::from_u32(u32::from(c)),
                    }),
                };
                streams.on_frame(frame).map(|_| ())
            }
            _ => {
                // The application: open and write, accept, or stop.
                match e % 3 {
                    0 => {
                        let dir = if b & 1 == 0 { Dir::Bi } else { Dir::Uni };
                        if let Some(id) = streams.open(dir) {
                            let _ = streams.write(id, Bytes::from(vec![b; usize::from(c) * 8]));
                        }
                    }
                    1 => {
                        let _ = streams.accept(if b & 1 == 0 { Dir::Bi } else { Dir::Uni });
                    }
                    _ => {
                        if streams.stop(id, VarInt::from_u32(u32::from(c))).is_ok() {
                            model.retired.insert(key);
                        }
                    }
                }
                let mut buf = Vec::new();
                let mut sent = SentStreamFrames::default();
                streams.write_stream_frames(&mut buf, 1200, &mut sent);
                if c & 1 == 0 {
                    streams.on_acked(sent);
                } else {
                    streams.on_lost(sent);
                }
                Ok(())
            }
        };
        if result.is_err() {
            return;
        }
        while streams.poll_event().is_some() {}
        model.flush(&mut streams);
        // Memory: what is buffered was accepted and not yet read.
        assert!(
            streams.recv_buffered() <= accepted_total - model.read_total.min(accepted_total),
            "{} bytes buffered, but {accepted_total} accepted and {} read",
            streams.recv_buffered(),
            model.read_total
        );
    }
    // Drain every stream in order: nothing read twice, nothing invented.
    for id in 0..48 {
        let id = StreamId::new(VarInt::from_u32(id));
        for _ in 0..64 {
            let before = model.read_total;
            read(&mut streams, &mut model, id, 4096, true);
            if model.read_total == before {
                break;
            }
        }
    }
    let _ = ReadError::Blocked;
});
