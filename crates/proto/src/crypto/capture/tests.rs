use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::Mutex,
};

use super::*;

/// A key log that records the labels it is given, and wants all but
/// `refused`.
#[derive(Debug, Default)]
struct Labels {
    logged: Mutex<Vec<String>>,
    refused: Option<&'static str>,
}

impl KeyLog for Labels {
    fn log(&self, label: &str, _client_random: &[u8], _secret: &[u8]) {
        self.logged.lock().unwrap().push(label.to_owned());
    }

    fn will_log(&self, label: &str) -> bool {
        Some(label) != self.refused
    }
}

impl Labels {
    fn logged(&self) -> Vec<String> {
        self.logged.lock().unwrap().clone()
    }
}

fn capturing(inner: &Arc<Labels>) -> CapturingKeyLog {
    CapturingKeyLog {
        inner: inner.clone(),
    }
}

const SECRET: [u8; 32] = [0x5a; 32];

fn new_capture() -> Option<Box<Capture>> {
    Some(Box::default())
}

#[test]
fn secrets_are_captured_inside_a_scope_only() {
    let inner = Arc::new(Labels::default());
    let log = capturing(&inner);
    let mut capture = new_capture();

    log.log("CLIENT_HANDSHAKE_TRAFFIC_SECRET", &[1; 32], &SECRET);
    in_scope(&mut capture, || {});
    let held = capture.as_deref_mut().unwrap();
    assert!(held.take(Which::ClientHandshake).is_none());

    in_scope(&mut capture, || {
        log.log("CLIENT_HANDSHAKE_TRAFFIC_SECRET", &[1; 32], &SECRET);
        log.log("SERVER_TRAFFIC_SECRET_0", &[1; 32], &[0x6b; 48]);
    });
    let held = capture.as_deref_mut().unwrap();
    assert_eq!(held.take(Which::ClientHandshake).unwrap().as_ref(), &SECRET);
    assert_eq!(
        held.take(Which::ServerTraffic).unwrap().as_ref(),
        &[0x6b; 48]
    );
    assert!(held.take(Which::ServerHandshake).is_none());
    assert!(held.take(Which::ClientTraffic).is_none());
    // Taking leaves nothing behind.
    assert!(held.take(Which::ClientHandshake).is_none());
    // The inner key log saw every call, in scope or not.
    assert_eq!(
        inner.logged(),
        [
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            "SERVER_TRAFFIC_SECRET_0"
        ]
    );
}

#[test]
fn the_inner_key_log_is_called_only_for_labels_it_wants() {
    let inner = Arc::new(Labels {
        refused: Some("SERVER_HANDSHAKE_TRAFFIC_SECRET"),
        ..Labels::default()
    });
    let log = capturing(&inner);
    let mut capture = new_capture();
    // rustls asks first: the four QUIC secrets are wanted whatever the
    // inner log says, others as it says.
    assert!(log.will_log("SERVER_HANDSHAKE_TRAFFIC_SECRET"));
    assert!(log.will_log("EXPORTER_SECRET"));
    in_scope(&mut capture, || {
        log.log("SERVER_HANDSHAKE_TRAFFIC_SECRET", &[], &SECRET);
        log.log("EXPORTER_SECRET", &[], &SECRET);
    });
    assert_eq!(inner.logged(), ["EXPORTER_SECRET"]);
    let held = capture.as_deref_mut().unwrap();
    assert!(held.take(Which::ServerHandshake).is_some());

    let refusing = Arc::new(Labels {
        refused: Some("EXPORTER_SECRET"),
        ..Labels::default()
    });
    assert!(!capturing(&refusing).will_log("EXPORTER_SECRET"));
}

#[test]
fn the_probe_marks_only_a_capturing_key_log() {
    let inner = Arc::new(Labels::default());
    let mut config =
        rustls::ClientConfig::builder_with_provider(Arc::new(crate::crypto::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
    config.key_log = inner.clone();
    let mut capture = new_capture();
    probe(&mut capture, &config);
    assert!(!capture.as_ref().unwrap().probed());

    let capturing = CapturingClientTls::default().for_config(&Arc::new(config));
    probe(&mut capture, &capturing);
    assert!(capture.as_ref().unwrap().probed());
    // The probe is not a secret: nothing reached the inner log.
    assert!(inner.logged().is_empty());
}

#[test]
fn a_panic_inside_the_scope_gives_the_capture_back_and_empties_the_slot() {
    let inner = Arc::new(Labels::default());
    let log = capturing(&inner);
    let mut capture = new_capture();
    let result = catch_unwind(AssertUnwindSafe(|| {
        in_scope(&mut capture, || {
            log.log("CLIENT_TRAFFIC_SECRET_0", &[], &SECRET);
            panic!("rustls panicked");
        })
    }));
    assert!(result.is_err());
    let held = capture.as_deref_mut().expect("the capture came back");
    assert!(held.take(Which::ClientTraffic).is_some());
    // The slot is empty again: a secret logged now goes nowhere.
    log.log("CLIENT_TRAFFIC_SECRET_0", &[], &SECRET);
    in_scope(&mut capture, || {});
    assert!(
        capture
            .as_deref_mut()
            .unwrap()
            .take(Which::ClientTraffic)
            .is_none()
    );
}

#[test]
fn a_nested_scope_captures_into_its_own_session_and_restores_the_outer() {
    let inner = Arc::new(Labels::default());
    let log = capturing(&inner);
    let (mut outer, mut nested) = (new_capture(), new_capture());
    in_scope(&mut outer, || {
        in_scope(&mut nested, || {
            log.log("CLIENT_TRAFFIC_SECRET_0", &[], &SECRET)
        });
        log.log("SERVER_TRAFFIC_SECRET_0", &[], &SECRET);
    });
    let (outer, nested) = (
        outer.as_deref_mut().unwrap(),
        nested.as_deref_mut().unwrap(),
    );
    assert!(nested.take(Which::ClientTraffic).is_some());
    assert!(nested.take(Which::ServerTraffic).is_none());
    assert!(outer.take(Which::ServerTraffic).is_some());
    assert!(outer.take(Which::ClientTraffic).is_none());
}

#[test]
fn a_capturing_config_is_made_once_per_config() {
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(crate::crypto::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    );
    let mut cache = CapturingClientTls::default();
    let first = cache.for_config(&config);
    assert!(!Arc::ptr_eq(&first, &config));
    assert!(Arc::ptr_eq(&first, &cache.for_config(&config)));
    let other = Arc::new((*config).clone());
    let second = cache.for_config(&other);
    assert!(!Arc::ptr_eq(&first, &second));
    assert!(format!("{second:?}").contains("CapturingKeyLog"));
}

#[test]
fn capture_debug_shows_no_secret() {
    let log = capturing(&Arc::new(Labels::default()));
    let mut capture = new_capture();
    in_scope(&mut capture, || {
        log.log("CLIENT_HANDSHAKE_TRAFFIC_SECRET", &[], &SECRET);
    });
    let text = format!("{capture:?} {capture:#?}");
    assert!(text.contains("secrets_held: 1"), "{text}");
    crate::crypto::assert_hides(&text, &SECRET);
}
