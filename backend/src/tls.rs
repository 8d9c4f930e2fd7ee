//! https for `serve`: a PEM certificate and key loaded into a rustls acceptor (ring), with
//! errors naming the file, and fingerprints as browsers show them. `ca`: the class CA.

pub mod ca;

use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
pub use tokio_rustls::TlsAcceptor;

/// A certificate and key ready to serve https.
pub struct Loaded {
    pub acceptor: TlsAcceptor,
    /// SHA-256 of the certificate browsers are shown, as they show it.
    pub fingerprint: String,
}

/// Loads `cert` (PEM: the server's certificate first, then any intermediates) and `key` (PEM:
/// PKCS#8, PKCS#1 or SEC1). Every error names the file it is about.
pub fn load(cert: &Path, key: &Path) -> Result<Loaded> {
    let chain = read_certs(cert)?;
    let leaf = x509_parser::parse_x509_certificate(&chain[0])
        .map_err(|e| anyhow!("{}: the first certificate is not valid X.509: {e}", cert.display()))?
        .1;
    if !leaf.validity().is_valid() {
        tracing::warn!(
            "{}: the certificate is valid only from {} to {}: browsers will warn about it",
            cert.display(),
            leaf.validity().not_before,
            leaf.validity().not_after
        );
    }
    let key_der = read_key(key)?;
    // ring has no post-quantum key exchange (hence rustls's deprecation); aws-lc-rs has, but is a
    // C build of minutes. A class LAN's traffic is not worth recording for a future quantum computer.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("the TLS library refused its own defaults")?
        .with_no_client_auth()
        .with_single_cert(chain.clone(), key_der)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => {
                anyhow!("the key in {} does not belong to the certificate in {}", key.display(), cert.display())
            }
            e => anyhow!("cannot serve the certificate {} with the key {}: {e}", cert.display(), key.display()),
        })?;
    // HTTP/1.1 only: the session WebSocket is an HTTP/1.1 upgrade.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Loaded { acceptor: TlsAcceptor::from(Arc::new(config)), fingerprint: fingerprint(&chain[0]) })
}

/// The SHA-256 of `der` as browsers' certificate viewers show it: `AB:CD:…`.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest.as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

fn read_certs(file: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(file).with_context(|| format!("cannot read the certificate file {}", file.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("{}: not a PEM certificate file: {e}", file.display()))?;
    if certs.is_empty() {
        let swapped = if PrivateKeyDer::from_pem_slice(&pem).is_ok() { " (it holds a private key: are --tls-cert and --tls-key swapped?)" } else { "" };
        bail!("{}: no certificate in it: expected a PEM file with '-----BEGIN CERTIFICATE-----'{swapped}", file.display());
    }
    Ok(certs)
}

fn read_key(file: &Path) -> Result<PrivateKeyDer<'static>> {
    let pem = std::fs::read(file).with_context(|| format!("cannot read the key file {}", file.display()))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => anyhow!(
            "{}: no private key in it: expected a PEM file with '-----BEGIN PRIVATE KEY-----' (or EC / RSA PRIVATE KEY)",
            file.display()
        ),
        e => anyhow!("{}: not a PEM private key file: {e}", file.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_is_colon_separated_upper_case_hex_of_sha256() {
        // SHA-256 of the empty input.
        let f = fingerprint(b"");
        assert!(f.starts_with("E3:B0:C4:42:98:FC:1C:14:"), "{f}");
        assert_eq!(f.len(), 32 * 3 - 1);
    }
}
