//! What a server's session cache costs per ticket (docs/architecture.md,
//! *Resumption and 0-RTT*): the sessions real handshakes store, with
//! Tern's 0-RTT limits in front of each, are put again into a cache like
//! the one `tern::tls::server_config` makes (rustls's
//! `ServerSessionMemoryCache` of 4,096 entries), measured on the heap.

use std::sync::{Arc, Mutex};

use rustls::server::{ServerSessionMemoryCache, StoresServerSessions};
use tern_sim::{LinkConfig, pair::Pair, resume::zero_rtt_configs_with_store};

use super::{alone, live};

/// Entries of the ready-made configurations' cache
/// (`tern::tls::SERVER_SESSION_CACHE_SIZE`).
const CAPACITY: usize = 4096;
/// Connections whose tickets are recorded.
const CONNECTIONS: usize = 20;

/// A store that keeps a copy of every session put in it, besides keeping
/// it.
#[derive(Debug)]
struct Recording {
    inner: Arc<dyn StoresServerSessions>,
    puts: Mutex<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl StoresServerSessions for Recording {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.puts
            .lock()
            .expect("not poisoned")
            .push((key.clone(), value.clone()));
        self.inner.put(key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.get(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.take(key)
    }

    fn can_cache(&self) -> bool {
        self.inner.can_cache()
    }
}

// RFC 8446 §4.6.1: each NewSessionTicket of a stateful server is an entry
// of its session cache; with the endpoint's 0-RTT limits in front of it,
// one costs about 224 bytes beyond the slots the cache reserves when made
// (0.5 MB for 4,096: a 32-byte ticket ID kept twice and a 119-byte
// session, in malloc's blocks).
#[test]
fn a_session_cache_entry_costs_about_224_bytes_beyond_its_reserved_slot() {
    alone(|| {
        let recording = Arc::new(Recording {
            inner: ServerSessionMemoryCache::new(CAPACITY),
            puts: Mutex::new(Vec::new()),
        });
        let (client, server) = zero_rtt_configs_with_store(Some(recording.clone()));
        let mut pair = Pair::with_tickets(
            3,
            LinkConfig::default(),
            &client,
            server,
            std::time::Duration::from_secs(5),
        );
        for _ in 1..CONNECTIONS {
            pair.reconnect(&client);
            assert!(pair.connect(std::time::Duration::from_secs(5)));
            let _ = pair.run_until(std::time::Duration::from_millis(100), |_| false);
        }
        let puts = std::mem::take(&mut *recording.puts.lock().expect("not poisoned"));
        assert_eq!(puts.len(), 2 * CONNECTIONS, "two tickets per connection");
        drop(pair);

        let before = live();
        let cache = ServerSessionMemoryCache::new(CAPACITY);
        let empty = live() - before;
        let count = puts.len();
        // Copies made here, as rustls makes the key and value it puts.
        for (key, value) in &puts {
            assert!(cache.put(key.clone(), value.clone()));
        }
        let per_entry = (live() - before - empty) / isize::try_from(count).expect("small");
        println!(
            "session cache of {CAPACITY}: {empty} bytes when made, {per_entry} bytes per entry"
        );
        assert!(
            (180..=280).contains(&per_entry),
            "an entry costs {per_entry} bytes; docs say about 224"
        );
        assert!(
            (400_000..=650_000).contains(&empty),
            "the empty cache holds {empty} bytes; docs say 0.5 MB"
        );
        drop(cache);
        drop(puts);
    });
}
