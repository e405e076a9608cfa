//! wss with wsio-std: a certificate made in the test, rustls on both ends, real TCP on
//! 127.0.0.1. The runtime-neutral behaviour is covered by the shared suite in `tests/`.

#![cfg(feature = "rustls")]

use std::net::TcpListener;
use std::thread;

use wsio_std::{ClientOptions, CloseCode, Message, Upgrader, WebSocket, accept_with};

fn echo<S: wsio_std::Stream>(mut ws: WebSocket<S>) {
    while let Some(message) = ws.read_message().unwrap() {
        ws.send(message).unwrap();
    }
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn wss_end_to_end_with_a_self_signed_certificate() {
    use std::sync::Arc;
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_der = certified.cert.der().clone();
    let key_der =
        rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key_der)
        .unwrap();
    let server_config = Arc::new(server_config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let tls =
            rustls::StreamOwned::new(rustls::ServerConnection::new(server_config).unwrap(), tcp);
        let (ws, _) = accept_with(tls, &Upgrader::default()).unwrap();
        echo(ws);
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).unwrap();
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let (mut ws, _) = wsio_std::tls::connect_with_config(
        &format!("wss://localhost:{port}/secure"),
        ClientOptions::default(),
        Arc::new(client_config),
    )
    .unwrap();
    for message in [Message::text("over TLS"), Message::binary(payload(100_000))] {
        ws.send(message.clone()).unwrap();
        assert_eq!(ws.read_message().unwrap(), Some(message));
    }
    ws.close(CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}
