//! NEW_TOKEN (RFC 9000 §8.1.3, §19.7): a server sends the tokens its
//! endpoint minted once the handshake is confirmed, again when they are
//! lost, and forgets them once acknowledged; a client keeps them for its
//! next connection to the server.

use std::{sync::Arc, time::Duration};

use bytes::{Bytes, BytesMut};

use super::{
    ClientSetup, Pair, SERVER_NAME, ServerSetup, client, deliver, epoch, server, transmit,
};
use crate::{
    Side,
    config::{MemoryTokenStore, TokenStore},
    connection::tokens::MAX_TOKEN_LEN,
    packet::{CoalescedPackets, DecodeOptions, PacketType},
};

/// A client keeping tokens in `store`, and a server with `new_tokens`.
fn pair(store: &Arc<MemoryTokenStore>, new_tokens: Vec<Bytes>) -> Pair {
    let now = epoch();
    let client = client(
        now,
        ClientSetup {
            token_store: Some(store.clone() as Arc<dyn TokenStore>),
            ..ClientSetup::default()
        },
    );
    let server = server(
        now,
        ServerSetup {
            new_tokens,
            ..ServerSetup::default()
        },
    );
    Pair::new(now, client, server)
}

/// Whether a datagram holds a 1-RTT packet.
fn carries_one_rtt(datagram: &[u8]) -> bool {
    CoalescedPackets::new(BytesMut::from(datagram), DecodeOptions::new(8).unwrap())
        .map_while(Result::ok)
        .any(|packet| packet.packet_type() == PacketType::Short)
}

#[test]
fn a_server_sends_its_tokens_once_the_handshake_is_confirmed_and_the_client_keeps_them() {
    // RFC 9000 §8.1.3 (test): tokens go out after the handshake, and the
    // client keeps them for its next connection to the same server.
    let store = Arc::new(MemoryTokenStore::default());
    let (first, second) = (
        Bytes::from_static(b"token one"),
        Bytes::from_static(b"token two"),
    );
    let mut pair = pair(&store, vec![first.clone(), second.clone()]);
    // The client's Initial reaches the server, which answers with its whole
    // flight: no NEW_TOKEN yet, the handshake is not confirmed.
    let now = pair.now;
    let initial = transmit(&mut pair.client, now).unwrap();
    deliver(&mut pair.server, now, initial);
    while let Some(data) = transmit(&mut pair.server, now) {
        deliver(&mut pair.client, now, data);
    }
    assert!(!pair.server.is_handshake_confirmed());
    assert!(pair.server.tokens.has_new_tokens_to_send());
    assert!(store.is_empty());
    assert!(pair.confirm());
    assert!(pair.run_until(Duration::from_secs(1), |_| store.len() == 2));
    assert!(!pair.server.tokens.has_new_tokens_to_send());
    assert_eq!(store.take(SERVER_NAME), Some(second));
    assert_eq!(store.take(SERVER_NAME), Some(first));
    assert!(pair.client.close_reason().is_none());
}

#[test]
fn a_lost_new_token_is_sent_again_and_forgotten_once_acknowledged() {
    // RFC 9000 §13.3 (test): NEW_TOKEN is sent again when the packet that
    // carried it is lost.
    let store = Arc::new(MemoryTokenStore::default());
    let token = Bytes::from_static(b"the only token");
    let mut pair = pair(&store, vec![token.clone()]);
    let mut lost = 0;
    pair.lose = Box::new(move |side, _, data| {
        // The server's first two datagrams with 1-RTT packets: its
        // HANDSHAKE_DONE, NEW_TOKEN and session tickets.
        let lose = side == Side::Server && carries_one_rtt(data) && lost < 2;
        lost += usize::from(lose);
        lose
    });
    assert!(pair.run_until(Duration::from_secs(10), |_| !store.is_empty()));
    assert!(pair.server.stats().packets_lost > 0);
    // Once the client acknowledged it, the server holds nothing of it.
    assert!(pair.run_until(Duration::from_secs(10), |pair| {
        !pair.server.tokens.has_new_tokens_to_send() && pair.server.tokens.heap_bytes() == 0
    }));
    assert_eq!(store.take(SERVER_NAME), Some(token));
}

#[test]
fn only_tokens_a_client_can_use_are_sent() {
    // RFC 9000 §19.7 (test): a server must not send an empty token; one too
    // long for an Initial is not sent either.
    let store = Arc::new(MemoryTokenStore::default());
    let usable = Bytes::from_static(b"usable");
    let too_long = Bytes::from(vec![1; MAX_TOKEN_LEN + 1]);
    let mut pair = pair(&store, vec![Bytes::new(), too_long, usable.clone()]);
    assert!(pair.confirm());
    assert!(pair.run_until(Duration::from_secs(1), |pair| {
        !pair.server.tokens.has_new_tokens_to_send() && pair.server.tokens.heap_bytes() == 0
    }));
    assert_eq!(store.take(SERVER_NAME), Some(usable));
    assert!(store.is_empty());
    assert!(pair.client.close_reason().is_none());
}

#[test]
fn a_client_without_a_store_ignores_new_token() {
    let now = epoch();
    let client = client(now, ClientSetup::default());
    let server = server(
        now,
        ServerSetup {
            new_tokens: vec![Bytes::from_static(b"unwanted")],
            ..ServerSetup::default()
        },
    );
    let mut pair = Pair::new(now, client, server);
    assert!(pair.confirm());
    assert!(pair.run_until(Duration::from_secs(1), |pair| {
        pair.server.tokens.heap_bytes() == 0
    }));
    assert!(pair.client.close_reason().is_none());
}

/// The token of the first Initial a client endpoint sends for a new
/// connection made with `config`.
fn token_of_next_connect(config: &crate::config::ClientConfig) -> Vec<u8> {
    let mut endpoint = crate::endpoint::Endpoint::new(
        Arc::new(crate::config::EndpointConfig::default()),
        None,
        Some(super::CLIENT),
        7,
    );
    let now = epoch();
    let handle = endpoint
        .connect(now, config, super::SERVER, SERVER_NAME)
        .unwrap();
    let validation = endpoint.connection(handle).unwrap().address_validation();
    let mut buf = Vec::new();
    let transmit = endpoint.poll_transmit(now, 1, &mut buf).unwrap();
    let mut datagram = BytesMut::from(&buf[..transmit.size]);
    let packet =
        crate::packet::PartialDecode::split_from(&mut datagram, DecodeOptions::new(8).unwrap())
            .unwrap();
    assert_eq!(packet.packet_type(), PacketType::Initial);
    let token = packet.token().unwrap().to_vec();
    let expected = if token.is_empty() {
        crate::AddressValidation::None
    } else {
        crate::AddressValidation::Token
    };
    assert_eq!(validation, expected);
    token
}

#[test]
fn a_kept_token_goes_in_the_next_connection_to_the_server_and_only_that_one() {
    // RFC 9000 §8.1.3 (test): the client's next connection to the server
    // carries a token the server sent, and uses each token once.
    let store = Arc::new(MemoryTokenStore::default());
    let token = Bytes::from_static(b"for the next connection");
    let mut pair = pair(&store, vec![token.clone()]);
    assert!(pair.confirm());
    assert!(pair.run_until(Duration::from_secs(1), |_| !store.is_empty()));

    let (tls, _) = super::tls_configs();
    let config = crate::config::ClientConfig::new(tls)
        .unwrap()
        .token_store(Some(store.clone() as Arc<dyn TokenStore>));
    assert_eq!(token_of_next_connect(&config), token);
    assert!(store.is_empty(), "the token was taken out of the store");
    assert!(
        token_of_next_connect(&config).is_empty(),
        "a second connection has none left"
    );
    let without = config.token_store(None);
    store.insert(SERVER_NAME, token);
    assert!(token_of_next_connect(&without).is_empty());
}
