use super::*;

fn url(host: &str, port: u16, path: &str) -> Url {
    Url {
        host: host.to_owned(),
        port,
        path: path.to_owned(),
    }
}

#[test]
fn urls_with_names_addresses_and_default_ports_parse() {
    assert_eq!(
        Url::parse("https://localhost:4433/a/b.bin").unwrap(),
        url("localhost", 4433, "/a/b.bin")
    );
    assert_eq!(
        Url::parse("HTTPS://127.0.0.1/x").unwrap(),
        url("127.0.0.1", 443, "/x")
    );
    assert_eq!(
        Url::parse("https://[::1]:9000/f").unwrap(),
        url("::1", 9000, "/f")
    );
    assert_eq!(Url::parse("https://[::1]").unwrap(), url("::1", 443, "/"));
    assert_eq!(
        Url::parse("https://example.org").unwrap(),
        url("example.org", 443, "/")
    );
}

#[test]
fn malformed_urls_are_refused_with_the_reason() {
    for (bad, reason) in [
        ("http://localhost/x", "not an https"),
        ("localhost:4433/x", "not an https"),
        ("https://:4433/x", "no host"),
        ("https://localhost:0/x", "not a port"),
        ("https://localhost:99999/x", "not a port"),
        ("https://[::1/x", "unclosed"),
        ("https://[::1]9/x", "expected `:port`"),
        ("https://me@host/x", "user names"),
    ] {
        let error = Url::parse(bad).unwrap_err();
        assert!(error.contains(reason), "{bad}: {error}");
    }
}

#[test]
fn the_file_name_is_the_last_path_segment() {
    assert_eq!(url("h", 1, "/a/b/c.txt").file_name().unwrap(), "c.txt");
    assert_eq!(url("h", 1, "/c.txt?x=1").file_name().unwrap(), "c.txt");
    assert!(url("h", 1, "/").file_name().is_err());
    assert!(url("h", 1, "/dir/").file_name().is_err());
    assert!(url("h", 1, "/a/..").file_name().is_err());
}

#[test]
fn display_brackets_ipv6_hosts() {
    assert_eq!(url("::1", 7, "/f").to_string(), "https://[::1]:7/f");
    assert_eq!(url("h", 7, "/f").to_string(), "https://h:7/f");
}

#[test]
fn reset_codes_of_tern_serve_are_explained() {
    assert!(describe(VarInt::from_u32(serve::NOT_FOUND), "reset").starts_with("not found"));
    assert!(describe(VarInt::from_u32(serve::FORBIDDEN), "reset").starts_with("refused"));
    assert!(describe(VarInt::from_u32(7), "reset").contains("reset with code 0x7"));
    assert!(describe(VarInt::from_u32(serve::TOO_EARLY), "reset").starts_with("refused in 0-RTT"));
    // A request refused before it was all read stops our sending side.
    let stopped = describe(VarInt::from_u32(serve::BAD_REQUEST), "stopped");
    assert!(
        stopped.starts_with("the server did not understand"),
        "{stopped}"
    );
    assert!(stopped.contains("stopped with code 0x11"), "{stopped}");
}
