//! rustls serving: a client that trusts the certificate gets answers; plain HTTP to the TLS
//! port gets none; bad certificate or key files are named.

mod common;

use common::*;
use std::io::{Read, Write};
use std::sync::Arc;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

fn https_get(addr: &str, cert_pem: &str, path: &str) -> String {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap()).unwrap();
    let mut sock = std::net::TcpStream::connect(addr).unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    write!(tls, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = tls.read_to_string(&mut out);
    out
}

#[test]
fn the_server_speaks_tls_with_the_given_certificate() {
    let (cert, key) = rollguard_server::tls::self_signed(&["localhost"]).unwrap();
    let config = rollguard_server::tls::config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    let s = start_with(test_config(), accounts_config(), Some(config));
    let addr = s.base.trim_start_matches("http://").to_owned();
    let r = https_get(&addr, &cert, "/healthz");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.ends_with("ok"), "{r}");
    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut plain = std::net::TcpStream::connect(&addr).unwrap();
    plain.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    write!(plain, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = plain.read_to_end(&mut buf);
    assert!(!String::from_utf8_lossy(&buf).contains("HTTP/1.1 200"));
    // A client that does not trust the certificate cannot connect.
    let (other, _) = rollguard_server::tls::self_signed(&["localhost"]).unwrap();
    let r = std::panic::catch_unwind(|| https_get(&addr, &other, "/healthz"));
    assert!(r.map(|s| s.is_empty()).unwrap_or(true));
}

#[test]
fn bad_certificate_and_key_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = rollguard_server::tls::self_signed(&["localhost"]).unwrap();
    let (c, k) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    std::fs::write(&c, "not a certificate").unwrap();
    std::fs::write(&k, &key).unwrap();
    let e = rollguard_server::tls::config_from_pem_files(&c, &k).unwrap_err().to_string();
    assert!(e.starts_with(&c.display().to_string()), "{e}");
    std::fs::write(&c, &cert).unwrap();
    std::fs::write(&k, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
    let e = rollguard_server::tls::config_from_pem_files(&c, &k).unwrap_err().to_string();
    assert!(e.contains("server.key") || e.contains("key"), "{e}");
    let missing = dir.path().join("missing.crt");
    let e = rollguard_server::tls::config_from_pem_files(&missing, &k).unwrap_err().to_string();
    assert!(e.contains("missing.crt"), "{e}");
    // A key that belongs to another certificate.
    let (_, other_key) = rollguard_server::tls::self_signed(&["localhost"]).unwrap();
    std::fs::write(&k, &other_key).unwrap();
    assert!(rollguard_server::tls::config_from_pem_files(&c, &k).is_err());
}
