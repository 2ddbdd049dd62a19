//! The session store wrapper: sessions come back only under the limits
//! they were issued under, once by default, from whatever store it wraps.

use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use rustls::server::{ServerSessionMemoryCache, StoresServerSessions};

use super::{AntiReplay, ZeroRttSessionStore, zero_rtt_prefix};
use crate::{VarInt, packet::Version, transport_params::TransportParameters};

/// The limits a default server sends.
fn params() -> TransportParameters {
    let mut params = TransportParameters {
        active_connection_id_limit: VarInt::from_u32(4),
        max_datagram_frame_size: Some(VarInt::from_u32(65_535)),
        ..TransportParameters::default()
    };
    crate::streams::StreamsConfig::default().apply_to(&mut params);
    params
}

fn store(
    inner: &Arc<dyn StoresServerSessions>,
    params: &TransportParameters,
    replay: AntiReplay,
) -> ZeroRttSessionStore {
    ZeroRttSessionStore::new(inner.clone(), Some(params), replay, Version::V1)
}

fn memory() -> Arc<dyn StoresServerSessions> {
    ServerSessionMemoryCache::new(16)
}

#[test]
fn a_session_comes_back_as_stored_under_the_same_limits() {
    let inner = memory();
    let cache = store(&inner, &params(), AntiReplay::default());
    assert!(cache.put(b"ticket".to_vec(), b"session".to_vec()));
    // A store made again from the same limits (the endpoint rebuilds it
    // when its configuration is replaced by an equal one) reads it too.
    let again = store(&inner, &params(), AntiReplay::default());
    assert_eq!(again.take(b"ticket"), Some(b"session".to_vec()));
}

// RFC 9000 §7.4.1 (test): a server accepting 0-RTT must not lower the
// remembered limits, so a session issued under others does not resume.
#[test]
fn a_session_issued_under_other_limits_does_not_resume() {
    let lowered: [fn(&mut TransportParameters); 8] = [
        |p| p.initial_max_data = VarInt::from_u32(1),
        |p| p.initial_max_stream_data_bidi_local = VarInt::from_u32(1),
        |p| p.initial_max_stream_data_bidi_remote = VarInt::from_u32(1),
        |p| p.initial_max_stream_data_uni = VarInt::from_u32(1),
        |p| p.initial_max_streams_bidi = VarInt::from_u32(1),
        |p| p.initial_max_streams_uni = VarInt::from_u32(1),
        |p| p.active_connection_id_limit = VarInt::from_u32(2),
        // RFC 9221 §3: nor may datagram support shrink or go.
        |p| p.max_datagram_frame_size = None,
    ];
    for (i, lower) in lowered.iter().enumerate() {
        let inner = memory();
        let issued = store(&inner, &params(), AntiReplay::default());
        issued.put(b"ticket".to_vec(), b"session".to_vec());
        let mut now = params();
        lower(&mut now);
        let later = store(&inner, &now, AntiReplay::default());
        assert_eq!(later.get(b"ticket"), None, "change {i}");
        assert_eq!(later.take(b"ticket"), None, "change {i}");
    }
    // Raised limits are refused as well: the match is exact, which keeps
    // the check to one comparison.
    let inner = memory();
    store(&inner, &params(), AntiReplay::default()).put(b"t".to_vec(), b"s".to_vec());
    let mut raised = params();
    raised.initial_max_streams_bidi = VarInt::from_u32(1000);
    assert_eq!(
        store(&inner, &raised, AntiReplay::default()).take(b"t"),
        None
    );
}

#[test]
fn parameters_outside_the_remembered_ones_do_not_matter() {
    let inner = memory();
    store(&inner, &params(), AntiReplay::default()).put(b"t".to_vec(), b"s".to_vec());
    let mut other = params();
    other.max_idle_timeout = std::time::Duration::from_secs(1);
    other.max_udp_payload_size = VarInt::from_u32(1200);
    assert_eq!(
        store(&inner, &other, AntiReplay::default()).take(b"t"),
        Some(b"s".to_vec())
    );
}

// RFC 9001 §9.2 (test): by default a ticket resumes once, so a replayed
// first flight finds no session and its 0-RTT is not accepted.
#[test]
fn a_single_use_ticket_resumes_once() {
    let inner = memory();
    let cache = store(&inner, &params(), AntiReplay::SingleUseTickets);
    cache.put(b"ticket".to_vec(), b"session".to_vec());
    assert_eq!(cache.take(b"ticket"), Some(b"session".to_vec()));
    assert_eq!(cache.take(b"ticket"), None, "the replay finds nothing");
    assert_eq!(inner.get(b"ticket"), None, "removed from the wrapped store");
}

#[test]
fn a_reusable_ticket_resumes_again() {
    let inner = memory();
    let cache = store(&inner, &params(), AntiReplay::ReusableTickets);
    cache.put(b"ticket".to_vec(), b"session".to_vec());
    for _ in 0..3 {
        assert_eq!(cache.take(b"ticket"), Some(b"session".to_vec()));
    }
}

/// A store of the application's, recording what it is asked.
#[derive(Debug, Default)]
struct Recording {
    calls: Mutex<Vec<(&'static str, Vec<u8>)>>,
    value: Mutex<Option<Vec<u8>>>,
    full: bool,
}

impl StoresServerSessions for Recording {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.calls.lock().unwrap().push(("put", key));
        *self.value.lock().unwrap() = Some(value);
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.calls.lock().unwrap().push(("get", key.to_vec()));
        self.value.lock().unwrap().clone()
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.calls.lock().unwrap().push(("take", key.to_vec()));
        self.value.lock().unwrap().take()
    }

    fn can_cache(&self) -> bool {
        !self.full
    }
}

#[test]
fn the_applications_store_keeps_the_sessions() {
    let recording = Arc::new(Recording::default());
    let inner: Arc<dyn StoresServerSessions> = recording.clone();
    let cache = store(&inner, &params(), AntiReplay::SingleUseTickets);
    assert!(cache.can_cache());
    cache.put(b"k".to_vec(), b"session".to_vec());
    let stored = recording.value.lock().unwrap().clone().unwrap();
    assert_eq!(
        stored,
        [
            &zero_rtt_prefix(&params())[..],
            &1u32.to_be_bytes(),
            b"session"
        ]
        .concat()
    );
    assert_eq!(cache.take(b"k"), Some(b"session".to_vec()));
    let reusable = store(&inner, &params(), AntiReplay::ReusableTickets);
    reusable.put(b"k".to_vec(), b"again".to_vec());
    assert_eq!(reusable.take(b"k"), Some(b"again".to_vec()));
    let calls: Vec<_> = recording
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|(call, key)| (*call, key.clone()))
        .collect();
    assert_eq!(
        calls,
        [
            ("put", b"k".to_vec()),
            ("take", b"k".to_vec()),
            ("put", b"k".to_vec()),
            ("get", b"k".to_vec()),
        ]
    );
    let full: Arc<dyn StoresServerSessions> = Arc::new(Recording {
        full: true,
        ..Recording::default()
    });
    assert!(!store(&full, &params(), AntiReplay::default()).can_cache());
}

fn arb_params() -> impl Strategy<Value = TransportParameters> {
    let varint = || (0..(1_u64 << 62)).prop_map(|v| VarInt::from_u64(v).unwrap());
    (prop::array::uniform7(varint()), prop::option::of(varint())).prop_map(|(v, datagrams)| {
        TransportParameters {
            initial_max_data: v[0],
            initial_max_stream_data_bidi_local: v[1],
            initial_max_stream_data_bidi_remote: v[2],
            initial_max_stream_data_uni: v[3],
            initial_max_streams_bidi: v[4],
            initial_max_streams_uni: v[5],
            active_connection_id_limit: v[6],
            max_datagram_frame_size: datagrams,
            ..TransportParameters::default()
        }
    })
}

fn remembered(p: &TransportParameters) -> [Option<VarInt>; 8] {
    [
        Some(p.initial_max_data),
        Some(p.initial_max_stream_data_bidi_local),
        Some(p.initial_max_stream_data_bidi_remote),
        Some(p.initial_max_stream_data_uni),
        Some(p.initial_max_streams_bidi),
        Some(p.initial_max_streams_uni),
        Some(p.active_connection_id_limit),
        p.max_datagram_frame_size,
    ]
}

proptest! {
    /// The prefix check is exact: one prefix starts a value stored under
    /// another only when both encode the same limits.
    #[test]
    fn prefixes_are_prefix_free(a in arb_params(), b in arb_params()) {
        let (pa, pb) = (zero_rtt_prefix(&a), zero_rtt_prefix(&b));
        let stored = [&pa[..], b"any session bytes"].concat();
        prop_assert_eq!(stored.starts_with(&pb), remembered(&a) == remembered(&b));
    }
}

// RFC 9369 §5 (test): a session issued on one version does not resume a
// connection of the other, with or without 0-RTT limits in the binding.
#[test]
fn a_session_resumes_only_connections_of_its_version() {
    let inner = memory();
    for limits in [Some(params()), None] {
        let v1 = ZeroRttSessionStore::new(
            inner.clone(),
            limits.as_ref(),
            AntiReplay::default(),
            Version::V1,
        );
        let v2 = ZeroRttSessionStore::new(
            inner.clone(),
            limits.as_ref(),
            AntiReplay::default(),
            Version::V2,
        );
        assert!(v1.put(b"t1".to_vec(), b"one".to_vec()));
        assert!(v2.put(b"t2".to_vec(), b"two".to_vec()));
        assert_eq!(v2.get(b"t1"), None, "a v1 session on v2");
        assert_eq!(v1.get(b"t2"), None, "a v2 session on v1");
        assert_eq!(v1.take(b"t1"), Some(b"one".to_vec()));
        assert_eq!(v2.take(b"t2"), Some(b"two".to_vec()));
    }
}
