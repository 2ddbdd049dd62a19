//! Proptest strategies that generate any valid frame.

use bytes::Bytes;
use proptest::{collection::vec, prelude::*};

use crate::{
    cid::ConnectionId,
    error::TransportErrorCode,
    frame::{
        Ack, ApplicationClose, ConnectionClose, Crypto, Datagram, Dir, EcnCounts, Frame, FrameType,
        MAX_STREAM_COUNT, MaxStreamData, MaxStreams, NewConnectionId, NewToken, ResetStream,
        StopSending, Stream, StreamDataBlocked, StreamId, StreamsBlocked,
    },
    varint::VarInt,
};

/// Any varint, spread over the four encoded sizes.
pub(super) fn varint() -> impl Strategy<Value = VarInt> {
    prop_oneof![
        0..(1_u64 << 6),
        (1_u64 << 6)..(1 << 14),
        (1_u64 << 14)..(1 << 30),
        (1_u64 << 30)..=VarInt::MAX.into_inner(),
    ]
    .prop_map(VarInt::from_u64_bounded)
}

/// A varint no larger than `max`.
fn varint_up_to(max: u64) -> impl Strategy<Value = VarInt> {
    prop_oneof![0..=max.min(63), 0..=max].prop_map(VarInt::from_u64_bounded)
}

fn bytes(len: std::ops::Range<usize>) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), len).prop_map(Bytes::from)
}

fn stream_id() -> impl Strategy<Value = StreamId> {
    varint().prop_map(StreamId::new)
}

fn dir() -> impl Strategy<Value = Dir> {
    prop_oneof![Just(Dir::Bi), Just(Dir::Uni)]
}

prop_compose! {
    /// An ACK or ACK_ECN whose ranges come from walking down from `largest`
    /// by arbitrary gaps and lengths, stopping before packet number 0.
    pub(super) fn ack()(
        largest in varint(),
        steps in vec((0_u64..300, 0_u64..300), 1..20),
        ack_delay in varint(),
        ecn in proptest::option::of((varint(), varint(), varint())),
    ) -> Ack {
        let mut ranges = Vec::new();
        let mut top = Some(largest.into_inner());
        for (gap, len) in steps {
            let Some(end) = top else { break };
            let start = end.saturating_sub(len);
            ranges.push(start..=end);
            top = start.checked_sub(gap + 2);
        }
        let ecn = ecn.map(|(ect0, ect1, ce)| EcnCounts { ect0, ect1, ce });
        Ack::from_ranges(ranges, ack_delay, ecn).unwrap()
    }
}

prop_compose! {
    fn stream()(
        id in stream_id(),
        data in bytes(0..64),
        offset in prop_oneof![Just(VarInt::default()), varint()],
        fin in any::<bool>(),
        has_length in any::<bool>(),
    ) -> Stream {
        // Keep offset + length within 2^62-1.
        let room = VarInt::MAX.into_inner() - data.len() as u64;
        let offset = VarInt::from_u64_bounded(offset.into_inner().min(room));
        Stream { id, offset, fin, has_length, data }
    }
}

prop_compose! {
    fn crypto()(data in bytes(0..64), offset in varint()) -> Crypto {
        let room = VarInt::MAX.into_inner() - data.len() as u64;
        Crypto { offset: VarInt::from_u64_bounded(offset.into_inner().min(room)), data }
    }
}

prop_compose! {
    fn new_connection_id()(
        sequence in varint(),
        retire in any::<u64>(),
        id in vec(any::<u8>(), 1..=20),
        reset_token in any::<[u8; 16]>(),
    ) -> NewConnectionId {
        NewConnectionId {
            sequence,
            retire_prior_to: VarInt::from_u64_bounded(retire % (sequence.into_inner() + 1)),
            id: ConnectionId::new(&id).unwrap(),
            reset_token,
        }
    }
}

fn connection_close() -> impl Strategy<Value = ConnectionClose> {
    (varint(), varint(), bytes(0..40)).prop_map(|(code, ty, reason)| ConnectionClose {
        error_code: TransportErrorCode::from_wire(code),
        frame_type: FrameType::from_wire(ty),
        reason,
    })
}

/// The frames with fixed-width or varint-only fields.
fn simple_frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (1_usize..100).prop_map(Frame::Padding),
        Just(Frame::Ping),
        Just(Frame::HandshakeDone),
        (stream_id(), varint(), varint()).prop_map(|(id, error_code, final_size)| {
            Frame::ResetStream(ResetStream {
                id,
                error_code,
                final_size,
            })
        }),
        (stream_id(), varint())
            .prop_map(|(id, error_code)| Frame::StopSending(StopSending { id, error_code })),
        varint().prop_map(Frame::MaxData),
        (stream_id(), varint())
            .prop_map(|(id, max_data)| Frame::MaxStreamData(MaxStreamData { id, max_data })),
        (dir(), varint_up_to(MAX_STREAM_COUNT))
            .prop_map(|(dir, count)| Frame::MaxStreams(MaxStreams { dir, count })),
        varint().prop_map(Frame::DataBlocked),
        (stream_id(), varint())
            .prop_map(|(id, limit)| Frame::StreamDataBlocked(StreamDataBlocked { id, limit })),
        (dir(), varint_up_to(MAX_STREAM_COUNT))
            .prop_map(|(dir, limit)| Frame::StreamsBlocked(StreamsBlocked { dir, limit })),
        varint().prop_map(Frame::RetireConnectionId),
        any::<[u8; 8]>().prop_map(Frame::PathChallenge),
        any::<[u8; 8]>().prop_map(Frame::PathResponse),
    ]
}

/// The frames that carry ranges, data, IDs or reasons.
fn structured_frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        ack().prop_map(Frame::Ack),
        crypto().prop_map(Frame::Crypto),
        bytes(1..64).prop_map(|token| Frame::NewToken(NewToken { token })),
        stream().prop_map(Frame::Stream),
        new_connection_id().prop_map(Frame::NewConnectionId),
        connection_close().prop_map(Frame::ConnectionClose),
        (varint(), bytes(0..40)).prop_map(|(error_code, reason)| {
            Frame::ApplicationClose(ApplicationClose { error_code, reason })
        }),
        (any::<bool>(), bytes(0..64))
            .prop_map(|(has_length, data)| Frame::Datagram(Datagram { has_length, data })),
    ]
}

/// Any valid frame of any type.
pub(super) fn any_frame() -> impl Strategy<Value = Frame> {
    prop_oneof![simple_frame(), structured_frame()]
}

/// Whether the frame's last field runs to the end of its input, so that a
/// prefix of its encoding can still be a valid (different) frame.
pub(super) fn takes_the_rest(frame: &Frame) -> bool {
    match frame {
        Frame::Padding(_) => true,
        Frame::Stream(stream) => !stream.has_length,
        Frame::Datagram(datagram) => !datagram.has_length,
        _ => false,
    }
}
