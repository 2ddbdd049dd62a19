//! RFC 9000 §8.1: a server sends at most three times what it received
//! from an address it has not validated; a token the endpoint validated
//! (Retry or NEW_TOKEN) lifts that limit from the first packet on.

use std::time::Duration;

use super::{ClientSetup, Pair, ServerSetup, client, epoch, server};
use crate::{AddressValidation, Side};

/// What the server sent and received in a few seconds during which the
/// client's first flight (its ClientHello, in one or two Initials)
/// arrived and nothing after it: the server can only repeat its flight on
/// its PTO.
fn server_bytes_with_a_silent_client(validation: AddressValidation) -> (u64, u64) {
    let now = epoch();
    let client = client(now, ClientSetup::default());
    let server = server(
        now,
        ServerSetup {
            validation,
            ..ServerSetup::default()
        },
    );
    let mut pair = Pair::new(now, client, server);
    pair.lose = Box::new(move |side, at, _| side == Side::Client && at > now);
    pair.run_until(Duration::from_secs(8), |_| false);
    assert!(!pair.server.is_closed());
    assert_eq!(
        pair.server.is_address_validated(),
        validation != AddressValidation::None
    );
    let stats = pair.server.stats();
    (stats.bytes_sent, stats.bytes_received)
}

#[test]
fn an_unvalidated_server_sends_at_most_three_times_what_it_received() {
    // RFC 9000 §8.1 (test): the anti-amplification limit.
    let (sent, received) = server_bytes_with_a_silent_client(AddressValidation::None);
    assert!(sent <= 3 * received, "{sent} <= 3 x {received}");
}

#[test]
fn a_server_whose_client_proved_its_address_with_a_token_is_not_held_to_three_times() {
    // RFC 9000 §8.1 (test): a client that presented a valid Retry or
    // NEW_TOKEN token has a validated address, so the server's PTO probes
    // are not held back by the limit.
    for validation in [AddressValidation::Retry, AddressValidation::Token] {
        let (sent, received) = server_bytes_with_a_silent_client(validation);
        assert!(
            sent > 3 * received,
            "{validation:?}: {sent} > 3 x {received}"
        );
    }
}
