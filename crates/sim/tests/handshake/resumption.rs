//! Resumption through the endpoint on a server that accepts 0-RTT: its
//! session store, wrapped by the endpoint, binds each ticket to the
//! server's 0-RTT limits (RFC 9000 §7.4.1) and, by default, lets it
//! resume one connection (RFC 9001 §9.2).

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use rustls::server::{ServerSessionMemoryCache, StoresServerSessions};
use tern_proto::{
    HandshakeInfo,
    config::{AntiReplay, ClientConfig, ServerConfig, TransportConfig},
    connection::{Connection, Event},
    endpoint::ConnectionHandle,
};
use tern_sim::{
    LinkConfig, TraceEvent,
    pair::{CLIENT, Pair, SERVER},
    quic::{CLIENT_ADDR, SERVER_ADDR},
};

/// The server's session store, counting the sessions it gave back and the
/// lookups that found none.
#[derive(Debug)]
struct Watched {
    inner: Arc<dyn StoresServerSessions>,
    found: AtomicU64,
    missed: AtomicU64,
}

impl Watched {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: ServerSessionMemoryCache::new(64),
            found: AtomicU64::new(0),
            missed: AtomicU64::new(0),
        })
    }

    fn count(&self, value: Option<Vec<u8>>) -> Option<Vec<u8>> {
        let counter = if value.is_some() {
            &self.found
        } else {
            &self.missed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        value
    }

    fn found(&self) -> u64 {
        self.found.load(Ordering::Relaxed)
    }

    fn missed(&self) -> u64 {
        self.missed.load(Ordering::Relaxed)
    }
}

impl StoresServerSessions for Watched {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.inner.put(key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.count(self.inner.get(key))
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.count(self.inner.take(key))
    }

    fn can_cache(&self) -> bool {
        self.inner.can_cache()
    }
}

/// A client and a server that accepts 0-RTT, its sessions in `store`, as
/// the ready-made configurations of the `tern` crate have them.
fn configs(store: Arc<Watched>) -> (ClientConfig, ServerConfig) {
    tern_sim::resume::zero_rtt_configs_with_store(Some(store))
}

fn link() -> LinkConfig {
    LinkConfig::default().delay(Duration::from_millis(20))
}

/// The pair's first connection, established, and its tickets at the
/// client.
fn first_connection(seed: u64, client: &ClientConfig, server: ServerConfig) -> Pair {
    let mut pair = Pair::with_tickets(seed, link(), client, server, Duration::from_secs(5));
    let first = pair
        .view()
        .client()
        .and_then(Connection::handshake_info)
        .cloned();
    assert!(!first.expect("first snapshot").resumed());
    pair
}

/// Opens another connection from the pair's client with `client`, and
/// runs until both sides completed it: the client's and the server's
/// handshake snapshots.
fn connect_again(
    pair: &mut Pair,
    client: &ClientConfig,
) -> (ConnectionHandle, Arc<HandshakeInfo>, Arc<HandshakeInfo>) {
    let now = pair.sim.now();
    let handle = pair
        .sim
        .node_mut(CLIENT)
        .connect(now, client, SERVER_ADDR, "localhost")
        .expect("connect");
    let connected_before = server_connected(pair).len();
    let outcome = pair.run_until(Duration::from_secs(5), |view| {
        view.sim
            .node(CLIENT)
            .connection(handle)
            .is_some_and(Connection::is_handshake_confirmed)
            && server_connected_in(&view.state.server_events).len() > connected_before
    });
    assert!(outcome.is_satisfied(), "{outcome:?}");
    let client_info = pair
        .sim
        .node(CLIENT)
        .connection(handle)
        .and_then(Connection::handshake_info)
        .cloned()
        .expect("client snapshot");
    let server_info = server_connected(pair)
        .last()
        .cloned()
        .expect("server snapshot");
    (handle, client_info, server_info)
}

fn server_connected(pair: &Pair) -> Vec<Arc<HandshakeInfo>> {
    server_connected_in(&pair.state.server_events)
}

fn server_connected_in(events: &[Event]) -> Vec<Arc<HandshakeInfo>> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Connected(info) => Some(info.clone()),
            _ => None,
        })
        .collect()
}

/// Whether a snapshot is of a resumed handshake, checked in every way it
/// shows: rustls's handshake kind, and no CertificateVerify on the wire
/// (the server sent no certificate).
fn resumed(info: &HandshakeInfo) -> bool {
    assert_eq!(
        info.resumed(),
        info.signature_scheme().is_none(),
        "{info:?}"
    );
    info.resumed()
}

#[test]
fn a_second_connection_resumes_through_the_endpoints_session_store() {
    let store = Watched::new();
    let (client, server) = configs(store.clone());
    let mut pair = first_connection(61, &client, server);
    let (_, client_info, server_info) = connect_again(&mut pair, &client);
    assert!(resumed(&client_info));
    assert!(resumed(&server_info));
    assert_eq!(store.found(), 1, "one session taken from the store");
    // rustls gives the resuming client the certificate chain it verified
    // on the first connection, kept with the ticket; nothing was sent.
    assert_eq!(client_info.peer_certificates().len(), 1);
    assert!(server_info.peer_certificates().is_empty());
}

#[test]
fn a_server_whose_transport_limits_changed_resumes_no_older_ticket() {
    let store = Watched::new();
    let (client, server) = configs(store.clone());
    let mut lowered = server.clone();
    let mut pair = first_connection(62, &client, server);
    // RFC 9000 §7.4.1 (test): accepting 0-RTT under a lower stream limit
    // than the ticket's is not allowed, so the ticket does not resume.
    let mut transport = TransportConfig::default();
    transport.streams.max_concurrent_bidi_streams -= 1;
    lowered.transport = Arc::new(transport);
    pair.sim
        .node_mut(SERVER)
        .set_server_config(Some(Arc::new(lowered)));
    let (_, client_info, server_info) = connect_again(&mut pair, &client);
    assert!(!resumed(&client_info));
    assert!(!resumed(&server_info));
    // The store still had the session; the endpoint's wrapper refused it.
    assert_eq!(store.found(), 1);
}

#[test]
fn an_equal_server_configuration_put_in_again_still_resumes() {
    let store = Watched::new();
    let (client, server) = configs(store.clone());
    let again = server.clone();
    let mut pair = first_connection(63, &client, server);
    pair.sim
        .node_mut(SERVER)
        .set_server_config(Some(Arc::new(again)));
    let (_, client_info, server_info) = connect_again(&mut pair, &client);
    assert!(resumed(&client_info) && resumed(&server_info));
}

/// Replays the first flight of a resumed connection after it ended: what
/// the server's store made of the ticket the second time.
fn replay_resumption(seed: u64, anti_replay: AntiReplay) -> Arc<Watched> {
    let store = Watched::new();
    let (client, server) = configs(store.clone());
    let mut pair = first_connection(seed, &client, server.anti_replay(anti_replay));
    let flight = Arc::new(Mutex::new(Vec::<Bytes>::new()));
    let recorder = flight.clone();
    let answered = Arc::new(Mutex::new(false));
    let answer = answered.clone();
    pair.sim.on_event(move |event| {
        if let TraceEvent::Sent { from, data, .. } = event {
            if *from == SERVER_ADDR {
                *answer.lock().expect("unpoisoned") = true;
            } else if *from == CLIENT_ADDR && !*answer.lock().expect("unpoisoned") {
                recorder.lock().expect("unpoisoned").push(data.clone());
            }
        }
    });
    let (handle, client_info, _) = connect_again(&mut pair, &client);
    assert!(resumed(&client_info));
    assert_eq!(store.found(), 1);
    let now = pair.sim.now();
    let conn = pair
        .sim
        .node_mut(CLIENT)
        .connection_mut(handle)
        .expect("live");
    conn.close(now, 0_u32.into(), Bytes::new());
    // Both ends drain (three PTOs) and forget the connection's IDs.
    let _ = pair.run_until(Duration::from_secs(5), |_| false);
    assert_eq!(pair.sim.node(SERVER).connection_count(), 1, "the first one");
    let flight = flight.lock().expect("unpoisoned").clone();
    assert!(!flight.is_empty(), "the resumed connection's first flight");
    for datagram in flight {
        pair.sim.inject(CLIENT_ADDR, SERVER_ADDR, None, datagram);
    }
    let _ = pair.run_until(Duration::from_millis(200), |_| false);
    assert_eq!(
        store.found() + store.missed(),
        2,
        "the replayed ClientHello looked its ticket up"
    );
    store
}

// RFC 9001 §9.2 (test): by default a ticket resumes once, so a replayed
// first flight (and the 0-RTT in it) gets no session.
#[test]
fn a_replayed_first_flight_finds_its_ticket_used() {
    let store = replay_resumption(64, AntiReplay::default());
    assert_eq!((store.found(), store.missed()), (1, 1));
}

#[test]
fn a_replayed_first_flight_resumes_again_when_tickets_are_reusable() {
    let store = replay_resumption(65, AntiReplay::ReusableTickets);
    assert_eq!((store.found(), store.missed()), (2, 0));
}

#[test]
fn a_client_without_a_session_store_never_resumes() {
    let (client, server) = configs(Watched::new());
    let client = client.session_store(None);
    let mut pair = first_connection(66, &client, server);
    let (_, client_info, server_info) = connect_again(&mut pair, &client);
    assert!(!resumed(&client_info) && !resumed(&server_info));
}

#[test]
fn configurations_sharing_a_session_store_resume_each_others_tickets() {
    let (client, server) = configs(Watched::new());
    let store = Arc::new(rustls::client::ClientSessionMemoryCache::new(8));
    let first = client.clone().session_store(Some(store.clone()));
    let second = client.session_store(Some(store));
    assert!(!Arc::ptr_eq(&first.tls, &second.tls));
    let mut pair = first_connection(67, &first, server);
    let (_, client_info, server_info) = connect_again(&mut pair, &second);
    assert!(resumed(&client_info) && resumed(&server_info));
}
