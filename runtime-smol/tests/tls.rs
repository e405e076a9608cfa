//! wss with wsio-smol: a certificate made in the test, futures-rustls on both ends. The
//! runtime-neutral behaviour is covered by the shared suite in `tests/`.

#![cfg(feature = "rustls")]

use std::sync::Arc;

use smol::net::TcpListener;
use wsio_smol::{ClientOptions, CloseCode, Message, Upgrader, accept_with};

#[test]
fn wss_with_a_self_signed_certificate() {
    smol::block_on(async {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = certified.cert.der().clone();
        let key = rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der())
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        let acceptor = futures_rustls::TlsAcceptor::from(Arc::new(server_config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = smol::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let tls = acceptor.accept(tcp).await.unwrap();
            let (mut ws, _) = accept_with(tls, &Upgrader::default().with_compression(true))
                .await
                .unwrap();
            while let Some(message) = ws.recv().await {
                ws.send(message.unwrap()).await.unwrap();
            }
        });
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let client_config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut options = ClientOptions::default();
        options.config.deflate.enabled = true;
        let url = format!("wss://localhost:{port}/");
        let (mut ws, _) =
            wsio_smol::tls::connect_with_config(&url, options, Arc::new(client_config))
                .await
                .unwrap();
        assert!(ws.connection().deflate_params().is_some());
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 7) as u8).collect();
        for message in [Message::text("over TLS on smol"), Message::binary(big)] {
            ws.send(message.clone()).await.unwrap();
            assert_eq!(ws.recv().await.unwrap().unwrap(), message);
        }
        ws.close(CloseCode::NORMAL, "").await.unwrap();
        server.await;
    });
}
