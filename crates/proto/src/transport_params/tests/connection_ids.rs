//! Connection ID authentication (RFC 9000 §7.3).

use super::*;

fn with_cids(
    odcid: Option<&[u8]>,
    iscid: Option<&[u8]>,
    rscid: Option<&[u8]>,
) -> TransportParameters {
    TransportParameters {
        original_destination_connection_id: odcid.map(cid),
        initial_source_connection_id: iscid.map(cid),
        retry_source_connection_id: rscid.map(cid),
        ..TransportParameters::default()
    }
}

fn cid_check(
    params: &TransportParameters,
    sender: Side,
    retry: Option<&[u8]>,
) -> Result<(), TransportError> {
    let retry = retry.map(cid);
    params.check_connection_ids(sender, &cid(b"peer"), &cid(b"odcid"), retry.as_ref())
}

// RFC 9000 §7.3 (test): matching connection IDs pass, with and without a
// Retry.
#[test]
fn matching_connection_ids_are_accepted() {
    let server = with_cids(Some(b"odcid"), Some(b"peer"), None);
    assert_eq!(cid_check(&server, Side::Server, None), Ok(()));
    let after_retry = with_cids(Some(b"odcid"), Some(b"peer"), Some(b"retry"));
    assert_eq!(
        cid_check(&after_retry, Side::Server, Some(b"retry")),
        Ok(())
    );
    let client = with_cids(None, Some(b"peer"), None);
    assert_eq!(cid_check(&client, Side::Client, Some(b"ignored")), Ok(()));
}

// RFC 9000 §7.3 (test): a missing, unexpected or mismatched connection ID
// parameter is a TRANSPORT_PARAMETER_ERROR.
#[test]
fn missing_or_mismatched_connection_ids_are_refused() {
    let cases: [(TransportParameters, Side, Option<&[u8]>, &str); 8] = [
        (
            with_cids(None, None, None),
            Side::Client,
            None,
            "missing initial_source_connection_id",
        ),
        (
            with_cids(None, Some(b"other"), None),
            Side::Client,
            None,
            "initial_source_connection_id mismatch",
        ),
        (
            with_cids(None, Some(b"peer"), None),
            Side::Server,
            None,
            "missing original_destination_connection_id",
        ),
        (
            with_cids(Some(b"other"), Some(b"peer"), None),
            Side::Server,
            None,
            "original_destination_connection_id mismatch",
        ),
        (
            with_cids(Some(b"odcid"), Some(b"peer"), None),
            Side::Server,
            Some(b"retry"),
            "missing retry_source_connection_id",
        ),
        (
            with_cids(Some(b"odcid"), Some(b"peer"), Some(b"retry")),
            Side::Server,
            None,
            "unexpected retry_source_connection_id",
        ),
        (
            with_cids(Some(b"odcid"), Some(b"peer"), Some(b"other")),
            Side::Server,
            Some(b"retry"),
            "retry_source_connection_id mismatch",
        ),
        (
            with_cids(Some(b"odcid"), Some(b"peer"), None),
            Side::Client,
            None,
            "unexpected original_destination_connection_id",
        ),
    ];
    for (params, sender, retry, reason) in cases {
        let err = cid_check(&params, sender, retry).unwrap_err();
        assert_eq!(err.code, TransportErrorCode::TRANSPORT_PARAMETER_ERROR);
        assert_eq!(err.reason, reason);
    }
}
