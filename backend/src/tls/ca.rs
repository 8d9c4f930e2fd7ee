//! The class CA (`classbook cert`, `serve --self-signed`): a CA the teacher keeps, made once per
//! directory, and this machine's certificate signed by it for its names and LAN addresses.

use anyhow::{anyhow, bail, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// The CA's certificate: what lab machines install and trust.
pub const CA_CERT: &str = "ca.pem";
/// The CA's key: stays with the teacher; whoever holds it can make certificates lab machines trust.
pub const CA_KEY: &str = "ca-key.pem";
/// This machine's certificate and key: what `serve --tls-cert --tls-key` is given.
pub const CERT: &str = "server.pem";
pub const KEY: &str = "server-key.pem";

/// Ten years: a CA installed on every lab machine should outlive many courses.
const CA_DAYS: i64 = 3650;
/// Under Apple's 825-day limit for any TLS certificate, and the 398 days browsers expect.
const CERT_DAYS: i64 = 397;
/// A certificate with less left than this is made again.
const RENEW_DAYS: i64 = 30;

/// The class CA and this machine's certificate in a directory.
pub struct ClassCerts {
    pub dir: PathBuf,
    /// SHA-256 fingerprints, as browsers show them.
    pub ca_fingerprint: String,
    pub cert_fingerprint: String,
    /// What this call made (the rest was there already and still good).
    pub made_ca: bool,
    pub made_cert: bool,
}

impl ClassCerts {
    pub fn ca(&self) -> PathBuf {
        self.dir.join(CA_CERT)
    }
    pub fn cert(&self) -> PathBuf {
        self.dir.join(CERT)
    }
    pub fn key(&self) -> PathBuf {
        self.dir.join(KEY)
    }
}

/// The names and addresses students may type for this machine: its host name (and
/// `<host>.local`, for mDNS), `localhost`, loopback, every LAN address; then `names` and `ips`.
pub fn this_machine(names: &[String], ips: &[IpAddr]) -> (Vec<String>, Vec<IpAddr>) {
    let mut all_names = Vec::new();
    if let Some(host) = host_name() {
        if !host.contains('.') {
            all_names.push(format!("{host}.local"));
        }
        all_names.insert(0, host);
    }
    all_names.push("localhost".to_string());
    let mut all_ips = vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)];
    all_ips.extend(crate::class::lan_addresses());
    for name in names {
        match name.parse::<IpAddr>() {
            Ok(ip) => all_ips.push(ip),
            Err(_) => all_names.push(name.to_ascii_lowercase()),
        }
    }
    all_ips.extend_from_slice(ips);
    dedup(&mut all_names);
    dedup(&mut all_ips);
    (all_names, all_ips)
}

/// Makes the class CA in `dir` unless it is there, and a certificate signed by it for `names`
/// and `ips` unless the one there covers them all, is the CA's and has 30 days left.
pub fn ensure(dir: &Path, names: &[String], ips: &[IpAddr]) -> Result<ClassCerts> {
    create_private_dir(dir)?;
    let (ca_der, ca_key, made_ca) = ca(dir)?;
    let issuer = Issuer::from_ca_cert_der(&ca_der.clone().into(), ca_key)
        .map_err(|e| anyhow!("{}: cannot sign with this CA: {e}", dir.join(CA_CERT).display()))?;
    let (cert_der, made_cert) = match current_cert(dir, &ca_der, names, ips) {
        Some(der) => (der, false),
        None => (new_cert(dir, &issuer, names, ips)?, true),
    };
    Ok(ClassCerts {
        dir: dir.to_path_buf(),
        ca_fingerprint: super::fingerprint(&ca_der),
        cert_fingerprint: super::fingerprint(&cert_der),
        made_ca,
        made_cert,
    })
}

/// The CA's certificate (DER) and key: the ones in `dir`, or new ones written there.
fn ca(dir: &Path) -> Result<(Vec<u8>, KeyPair, bool)> {
    let (cert_file, key_file) = (dir.join(CA_CERT), dir.join(CA_KEY));
    match (cert_file.exists(), key_file.exists()) {
        (true, true) => {
            let der = read_cert(&cert_file)?;
            let key = read_key(&key_file)?;
            let (_, parsed) = x509_parser::parse_x509_certificate(&der)
                .map_err(|e| anyhow!("{}: not a valid certificate: {e}", cert_file.display()))?;
            if parsed.public_key().raw != key.subject_public_key_info().as_slice() {
                bail!("{} does not belong to {}: put the CA's own key beside it", key_file.display(), cert_file.display());
            }
            Ok((der, key, false))
        }
        (false, false) => {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::default();
            params.distinguished_name = name(&format!("classbook class CA ({})", host_name().unwrap_or_default()));
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
            (params.not_before, params.not_after) = valid_for(CA_DAYS);
            let cert = params.self_signed(&key)?;
            write_file(&key_file, &key.serialize_pem(), true)?;
            write_file(&cert_file, &cert.pem(), false)?;
            Ok((cert.der().to_vec(), key, true))
        }
        (true, false) => bail!(
            "{} is there but its key {} is not: without it the CA cannot sign (move ca.pem away to make a new CA, \
             which every lab machine must then install again)",
            cert_file.display(),
            key_file.display()
        ),
        (false, true) => bail!("{} is there without its certificate {}", key_file.display(), cert_file.display()),
    }
}

/// The certificate in `dir` when it is signed by the CA, its key is beside it, it covers
/// `names` and `ips`, and has [`RENEW_DAYS`] left; its DER.
fn current_cert(dir: &Path, ca_der: &[u8], names: &[String], ips: &[IpAddr]) -> Option<Vec<u8>> {
    let der = read_cert(&dir.join(CERT)).ok()?;
    let key = read_key(&dir.join(KEY)).ok()?;
    let (_, ca) = x509_parser::parse_x509_certificate(ca_der).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    cert.verify_signature(Some(ca.public_key())).ok()?;
    if cert.public_key().raw != key.subject_public_key_info().as_slice() {
        return None;
    }
    let left = cert.validity().time_to_expiration()?;
    if left < Duration::days(RENEW_DAYS) {
        return None;
    }
    let (have_names, have_ips) = alt_names(&der).ok()?;
    let covered = names.iter().all(|n| have_names.contains(n)) && ips.iter().all(|ip| have_ips.contains(ip));
    covered.then_some(der)
}

/// Makes and writes this machine's certificate and key, signed by `issuer`; its DER.
fn new_cert(dir: &Path, issuer: &Issuer<'_, KeyPair>, names: &[String], ips: &[IpAddr]) -> Result<Vec<u8>> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = name(names.first().map(String::as_str).unwrap_or("classbook"));
    for n in names {
        let dns = n.clone().try_into().map_err(|e| anyhow!("'{n}' cannot be a name in a certificate: {e}"))?;
        params.subject_alt_names.push(SanType::DnsName(dns));
    }
    params.subject_alt_names.extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    (params.not_before, params.not_after) = valid_for(CERT_DAYS);
    let cert = params.signed_by(&key, issuer)?;
    write_file(&dir.join(KEY), &key.serialize_pem(), true)?;
    write_file(&dir.join(CERT), &cert.pem(), false)?;
    Ok(cert.der().to_vec())
}

/// The DNS names and IP addresses a certificate (DER) is for.
pub fn alt_names(der: &[u8]) -> Result<(Vec<String>, Vec<IpAddr>)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| anyhow!("not a valid certificate: {e}"))?;
    let (mut names, mut ips) = (Vec::new(), Vec::new());
    let Some(san) = cert.subject_alternative_name().map_err(|e| anyhow!("bad subject alternative names: {e}"))? else {
        return Ok((names, ips));
    };
    for general in &san.value.general_names {
        match general {
            x509_parser::extensions::GeneralName::DNSName(n) => names.push(n.to_string()),
            x509_parser::extensions::GeneralName::IPAddress(b) => match b.len() {
                4 => ips.push(IpAddr::from(<[u8; 4]>::try_from(*b).expect("4 bytes"))),
                16 => ips.push(IpAddr::from(<[u8; 16]>::try_from(*b).expect("16 bytes"))),
                _ => {}
            },
            _ => {}
        }
    }
    Ok((names, ips))
}

/// This machine's host name, lower case (certificates compare names without case).
pub fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into our buffer.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let host = std::str::from_utf8(&buf[..end]).ok()?.trim().to_ascii_lowercase();
    (!host.is_empty() && host != "localhost").then_some(host)
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "classbook");
    dn.push(DnType::CommonName, common_name);
    dn
}

/// From a day ago (a lab machine's clock may be behind) for `days`.
fn valid_for(days: i64) -> (OffsetDateTime, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    (now - Duration::days(1), now + Duration::days(days))
}

fn read_cert(file: &Path) -> Result<Vec<u8>> {
    use tokio_rustls::rustls::pki_types::{pem::PemObject, CertificateDer};
    let pem = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let der = CertificateDer::from_pem_slice(&pem).map_err(|e| anyhow!("{}: no PEM certificate in it ({e})", file.display()))?;
    Ok(der.to_vec())
}

fn read_key(file: &Path) -> Result<KeyPair> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    KeyPair::from_pem(&text).map_err(|e| anyhow!("{}: not a private key classbook can use: {e}", file.display()))
}

fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot make the directory {}", dir.display()))
}

/// Writes `text` to `file` whole (a new file renamed over the old), keys readable by us only.
fn write_file(file: &Path, text: &str, private: bool) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = file.with_extension("pem.new");
    let _ = std::fs::remove_file(&tmp);
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    out.write_all(text.as_bytes()).and_then(|()| out.sync_all()).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, file).with_context(|| format!("cannot write {}", file.display()))
}

fn dedup<T: PartialEq>(items: &mut Vec<T>) {
    let mut seen = Vec::with_capacity(items.len());
    for item in items.drain(..) {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    *items = seen;
}
