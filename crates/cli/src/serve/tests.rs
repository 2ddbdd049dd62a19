use super::*;

#[test]
fn request_lines_with_and_without_line_ends_parse() {
    for zero_rtt in [false, true] {
        assert_eq!(
            parse_request(b"GET /a.txt\r\n", zero_rtt).unwrap(),
            "/a.txt"
        );
        assert_eq!(parse_request(b"GET /a.txt\n", zero_rtt).unwrap(), "/a.txt");
        assert_eq!(parse_request(b"GET /a.txt", zero_rtt).unwrap(), "/a.txt");
    }
}

#[test]
fn other_requests_are_bad_requests() {
    for bad in [&b"POST /a\r\n"[..], b"GET a\r\n", b"", b"GET \xff\r\n"] {
        assert_eq!(parse_request(bad, false).unwrap_err().code, BAD_REQUEST);
    }
}

// RFC 8446 §8 (test): in 0-RTT, which can be replayed, only GET is taken;
// anything else is too early, and a malformed GET is still a bad request.
#[test]
fn requests_other_than_get_in_0rtt_are_too_early() {
    for early in [&b"POST /a\r\n"[..], b"DELETE /a", b"get /a\r\n"] {
        let refusal = parse_request(early, true).unwrap_err();
        assert_eq!(refusal.code, TOO_EARLY, "{refusal:?}");
    }
    for bad in [&b"GET a\r\n"[..], b""] {
        assert_eq!(parse_request(bad, true).unwrap_err().code, BAD_REQUEST);
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tern-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("root/sub")).unwrap();
    std::fs::write(dir.join("root/sub/f.txt"), b"f").unwrap();
    std::fs::write(dir.join("secret.txt"), b"s").unwrap();
    dir
}

#[test]
fn paths_inside_the_root_resolve() {
    let dir = scratch("inside");
    let root = std::fs::canonicalize(dir.join("root")).unwrap();
    assert_eq!(
        resolve(&root, "/sub/f.txt").unwrap(),
        root.join("sub/f.txt")
    );
    assert_eq!(
        resolve(&root, "/./sub/f.txt").unwrap(),
        root.join("sub/f.txt")
    );
    assert_eq!(resolve(&root, "/missing").unwrap_err().code, NOT_FOUND);
    assert_eq!(resolve(&root, "/sub").unwrap_err().code, NOT_FOUND);
    assert_eq!(resolve(&root, "/").unwrap_err().code, NOT_FOUND);
    // Extra leading slashes stay under the root.
    assert_eq!(resolve(&root, "//etc/passwd").unwrap_err().code, NOT_FOUND);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn parent_directories_are_forbidden() {
    let dir = scratch("parent");
    let root = std::fs::canonicalize(dir.join("root")).unwrap();
    for path in [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/sub/../sub/f.txt",
    ] {
        assert_eq!(resolve(&root, path).unwrap_err().code, FORBIDDEN, "{path}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_the_root_are_forbidden() {
    let dir = scratch("symlink");
    std::os::unix::fs::symlink(dir.join("secret.txt"), dir.join("root/out")).unwrap();
    std::os::unix::fs::symlink(dir.join("root/sub/f.txt"), dir.join("root/in")).unwrap();
    let root = std::fs::canonicalize(dir.join("root")).unwrap();
    assert_eq!(resolve(&root, "/out").unwrap_err().code, FORBIDDEN);
    assert_eq!(resolve(&root, "/in").unwrap(), root.join("sub/f.txt"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn retry_values_map_to_the_servers_policy() {
    assert_eq!(Retry::Always.policy(None).unwrap(), RetryPolicy::Always);
    assert_eq!(Retry::Never.policy(None).unwrap(), RetryPolicy::Never);
    assert_eq!(
        Retry::UnderLoad.policy(None).unwrap(),
        RetryPolicy::UnderLoad {
            handshakes_in_progress: RetryPolicy::DEFAULT_UNDER_LOAD
        }
    );
    assert_eq!(
        Retry::UnderLoad.policy(Some(3)).unwrap(),
        RetryPolicy::UnderLoad {
            handshakes_in_progress: 3
        }
    );
    assert!(Retry::Always.policy(Some(3)).is_err());
    assert!(Retry::Never.policy(Some(3)).is_err());
}

#[test]
fn a_quic_lb_config_file_is_read_or_refused_saying_why() {
    let dir = scratch("quic-lb");
    let good = dir.join("lb.json");
    std::fs::write(
        &good,
        r#"{"ietf-quic-lb-server:quic-lb": {"config-id": 2, "server-id-length": 2,
            "nonce-length": 6, "server-id": "ab:cd",
            "cid-key": "8f:95:f0:92:45:76:5f:80:25:69:34:e5:0c:66:20:7f"}}"#,
    )
    .unwrap();
    let generator = quic_lb_generator(&good).unwrap();
    assert_eq!(generator.codec().config().server_id(), [0xab, 0xcd]);
    assert_eq!(
        describe_quic_lb(generator.codec().config()),
        "QUIC-LB config 2, server ID abcd, 9-byte connection IDs, encrypted"
    );

    let missing = quic_lb_generator(&dir.join("none.json")).unwrap_err();
    assert!(missing.contains("none.json: cannot read it"), "{missing}");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"config-id": 7}"#).unwrap();
    let error = quic_lb_generator(&bad).unwrap_err();
    assert!(
        error.starts_with("--quic-lb-config ") && error.contains("not a QUIC-LB server"),
        "{error}"
    );
    std::fs::write(
        &bad,
        r#"{"config-id": 7, "server-id-length": 1, "nonce-length": 4, "server-id": "01"}"#,
    )
    .unwrap();
    let error = quic_lb_generator(&bad).unwrap_err();
    assert!(error.contains("config-id 7 is out of range"), "{error}");
}
