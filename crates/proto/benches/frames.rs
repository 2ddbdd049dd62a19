//! Frame encoding and decoding (RFC 9000 §19): a STREAM frame carrying
//! 1,200 bytes, a small ACK frame as most packets carry one, a whole 1-RTT
//! payload walked with [`Frames`], and an ACK frame of 1,000 ranges (the
//! worst a lossy, reordering path makes), encoded both ways the API offers
//! and decoded with its ranges iterated.
#![expect(
    missing_docs,
    reason = "criterion_group! makes a public function without documentation"
)]

use std::{hint::black_box, ops::RangeInclusive};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tern_proto::{
    EncryptionLevel, Frame, Frames, StreamId, VarInt,
    frame::{Ack, Stream},
};

/// Bytes of stream data in the STREAM frame.
const STREAM_DATA_LEN: usize = 1200;
/// Ranges of the large ACK frame.
const MANY_RANGES: u64 = 1000;
/// Room in the send buffer: the large ACK frame takes about 2 KB.
const BUF_LIMIT: usize = 64 * 1024;

/// A STREAM frame with an offset, a Length field and 1,200 data bytes.
fn stream_frame() -> Frame {
    let data: Vec<u8> = (0..=250_u8).cycle().take(STREAM_DATA_LEN).collect();
    Frame::Stream(Stream {
        id: StreamId::new(VarInt::from_u32(4)),
        offset: VarInt::from_u32(3_400_000),
        fin: false,
        has_length: true,
        data: Bytes::from(data),
    })
}

/// The ranges of a typical ACK: a little loss in the last round trip.
fn few_ranges() -> impl Iterator<Item = RangeInclusive<u64>> + Clone {
    [90_020..=90_031, 90_000..=90_017, 89_950..=89_998].into_iter()
}

/// 1,000 ranges, largest first: 8 packets received, 3 lost, repeated.
fn many_ranges() -> impl Iterator<Item = RangeInclusive<u64>> + Clone {
    const TOP: u64 = 1_000_000;
    (0..MANY_RANGES).map(|i| {
        let end = TOP - i * 11;
        end - 7..=end
    })
}

/// The wire form of `frame`.
fn encoded(frame: &Frame) -> Bytes {
    let mut buf = Vec::with_capacity(frame.encoded_len());
    frame.encode(&mut buf);
    Bytes::from(buf)
}

/// Decodes one frame, checking that all of `wire` was used.
fn decode(wire: &Bytes) -> Frame {
    let mut rest = wire.clone();
    let frame = Frame::decode(&mut rest).expect("the frame decodes");
    debug_assert!(rest.is_empty());
    frame
}

fn stream(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame/stream_1200");
    group.throughput(Throughput::Bytes(STREAM_DATA_LEN as u64));
    let frame = stream_frame();
    let wire = encoded(&frame);
    let mut buf = Vec::with_capacity(2048);
    group.bench_function("encode", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&frame).encode(&mut buf);
            black_box(buf.len())
        });
    });
    group.bench_function("decode", |b| b.iter(|| decode(black_box(&wire))));
    group.finish();
}

fn small_ack(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame/ack_3_ranges");
    let ack = Ack::from_ranges(few_ranges(), VarInt::from_u32(1000), None).expect("valid ranges");
    let frame = Frame::Ack(ack);
    let wire = encoded(&frame);
    let mut buf = Vec::with_capacity(256);
    group.bench_function("write_ranges", |b| {
        b.iter(|| {
            buf.clear();
            Ack::write_ranges(
                black_box(few_ranges()),
                VarInt::from_u32(1000),
                None,
                &mut buf,
                BUF_LIMIT,
            )
            .expect("valid ranges")
        });
    });
    group.bench_function("encode", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&frame).encode(&mut buf);
            black_box(buf.len())
        });
    });
    group.bench_function("decode_iterate", |b| {
        b.iter(|| match decode(black_box(&wire)) {
            Frame::Ack(ack) => ack.iter().map(|r| r.end() - r.start()).sum::<u64>(),
            _ => unreachable!("an ACK frame was encoded"),
        });
    });
    group.finish();
}

fn payload(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame/payload_ack_stream");
    let ack = Ack::from_ranges(few_ranges(), VarInt::from_u32(1000), None).expect("valid ranges");
    let mut buf = Vec::with_capacity(2048);
    Frame::Ack(ack).encode(&mut buf);
    stream_frame().encode(&mut buf);
    let payload = Bytes::from(buf);
    group.throughput(Throughput::Bytes(payload.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| {
            Frames::new(black_box(payload.clone()), EncryptionLevel::OneRtt)
                .map(|frame| frame.expect("the frame decodes").encoded_len())
                .sum::<usize>()
        });
    });
    group.finish();
}

fn many_ranges_ack(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame/ack_1000_ranges");
    group.throughput(Throughput::Elements(MANY_RANGES));
    let mut buf = Vec::with_capacity(BUF_LIMIT);
    group.bench_function("write_ranges", |b| {
        b.iter(|| {
            buf.clear();
            let written = Ack::write_ranges(
                black_box(many_ranges()),
                VarInt::from_u32(1000),
                None,
                &mut buf,
                BUF_LIMIT,
            )
            .expect("valid ranges");
            debug_assert!(written);
            buf.len()
        });
    });
    group.bench_function("from_ranges_encode", |b| {
        b.iter(|| {
            buf.clear();
            let ack = Ack::from_ranges(black_box(many_ranges()), VarInt::from_u32(1000), None)
                .expect("valid ranges");
            ack.encode(&mut buf);
            buf.len()
        });
    });
    let ack = Ack::from_ranges(many_ranges(), VarInt::from_u32(1000), None).expect("valid ranges");
    assert_eq!(ack.iter().len(), 1000, "no two ranges were merged");
    let wire = encoded(&Frame::Ack(ack));
    group.bench_function("decode_iterate", |b| {
        b.iter(|| match decode(black_box(&wire)) {
            Frame::Ack(ack) => ack.iter().map(|r| r.end() - r.start()).sum::<u64>(),
            _ => unreachable!("an ACK frame was encoded"),
        });
    });
    group.finish();
}

criterion_group!(benches, stream, small_ack, payload, many_ranges_ack);
criterion_main!(benches);
