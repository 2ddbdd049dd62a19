//! The test vectors of draft-ietf-quic-load-balancers (appendix B, "Load
//! Balancer Test Vectors", and the four-pass example of §5.4.2.4), both
//! ways: encoding the given server ID and nonce gives the connection ID,
//! and decoding the connection ID gives them back.
#![expect(clippy::unwrap_used, reason = "tests")]

use tern_quic_lb::{Codec, Config, DecodeError};

/// The key of every encrypted vector of appendix B.
const KEY: &str = "8f95f09245765f80256934e50c66207f";

fn hex(text: &str) -> Vec<u8> {
    assert_eq!(text.len() % 2, 0, "{text}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn key(text: &str) -> [u8; 16] {
    hex(text).try_into().unwrap()
}

/// A codec of config `cr_bits` with this server ID and nonce length; the
/// vectors all encode the length in the first octet.
fn codec(cr_bits: u8, sid: &str, nonce_len: usize, key: Option<[u8; 16]>) -> Codec {
    let config = Config::new(cr_bits, &hex(sid), nonce_len, key).unwrap();
    Codec::new(config.encode_length(true))
}

/// Encodes `nonce` and checks the ID; decodes the ID, in full and as a
/// load balancer reads the server ID alone, and checks the fields.
fn both_ways(codec: &Codec, sid: &str, nonce: &str, cid: &str) {
    let encoded = codec.encode(&hex(nonce), 0).unwrap();
    assert_eq!(encoded.to_string(), cid, "encoding sid {sid} nonce {nonce}");
    let decoded = codec.decode(&hex(cid)).unwrap();
    assert_eq!(decoded.server_id(), hex(sid));
    assert_eq!(decoded.nonce(), hex(nonce));
    assert_eq!(decoded.first_octet(), hex(cid)[0]);
    assert_eq!(*codec.server_id(&hex(cid)).unwrap(), hex(sid)[..]);
}

#[test]
fn unencrypted_vector_with_config_0() {
    let codec = codec(0, "c4605e", 4, None);
    both_ways(&codec, "c4605e", "4504cc4f", "07c4605e4504cc4f");
}

/// The draft prints the second unencrypted vector as
/// `1 350d28b420 3487d970b 20a350d28b4203487d970b`: a nonce of nine hex
/// digits, and a connection ID whose first octet, 0x20, says config 1 but
/// a length of 0. The ID's 22 digits make 11 bytes, the server ID has 5,
/// so the nonce has 5 and the first octet must be 0x2a (config 1 in the
/// top bits, 10 bytes following). The ID's digits read `2`, `0a` (that
/// first octet split in two), the server ID, then the same nine nonce
/// digits, so the nonce printed lost one `0` digit; where it was is not
/// recoverable. The two readings are a dropped leading zero (03487d970b)
/// and a byte printed without its zero (3487d9700b). Both are tested: in
/// plaintext, the ID is the first octet, the server ID and the nonce.
#[test]
fn unencrypted_vector_with_config_1_both_readings() {
    let codec = codec(1, "350d28b420", 5, None);
    for nonce in ["03487d970b", "3487d9700b"] {
        both_ways(&codec, "350d28b420", nonce, &format!("2a350d28b420{nonce}"));
    }
}

/// Server ID 3 bytes, nonce 4: four passes over an odd length, the middle
/// octet split, and three passes enough for the load balancer.
#[test]
fn encrypted_vector_four_pass_odd_length() {
    let codec = codec(0, "ed793a", 4, Some(key(KEY)));
    both_ways(&codec, "ed793a", "ee080dbf", "0720b1d07b359d3c");
}

/// Server ID 10 bytes, nonce 5: the server ID is longer than the left
/// half, so the load balancer needs the fourth decryption pass.
#[test]
fn encrypted_vector_needing_the_fourth_decryption_pass() {
    let codec = codec(1, "ed793a51d49b8f5fab65", 5, Some(key(KEY)));
    both_ways(
        &codec,
        "ed793a51d49b8f5fab65",
        "ee080dbf48",
        "2fcc381bc74cb4fbad2823a3d1f8fed2",
    );
}

/// Server ID and nonce of 8 bytes each: the single-pass special case.
#[test]
fn encrypted_vector_single_pass() {
    let codec = codec(2, "ed793a51d49b8f5f", 8, Some(key(KEY)));
    both_ways(
        &codec,
        "ed793a51d49b8f5f",
        "ee080dbf48c0d1e5",
        "504dd2d05a7b0de9b2b9907afb5ecf8cc3",
    );
}

/// Server ID and nonce of 9 bytes each: four passes over an even length.
/// The draft prints this ID with first octet 0x12, which reads config 0,
/// against its own `cr_bits` of 3: config 3 and 18 bytes following make
/// 0x72. The 18 encrypted bytes are the draft's, and the draft's ID as
/// printed decodes to the same server ID and nonce under config 0 (the
/// first octet is not encrypted).
#[test]
fn encrypted_vector_four_pass_even_length() {
    let (sid, nonce) = ("ed793a51d49b8f5fab", "ee080dbf48c0d1e55d");
    let ciphertext = "5779c9cc86beb3a3a4a3ca96fce4bfe0cdbc";
    let codec3 = codec(3, sid, 9, Some(key(KEY)));
    both_ways(&codec3, sid, nonce, &format!("72{ciphertext}"));
    let codec0 = codec(0, sid, 9, Some(key(KEY)));
    both_ways(&codec0, sid, nonce, &format!("12{ciphertext}"));
    assert_eq!(
        codec3.decode(&hex(&format!("12{ciphertext}"))),
        Err(DecodeError::ConfigId {
            expected: 3,
            actual: 0
        })
    );
}

/// §5.4.2.4's worked example: server ID 31441a, nonce 9c69c275, under
/// another key. (Its step 10 XORs with 0xb3e4357c where the AES output
/// it shows begins 0xb334357c; the result it prints is that of the
/// latter.)
#[test]
fn the_drafts_encryption_example() {
    let codec = codec(
        0,
        "31441a",
        4,
        Some(key("fdf726a9893ec05c0632d3956680baf0")),
    );
    both_ways(&codec, "31441a", "9c69c275", "0767947d29be054a");
}
