use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use super::*;

const ROTATION: Duration = Duration::from_secs(3600);
const RETRY_LIFETIME: Duration = Duration::from_secs(15);
const NEW_TOKEN_LIFETIME: Duration = Duration::from_secs(600);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn cid(byte: u8) -> ConnectionId {
    ConnectionId::new(&[byte; 8]).unwrap()
}

struct Fixture {
    keys: TokenKeys,
    start: Instant,
}

impl Fixture {
    fn new() -> Self {
        Self {
            keys: TokenKeys::new(&[7; 32], &[7; 32], None),
            start: crate::endpoint::tests::epoch(),
        }
    }

    fn retry(&mut self, at: Duration, remote: SocketAddr) -> Vec<u8> {
        self.keys
            .seal(
                self.start + at,
                ROTATION,
                TokenKind::Retry,
                remote,
                Some((&cid(1), &cid(2))),
                Version::V1,
            )
            .unwrap()
    }

    fn new_token(&mut self, at: Duration, remote: SocketAddr) -> Vec<u8> {
        self.keys
            .seal(
                self.start + at,
                ROTATION,
                TokenKind::NewToken,
                remote,
                None,
                Version::V1,
            )
            .unwrap()
    }

    fn open(&mut self, at: Duration, token: &[u8], remote: SocketAddr) -> Result<Opened, Invalid> {
        self.keys.open(
            self.start + at,
            ROTATION,
            token,
            (remote, Version::V1),
            RETRY_LIFETIME,
            NEW_TOKEN_LIFETIME,
        )
    }
}

#[test]
fn a_retry_token_opens_for_its_address_and_gives_back_both_ids() {
    let mut f = Fixture::new();
    let client = addr("192.0.2.1:4433");
    let token = f.retry(Duration::ZERO, client);
    assert!(token.len() <= MAX_TOKEN_LEN);
    assert_eq!(
        f.open(Duration::from_secs(1), &token, client),
        Ok(Opened::Retry {
            original_dcid: cid(1),
            retry_scid: cid(2)
        })
    );
}

#[test]
fn a_retry_token_from_another_address_or_port_is_an_invalid_retry_token() {
    let mut f = Fixture::new();
    let token = f.retry(Duration::ZERO, addr("192.0.2.1:4433"));
    assert_eq!(
        f.open(Duration::ZERO, &token, addr("192.0.2.2:4433")),
        Err(Invalid::Retry)
    );
    assert_eq!(
        f.open(Duration::ZERO, &token, addr("192.0.2.1:4434")),
        Err(Invalid::Retry)
    );
}

#[test]
fn a_new_token_binds_the_ip_address_but_not_the_port() {
    let mut f = Fixture::new();
    let token = f.new_token(Duration::ZERO, addr("[2001:db8::1]:5000"));
    assert_eq!(
        f.open(Duration::from_secs(60), &token, addr("[2001:db8::1]:6000")),
        Ok(Opened::NewToken)
    );
    assert_eq!(
        f.open(Duration::from_secs(60), &token, addr("[2001:db8::2]:5000")),
        Err(Invalid::Other)
    );
}

#[test]
fn tokens_expire_after_their_lifetime() {
    let mut f = Fixture::new();
    let client = addr("192.0.2.1:4433");
    // The epoch is the first token's issue time: issue one early.
    let _ = f.new_token(Duration::ZERO, client);
    let retry = f.retry(Duration::from_secs(100), client);
    let new = f.new_token(Duration::from_secs(100), client);
    assert!(f.open(Duration::from_secs(115), &retry, client).is_ok());
    assert_eq!(
        f.open(Duration::from_secs(116), &retry, client),
        Err(Invalid::Retry)
    );
    assert!(f.open(Duration::from_secs(700), &new, client).is_ok());
    assert_eq!(
        f.open(Duration::from_secs(701), &new, client),
        Err(Invalid::Other)
    );
}

#[test]
fn any_changed_byte_makes_a_token_invalid() {
    let mut f = Fixture::new();
    let client = addr("192.0.2.1:4433");
    let token = f.retry(Duration::ZERO, client);
    for i in 1..token.len() {
        let mut bad = token.clone();
        bad[i] ^= 1;
        assert_eq!(
            f.open(Duration::ZERO, &bad, client),
            Err(Invalid::Retry),
            "byte {i}"
        );
    }
    // The kind byte: a Retry token presented as a NEW_TOKEN one fails too.
    let mut bad = token.clone();
    bad[0] = TokenKind::NewToken as u8;
    assert_eq!(f.open(Duration::ZERO, &bad, client), Err(Invalid::Other));
}

#[test]
fn garbage_and_truncated_tokens_are_refused_without_panic() {
    let mut f = Fixture::new();
    let client = addr("192.0.2.1:4433");
    for token in [&[][..], &[0], &[1], &[7; 40], &[0; 40], &[0; 400]] {
        assert!(f.open(Duration::ZERO, token, client).is_err());
    }
}

#[test]
fn tokens_survive_one_key_rotation_but_not_two() {
    let client = addr("192.0.2.1:4433");
    let mut f = Fixture::new();
    let rotation = Duration::from_secs(5);
    let token = f
        .keys
        .seal(
            f.start,
            rotation,
            TokenKind::NewToken,
            client,
            None,
            Version::V1,
        )
        .unwrap();
    let open = |f: &mut Fixture, secs| {
        f.keys.open(
            f.start + Duration::from_secs(secs),
            rotation,
            &token,
            (client, Version::V1),
            RETRY_LIFETIME,
            NEW_TOKEN_LIFETIME,
        )
    };
    // Same period, then one rotation: the token's key is the previous one.
    assert_eq!(open(&mut f, 4), Ok(Opened::NewToken));
    assert_eq!(open(&mut f, 7), Ok(Opened::NewToken));
    // Two rotations: its key is gone, though the token is young enough.
    assert_eq!(open(&mut f, 12), Err(Invalid::Other));
}

/// A NEW_TOKEN token for `client` sealed by `keys` at `at`.
fn new_token_at(keys: &mut TokenKeys, at: Instant, client: SocketAddr) -> Vec<u8> {
    keys.seal(at, ROTATION, TokenKind::NewToken, client, None, Version::V1)
        .unwrap()
}

#[test]
fn endpoints_sharing_the_master_secret_and_epoch_open_each_others_tokens() {
    let client = addr("192.0.2.1:4433");
    let start = crate::endpoint::tests::epoch();
    let mut a = TokenKeys::new(&[9; 32], &[1; 32], Some(start));
    let mut b = TokenKeys::new(&[9; 32], &[2; 32], Some(start));
    let mut other = TokenKeys::new(&[8; 32], &[3; 32], Some(start));
    // `b` first acts long after the epoch, in the token's next period.
    let sealed_at = start + ROTATION - Duration::from_secs(60);
    let token = new_token_at(&mut a, sealed_at, client);
    let opened_at = start + ROTATION + Duration::from_secs(60);
    let open = |keys: &mut TokenKeys| {
        keys.open(
            opened_at,
            ROTATION,
            &token,
            (client, Version::V1),
            RETRY_LIFETIME,
            NEW_TOKEN_LIFETIME,
        )
    };
    assert_eq!(open(&mut b), Ok(Opened::NewToken));
    assert_eq!(open(&mut other), Err(Invalid::Other));
    // Each draws its own nonces: the same instant gives different ones.
    let again_a = new_token_at(&mut a, sealed_at, client);
    let again_b = new_token_at(&mut b, sealed_at, client);
    assert_eq!(again_a[1], again_b[1], "same key id");
    assert_ne!(again_a[2..HEADER_LEN], again_b[2..HEADER_LEN]);
}

#[test]
fn a_token_shows_nothing_of_how_many_came_before() {
    // Random nonces: two tokens for the same client at the same instant
    // share no nonce and look unrelated beyond their kind and key id.
    let mut f = Fixture::new();
    let client = addr("192.0.2.1:4433");
    let a = f.new_token(Duration::ZERO, client);
    let b = f.new_token(Duration::ZERO, client);
    assert_eq!(a[..2], b[..2], "kind and key id");
    assert_ne!(a[2..HEADER_LEN], b[2..HEADER_LEN], "fresh nonces");
    assert_ne!(a, b);
}

// RFC 9369 §5 (test): a token is specific to the version of the
// connection that issued it; one from v1 does not open on v2, Retry or
// NEW_TOKEN.
#[test]
fn a_token_opens_only_in_its_version() {
    let mut f = Fixture::new();
    let client = addr("192.0.2.1:4433");
    for token in [
        f.retry(Duration::ZERO, client),
        f.new_token(Duration::ZERO, client),
    ] {
        let mut open = |version| {
            f.keys.open(
                f.start + Duration::from_secs(1),
                ROTATION,
                &token,
                (client, version),
                RETRY_LIFETIME,
                NEW_TOKEN_LIFETIME,
            )
        };
        assert!(open(Version::V1).is_ok());
        assert!(open(Version::V2).is_err(), "a v1 token on v2");
    }
}
