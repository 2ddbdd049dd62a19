//! Certificates for a run: a chain of CA certificates ending in a leaf for
//! the names the endpoints use, written as the runner lays them out
//! (`cert.pem` with the leaf first, `priv.key` in PKCS#8).

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, CustomExtension, DnType, IsCa, KeyPair,
};

/// A private-enterprise OID under which each certificate carries padding.
const PADDING_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 57_264, 1];

/// Padding per certificate. The runner's chains use RSA-2048 certificates of
/// about a kilobyte each; ours use P-256 keys, so a non-critical extension
/// of opaque bytes brings each certificate to the same size. With a chain of
/// nine that puts the server's Handshake flight well past the 7,500 bytes
/// the amplificationlimit case needs.
const PADDING: usize = 600;

/// Writes `cert.pem` (leaf first, then the intermediates, root last) and
/// `priv.key` into `dir`, for a chain of `length` certificates (1: one
/// self-signed leaf).
pub(crate) fn write_chain(dir: &Path, length: usize) -> Result<(), String> {
    let err = |e: rcgen::Error| format!("certificate generation failed: {e}");
    let names = vec![
        "server".to_owned(),
        "server4".to_owned(),
        "server6".to_owned(),
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let mut pems = Vec::new();
    let leaf_key = KeyPair::generate().map_err(err)?;
    let mut leaf = CertificateParams::new(names).map_err(err)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "tern interop server");
    if length <= 1 {
        let cert = leaf.self_signed(&leaf_key).map_err(err)?;
        pems.push(cert.pem());
    } else {
        let mut root = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root.distinguished_name
            .push(DnType::CommonName, "tern interop root");
        root.custom_extensions.push(padding());
        let mut issuer =
            CertifiedIssuer::self_signed(root, KeyPair::generate().map_err(err)?).map_err(err)?;
        let mut chain = vec![issuer.pem()];
        for depth in 1..length - 1 {
            let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(
                DnType::CommonName,
                format!("tern interop intermediate {depth}"),
            );
            params.custom_extensions.push(padding());
            issuer = CertifiedIssuer::signed_by(params, KeyPair::generate().map_err(err)?, &issuer)
                .map_err(err)?;
            chain.push(issuer.pem());
        }
        leaf.custom_extensions.push(padding());
        pems.push(leaf.signed_by(&leaf_key, &issuer).map_err(err)?.pem());
        pems.extend(chain.into_iter().rev());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(dir.join("cert.pem"), pems.concat())
        .map_err(|e| format!("cannot write cert.pem: {e}"))?;
    std::fs::write(dir.join("priv.key"), leaf_key.serialize_pem())
        .map_err(|e| format!("cannot write priv.key: {e}"))
}

/// A DER OCTET STRING of `PADDING` zero bytes as a non-critical extension.
fn padding() -> CustomExtension {
    let len = u16::try_from(PADDING).unwrap_or(u16::MAX);
    let mut content = vec![0x04, 0x82];
    content.extend_from_slice(&len.to_be_bytes());
    content.resize(content.len() + usize::from(len), 0);
    CustomExtension::from_oid_content(PADDING_OID, content)
}
