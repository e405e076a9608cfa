//! The TLS client configuration every runtime uses for `wss://` (feature `rustls`).
//!
//! No I/O happens here: this only builds rustls's configuration, once, for the std, tokio and
//! smol adapters alike.

use std::sync::Arc;

/// A rustls client configuration trusting the Mozilla root certificates (webpki-roots), with
/// the ring crypto provider and rustls's safe default protocol versions.
pub fn default_client_config() -> Arc<rustls::ClientConfig> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}
