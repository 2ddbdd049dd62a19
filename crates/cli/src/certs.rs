//! Certificates for `tern serve` and `tern get`: PEM files in and out, a
//! throwaway self-signed certificate, and SHA-256 fingerprints.

use std::{fmt::Write as _, path::Path};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

/// A certificate chain with its private key.
pub(crate) struct Identity {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
    /// The leaf certificate as a PEM block, for `--write-cert`.
    pub(crate) leaf_pem: String,
}

/// Reads a certificate chain from `cert` and its private key from `key`,
/// both PEM.
pub(crate) fn load(cert: &Path, key: &Path) -> Result<Identity, String> {
    let chain = load_certificates(cert)?;
    let leaf_pem = std::fs::read_to_string(cert)
        .ok()
        .and_then(|text| first_certificate_block(&text))
        .ok_or_else(|| format!("{}: no PEM certificate block", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|error| {
        format!(
            "--key {}: no usable private key ({error}); give a PEM file with a PKCS#8, PKCS#1 or SEC1 key",
            key.display()
        )
    })?;
    Ok(Identity {
        chain,
        key,
        leaf_pem,
    })
}

/// The first `CERTIFICATE` block of a PEM file, as written there.
fn first_certificate_block(text: &str) -> Option<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = text.find(BEGIN)?;
    let end = start + text[start..].find(END)? + END.len();
    Some(format!("{}\n", &text[start..end]))
}

/// Every certificate in the PEM file at `path`, at least one.
pub(crate) fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let unreadable = |error: &dyn std::fmt::Display| {
        format!(
            "{}: cannot read certificates ({error}); give a PEM file with `BEGIN CERTIFICATE` blocks",
            path.display()
        )
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| unreadable(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(&e))?;
    if chain.is_empty() {
        return Err(unreadable(&"the file holds no certificate"));
    }
    Ok(chain)
}

/// A self-signed certificate for `localhost`, `127.0.0.1` and `::1`, made
/// now and forgotten when the process ends.
pub(crate) fn self_signed() -> Result<Identity, String> {
    let names = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    let cert = rcgen::generate_simple_self_signed(names)
        .map_err(|error| format!("cannot generate a self-signed certificate: {error}"))?;
    let key = PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    Ok(Identity {
        chain: vec![cert.cert.der().clone()],
        key,
        leaf_pem: cert.cert.pem(),
    })
}

/// Writes the leaf certificate of `identity` to `path` as PEM, for a
/// client's `--ca`.
pub(crate) fn write_pem(path: &Path, identity: &Identity) -> Result<(), String> {
    std::fs::write(path, &identity.leaf_pem).map_err(|error| {
        format!(
            "--write-cert {}: cannot write the certificate: {error}",
            path.display()
        )
    })
}

/// The SHA-256 fingerprint of `cert`, as colon-separated upper-case hex,
/// hashed by the crypto provider Tern is built with.
pub(crate) fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = tern::tls::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .map(|suite| suite.common.hash_provider.hash(cert.as_ref()));
    let Some(digest) = digest else {
        return String::from("(no sha-256 in the crypto provider)");
    };
    let mut out = String::with_capacity(digest.as_ref().len() * 3);
    for (i, byte) in digest.as_ref().iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{byte:02X}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_written_here_is_read_back_by_rustls() {
        let identity = self_signed().unwrap();
        let back = CertificateDer::from_pem_slice(identity.leaf_pem.as_bytes()).unwrap();
        assert_eq!(back, identity.chain[0]);
    }

    #[test]
    fn a_loaded_leaf_is_written_back_as_it_was_read() {
        let dir = std::env::temp_dir().join(format!("tern-certs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let made = self_signed().unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let key_pem = rustls::pki_types::PrivatePkcs8KeyDer::from(match &made.key {
            PrivateKeyDer::Pkcs8(key) => key.secret_pkcs8_der().to_vec(),
            _ => unreachable!("self_signed makes a PKCS#8 key"),
        });
        let key_pem = rcgen::KeyPair::try_from(&key_pem).unwrap().serialize_pem();
        std::fs::write(&cert, format!("{}{}", made.leaf_pem, made.leaf_pem)).unwrap();
        std::fs::write(&key, key_pem).unwrap();
        let loaded = load(&cert, &key).unwrap();
        assert_eq!(loaded.chain.len(), 2);
        assert_eq!(loaded.leaf_pem, made.leaf_pem);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fingerprint_is_the_sha256_of_the_der() {
        let identity = self_signed().unwrap();
        let print = fingerprint(&identity.chain[0]);
        assert_eq!(print.split(':').count(), 32);
        // SHA-256 of the empty input (FIPS 180-4 test vector).
        let empty = fingerprint(&CertificateDer::from(Vec::new()));
        assert!(empty.starts_with("E3:B0:C4:42:98:FC:1C:14"), "{empty}");
    }
}
