//! Reading a configuration from the JSON of the draft's YANG server model.

use tern_quic_lb::{Config, ConfigError};

const FULL: &str = r#"{"ietf-quic-lb-server:quic-lb": {"config-id": 0,
    "first-octet-encodes-cid-length": true, "server-id-length": 3, "nonce-length": 4,
    "cid-key": "8f:95:f0:92:45:76:5f:80:25:69:34:e5:0c:66:20:7f", "server-id": "c4:60:5e"}}"#;

const KEY: [u8; 16] = [
    0x8f, 0x95, 0xf0, 0x92, 0x45, 0x76, 0x5f, 0x80, 0x25, 0x69, 0x34, 0xe5, 0x0c, 0x66, 0x20, 0x7f,
];

#[test]
fn the_full_model_is_read() {
    let config = Config::from_json(FULL).unwrap();
    assert_eq!(config.config_id(), 0);
    assert!(config.encodes_length());
    assert_eq!(config.server_id(), [0xc4, 0x60, 0x5e]);
    assert_eq!(config.nonce_len(), 4);
    assert_eq!(config.key(), Some(&KEY));
    assert_eq!(config.cid_len(), 8);
    assert_eq!(
        config,
        Config::new(0, &[0xc4, 0x60, 0x5e], 4, Some(KEY))
            .unwrap()
            .encode_length(true)
    );
}

#[test]
fn the_inner_object_alone_without_colons_or_key_is_read() {
    let config = Config::from_json(
        r#"{"config-id": 6, "server-id-length": 2, "nonce-length": 17, "server-id": "0A0b"}"#,
    )
    .unwrap();
    assert_eq!(config.config_id(), 6);
    // The YANG default.
    assert!(!config.encodes_length());
    assert_eq!(config.server_id(), [0x0a, 0x0b]);
    assert_eq!(config.key(), None);
    let keyed = Config::from_json(
        r#"{"config-id": 1, "server-id-length": 1, "nonce-length": 4, "server-id": "ff",
            "cid-key": "8f95f09245765f80256934e50c66207f"}"#,
    )
    .unwrap();
    assert_eq!(keyed.key(), Some(&KEY));
}

#[test]
fn the_key_does_not_show_in_debug_output() {
    let text = format!("{:?}", Config::from_json(FULL).unwrap());
    assert!(text.contains("c4605e"), "{text}");
    assert!(!text.contains("8f") && !text.contains("143"), "{text}");
}

fn inner(config_id: &str, sid_len: &str, nonce_len: &str, sid: &str, key: &str) -> String {
    format!(
        r#"{{"config-id": {config_id}, "server-id-length": {sid_len}, "nonce-length": {nonce_len},
            "server-id": "{sid}"{key}}}"#
    )
}

#[test]
fn values_beyond_the_limits_are_refused_with_what_is_wrong() {
    let cases = [
        (inner("7", "1", "4", "01", ""), ConfigError::ConfigId(7)),
        (inner("300", "1", "4", "01", ""), ConfigError::ConfigId(300)),
        (inner("0", "0", "4", "", ""), ConfigError::ServerIdLength(0)),
        (
            inner("0", "16", "4", &"01".repeat(16), ""),
            ConfigError::ServerIdLength(16),
        ),
        (inner("0", "1", "3", "01", ""), ConfigError::NonceLength(3)),
        (
            inner("0", "1", "19", "01", ""),
            ConfigError::NonceLength(19),
        ),
        (
            inner("0", "5", "15", "0102030405", ""),
            ConfigError::TooLong {
                server_id: 5,
                nonce: 15,
            },
        ),
        (
            inner("0", "3", "4", "c4:60", ""),
            ConfigError::ServerIdMismatch {
                declared: 3,
                actual: 2,
            },
        ),
        (
            inner(
                "0",
                "1",
                "4",
                "01",
                r#", "cid-key": "00112233445566778899aabbccddee""#,
            ),
            ConfigError::KeyLength(15),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(Config::from_json(&text), Err(expected), "{text}");
    }
}

#[test]
fn malformed_hex_is_refused() {
    for sid in ["c4:6:05e", "c4605", "zz", "+f", "c4::60", ":c4", "c4:60:"] {
        let text = inner("0", "1", "4", sid, "");
        assert!(
            matches!(
                Config::from_json(&text),
                Err(ConfigError::Hex {
                    field: "server-id",
                    ..
                })
            ),
            "{sid}"
        );
    }
    let text = inner("0", "1", "4", "01", r#", "cid-key": "not hex""#);
    assert!(matches!(
        Config::from_json(&text),
        Err(ConfigError::Hex {
            field: "cid-key",
            ..
        })
    ));
}

#[test]
fn other_shapes_are_refused() {
    for text in [
        "",
        "[]",
        "not json",
        // A field missing.
        r#"{"config-id": 0, "server-id-length": 1, "server-id": "01"}"#,
        // A misspelt field.
        r#"{"config-id": 0, "server-id-length": 1, "nonce-length": 4, "server-id": "01",
            "cid_key": "8f95f09245765f80256934e50c66207f"}"#,
        // The middlebox model, not the server's.
        r#"{"ietf-quic-lb-middlebox:quic-lb": {"cid-configs": []}}"#,
        // Types RFC 7951 does not use for these leaves.
        r#"{"config-id": "0", "server-id-length": 1, "nonce-length": 4, "server-id": "01"}"#,
        r#"{"config-id": -1, "server-id-length": 1, "nonce-length": 4, "server-id": "01"}"#,
    ] {
        assert!(
            matches!(Config::from_json(text), Err(ConfigError::Json(_))),
            "{text}"
        );
    }
}
