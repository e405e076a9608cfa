//! wss end to end with a certificate made in the test, and a hyper server upgrading requests.

#![cfg(all(feature = "rustls", feature = "hyper"))]

use std::sync::Arc;

use tokio::net::TcpListener;
use wsio_tokio::{ClientOptions, CloseCode, Message, Upgrader, accept_with, connect_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_with_a_self_signed_certificate() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = certified.cert.der().clone();
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = acceptor.accept(tcp).await.unwrap();
        let (mut ws, request) = accept_with(tls, &Upgrader::default().with_compression(true))
            .await
            .unwrap();
        assert_eq!(request.path(), "/secure");
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
    let (mut ws, _) = wsio_tokio::tls::connect_with_config(
        &format!("wss://localhost:{port}/secure"),
        options,
        Arc::new(client_config),
    )
    .await
    .unwrap();
    assert!(
        ws.connection().deflate_params().is_some(),
        "compression over TLS too"
    );
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 7) as u8).collect();
    for message in [Message::text("over TLS"), Message::binary(big)] {
        ws.send(message.clone()).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), message);
    }
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_upgrade_end_to_end() {
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let service = service_fn(
                    |mut request: http::Request<hyper::body::Incoming>| async move {
                        let upgrader = Upgrader::default().with_subprotocols(["echo.v1"]);
                        if request.uri().path() != "/ws" {
                            return Ok::<_, std::convert::Infallible>(http::Response::new(
                                Full::new(Bytes::from("a page")),
                            ));
                        }
                        Ok(
                            match wsio_tokio::hyper::upgrade::<_, Full<Bytes>>(
                                &mut request,
                                &upgrader,
                            ) {
                                Ok((response, upgrading)) => {
                                    tokio::spawn(async move {
                                        let mut ws = upgrading.await.unwrap();
                                        while let Some(message) = ws.recv().await {
                                            ws.send(message.unwrap()).await.unwrap();
                                        }
                                    });
                                    response
                                }
                                Err(rejection) => rejection,
                            },
                        )
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    let options = ClientOptions {
        protocols: vec!["echo.v1".into()],
        ..ClientOptions::default()
    };
    let (mut ws, response) = connect_with(&format!("ws://{addr}/ws"), options)
        .await
        .unwrap();
    assert_eq!(
        response.header("sec-websocket-protocol"),
        Some(&b"echo.v1"[..])
    );
    for i in 0..50 {
        let message = Message::text(format!("through hyper {i}"));
        ws.send(message.clone()).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), message);
    }
    ws.close(CloseCode::NORMAL, "").await.unwrap();

    // A plain GET to the WebSocket path is refused by the upgrader with a real HTTP answer.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}
