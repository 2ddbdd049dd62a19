//! Frames as qlog's `QuicFrame` objects: `frame_type` and the main fields.
//!
//! Payload bytes, tokens and reset tokens are never written; data-carrying
//! frames report offsets and lengths only.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::{Dir, EncryptionLevel, Frame, Frames};

/// The frames of a plaintext packet payload; a frame that does not parse
/// ends the list with one of type `unknown`.
pub(super) fn frames(payload: Bytes, level: EncryptionLevel) -> Vec<Value> {
    let mut out = Vec::new();
    for frame in Frames::new(payload, level) {
        match frame {
            Ok(frame) => out.push(frame_json(&frame)),
            Err(_) => {
                out.push(json!({ "frame_type": "unknown" }));
                break;
            }
        }
    }
    out
}

fn stream_type(dir: Dir) -> &'static str {
    match dir {
        Dir::Bi => "bidirectional",
        Dir::Uni => "unidirectional",
    }
}

fn frame_json(frame: &Frame) -> Value {
    match frame {
        Frame::Padding(len) => json!({ "frame_type": "padding", "length": len }),
        Frame::Ping => json!({ "frame_type": "ping" }),
        Frame::Ack(ack) => {
            let ranges: Vec<[u64; 2]> = ack.iter().map(|r| [*r.start(), *r.end()]).collect();
            json!({
                "frame_type": "ack",
                "ack_delay": ack.ack_delay().into_inner(),
                "acked_ranges": ranges,
            })
        }
        Frame::ResetStream(f) => json!({
            "frame_type": "reset_stream",
            "stream_id": f.id.into_inner().into_inner(),
            "error_code": f.error_code.into_inner(),
            "final_size": f.final_size.into_inner(),
        }),
        Frame::StopSending(f) => json!({
            "frame_type": "stop_sending",
            "stream_id": f.id.into_inner().into_inner(),
            "error_code": f.error_code.into_inner(),
        }),
        Frame::Crypto(f) => json!({
            "frame_type": "crypto",
            "offset": f.offset.into_inner(),
            "length": f.data.len(),
        }),
        Frame::NewToken(_) => json!({ "frame_type": "new_token" }),
        Frame::Stream(f) => json!({
            "frame_type": "stream",
            "stream_id": f.id.into_inner().into_inner(),
            "offset": f.offset.into_inner(),
            "length": f.data.len(),
            "fin": f.fin,
        }),
        Frame::MaxData(max) => json!({ "frame_type": "max_data", "maximum": max.into_inner() }),
        Frame::MaxStreamData(f) => json!({
            "frame_type": "max_stream_data",
            "stream_id": f.id.into_inner().into_inner(),
            "maximum": f.max_data.into_inner(),
        }),
        Frame::MaxStreams(f) => json!({
            "frame_type": "max_streams",
            "stream_type": stream_type(f.dir),
            "maximum": f.count.into_inner(),
        }),
        Frame::DataBlocked(limit) => {
            json!({ "frame_type": "data_blocked", "limit": limit.into_inner() })
        }
        Frame::StreamDataBlocked(f) => json!({
            "frame_type": "stream_data_blocked",
            "stream_id": f.id.into_inner().into_inner(),
            "limit": f.limit.into_inner(),
        }),
        Frame::StreamsBlocked(f) => json!({
            "frame_type": "streams_blocked",
            "stream_type": stream_type(f.dir),
            "limit": f.limit.into_inner(),
        }),
        Frame::NewConnectionId(f) => json!({
            "frame_type": "new_connection_id",
            "sequence_number": f.sequence.into_inner(),
            "retire_prior_to": f.retire_prior_to.into_inner(),
            "connection_id": f.id.to_string(),
        }),
        Frame::RetireConnectionId(seq) => json!({
            "frame_type": "retire_connection_id",
            "sequence_number": seq.into_inner(),
        }),
        Frame::PathChallenge(_) => json!({ "frame_type": "path_challenge" }),
        Frame::PathResponse(_) => json!({ "frame_type": "path_response" }),
        Frame::ConnectionClose(f) => json!({
            "frame_type": "connection_close",
            "error_space": "transport",
            "error_code": f.error_code.into_inner(),
            "reason": String::from_utf8_lossy(&f.reason),
        }),
        Frame::ApplicationClose(f) => json!({
            "frame_type": "connection_close",
            "error_space": "application",
            "error_code": f.error_code.into_inner(),
            "reason": String::from_utf8_lossy(&f.reason),
        }),
        Frame::HandshakeDone => json!({ "frame_type": "handshake_done" }),
        Frame::Datagram(f) => json!({ "frame_type": "datagram", "length": f.data.len() }),
    }
}
