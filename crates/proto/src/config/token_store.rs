//! Where a client keeps the address validation tokens servers give it in
//! NEW_TOKEN frames (RFC 9000 §8.1.3, §19.7), for its next connections.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
};

use bytes::Bytes;

/// Keeps the tokens servers sent in NEW_TOKEN frames, by server name, so
/// that the next connection to the same server can put one in its first
/// Initial (RFC 9000 §8.1.3) and skip a Retry round trip.
///
/// The client calls [`insert`](Self::insert) for each NEW_TOKEN frame it
/// receives, and [`take`](Self::take) once when it opens a connection. A
/// token is a credential for the client's address: an implementation
/// should not log it, and may drop tokens at will (a client that wants no
/// link between its connections keeps none, RFC 9000 §8.1.3).
///
/// Held as an `Arc<dyn TokenStore>` in
/// [`ClientConfig::token_store`](super::ClientConfig::token_store) and
/// called on the thread that drives the endpoint, so it should be quick.
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// Keeps `token`, received from the server that `server_name` names.
    fn insert(&self, server_name: &str, token: Bytes);

    /// Removes and returns a token for `server_name`, if one is kept.
    /// RFC 9000 §8.1.3: a client uses each NEW_TOKEN token for one
    /// connection only, so a token taken is not given out again.
    fn take(&self, server_name: &str) -> Option<Bytes>;
}

/// A client's token store with the server name a connection's tokens are
/// for.
pub(crate) type NamedTokenStore = (Arc<dyn TokenStore>, Arc<str>);

/// The default [`TokenStore`]: a bounded map in memory, lost when the
/// process ends.
///
/// It keeps the latest tokens of the servers most recently heard from; a
/// new token pushes out the oldest of its server's, and a new server
/// pushes out the server whose tokens are the oldest. [`take`] gives the
/// newest token, the one most likely still valid. `Debug` shows the
/// counts, never a token.
///
/// [`take`]: TokenStore::take
pub struct MemoryTokenStore {
    max_servers: usize,
    tokens_per_server: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Tokens by server name, oldest first, with the insertion count of
    /// the latest (to find the server heard from least recently).
    servers: HashMap<Box<str>, (u64, Vec<Bytes>)>,
    /// Insertions so far.
    clock: u64,
}

impl MemoryTokenStore {
    /// Servers whose tokens are kept by default: 256, enough for a client
    /// that talks to many origins, at a few hundred bytes each.
    pub const DEFAULT_MAX_SERVERS: usize = 256;
    /// Tokens kept per server by default: 2, so that two connections
    /// opened close together can each skip the Retry (RFC 9000 §8.1.3
    /// makes each token single-use), while a server that sends many
    /// NEW_TOKEN frames cannot fill the store.
    pub const DEFAULT_TOKENS_PER_SERVER: usize = 2;

    /// A store of at most `max_servers` servers' tokens (the one heard
    /// from least recently is dropped to make room) and `tokens_per_server`
    /// tokens each (the oldest is dropped). Either limit at 0 keeps
    /// nothing. A token is at most one packet's payload, so the store holds
    /// at most about `max_servers * tokens_per_server` kilobytes.
    #[must_use]
    pub fn new(max_servers: usize, tokens_per_server: usize) -> Self {
        Self {
            max_servers,
            tokens_per_server,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// How many tokens are kept, over all servers.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock()
            .servers
            .values()
            .map(|(_, tokens)| tokens.len())
            .sum()
    }

    /// Whether no token is kept.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lock().servers.is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while the lock was held leaves the map consistent (every
        // change is a single insert or remove), so the poison is ignored.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for MemoryTokenStore {
    /// [`DEFAULT_MAX_SERVERS`](Self::DEFAULT_MAX_SERVERS) servers and
    /// [`DEFAULT_TOKENS_PER_SERVER`](Self::DEFAULT_TOKENS_PER_SERVER)
    /// tokens each.
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX_SERVERS, Self::DEFAULT_TOKENS_PER_SERVER)
    }
}

impl TokenStore for MemoryTokenStore {
    fn insert(&self, server_name: &str, token: Bytes) {
        if self.max_servers == 0 || self.tokens_per_server == 0 {
            return;
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        if let Some((last, tokens)) = inner.servers.get_mut(server_name) {
            *last = clock;
            if tokens.len() >= self.tokens_per_server {
                tokens.remove(0);
            }
            tokens.push(token);
            return;
        }
        if inner.servers.len() >= self.max_servers {
            // A scan of at most `max_servers` entries, only when a new
            // server arrives at a full store.
            let oldest = inner
                .servers
                .iter()
                .min_by_key(|(_, (last, _))| *last)
                .map(|(name, _)| name.clone());
            if let Some(oldest) = oldest {
                inner.servers.remove(&oldest);
            }
        }
        inner
            .servers
            .insert(server_name.into(), (clock, vec![token]));
    }

    fn take(&self, server_name: &str) -> Option<Bytes> {
        let mut inner = self.lock();
        let (_, tokens) = inner.servers.get_mut(server_name)?;
        let token = tokens.pop();
        if tokens.is_empty() {
            inner.servers.remove(server_name);
        }
        token
    }
}

impl fmt::Debug for MemoryTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tokens are credentials for address validation: counts only.
        let inner = self.lock();
        f.debug_struct("MemoryTokenStore")
            .field("servers", &inner.servers.len())
            .field(
                "tokens",
                &inner.servers.values().map(|(_, t)| t.len()).sum::<usize>(),
            )
            .field("max_servers", &self.max_servers)
            .field("tokens_per_server", &self.tokens_per_server)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::{MemoryTokenStore, TokenStore};

    fn token(byte: u8) -> Bytes {
        Bytes::from(vec![byte; 4])
    }

    #[test]
    fn a_token_is_taken_once_for_its_own_server() {
        // RFC 9000 §8.1.3 (test): a NEW_TOKEN token is used for one
        // connection, and only to the server that issued it.
        let store = MemoryTokenStore::default();
        store.insert("a.example", token(1));
        assert_eq!(store.take("b.example"), None);
        assert_eq!(store.take("a.example"), Some(token(1)));
        assert_eq!(store.take("a.example"), None);
        assert!(store.is_empty());
    }

    #[test]
    fn a_server_keeps_its_latest_tokens_and_gives_the_newest_first() {
        let store = MemoryTokenStore::new(4, 2);
        for byte in 1..=3 {
            store.insert("a.example", token(byte));
        }
        assert_eq!(store.len(), 2, "the oldest token was dropped");
        assert_eq!(store.take("a.example"), Some(token(3)));
        assert_eq!(store.take("a.example"), Some(token(2)));
        assert_eq!(store.take("a.example"), None);
    }

    #[test]
    fn a_new_server_pushes_out_the_one_heard_from_least_recently() {
        let store = MemoryTokenStore::new(2, 2);
        store.insert("a.example", token(1));
        store.insert("b.example", token(2));
        // a is heard from again: b is now the least recent.
        store.insert("a.example", token(3));
        store.insert("c.example", token(4));
        assert_eq!(store.take("b.example"), None);
        assert_eq!(store.take("a.example"), Some(token(3)));
        assert_eq!(store.take("c.example"), Some(token(4)));
    }

    #[test]
    fn a_flood_of_tokens_stays_within_the_bounds() {
        let store = MemoryTokenStore::default();
        for i in 0..9_000_u32 {
            // Three tokens to each of 1,000 servers in turn.
            store.insert(&format!("s{}.example", (i / 3) % 1000), token(7));
        }
        assert_eq!(
            store.len(),
            MemoryTokenStore::DEFAULT_MAX_SERVERS * MemoryTokenStore::DEFAULT_TOKENS_PER_SERVER
        );
    }

    #[test]
    fn a_store_with_a_zero_limit_keeps_nothing_and_debug_shows_no_token() {
        let store = MemoryTokenStore::new(0, 2);
        store.insert("a.example", token(1));
        assert!(store.is_empty());
        let store = MemoryTokenStore::default();
        store.insert("a.example", Bytes::from_static(b"secret-token"));
        let debug = format!("{store:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("tokens: 1"), "{debug}");
    }
}
