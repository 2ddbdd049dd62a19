//! Closing: application close, keep-alive against the idle timeout, and
//! stateless reset (RFC 9000 §10).

use std::time::Duration;

use bytes::Bytes;
use tern_proto::{
    VarInt,
    config::{EndpointConfig, TransportConfig},
    connection::{Closer, ConnectionError, Event},
};
use tern_sim::pair::SERVER;

use crate::{LIMIT, connected};

fn closed(events: &[Event]) -> Option<&ConnectionError> {
    events.iter().find_map(|e| match e {
        Event::Closed(error) => Some(error),
        _ => None,
    })
}

#[test]
fn an_application_close_reaches_the_peer_with_its_code_and_reason() {
    let mut pair = connected(10, TransportConfig::default(), EndpointConfig::default());
    let now = pair.sim.now();
    assert_eq!(pair.view().client().and_then(|c| c.close_reason()), None);
    pair.view().client_mut().expect("client").close(
        now,
        VarInt::from_u32(42),
        Bytes::from_static(b"bye"),
    );
    let outcome = pair.run_until(LIMIT, |view| closed(&view.state.server_events).is_some());
    assert!(outcome.is_satisfied());
    let peer_view = ConnectionError::Application {
        code: VarInt::from_u32(42),
        reason: Bytes::from_static(b"bye"),
        closed_by: Closer::Peer,
    };
    assert_eq!(closed(&pair.state.server_events), Some(&peer_view));
    assert_eq!(
        closed(&pair.state.client_events),
        Some(&ConnectionError::LocallyClosed)
    );
    let view = pair.view();
    assert_eq!(
        view.client().and_then(|c| c.close_reason()),
        Some(&ConnectionError::LocallyClosed)
    );
    assert_eq!(
        view.server().and_then(|c| c.close_reason()),
        Some(&peer_view)
    );
    // RFC 9000 §10.2 (test): both sides end after their closing or draining period.
    let _ = pair.run_until(LIMIT, |view| {
        view.client().is_none() && view.server().is_none()
    });
    assert_eq!(pair.sim.node(SERVER).connection_count(), 0);
}

#[test]
fn keep_alive_holds_an_idle_connection_open_past_the_idle_timeout() {
    let transport = TransportConfig {
        max_idle_timeout: Some(Duration::from_secs(5)),
        keep_alive_interval: Some(Duration::from_secs(2)),
        ..TransportConfig::default()
    };
    let mut pair = connected(11, transport, EndpointConfig::default());
    let start = pair.sim.elapsed();
    let _ = pair.run_until(Duration::from_secs(30), |_| false);
    assert!(pair.sim.elapsed() >= start + Duration::from_secs(30));
    assert!(
        pair.view().client().is_some_and(|c| !c.is_closed()),
        "still open after 30 s"
    );
    assert!(closed(&pair.state.client_events).is_none());
}

#[test]
fn without_keep_alive_the_idle_timeout_closes_both_sides() {
    let transport = TransportConfig {
        max_idle_timeout: Some(Duration::from_secs(5)),
        ..TransportConfig::default()
    };
    let mut pair = connected(12, transport, EndpointConfig::default());
    let _ = pair.run_until(Duration::from_secs(30), |view| {
        closed(&view.state.client_events).is_some() && closed(&view.state.server_events).is_some()
    });
    assert!(
        matches!(closed(&pair.state.client_events), Some(ConnectionError::TimedOut(d)) if *d == Duration::from_secs(5))
    );
    assert!(matches!(
        closed(&pair.state.server_events),
        Some(ConnectionError::TimedOut(_))
    ));
}

#[test]
fn a_server_that_lost_its_state_resets_the_client_statelessly() {
    // RFC 9000 §10.3 (test): the restarted server, sharing the reset key,
    // answers the client's next packet with a stateless reset, and the
    // client recognises the token from the server's transport parameters.
    let endpoint = EndpointConfig {
        reset_key: Some([9; 32].into()),
        ..EndpointConfig::default()
    };
    let mut pair = connected(13, TransportConfig::default(), endpoint.clone());
    pair.restart_server(endpoint, 99);
    pair.view()
        .client_mut()
        .expect("client")
        .send_datagram(Bytes::from_static(b"hello?"))
        .expect("queued");
    let outcome = pair.run_until(LIMIT, |view| closed(&view.state.client_events).is_some());
    assert!(outcome.is_satisfied());
    assert_eq!(
        closed(&pair.state.client_events),
        Some(&ConnectionError::Reset)
    );
}
