//! Tests of the Initial reader against RFC 9001's and RFC 9369's client
//! Initials, packets sealed here with tern-proto's keys, and the first
//! flight of a tern-proto client, written into real pcap files.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    time::Instant,
};

use tern_proto::{
    config::{ClientConfig, EndpointConfig, ServerConfig},
    endpoint::Endpoint,
};

use super::*;

/// The proxy's port in every capture.
const PROXY_PORT: u16 = 4433;

/// The client and the proxy, on IPv4 and on IPv6.
const CLIENT_V4: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 50_000);
const PROXY_V4: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), PROXY_PORT);
const CLIENT_V6: SocketAddr = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 50_000);
const PROXY_V6: SocketAddr = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), PROXY_PORT);

/// The suites of RFC 9001 §A.2's ClientHello: TLS_AES_128_GCM_SHA256 and
/// TLS_AES_256_GCM_SHA384.
const RFC_SUITES: [u16; 2] = [0x1301, 0x1302];
/// TLS_CHACHA20_POLY1305_SHA256.
const CHACHA20: u16 = 0x1303;

// The vectors of tern-proto's crypto tests (RFC 9001 §A, RFC 9369 §A).

/// RFC 9001 §A: the client's original Destination Connection ID.
const DCID: &str = "8394c8f03e515708";

/// RFC 9001 §A.2: the CRYPTO frame carrying the client's ClientHello.
const CLIENT_CRYPTO_FRAME: &str = concat!(
    "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868",
    "04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578",
    "616d706c652e636f6dff01000100000a00080006001d00170018001000070005",
    "04616c706e000500050100000000003300260024001d00209370b2c9caa47fba",
    "baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400",
    "0d0010000e0403050306030203080408050806002d00020101001c0002400100",
    "3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000",
    "75300901100f088394c8f03e51570806048000ffff",
);

/// RFC 9001 §A.2: the protected client Initial.
const V1_CLIENT_PACKET: &str = concat!(
    "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11",
    "d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399",
    "1c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c",
    "8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df6212",
    "30c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5",
    "457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208",
    "4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec",
    "4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3",
    "485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db",
    "059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c",
    "7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f8",
    "9937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556",
    "be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c74",
    "68449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663a",
    "c69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00",
    "f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632",
    "291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe58964",
    "25c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd",
    "14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff",
    "ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198",
    "e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd",
    "c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73",
    "203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77f",
    "cb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e",
    "fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03ade",
    "a2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e724047",
    "90a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2",
    "162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f4",
    "40591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca0",
    "6948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e",
    "8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0",
    "be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f09400",
    "54da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab",
    "760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9",
    "f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4",
    "056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064",
    "7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241",
    "e221af44860018ab0856972e194cd934",
);

/// RFC 9001 §A.3: the protected server Initial.
const V1_SERVER_PACKET: &str = concat!(
    "cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a",
    "5816b6394100f37a1c69797554780bb38cc5a99f5ede4cf73c3ec2493a1839b3",
    "dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f3bded74b562bfb19fb84",
    "022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc4",
    "2158407dd074ee",
);

/// RFC 9001 §A.4: the server's Retry, integrity tag included.
const V1_RETRY: &str = "ff000000010008f067a5502a4262b5746f6b656e04a265ba2eff4d829058fb3f0f2496ba";

/// RFC 9369 §A.2: the protected v2 client Initial.
const V2_CLIENT_PACKET: &str = concat!(
    "d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485",
    "dd04de806071bf03dceebfa162e75d6c96058bdbfb127cdfcbf903388e99ad04",
    "9f9a3dd4425ae4d0992cfff18ecf0fdb5a842d09747052f17ac2053d21f57c5d",
    "250f2c4f0e0202b70785b7946e992e58a59ac52dea6774d4f03b55545243cf1a",
    "12834e3f249a78d395e0d18f4d766004f1a2674802a747eaa901c3f10cda5500",
    "cb9122faa9f1df66c392079a1b40f0de1c6054196a11cbea40afb6ef5253cd68",
    "18f6625efce3b6def6ba7e4b37a40f7732e093daa7d52190935b8da58976ff33",
    "12ae50b187c1433c0f028edcc4c2838b6a9bfc226ca4b4530e7a4ccee1bfa2a3",
    "d396ae5a3fb512384b2fdd851f784a65e03f2c4fbe11a53c7777c023462239dd",
    "6f7521a3f6c7d5dd3ec9b3f233773d4b46d23cc375eb198c63301c21801f6520",
    "bcfb7966fc49b393f0061d974a2706df8c4a9449f11d7f3d2dcbb90c6b877045",
    "636e7c0c0fe4eb0f697545460c806910d2c355f1d253bc9d2452aaa549e27a1f",
    "ac7cf4ed77f322e8fa894b6a83810a34b361901751a6f5eb65a0326e07de7c12",
    "16ccce2d0193f958bb3850a833f7ae432b65bc5a53975c155aa4bcb4f7b2c4e5",
    "4df16efaf6ddea94e2c50b4cd1dfe06017e0e9d02900cffe1935e0491d77ffb4",
    "fdf85290fdd893d577b1131a610ef6a5c32b2ee0293617a37cbb08b847741c3b",
    "8017c25ca9052ca1079d8b78aebd47876d330a30f6a8c6d61dd1ab5589329de7",
    "14d19d61370f8149748c72f132f0fc99f34d766c6938597040d8f9e2bb522ff9",
    "9c63a344d6a2ae8aa8e51b7b90a4a806105fcbca31506c446151adfeceb51b91",
    "abfe43960977c87471cf9ad4074d30e10d6a7f03c63bd5d4317f68ff325ba3bd",
    "80bf4dc8b52a0ba031758022eb025cdd770b44d6d6cf0670f4e990b22347a7db",
    "848265e3e5eb72dfe8299ad7481a408322cac55786e52f633b2fb6b614eaed18",
    "d703dd84045a274ae8bfa73379661388d6991fe39b0d93debb41700b41f90a15",
    "c4d526250235ddcd6776fc77bc97e7a417ebcb31600d01e57f32162a8560cacc",
    "7e27a096d37a1a86952ec71bd89a3e9a30a2a26162984d7740f81193e8238e61",
    "f6b5b984d4d3dfa033c1bb7e4f0037febf406d91c0dccf32acf423cfa1e70710",
    "10d3f270121b493ce85054ef58bada42310138fe081adb04e2bd901f2f13458b",
    "3d6758158197107c14ebb193230cd1157380aa79cae1374a7c1e5bbcb80ee23e",
    "06ebfde206bfb0fcbc0edc4ebec309661bdd908d532eb0c6adc38b7ca7331dce",
    "8dfce39ab71e7c32d318d136b6100671a1ae6a6600e3899f31f0eed19e3417d1",
    "34b90c9058f8632c798d4490da4987307cba922d61c39805d072b589bd52fdf1",
    "e86215c2d54e6670e07383a27bbffb5addf47d66aa85a0c6f9f32e59d85a44dd",
    "5d3b22dc2be80919b490437ae4f36a0ae55edf1d0b5cb4e9a3ecabee93dfc6e3",
    "8d209d0fa6536d27a5d6fbb17641cde27525d61093f1b28072d111b2b4ae5f89",
    "d5974ee12e5cf7d5da4d6a31123041f33e61407e76cffcdcfd7e19ba58cf4b53",
    "6f4c4938ae79324dc402894b44faf8afbab35282ab659d13c93f70412e85cb19",
    "9a37ddec600545473cfb5a05e08d0b209973b2172b4d21fb69745a262ccde96b",
    "a18b2faa745b6fe189cf772a9f84cbfc",
);

/// Bytes from hex digits.
fn hex(text: &str) -> Vec<u8> {
    assert_eq!(text.len() % 2, 0, "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// The RFC's ClientHello: its CRYPTO frame without the 4-byte frame header
/// (type 0x06, offset 0, 2-byte length).
fn rfc_client_hello() -> Vec<u8> {
    hex(CLIENT_CRYPTO_FRAME)[4..].to_vec()
}

/// A classic pcap file being written, raw IP link type.
struct PcapWriter {
    bytes: Vec<u8>,
    big_endian: bool,
}

impl PcapWriter {
    fn new(big_endian: bool, nanos: bool) -> Self {
        let mut writer = Self {
            bytes: Vec::new(),
            big_endian,
        };
        writer.u32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 });
        writer.u16(2);
        writer.u16(4);
        writer.u32(0); // thiszone
        writer.u32(0); // sigfigs
        writer.u32(65_535); // snaplen
        writer.u32(101); // LINKTYPE_RAW
        writer
    }

    fn u16(&mut self, value: u16) {
        let bytes = if self.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        };
        self.bytes.extend_from_slice(&bytes);
    }

    fn u32(&mut self, value: u32) {
        let bytes = if self.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        };
        self.bytes.extend_from_slice(&bytes);
    }

    /// One record: an IP header, a UDP header and `datagram`.
    fn datagram(&mut self, from: SocketAddr, to: SocketAddr, datagram: &[u8]) -> &mut Self {
        let packet = ip_udp(from, to, datagram);
        let len = u32::try_from(packet.len()).unwrap();
        let index = u32::try_from(self.bytes.len()).unwrap();
        self.u32(1_700_000_000);
        self.u32(index); // a timestamp that grows
        self.u32(len);
        self.u32(len);
        self.bytes.extend_from_slice(&packet);
        self
    }

    fn client_sent(&mut self, datagram: &[u8]) -> &mut Self {
        self.datagram(CLIENT_V4, PROXY_V4, datagram)
    }

    fn client_received(&mut self, datagram: &[u8]) -> &mut Self {
        self.datagram(PROXY_V4, CLIENT_V4, datagram)
    }

    fn write(&self, name: &str) -> TempFile {
        TempFile::new(name, &self.bytes)
    }
}

/// An IPv4 (no options) or IPv6 header, a UDP header, then `payload`;
/// checksums are left zero, as nothing here checks them.
fn ip_udp(from: SocketAddr, to: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let udp_len = u16::try_from(8 + payload.len()).unwrap();
    let mut packet = Vec::new();
    match (from.ip(), to.ip()) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            packet.extend_from_slice(&[0x45, 0]);
            packet.extend_from_slice(&(udp_len + 20).to_be_bytes());
            packet.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
            packet.extend_from_slice(&src.octets());
            packet.extend_from_slice(&dst.octets());
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            packet.extend_from_slice(&[0x60, 0, 0, 0]);
            packet.extend_from_slice(&udp_len.to_be_bytes());
            packet.extend_from_slice(&[17, 64]);
            packet.extend_from_slice(&src.octets());
            packet.extend_from_slice(&dst.octets());
        }
        _ => panic!("mixed IP versions"),
    }
    packet.extend_from_slice(&from.port().to_be_bytes());
    packet.extend_from_slice(&to.port().to_be_bytes());
    packet.extend_from_slice(&udp_len.to_be_bytes());
    packet.extend_from_slice(&[0, 0]);
    packet.extend_from_slice(payload);
    packet
}

/// A file in the temp directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, bytes: &[u8]) -> Self {
        let path = std::env::temp_dir().join(format!(
            "tern-xtask-initial-{}-{name}.pcap",
            std::process::id()
        ));
        std::fs::write(&path, bytes).unwrap();
        Self(path)
    }

    fn read(&self) -> Result<ClientHelloView, String> {
        read_client_hellos(&self.0, PROXY_PORT)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// CRYPTO frame with `data` at `offset` (both below 2^14).
fn crypto_frame(offset: usize, data: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x06];
    frame.extend_from_slice(&(0x4000 | u16::try_from(offset).unwrap()).to_be_bytes());
    frame.extend_from_slice(&(0x4000 | u16::try_from(data.len()).unwrap()).to_be_bytes());
    frame.extend_from_slice(data);
    frame
}

/// A v1 client Initial to `dcid` from `scid`, protected with the client
/// Initial keys of `key_dcid`, its frames padded to a 1200-byte datagram.
fn seal_initial(key_dcid: &[u8], dcid: &[u8], scid: &[u8], pn: u32, frames: &[u8]) -> Vec<u8> {
    seal_initial_with_token(key_dcid, dcid, scid, &[], pn, frames)
}

/// The same, carrying `token` (under 64 bytes).
fn seal_initial_with_token(
    key_dcid: &[u8],
    dcid: &[u8],
    scid: &[u8],
    token: &[u8],
    pn: u32,
    frames: &[u8],
) -> Vec<u8> {
    let keys = Keys::initial(Version::V1, key_dcid, Side::Client);
    let mut packet = vec![0xc3, 0, 0, 0, 1];
    packet.push(u8::try_from(dcid.len()).unwrap());
    packet.extend_from_slice(dcid);
    packet.push(u8::try_from(scid.len()).unwrap());
    packet.extend_from_slice(scid);
    packet.push(u8::try_from(token.len()).unwrap());
    packet.extend_from_slice(token);
    // Length (2 bytes) + pn (4) + payload + tag (16) makes 1200.
    let payload_len = 1200 - packet.len() - 2 - 4 - 16;
    assert!(frames.len() <= payload_len);
    let length = u16::try_from(4 + payload_len + 16).unwrap();
    packet.extend_from_slice(&(0x4000 | length).to_be_bytes());
    let pn_offset = packet.len();
    packet.extend_from_slice(&pn.to_be_bytes());
    packet.extend_from_slice(frames);
    packet.resize(1200, 0); // PADDING, then room for the tag
    keys.local
        .seal(u64::from(pn), &mut packet, pn_offset)
        .unwrap();
    packet
}

// RFC 9001 §A.2 (test): anyone on the path opens the client's Initial with
// keys from its DCID; a retransmission counts again, a client packet that
// comes back from the proxy is not read as the server's, and a corrupted
// copy is counted apart.
#[test]
fn rfc_client_initial_sent_twice_counts_two_client_hellos() {
    let client = hex(V1_CLIENT_PACKET);
    let mut corrupted = client.clone();
    corrupted[600] ^= 0x01;
    let pcap = PcapWriter::new(false, false)
        .client_sent(&client)
        .client_received(&hex(V1_SERVER_PACKET))
        .client_received(&client)
        .client_sent(&corrupted)
        .client_sent(&client)
        .write("rfc-twice");
    let view = pcap.read().unwrap();
    assert_eq!(
        view,
        ClientHelloView {
            initial_packets: 2,
            undecryptable: 1,
            client_hello_sends: 2,
            cipher_suites: RFC_SUITES.to_vec(),
            connections: 1,
            initials_with_token: 0,
            packet_numbers_reset: 0,
            // RFC 9001 §A.3 (test): the server's Initial opens with keys
            // from the client's DCID; its ServerHello picks AES-128-GCM.
            server_hello_suite: Some(0x1301),
        }
    );
}

// RFC 9369 §A.2 (test): a v2 client Initial over IPv6, in a big-endian
// capture with nanosecond timestamps.
#[test]
fn v2_client_initial_reads_from_a_big_endian_nanosecond_ipv6_capture() {
    let mut pcap = PcapWriter::new(true, true);
    pcap.datagram(CLIENT_V6, PROXY_V6, &hex(V2_CLIENT_PACKET));
    let view = pcap.write("v2-ipv6").read().unwrap();
    assert_eq!(
        view,
        ClientHelloView {
            initial_packets: 1,
            undecryptable: 0,
            client_hello_sends: 1,
            cipher_suites: RFC_SUITES.to_vec(),
            connections: 1,
            initials_with_token: 0,
            packet_numbers_reset: 0,
            server_hello_suite: None,
        }
    );
}

// RFC 9000 §7.2 (test): once the client takes the server's CID as its
// DCID, its Initials are still protected with the original DCID's keys;
// a ClientHello split over two packets is reassembled.
#[test]
fn split_client_hello_reassembles_across_a_dcid_change() {
    let dcid = hex(DCID);
    let server_cid = [0x5e; 8];
    let hello = rfc_client_hello();
    let (head, tail) = hello.split_at(100);
    let pcap = PcapWriter::new(false, false)
        .client_sent(&seal_initial(&dcid, &dcid, &[], 0, &crypto_frame(0, head)))
        .client_sent(&seal_initial(
            &dcid,
            &server_cid,
            &[],
            1,
            &crypto_frame(100, tail),
        ))
        .write("split");
    let view = pcap.read().unwrap();
    assert_eq!(
        view,
        ClientHelloView {
            initial_packets: 2,
            undecryptable: 0,
            client_hello_sends: 1,
            cipher_suites: RFC_SUITES.to_vec(),
            connections: 1,
            initials_with_token: 0,
            packet_numbers_reset: 0,
            server_hello_suite: None,
        }
    );
}

// RFC 9001 §5.2 (test): after a Retry the client's Initials are protected
// with keys from the Retry's SCID; they stay in the same connection.
#[test]
fn retry_moves_the_keys_without_starting_a_connection() {
    let retry_scid = hex("f067a5502a4262b5");
    let hello = crypto_frame(0, &rfc_client_hello());
    let pcap = PcapWriter::new(false, false)
        .client_sent(&hex(V1_CLIENT_PACKET))
        .client_received(&hex(V1_RETRY))
        .client_sent(&seal_initial(&retry_scid, &retry_scid, &[], 3, &hello))
        .write("retry");
    let view = pcap.read().unwrap();
    assert_eq!(view.initial_packets, 2);
    assert_eq!(view.undecryptable, 0);
    assert_eq!(view.client_hello_sends, 2);
    assert_eq!(view.connections, 1);
    assert_eq!(view.initials_with_token, 0);
}

// RFC 9000 §17.2.5.3 (test): the Initial that carries the Retry's token
// continues the packet numbers; one that starts them over is counted.
#[test]
fn a_token_initial_that_reuses_a_packet_number_counts_as_a_reset() {
    let retry_scid = hex("f067a5502a4262b5");
    let hello = crypto_frame(0, &rfc_client_hello());
    for (pn, resets) in [(3, 0), (2, 1), (0, 1)] {
        let pcap = PcapWriter::new(false, false)
            .client_sent(&hex(V1_CLIENT_PACKET))
            .client_received(&hex(V1_RETRY))
            .client_sent(&seal_initial_with_token(
                &retry_scid,
                &retry_scid,
                &[],
                b"token",
                pn,
                &hello,
            ))
            .write(&format!("retry-pn-{pn}"));
        let view = pcap.read().unwrap();
        assert_eq!(view.initial_packets, 2, "pn {pn}");
        assert_eq!(view.initials_with_token, 1, "pn {pn}");
        assert_eq!(view.packet_numbers_reset, resets, "pn {pn}");
    }
}

#[test]
fn initials_to_a_second_original_dcid_count_a_second_connection() {
    let other = [0x11; 8];
    let hello = crypto_frame(0, &rfc_client_hello());
    let pcap = PcapWriter::new(false, false)
        .client_sent(&hex(V1_CLIENT_PACKET))
        .client_sent(&seal_initial(&other, &other, &[1, 2, 3, 4], 0, &hello))
        .write("two-connections");
    let view = pcap.read().unwrap();
    assert_eq!(view.connections, 2);
    assert_eq!(view.client_hello_sends, 2);
    assert_eq!(view.initial_packets, 2);
}

#[expect(
    clippy::disallowed_methods,
    reason = "the test client needs one base instant; time then moves by its own deadlines"
)]
fn epoch() -> Instant {
    Instant::now()
}

/// The provider of a client or server that prefers ChaCha20-Poly1305 (and
/// lists AES-128-GCM after it, as rustls requires for Initial packets).
fn chacha_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(tern_proto::crypto::with_cipher_suites(
        tern_proto::crypto::default_provider(),
        &[tern_proto::crypto::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256],
    ))
}

/// What a tern-proto client preferring ChaCha20-Poly1305 sends: its first
/// flight, then what it sends again after its first probe timeout, with
/// no answer.
fn chacha_client_datagrams(seed: u64) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut tls = rustls::ClientConfig::builder_with_provider(chacha_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"hq-interop".to_vec()];
    let config = ClientConfig::new(Arc::new(tls)).expect("the test tls config runs quic");
    let mut endpoint = Endpoint::new(
        Arc::new(EndpointConfig::default()),
        None,
        Some(CLIENT_V4),
        seed,
    );
    let now = epoch();
    endpoint
        .connect(now, &config, PROXY_V4, "localhost")
        .unwrap();
    let first = drain(&mut endpoint, now);
    let deadline = endpoint.poll_timeout().unwrap();
    endpoint.handle_timeout(deadline);
    let again = drain(&mut endpoint, deadline);
    (first, again)
}

/// Every datagram `endpoint` has to send at `now`, GSO batches split.
fn drain(endpoint: &mut Endpoint, now: Instant) -> Vec<Vec<u8>> {
    let mut datagrams = Vec::new();
    let mut buf = Vec::new();
    while let Some(transmit) = endpoint.poll_transmit(now, 1, &mut buf) {
        let segment = transmit.segment_size.unwrap_or(transmit.size);
        datagrams.extend(buf[..transmit.size].chunks(segment).map(<[u8]>::to_vec));
        buf.clear();
    }
    datagrams
}

/// What a tern-proto server preferring ChaCha20-Poly1305 answers to
/// `client_flight`.
fn chacha_server_answer(client_flight: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let mut tls = rustls::ServerConfig::builder_with_provider(chacha_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    tls.alpn_protocols = vec![b"hq-interop".to_vec()];
    tls.ignore_client_order = true;
    let config = ServerConfig::new(Arc::new(tls)).expect("the test tls config runs quic");
    let mut server = Endpoint::new(
        Arc::new(EndpointConfig::default()),
        Some(Arc::new(config)),
        Some(PROXY_V4),
        1,
    );
    let now = epoch();
    for datagram in client_flight {
        server.handle(now, CLIENT_V4, None, None, BytesMut::from(&datagram[..]));
    }
    // The server takes the client: the held flight is processed now.
    while let Some(id) = server.poll_incoming() {
        server.accept_incoming(now, id, None).expect("accepted");
    }
    drain(&mut server, now)
}

// The runner's chacha20 and longrtt conditions on a real client's first
// flight and its retransmission, and a real server's answer.
#[test]
fn chacha_client_prefers_chacha20_and_the_server_hello_selects_it() {
    let (first, again) = chacha_client_datagrams(7);
    let answer = chacha_server_answer(&first);
    assert!(!answer.is_empty(), "the server answers");
    let mut pcap = PcapWriter::new(false, false);
    for datagram in first.iter().chain(&again) {
        pcap.client_sent(datagram);
    }
    for datagram in &answer {
        pcap.client_received(datagram);
    }
    let view = pcap.write("chacha").read().unwrap();
    // rustls offers AES-128-GCM too, after ChaCha20: it needs it in the
    // provider for Initial packets (RFC 9001 §5.2).
    assert_eq!(view.cipher_suites, [CHACHA20, 0x1301]);
    assert_eq!(view.server_hello_suite, Some(CHACHA20));
    assert_eq!(view.connections, 1);
    assert_eq!(view.undecryptable, 0);
    assert!(view.client_hello_sends >= 2, "{view:?}");
}

#[test]
fn a_single_client_hello_is_one_send_however_many_datagrams_it_spans() {
    let (first, _) = chacha_client_datagrams(8);
    let mut pcap = PcapWriter::new(false, false);
    for datagram in &first {
        pcap.client_sent(datagram);
    }
    let view = pcap.write("chacha-once").read().unwrap();
    assert_eq!(view.cipher_suites.first(), Some(&CHACHA20));
    assert_eq!(view.client_hello_sends, 1);
    assert_eq!(view.server_hello_suite, None, "no server datagram");
}

#[test]
fn files_that_are_not_raw_ip_pcap_are_errors() {
    let mut wrong_link = PcapWriter::new(false, false).bytes;
    wrong_link[20] = 1; // Ethernet
    let cases: [(&str, Vec<u8>); 5] = [
        ("empty", Vec::new()),
        ("short", vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0]),
        ("text", b"not a capture at all, just words".to_vec()),
        (
            "pcapng",
            vec![
                0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 0, 0,
            ],
        ),
        ("ethernet", wrong_link),
    ];
    for (name, bytes) in cases {
        let result = TempFile::new(name, &bytes).read();
        assert!(result.is_err(), "{name}: {result:?}");
    }
    let missing = read_client_hellos(std::path::Path::new("/nonexistent/client.pcap"), 1);
    assert!(missing.is_err());
}

#[test]
fn a_capture_cut_anywhere_reads_without_panicking() {
    let client = hex(V1_CLIENT_PACKET);
    let mut pcap = PcapWriter::new(false, false);
    pcap.client_sent(&client).client_sent(&client);
    let full = pcap.bytes.clone();
    assert!(
        TempFile::new("header-only", &full[..24]).read().unwrap() == ClientHelloView::default()
    );
    for len in 24..full.len() {
        let view = TempFile::new("cut", &full[..len]).read().unwrap();
        assert!(view.initial_packets <= 2, "{len}: {view:?}");
        assert_eq!(view.undecryptable, 0, "{len}: {view:?}");
    }
}

#[test]
fn garbage_records_read_without_panicking() {
    // A fixed linear congruential generator: repeatable garbage.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        state.to_be_bytes()[0]
    };
    let client = hex(V1_CLIENT_PACKET);
    let mut pcap = PcapWriter::new(false, false);
    for round in 0..200 {
        let len = usize::from(next()) * 5;
        let mut datagram: Vec<u8> = (0..len).map(|_| next()).collect();
        if round % 2 == 0 {
            // A client Initial with a few bytes changed anywhere.
            datagram = client.clone();
            for _ in 0..3 {
                let at = usize::from(next()) * usize::from(next()) % client.len();
                datagram[at] ^= next() | 1;
            }
        }
        pcap.client_sent(&datagram);
        // Raw garbage where an IP packet should be.
        let garbage: Vec<u8> = (0..usize::from(next())).map(|_| next()).collect();
        let len = u32::try_from(garbage.len()).unwrap();
        pcap.u32(0);
        pcap.u32(0);
        pcap.u32(len);
        pcap.u32(len);
        pcap.bytes.extend_from_slice(&garbage);
    }
    let view = pcap.write("garbage").read().unwrap();
    assert!(
        view.initial_packets + view.undecryptable <= 200 + 100,
        "{view:?}"
    );
}

#[test]
fn hello_parsers_wait_for_the_whole_message_and_never_panic() {
    let hello = rfc_client_hello();
    for len in 0..hello.len() {
        assert_eq!(handshake_message(&hello[..len]), None, "prefix of {len}");
    }
    let (msg_type, body) = handshake_message(&hello).unwrap();
    assert_eq!(msg_type, CLIENT_HELLO);
    assert_eq!(cipher_suites(body), Some(RFC_SUITES.to_vec()));
    // Fields that run past the end of the message read as nothing.
    assert_eq!(cipher_suites(&[3, 3, 0]), None);
    let mut odd = vec![3, 3];
    odd.extend_from_slice(&[0; 32]);
    odd.extend_from_slice(&[0, 0, 1]); // no session id, a 1-byte suite list
    assert_eq!(cipher_suites(&odd), None);
    // RFC 9001 §A.3: its ServerHello selects TLS_AES_128_GCM_SHA256.
    let server_hello = hex(concat!(
        "020000560303eefce7f7b37ba1d1632e96677825ddf73988cfc79825df566dc5",
        "430b9a045a1200130100002e00330024001d00209d3c940d89690b84d08a60993c",
        "144eca684d1081287c834d5311bcf32bb9da1a002b00020304",
    ));
    let (msg_type, body) = handshake_message(&server_hello).unwrap();
    assert_eq!(msg_type, SERVER_HELLO);
    assert_eq!(selected_suite(body), Some(0x1301));
    for len in 0..body.len() {
        let _ = selected_suite(&body[..len]);
    }
    assert_eq!(selected_suite(&body[..35]), None);
}
