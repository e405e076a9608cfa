//! wsio-std over real TCP on 127.0.0.1 (port 0).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use wsio_std::{
    ClientOptions, CloseCode, CloseFrame, Config, Message, MessageKind, Upgrader, WebSocket,
    accept_with, connect_with,
};

const SIZES: [usize; 6] = [0, 125, 126, 65535, 65536, 16 << 20];

fn big_limits() -> Config {
    Config {
        max_frame_size: 64 << 20,
        max_message_size: 512 << 20,
        ..Config::default()
    }
}

/// Starts a server thread that runs `handler` on one accepted connection; returns its URL.
fn serve<F, T>(upgrader: Upgrader, handler: F) -> (String, thread::JoinHandle<T>)
where
    F: FnOnce(WebSocket<TcpStream>) -> T + Send + 'static,
    T: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let (ws, _request) = accept_with(stream, &upgrader).unwrap();
        handler(ws)
    });
    (url, handle)
}

fn echo<S: wsio_std::Stream>(mut ws: WebSocket<S>) {
    while let Some(message) = ws.read_message().unwrap() {
        ws.send(message).unwrap();
    }
}

fn client_options(config: Config) -> ClientOptions {
    ClientOptions {
        config,
        ..ClientOptions::default()
    }
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn echo_of_every_size_both_kinds_both_directions() {
    for compression in [false, true] {
        let mut config = big_limits();
        config.deflate.enabled = compression;
        let (url, server) = serve(Upgrader::default().with_config(config.clone()), echo);
        let (mut ws, _) = connect_with(&url, client_options(config)).unwrap();
        assert_eq!(ws.connection().deflate_params().is_some(), compression);
        for len in SIZES {
            let text = Message::text("é".repeat(len / 2) + &"a".repeat(len % 2));
            let binary = Message::binary(payload(len));
            for message in [text, binary] {
                ws.send(message.clone()).unwrap();
                assert_eq!(ws.read_message().unwrap(), Some(message), "len {len}");
            }
        }
        ws.close(CloseCode::NORMAL, "done").unwrap();
        server.join().unwrap();
    }
}

#[test]
fn a_256_mib_message_streams_through_bounded_buffers() {
    const TOTAL: usize = 256 << 20;
    let config = Config {
        max_message_size: 1 << 30,
        ..Config::default()
    };
    let (url, server) = serve(Upgrader::default().with_config(config.clone()), |mut ws| {
        let mut reader = ws.next_reader().unwrap().expect("a message");
        assert_eq!(reader.kind(), MessageKind::Binary);
        let mut buf = vec![0; 64 << 10];
        let (mut total, mut expected_byte) = (0usize, 0u8);
        let mut worst = wsio_core::BufferStats::default();
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            for &b in &buf[..n] {
                assert_eq!(b, expected_byte, "byte {total}");
                expected_byte = expected_byte.wrapping_add(1);
                total += 1;
            }
            let stats = reader.buffer_stats();
            worst.read_capacity = worst.read_capacity.max(stats.read_capacity);
            worst.read_buffered = worst.read_buffered.max(stats.read_buffered);
            worst.message_buffered = worst.message_buffered.max(stats.message_buffered);
        }
        drop(reader);
        ws.send(Message::text(total.to_string())).unwrap();
        while ws.read_message().unwrap().is_some() {}
        worst
    });
    let (mut ws, _) = connect_with(&url, client_options(config)).unwrap();
    let mut writer = ws.next_writer(MessageKind::Binary).unwrap();
    let chunk: Vec<u8> = (0..1 << 20).map(|i| i as u8).collect();
    let mut worst_out = wsio_core::BufferStats::default();
    for _ in 0..TOTAL / chunk.len() {
        // Written in 64 KiB pieces, as an application copying a file would.
        for piece in chunk.chunks(64 << 10) {
            writer.write_all(piece).unwrap();
            let stats = writer.buffer_stats();
            worst_out.output_pending = worst_out.output_pending.max(stats.output_pending);
            worst_out.write_buffered = worst_out.write_buffered.max(stats.write_buffered);
        }
    }
    writer.finish().unwrap();
    assert_eq!(
        ws.read_message().unwrap(),
        Some(Message::text(TOTAL.to_string()))
    );
    ws.close(CloseCode::NORMAL, "").unwrap();
    let worst_in = server.join().unwrap();
    // Sender: at most one fragment (64 KiB) waits to be framed, and output is written out
    // once a write buffer (4 KiB) is queued, so at most one fragment and its header wait.
    assert!(worst_out.write_buffered <= 64 << 10, "{worst_out:?}");
    assert!(worst_out.output_pending <= (64 << 10) + 14, "{worst_out:?}");
    // Receiver: only what one read brought in; nothing assembled.
    assert!(
        worst_in.read_buffered <= 4096 && worst_in.read_capacity <= 64 << 10,
        "{worst_in:?}"
    );
    assert_eq!(worst_in.message_buffered, 0);
}

#[test]
fn read_timeout_in_the_middle_of_a_message_then_the_rest() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (go_on, wait) = mpsc::channel::<()>();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let (mut ws, _) = accept_with(stream, &Upgrader::default()).unwrap();
        ws.set_read_timeout(Some(Duration::from_millis(200)));
        let started = Instant::now();
        let error = ws.read_message().unwrap_err();
        assert!(error.is_timeout(), "{error}");
        assert!(started.elapsed() >= Duration::from_millis(150));
        go_on.send(()).unwrap();
        ws.set_read_timeout(None);
        ws.read_message().unwrap()
    });
    // A hand-made client that sends half a frame, waits, then the rest.
    let mut tcp = TcpStream::connect(addr).unwrap();
    let handshake = wsio_core::handshake::ClientHandshake::new(
        &format!("ws://{addr}/"),
        ClientOptions::default(),
    )
    .unwrap();
    tcp.write_all(&handshake.request_bytes()).unwrap();
    let mut response = [0u8; 1024];
    let _ = tcp.read(&mut response).unwrap();
    let mut frame = vec![0x81, 0x8B, 0, 0, 0, 0];
    frame.extend_from_slice(b"hello world");
    tcp.write_all(&frame[..10]).unwrap();
    wait.recv().unwrap();
    tcp.write_all(&frame[10..]).unwrap();
    assert_eq!(server.join().unwrap(), Some(Message::text("hello world")));
}

#[test]
fn split_halves_exchange_10000_messages_while_pings_arrive() {
    const N: usize = 10_000;
    // The server echoes and pings the client all the while.
    let (url, server) = serve(Upgrader::default(), |ws| {
        let (mut reader, mut writer) = ws.split().unwrap();
        let pinger = thread::spawn(move || {
            let mut count = 0;
            while let Some(message) = reader.read_message().unwrap() {
                count += 1;
                let _ = message;
            }
            count
        });
        for i in 0..N {
            if i % 10 == 0 {
                writer.ping(&(i as u32).to_be_bytes()).unwrap();
            }
            writer
                .write_message(Message::text(format!("server {i}")))
                .unwrap();
        }
        writer.flush().unwrap();
        let received = pinger.join().unwrap();
        (received, writer)
    });
    let (ws, _) = connect_with(&url, ClientOptions::default()).unwrap();
    let (mut reader, mut writer) = ws.split().unwrap();
    let sender = thread::spawn(move || {
        for i in 0..N {
            writer
                .write_message(Message::text(format!("client {i}")))
                .unwrap();
        }
        writer.flush().unwrap();
        writer
    });
    for i in 0..N {
        assert_eq!(
            reader.read_message().unwrap(),
            Some(Message::text(format!("server {i}")))
        );
    }
    let mut writer = sender.join().unwrap();
    writer.close(CloseCode::NORMAL, "all sent").unwrap();
    assert_eq!(
        reader.read_message().unwrap(),
        None,
        "the server echoed our close"
    );
    let (received, _) = server.join().unwrap();
    assert_eq!(received, N, "every client message arrived once");
}

#[test]
fn close_from_either_side_delivers_code_and_reason() {
    // Client closes.
    let (url, server) = serve(Upgrader::default(), |mut ws| {
        assert_eq!(ws.read_message().unwrap(), None);
        ws.peer_close().unwrap().cloned()
    });
    let (mut ws, _) = connect_with(&url, ClientOptions::default()).unwrap();
    ws.close(CloseCode(4000), "client done").unwrap();
    assert_eq!(
        server.join().unwrap(),
        Some(CloseFrame::new(CloseCode(4000), "client done"))
    );
    assert_eq!(
        ws.peer_close(),
        Some(Some(&CloseFrame::new(CloseCode(4000), "")))
    );

    // Server closes.
    let (url, server) = serve(Upgrader::default(), |mut ws| {
        ws.close(CloseCode::GOING_AWAY, "server shutting down")
            .unwrap();
    });
    let (mut ws, _) = connect_with(&url, ClientOptions::default()).unwrap();
    assert_eq!(ws.read_message().unwrap(), None);
    assert_eq!(
        ws.peer_close(),
        Some(Some(&CloseFrame::new(
            CloseCode::GOING_AWAY,
            "server shutting down"
        )))
    );
    server.join().unwrap();
}

#[test]
fn a_peer_that_never_answers_the_close_is_dropped_after_the_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let config = Config {
            close_timeout: Duration::from_millis(300),
            ..Config::default()
        };
        let (mut ws, _) = accept_with(stream, &Upgrader::default().with_config(config)).unwrap();
        let started = Instant::now();
        let result = ws.close(CloseCode::NORMAL, "");
        (result.map_err(|e| e.to_string()), started.elapsed())
    });
    // A client that completes the handshake, then never reads or answers.
    let mut tcp = TcpStream::connect(addr).unwrap();
    let handshake = wsio_core::handshake::ClientHandshake::new(
        &format!("ws://{addr}/"),
        ClientOptions::default(),
    )
    .unwrap();
    tcp.write_all(&handshake.request_bytes()).unwrap();
    let (result, elapsed) = server.join().unwrap();
    let error = result.unwrap_err();
    assert!(error.contains("close handshake"), "{error}");
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    // And the transport was ended: the client sees the close frame, then the end of stream.
    let mut rest = Vec::new();
    tcp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    tcp.read_to_end(&mut rest).unwrap();
    assert!(rest.ends_with(&[0x88, 0x02, 0x03, 0xE8]), "{rest:?}");
}

#[test]
fn an_idle_reader_answers_pings_at_once() {
    let (url, server) = serve(Upgrader::default(), |mut ws| {
        // Only reads: the pong must still go out.
        ws.read_message().unwrap()
    });
    let (mut ws, _) = connect_with(&url, ClientOptions::default()).unwrap();
    let (tx, rx) = mpsc::channel();
    ws.set_pong_handler(Some(Box::new(move |p: &bytes::Bytes| {
        tx.send(p.clone()).unwrap()
    })));
    ws.ping(b"anyone?").unwrap();
    ws.set_read_timeout(Some(Duration::from_secs(5)));
    // Reading runs the pong handler; no message arrives, so the read times out.
    let _ = ws.read_message();
    assert_eq!(rx.try_recv().unwrap(), &b"anyone?"[..]);
    ws.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(server.join().unwrap(), None);
}

#[test]
fn heartbeat_pings_an_idle_peer() {
    let config = Config {
        ping_interval: Some(Duration::from_millis(50)),
        pong_timeout: Duration::from_millis(500),
        ..Config::default()
    };
    let (url, server) = serve(Upgrader::default().with_config(config), |mut ws| {
        ws.read_message().map_err(|e| e.to_string())
    });
    let (mut ws, _) = connect_with(&url, ClientOptions::default()).unwrap();
    let (tx, rx) = mpsc::channel();
    ws.set_ping_handler(Some(Box::new(move |p: &bytes::Bytes| {
        let _ = tx.send(());
        Some(p.clone())
    })));
    ws.set_read_timeout(Some(Duration::from_millis(400)));
    let _ = ws.read_message();
    assert!(rx.try_iter().count() >= 3, "pings every 50 ms while idle");
    // Now stop answering: the server gives up after the pong deadline.
    ws.set_ping_handler(Some(Box::new(|_: &bytes::Bytes| None)));
    ws.set_read_timeout(Some(Duration::from_secs(3)));
    let _ = ws.read_message();
    let outcome = server.join().unwrap();
    assert!(
        outcome.unwrap_err().contains("pong"),
        "heartbeat failure reported"
    );
}

#[cfg(feature = "rustls")]
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
