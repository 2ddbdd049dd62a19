use super::*;

const V1: u32 = crate::QUIC_V1;
const V2: u32 = crate::QUIC_V2;

fn offered(chosen: u32, available: &[u32]) -> VersionInformation {
    VersionInformation {
        chosen_version: chosen,
        available_versions: available.to_vec(),
    }
}

// RFC 9368 §3 (test): a client offers the endpoint's versions in its
// order, with the one it starts on among them.
#[test]
fn a_client_offers_its_versions_in_order_with_the_original() {
    assert_eq!(client_offer(Version::V1, &[Version::V1]), vec![Version::V1]);
    assert_eq!(
        client_offer(Version::V1, &[Version::V2, Version::V1]),
        vec![Version::V2, Version::V1]
    );
    assert_eq!(
        client_offer(Version::V2, &[Version::V1]),
        vec![Version::V1, Version::V2]
    );
    let info = information(Version::V1, &[Version::V2, Version::V1]);
    assert_eq!(info.chosen_version, V1);
    assert_eq!(info.available_versions, vec![V2, V1]);
}

// RFC 9368 §2.2 (test): the server picks by its own preference among what
// the client offered, and stays on the original otherwise.
#[test]
fn a_server_picks_its_preferred_offered_version() {
    let both = [Version::V2, Version::V1];
    assert_eq!(
        server_choice(&both, Version::V1, Some(&offered(V1, &[V1, V2]))),
        Version::V2
    );
    assert_eq!(
        server_choice(
            &[Version::V1, Version::V2],
            Version::V1,
            Some(&offered(V1, &[V2, V1]))
        ),
        Version::V1,
        "the server's preference decides, not the client's"
    );
    assert_eq!(
        server_choice(&both, Version::V1, Some(&offered(V1, &[V1]))),
        Version::V1,
        "a client that offers only its version keeps it"
    );
    assert_eq!(server_choice(&both, Version::V1, None), Version::V1);
    assert_eq!(
        server_choice(&[Version::V1], Version::V1, Some(&offered(V1, &[V2, V1]))),
        Version::V1,
        "a v1-only server keeps a client offering v2 on v1"
    );
}

// RFC 9368 §2.1 (test): from a Version Negotiation packet, a client takes
// its most preferred listed version.
#[test]
fn a_client_picks_its_preferred_listed_version() {
    let prefs = [Version::V2, Version::V1];
    assert_eq!(
        client_pick(&prefs, |v| v == V1 || v == V2),
        Some(Version::V2)
    );
    assert_eq!(client_pick(&prefs, |v| v == V1), Some(Version::V1));
    assert_eq!(client_pick(&prefs, |v| v == 0x1a2a_3a4a), None);
}
