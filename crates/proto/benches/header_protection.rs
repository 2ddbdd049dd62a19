//! Header protection (RFC 9001 §5.4) and packet protection (§5.3) of one
//! full-size 1-RTT packet, per cipher suite: the per-packet crypto on the
//! send and receive paths.
//!
//! The keys are Initial-style keys derived with each suite's QUIC key
//! schedule ([`Keys::initial_with`]): header and packet protection use the
//! same algorithms as a 1-RTT key of that suite. Each iteration restores the
//! bytes the previous one changed (the 13 header bytes for header
//! protection, the whole 1,237-byte packet for `open`), so every iteration
//! does the same work; that copy is part of the figure.
#![expect(
    missing_docs,
    reason = "criterion_group! makes a public function without documentation"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rustls::SupportedCipherSuite;
use tern_proto::{
    Side,
    crypto::{Keys, cipher_suite},
    packet::Version,
};

/// Destination Connection ID length of the short header.
const DCID_LEN: usize = 8;
/// RFC 9000 §17.3.1: the first byte, then the DCID; the packet number follows.
const PN_OFFSET: usize = 1 + DCID_LEN;
/// A 4-byte packet number: the most header protection ever masks.
const PN_LEN: usize = 4;
/// RFC 9000 §17.3.1: header form 0, fixed bit 1, packet number length - 1.
const FIRST_BYTE: u8 = 0x40 | 0x03;
/// Bytes of the header, packet number included.
const HEADER_LEN: usize = PN_OFFSET + PN_LEN;
/// Plaintext payload bytes: a full packet at the minimum QUIC MTU.
const PAYLOAD_LEN: usize = 1200;
/// The packet number, all four bytes of it sent.
const PN: u32 = 0x1234_5678;

/// The suites benchmarked, by the name used in the benchmark IDs.
fn suites() -> [(&'static str, SupportedCipherSuite); 3] {
    [
        ("aes128gcm", cipher_suite::TLS13_AES_128_GCM_SHA256),
        ("aes256gcm", cipher_suite::TLS13_AES_256_GCM_SHA384),
        ("chacha20", cipher_suite::TLS13_CHACHA20_POLY1305_SHA256),
    ]
}

/// Client and server keys of `suite`.
fn keys(suite: SupportedCipherSuite) -> (Keys, Keys) {
    let quic = suite
        .tls13()
        .and_then(|suite| suite.quic_suite())
        .expect("a TLS 1.3 suite usable with QUIC");
    let dcid = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];
    (
        Keys::initial_with(&quic, Version::V1, &dcid, Side::Client),
        Keys::initial_with(&quic, Version::V1, &dcid, Side::Server),
    )
}

/// A short-header packet with its packet number in the clear, the payload
/// and room for the AEAD tag.
fn clear_packet(tag_len: usize) -> Vec<u8> {
    let mut packet = vec![FIRST_BYTE];
    packet.extend_from_slice(&[0xab; DCID_LEN]);
    packet.extend_from_slice(&PN.to_be_bytes());
    packet.extend((0..=250_u8).cycle().take(PAYLOAD_LEN));
    packet.resize(packet.len() + tag_len, 0);
    packet
}

fn header_protection(c: &mut Criterion) {
    let mut group = c.benchmark_group("header_protection");
    for (name, suite) in suites() {
        let (client, server) = keys(suite);
        let mut packet = clear_packet(client.local.packet.tag_len());
        client
            .local
            .packet
            .encrypt(u64::from(PN), &mut packet, HEADER_LEN)
            .expect("the payload seals");
        let clear: [u8; HEADER_LEN] = packet[..HEADER_LEN].try_into().expect("header length");
        let mut protected = packet.clone();
        client
            .local
            .header
            .protect(&mut protected, PN_OFFSET)
            .expect("the header is protected");
        let masked: [u8; HEADER_LEN] = protected[..HEADER_LEN].try_into().expect("header length");

        group.bench_function(format!("{name}/protect"), |b| {
            b.iter(|| {
                packet[..HEADER_LEN].copy_from_slice(&clear);
                client
                    .local
                    .header
                    .protect(black_box(&mut packet), PN_OFFSET)
                    .expect("the header is protected");
            });
        });
        group.bench_function(format!("{name}/unprotect"), |b| {
            b.iter(|| {
                protected[..HEADER_LEN].copy_from_slice(&masked);
                let header = server
                    .remote
                    .header
                    .unprotect(black_box(&mut protected), PN_OFFSET)
                    .expect("the header is unprotected");
                black_box(header.pn)
            });
        });
    }
    group.finish();
}

fn packet_protection(c: &mut Criterion) {
    let mut group = c.benchmark_group("packet_protection");
    group.throughput(Throughput::Bytes(PAYLOAD_LEN as u64));
    for (name, suite) in suites() {
        let (client, server) = keys(suite);
        let mut packet = clear_packet(client.local.packet.tag_len());
        let clear: [u8; HEADER_LEN] = packet[..HEADER_LEN].try_into().expect("header length");
        let mut sealed = packet.clone();
        client
            .local
            .seal(u64::from(PN), &mut sealed, PN_OFFSET)
            .expect("the packet seals");
        let mut opened = sealed.clone();

        // The payload is sealed again on top of the last iteration's
        // ciphertext: the same work on different bytes.
        group.bench_function(format!("{name}/seal_1200"), |b| {
            b.iter(|| {
                packet[..HEADER_LEN].copy_from_slice(&clear);
                client
                    .local
                    .seal(u64::from(PN), black_box(&mut packet), PN_OFFSET)
                    .expect("the packet seals");
            });
        });
        group.bench_function(format!("{name}/open_1200"), |b| {
            b.iter(|| {
                opened.copy_from_slice(&sealed);
                let opened = server
                    .remote
                    .open(black_box(&mut opened), PN_OFFSET, Some(u64::from(PN) - 1))
                    .expect("the packet opens");
                black_box(opened.pn)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, header_protection, packet_protection);
criterion_main!(benches);
