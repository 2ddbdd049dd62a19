//! Capturing a client session's TLS traffic secrets as rustls derives them,
//! so that Tern can derive packet keys for another QUIC version than the
//! one the session was made with (RFC 9368 §2.2, RFC 9369 §4).
//!
//! rustls reports every secret it derives to the configuration's
//! [`KeyLog`], synchronously, on the thread that called into it. A
//! capturing configuration wraps the application's key log in a
//! [`CapturingKeyLog`], which still forwards to it (so `SSLKEYLOGFILE` keeps
//! working) and also keeps the four traffic secrets QUIC needs. Where it
//! keeps them is a thread-local slot that holds a session's [`Capture`]
//! only while that session calls into rustls ([`in_scope`]); outside such a
//! call nothing is kept, so one configuration can serve many sessions.

use std::{cell::Cell, fmt, sync::Arc};

use rustls::{ClientConfig, KeyLog, crypto::tls13::OkmBlock};

use super::derive::DerivingSuite;
use crate::packet::Version;

thread_local! {
    /// The capture of the session calling into rustls on this thread.
    static SLOT: Cell<Option<Box<Capture>>> = const { Cell::new(None) };
}

/// A label that only a [`CapturingKeyLog`] answers, by marking the capture
/// in scope: how a session learns that its configuration captures.
const PROBE: &str = "TERN_CAPTURE_PROBE";

/// Which traffic secret, in the order of [`Capture::secrets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    /// RFC 8446 §7.1: client_handshake_traffic_secret.
    ClientHandshake = 0,
    /// server_handshake_traffic_secret.
    ServerHandshake = 1,
    /// client_application_traffic_secret_0.
    ClientTraffic = 2,
    /// server_application_traffic_secret_0.
    ServerTraffic = 3,
}

impl Which {
    /// The secret a key log label names (the NSS key log format rustls
    /// uses), when it is one QUIC needs.
    fn from_label(label: &str) -> Option<Self> {
        Some(match label {
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => Self::ClientHandshake,
            "SERVER_HANDSHAKE_TRAFFIC_SECRET" => Self::ServerHandshake,
            "CLIENT_TRAFFIC_SECRET_0" => Self::ClientTraffic,
            "SERVER_TRAFFIC_SECRET_0" => Self::ServerTraffic,
            _ => return None,
        })
    }
}

/// The traffic secrets captured from one session, zeroized on drop
/// (rustls's [`OkmBlock`] does that). `Debug` shows only which are held.
#[derive(Default)]
pub(crate) struct Capture {
    secrets: [Option<OkmBlock>; 4],
    /// Whether a [`CapturingKeyLog`] answered the probe.
    probed: bool,
    /// The version the session's later keys are derived for, once
    /// [`switch_version`](super::TlsSession::switch_version) set one.
    pub(crate) target: Option<Version>,
    /// How they are derived, once the suite is negotiated.
    pub(crate) suite: Option<DerivingSuite>,
}

impl Capture {
    /// Takes a captured secret out, leaving none.
    pub(crate) fn take(&mut self, which: Which) -> Option<OkmBlock> {
        self.secrets.get_mut(which as usize).and_then(Option::take)
    }

    /// Whether the configuration's key log is a [`CapturingKeyLog`], as the
    /// probe in [`probe`] found.
    pub(crate) const fn probed(&self) -> bool {
        self.probed
    }

    fn store(&mut self, which: Which, secret: &[u8]) {
        // TLS 1.3 secrets are a hash long: 32 or 48 bytes, never past the
        // block's 64.
        if secret.len() > OkmBlock::MAX_LEN {
            return;
        }
        if let Some(slot) = self.secrets.get_mut(which as usize) {
            *slot = Some(OkmBlock::new(secret));
        }
    }
}

impl fmt::Debug for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = self.secrets.iter().filter(|s| s.is_some()).count();
        f.debug_struct("Capture")
            .field("secrets_held", &held)
            .field("probed", &self.probed)
            .field("target", &self.target)
            .field("suite", &self.suite)
            .finish()
    }
}

/// Runs `f` (a call into rustls) with `capture`, when there is one, in this
/// thread's slot, so that a [`CapturingKeyLog`] stores what rustls derives
/// into it. The slot is restored when `f` returns or panics; a nested scope
/// puts back what the outer one held.
pub(crate) fn in_scope<R>(capture: &mut Option<Box<Capture>>, f: impl FnOnce() -> R) -> R {
    if capture.is_none() {
        return f();
    }
    let previous = SLOT
        .try_with(|slot| slot.replace(capture.take()))
        .ok()
        .flatten();
    let _guard = ScopeGuard {
        home: capture,
        previous,
    };
    f()
}

/// Asks `config`'s key log, inside the scope of `capture`, whether it is a
/// [`CapturingKeyLog`]; the answer is then in [`Capture::probed`].
pub(crate) fn probe(capture: &mut Option<Box<Capture>>, config: &ClientConfig) {
    in_scope(capture, || {
        // A CapturingKeyLog marks the capture and answers false; another
        // key log answers as it likes and is not called to log anything.
        config.key_log.will_log(PROBE);
    });
}

/// Moves the capture back to its session when the scope ends, even by a
/// panic inside rustls.
struct ScopeGuard<'a> {
    home: &'a mut Option<Box<Capture>>,
    previous: Option<Box<Capture>>,
}

impl Drop for ScopeGuard<'_> {
    fn drop(&mut self) {
        let previous = self.previous.take();
        if let Ok(mine) = SLOT.try_with(|slot| slot.replace(previous)) {
            *self.home = mine;
        }
    }
}

/// Applies `f` to the capture in scope on this thread, if any.
fn with_capture(f: impl FnOnce(&mut Capture)) {
    let _ = SLOT.try_with(|slot| {
        let mut capture = slot.take();
        if let Some(capture) = capture.as_deref_mut() {
            f(capture);
        }
        slot.set(capture);
    });
}

/// A [`KeyLog`] that keeps the QUIC traffic secrets of the session in scope
/// (see the [module](self) documentation) and forwards every secret its
/// inner key log wants to it.
#[derive(Debug)]
pub(crate) struct CapturingKeyLog {
    inner: Arc<dyn KeyLog>,
}

impl KeyLog for CapturingKeyLog {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        if let Some(which) = Which::from_label(label) {
            with_capture(|capture| capture.store(which, secret));
        }
        if self.inner.will_log(label) {
            self.inner.log(label, client_random, secret);
        }
    }

    fn will_log(&self, label: &str) -> bool {
        if label == PROBE {
            with_capture(|capture| capture.probed = true);
            return false;
        }
        Which::from_label(label).is_some() || self.inner.will_log(label)
    }
}

/// The capturing rustls configuration derived from the last client
/// configuration seen, so that a connection does not clone a
/// `ClientConfig`: the endpoint keeps one of these, as it keeps a server's
/// 0-RTT configuration.
///
/// A client that offers QUIC v2 while starting on v1 takes its
/// configuration from here and makes its session with
/// [`TlsSession::client_capturing`](super::TlsSession::client_capturing).
#[derive(Default)]
pub struct CapturingClientTls {
    /// The application's configuration (held, so that its address is not
    /// reused by another while it is the key) and the capturing copy.
    cached: Option<(Arc<ClientConfig>, Arc<ClientConfig>)>,
}

impl CapturingClientTls {
    /// `config` with its key log wrapped in a capturing one: the copy made
    /// last when `config` is the same `Arc`, or a new one.
    pub fn for_config(&mut self, config: &Arc<ClientConfig>) -> Arc<ClientConfig> {
        match &self.cached {
            Some((seen, capturing)) if Arc::ptr_eq(seen, config) => capturing.clone(),
            _ => {
                let mut capturing = (**config).clone();
                capturing.key_log = Arc::new(CapturingKeyLog {
                    inner: config.key_log.clone(),
                });
                let capturing = Arc::new(capturing);
                self.cached = Some((config.clone(), capturing.clone()));
                capturing
            }
        }
    }
}

impl fmt::Debug for CapturingClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CapturingClientTls")
            .field("cached", &self.cached.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests;
