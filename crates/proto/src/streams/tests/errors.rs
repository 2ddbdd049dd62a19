//! Every frame a peer must not send closes the connection with the RFC's code.

use super::*;
use crate::{
    error::TransportErrorCode,
    frame::{
        Frame, MaxStreamData, MaxStreams, ResetStream, StopSending, Stream as StreamFrame,
        StreamDataBlocked,
    },
};

fn id(value: u32) -> StreamId {
    StreamId::new(VarInt::from_u32(value))
}

fn stream(id: StreamId, offset: u64, data: &'static [u8], fin: bool) -> Frame {
    Frame::Stream(StreamFrame {
        id,
        offset: VarInt::from_u64(offset).unwrap(),
        fin,
        has_length: true,
        data: Bytes::from_static(data),
    })
}

fn server() -> Streams {
    Pair::new(&small_config()).server
}

fn code(result: Result<Option<Frame>, TransportError>) -> TransportErrorCode {
    result.unwrap_err().code
}

// RFC 9000 §19.8 (test): STREAM on a locally-initiated stream not yet opened is STREAM_STATE_ERROR.
#[test]
fn stream_data_for_our_unopened_stream_is_a_stream_state_error() {
    let mut server = server();
    let err = code(server.on_frame(stream(id(1), 0, b"x", false)));
    assert_eq!(err, TransportErrorCode::STREAM_STATE_ERROR);
}

// RFC 9000 §19.8 (test): STREAM on a send-only stream is STREAM_STATE_ERROR.
#[test]
fn stream_data_for_our_send_only_stream_is_a_stream_state_error() {
    let mut server = server();
    let ours = server.open(Dir::Uni).unwrap();
    let err = code(server.on_frame(stream(ours, 0, b"x", false)));
    assert_eq!(err, TransportErrorCode::STREAM_STATE_ERROR);
}

// RFC 9000 §4.6 (test): a peer stream beyond our limit is STREAM_LIMIT_ERROR.
#[test]
fn a_peer_stream_beyond_our_limit_is_a_stream_limit_error() {
    let mut server = server();
    // Index 8 with a limit of 8 streams.
    let err = code(server.on_frame(stream(id(8 << 2), 0, b"x", false)));
    assert_eq!(err, TransportErrorCode::STREAM_LIMIT_ERROR);
    assert_eq!(
        server.on_frame(stream(id(7 << 2), 0, b"x", false)),
        Ok(None)
    );
    assert_eq!(server.stream_count(), 8, "lower streams opened implicitly");
}

// RFC 9000 §4.1 (test): data beyond the stream limit is FLOW_CONTROL_ERROR.
#[test]
fn data_beyond_the_stream_limit_is_a_flow_control_error() {
    let mut server = server();
    let err = code(server.on_frame(stream(id(2), 4096, b"x", false)));
    assert_eq!(err, TransportErrorCode::FLOW_CONTROL_ERROR);
}

// RFC 9000 §4.1 (test): data beyond the connection limit is FLOW_CONTROL_ERROR.
#[test]
fn data_beyond_the_connection_limit_is_a_flow_control_error() {
    let mut server = server();
    for index in 0..4 {
        server
            .on_frame(stream(id(index << 2 | 2), 4095, b"x", false))
            .unwrap();
    }
    let err = code(server.on_frame(stream(id(4 << 2 | 2), 0, b"x", false)));
    assert_eq!(err, TransportErrorCode::FLOW_CONTROL_ERROR);
}

// RFC 9000 §4.5 (test): changing the final size is FINAL_SIZE_ERROR.
#[test]
fn a_changed_final_size_is_a_final_size_error() {
    let mut server = server();
    server.on_frame(stream(id(2), 0, b"abc", true)).unwrap();
    let err = code(server.on_frame(stream(id(2), 0, b"abcd", true)));
    assert_eq!(err, TransportErrorCode::FINAL_SIZE_ERROR);
}

// RFC 9000 §4.5 (test): data beyond the final size is FINAL_SIZE_ERROR.
#[test]
fn data_beyond_the_final_size_is_a_final_size_error() {
    let mut server = server();
    server.on_frame(stream(id(2), 0, b"abc", true)).unwrap();
    let err = code(server.on_frame(stream(id(2), 3, b"d", false)));
    assert_eq!(err, TransportErrorCode::FINAL_SIZE_ERROR);
}

// RFC 9000 §4.5 (test): a final size below data already received is FINAL_SIZE_ERROR.
#[test]
fn a_final_size_below_received_data_is_a_final_size_error() {
    let mut server = server();
    server.on_frame(stream(id(2), 0, b"abcdef", false)).unwrap();
    let err = code(server.on_frame(stream(id(2), 0, b"ab", true)));
    assert_eq!(err, TransportErrorCode::FINAL_SIZE_ERROR);
    let mut server = self::server();
    server.on_frame(stream(id(2), 0, b"abcdef", false)).unwrap();
    let reset = Frame::ResetStream(ResetStream {
        id: id(2),
        error_code: VarInt::from_u32(1),
        final_size: VarInt::from_u32(3),
    });
    assert_eq!(
        code(server.on_frame(reset)),
        TransportErrorCode::FINAL_SIZE_ERROR
    );
}

// RFC 9000 §19.4 (test): RESET_STREAM for a send-only stream is STREAM_STATE_ERROR.
#[test]
fn a_reset_of_our_send_only_stream_is_a_stream_state_error() {
    let mut server = server();
    let ours = server.open(Dir::Uni).unwrap();
    let reset = Frame::ResetStream(ResetStream {
        id: ours,
        error_code: VarInt::from_u32(1),
        final_size: VarInt::from_u32(0),
    });
    assert_eq!(
        code(server.on_frame(reset)),
        TransportErrorCode::STREAM_STATE_ERROR
    );
}

// RFC 9000 §19.5 (test): STOP_SENDING for a receive-only stream is STREAM_STATE_ERROR.
#[test]
fn stop_sending_for_a_receive_only_stream_is_a_stream_state_error() {
    let mut server = server();
    let stop = Frame::StopSending(StopSending {
        id: id(2),
        error_code: VarInt::from_u32(1),
    });
    assert_eq!(
        code(server.on_frame(stop)),
        TransportErrorCode::STREAM_STATE_ERROR
    );
}

// RFC 9000 §19.10 (test): MAX_STREAM_DATA for a receive-only stream is STREAM_STATE_ERROR.
#[test]
fn max_stream_data_for_a_receive_only_stream_is_a_stream_state_error() {
    let mut server = server();
    let frame = Frame::MaxStreamData(MaxStreamData {
        id: id(2),
        max_data: VarInt::from_u32(100),
    });
    assert_eq!(
        code(server.on_frame(frame)),
        TransportErrorCode::STREAM_STATE_ERROR
    );
    // RFC 9000 §19.10 (test): so is one for a local stream not yet opened.
    let frame = Frame::MaxStreamData(MaxStreamData {
        id: id(1),
        max_data: VarInt::from_u32(100),
    });
    assert_eq!(
        code(server.on_frame(frame)),
        TransportErrorCode::STREAM_STATE_ERROR
    );
}

// RFC 9000 §19.13 (test): STREAM_DATA_BLOCKED for a send-only stream is STREAM_STATE_ERROR.
#[test]
fn stream_data_blocked_for_a_send_only_stream_is_a_stream_state_error() {
    let mut server = server();
    let ours = server.open(Dir::Uni).unwrap();
    let frame = Frame::StreamDataBlocked(StreamDataBlocked {
        id: ours,
        limit: VarInt::from_u32(100),
    });
    assert_eq!(
        code(server.on_frame(frame)),
        TransportErrorCode::STREAM_STATE_ERROR
    );
}

#[test]
fn frames_for_closed_streams_and_stale_limits_are_ignored() {
    let mut server = server();
    server.on_frame(stream(id(2), 0, b"abc", true)).unwrap();
    assert_eq!(server.accept(Dir::Uni), Some(id(2)));
    while server.read(id(2), 100, true).unwrap().is_some() {}
    assert_eq!(server.stream_count(), 0);
    assert_eq!(server.on_frame(stream(id(2), 0, b"abc", true)), Ok(None));
    let lower = Frame::MaxStreams(MaxStreams {
        dir: Dir::Bi,
        count: VarInt::from_u32(1),
    });
    assert_eq!(server.on_frame(lower), Ok(None));
    assert_eq!(server.on_frame(Frame::Ping), Ok(Some(Frame::Ping)));
}

// RFC 9000 §4.1 (test): a peer sending one-byte gaps hits an error before memory grows unbounded.
#[test]
fn a_peer_sending_one_byte_gaps_hits_an_error_with_bounded_memory() {
    let mut server = server();
    let mut result = Ok(None);
    for offset in (0..4096).step_by(2) {
        result = server.on_frame(stream(id(2), offset + 1, b"x", false));
        assert!(server.recv_buffered() <= 64, "buffered bytes stay bounded");
        if result.is_err() {
            break;
        }
    }
    assert_eq!(code(result), TransportErrorCode::FLOW_CONTROL_ERROR);
}

// RFC 9000 §19.5 (test): STOP_SENDING for a local stream not yet opened is STREAM_STATE_ERROR.
#[test]
fn stop_sending_for_our_unopened_stream_is_a_stream_state_error() {
    let mut server = server();
    let stop = Frame::StopSending(StopSending {
        id: id(1),
        error_code: VarInt::from_u32(1),
    });
    assert_eq!(
        code(server.on_frame(stop)),
        TransportErrorCode::STREAM_STATE_ERROR
    );
}

#[test]
fn reads_and_writes_name_their_error() {
    let mut server = server();
    let ours = server.open(Dir::Uni).unwrap();
    assert_eq!(server.read(ours, 10, true), Err(ReadError::UnknownStream));
    assert_eq!(server.read(id(2), 10, true), Err(ReadError::UnknownStream));
    server.on_frame(stream(id(2), 0, b"abc", false)).unwrap();
    assert_eq!(
        server.write(id(2), Bytes::from_static(b"x")),
        Err(WriteError::UnknownStream)
    );
    assert_eq!(server.read(id(2), 0, true), Err(ReadError::Blocked));
    server.finish(ours).unwrap();
    assert_eq!(server.finish(ours), Err(WriteError::ClosedStream));
}

// RFC 9000 §21.9 (test): one-byte gaps across streams cost far more than
// their bytes; the connection-wide reassembly budget closes the connection
// with FLOW_CONTROL_ERROR once what is held costs more than it.
#[test]
fn one_byte_gaps_across_streams_exceed_the_reassembly_budget() {
    let config = StreamsConfig {
        max_reassembly_chunks: 4096,
        ..small_config()
    };
    let mut server = Pair::new(&config).server;
    let budget = small_config().reassembly_budget;
    let mut held = 0_u64;
    let mut failed = None;
    // Client bidi streams 0, 4, 8, ...: every other byte up to 2 KiB on each.
    'streams: for stream_index in 0..8_u32 {
        for offset in (1..2048_u64).step_by(2) {
            match server.on_frame(stream(id(stream_index * 4), offset, b"x", false)) {
                Ok(_) => held += 1,
                Err(error) => {
                    failed = Some(error);
                    break 'streams;
                }
            }
            assert!(
                server.reassembly_cost()
                    <= budget + assembler::ROOT_OVERHEAD + assembler::CHUNK_OVERHEAD + 1
            );
        }
    }
    let error = failed.expect("the budget is exceeded");
    assert_eq!(error.code, TransportErrorCode::FLOW_CONTROL_ERROR);
    // Each byte held costs its chunk overhead too, and each stream its
    // map's first node: about 150 bytes a byte.
    assert!(
        (held + 1) * (assembler::CHUNK_OVERHEAD + 1) + 8 * assembler::ROOT_OVERHEAD > budget,
        "{held} one-byte chunks held under a {budget}-byte budget"
    );
    assert!(
        held < budget / 64,
        "{held} chunks is far fewer than bytes of budget"
    );
}

#[test]
fn reading_and_stopping_give_the_reassembly_cost_back() {
    let mut server = server();
    server.on_frame(stream(id(0), 1, b"bc", false)).unwrap();
    server.on_frame(stream(id(4), 0, b"xyz", false)).unwrap();
    let chunk = 2 * (assembler::ROOT_OVERHEAD + assembler::CHUNK_OVERHEAD) + 5;
    assert_eq!(server.reassembly_cost(), chunk);
    server.on_frame(stream(id(0), 0, b"a", false)).unwrap();
    while let Ok(Some(_)) = server.read(id(0), 100, true) {}
    assert_eq!(
        server.reassembly_cost(),
        assembler::ROOT_OVERHEAD + assembler::CHUNK_OVERHEAD + 3
    );
    server.stop(id(4), VarInt::from_u32(0)).unwrap();
    assert_eq!(server.reassembly_cost(), 0);
}
