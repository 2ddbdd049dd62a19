//! Certificates for `tern serve` and `tern get`: PEM files in and out, a
//! throwaway self-signed certificate, and SHA-256 fingerprints.

use std::{fmt::Write as _, path::Path};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

/// A certificate chain with its private key.
pub(crate) struct Identity {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
}

/// Reads a certificate chain from `cert` and its private key from `key`,
/// both PEM.
pub(crate) fn load(cert: &Path, key: &Path) -> Result<Identity, String> {
    let chain = load_certificates(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|error| {
        format!(
            "--key {}: no usable private key ({error}); give a PEM file with a PKCS#8, PKCS#1 or SEC1 key",
            key.display()
        )
    })?;
    Ok(Identity { chain, key })
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
    })
}

/// Writes `cert` to `path` as PEM, for a client's `--ca`.
pub(crate) fn write_pem(path: &Path, cert: &CertificateDer<'_>) -> Result<(), String> {
    let pem = pem_encode("CERTIFICATE", cert.as_ref());
    std::fs::write(path, pem).map_err(|error| {
        format!(
            "--write-cert {}: cannot write the certificate: {error}",
            path.display()
        )
    })
}

/// The SHA-256 fingerprint of `cert`, as colon-separated upper-case hex.
pub(crate) fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
    let mut out = String::with_capacity(digest.as_ref().len() * 3);
    for (i, byte) in digest.as_ref().iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{byte:02X}");
    }
    out
}

/// `der` in a PEM block labelled `label`, lines of 64 characters.
fn pem_encode(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut base64 = String::with_capacity(der.len().div_ceil(3) * 4);
    for group in der.chunks(3) {
        let bytes = [
            group[0],
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let bits = (u32::from(bytes[0]) << 16) | (u32::from(bytes[1]) << 8) | u32::from(bytes[2]);
        for (i, shift) in [18_u32, 12, 6, 0].into_iter().enumerate() {
            if i <= group.len() {
                let index = usize::try_from((bits >> shift) & 0x3f).unwrap_or(0);
                base64.push(char::from(ALPHABET[index]));
            } else {
                base64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in base64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    let _ = writeln!(out, "-----END {label}-----");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_written_here_is_read_back_by_rustls() {
        let identity = self_signed().unwrap();
        let pem = pem_encode("CERTIFICATE", identity.chain[0].as_ref());
        let back = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert_eq!(back, identity.chain[0]);
    }

    #[test]
    fn base64_pads_short_groups() {
        assert!(pem_encode("X", b"M").contains("\nTQ==\n"));
        assert!(pem_encode("X", b"Ma").contains("\nTWE=\n"));
        assert!(pem_encode("X", b"Man").contains("\nTWFu\n"));
    }

    #[test]
    fn fingerprint_is_32_hex_pairs() {
        let identity = self_signed().unwrap();
        let print = fingerprint(&identity.chain[0]);
        assert_eq!(print.split(':').count(), 32);
    }
}
