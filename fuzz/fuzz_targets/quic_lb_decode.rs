//! QUIC-LB connection IDs: a configuration drawn from the input, then an
//! arbitrary connection ID. Decoding and `shard_of` never panic and agree
//! with each other; encoding the input's nonce decodes back to it; a
//! shard's generated IDs read back as that shard.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rand::{SeedableRng, rngs::StdRng};
use tern_proto::ConnectionIdGenerator;
use tern_quic_lb::{Codec, Config, QuicLbGenerator};

/// The bytes that make the configuration: codepoint, lengths, flags,
/// key, shard count, then up to 15 of server ID.
const HEADER: usize = 4 + 16 + 1;

fuzz_target!(|data: &[u8]| {
    let Some((header, rest)) = data.split_at_checked(HEADER) else {
        return;
    };
    let config_id = header[0] % 7;
    let sid_len = 1 + usize::from(header[1] % 15);
    let nonce_len = (4 + usize::from(header[2] % 15)).min(19 - sid_len);
    let keyed = header[3] & 1 != 0;
    let encode_length = header[3] & 2 != 0;
    let key: [u8; 16] = header[4..20].try_into().expect("16 bytes");
    let shards = 1 + usize::from(header[20]);
    let Some((sid, cid)) = rest.split_at_checked(sid_len) else {
        return;
    };
    let config = Config::new(config_id, sid, nonce_len, keyed.then_some(key))
        .expect("lengths within the limits")
        .encode_length(encode_length);

    // Decoding arbitrary bytes: both readings agree.
    let codec = Codec::new(config.clone());
    let full = codec.decode(cid);
    let server_id = codec.server_id(cid);
    assert_eq!(full.is_ok(), server_id.is_ok());
    if let (Ok(decoded), Ok(server_id)) = (full, server_id) {
        assert_eq!(decoded.server_id(), &*server_id);
        assert_eq!(decoded.first_octet(), cid[0]);
    }

    // Round trip: the input's first bytes as a nonce.
    let mut nonce = [0; 18];
    let n = cid.len().min(nonce_len);
    nonce[..n].copy_from_slice(&cid[..n]);
    let encoded = codec
        .encode(&nonce[..nonce_len], header[3])
        .expect("nonce length");
    let decoded = codec.decode(&encoded).expect("an ID of ours decodes");
    assert_eq!(decoded.server_id(), sid);
    assert_eq!(decoded.nonce(), &nonce[..nonce_len]);

    // Shards: any bytes give a shard in range or none; generated IDs give
    // their own shard.
    let mut rng = StdRng::seed_from_u64(u64::from_le_bytes(key[..8].try_into().expect("8 bytes")));
    let generators = QuicLbGenerator::new(config)
        .sharded(shards, &mut rng)
        .expect("up to 256 shards over a nonce of 4 bytes or more");
    if let Some(shard) = generators[0].shard_of(cid) {
        assert!(shard < shards);
    }
    let index = usize::from(header[2]) % shards;
    let generated = generators[index].generate(&mut rng);
    assert_eq!(generators[0].shard_of(&generated), Some(index));
});
