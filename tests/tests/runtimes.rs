//! One behavioural suite, run on every runtime (std, tokio, smol): real TCP on 127.0.0.1.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use wsio_core::{CloseCode, CloseFrame, Config, Message, MessageKind};
use wsio_std::{ClientOptions, Upgrader};
use wsio_tests::{Conn, Runtime, Smol, Std, Tokio};

const SIZES: [usize; 6] = [0, 125, 126, 65535, 65536, 16 << 20];

fn big_limits(compression: bool) -> Config {
    let mut config = Config {
        max_frame_size: 64 << 20,
        max_message_size: 1 << 30,
        ..Config::default()
    };
    config.deflate.enabled = compression;
    config
}

fn options(config: Config) -> ClientOptions {
    ClientOptions {
        config,
        ..ClientOptions::default()
    }
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn echo(mut conn: Box<dyn Conn>) {
    while let Some(message) = conn.recv() {
        conn.send(message.expect("a message")).expect("echo");
    }
}

/// A raw client that completes the opening handshake and then speaks bytes by hand, so that
/// nothing of ours can act on the server's behalf.
fn raw_client(url: &str) -> TcpStream {
    let addr = url.trim_start_matches("ws://").trim_end_matches('/');
    let mut tcp = TcpStream::connect(addr).unwrap();
    let handshake =
        wsio_core::handshake::ClientHandshake::new(url, ClientOptions::default()).unwrap();
    tcp.write_all(&handshake.request_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    tcp
}

/// A masked client frame, built by hand.
fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x11, 0x22, 0x33, 0x44];
    assert!(payload.len() < 126);
    let mut frame = vec![first, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

pub fn echo_of_every_size_both_kinds<R: Runtime>() {
    for compression in [false, true] {
        let (url, server) = R::serve(
            Upgrader::default().with_config(big_limits(compression)),
            echo,
        );
        let mut conn = R::connect(&url, options(big_limits(compression))).unwrap();
        assert_eq!(conn.compressed(), compression, "{}", R::NAME);
        for len in SIZES {
            let text = Message::text("é".repeat(len / 2) + &"a".repeat(len % 2));
            for message in [text, Message::binary(payload(len))] {
                conn.send(message.clone()).unwrap();
                assert_eq!(
                    conn.recv().unwrap().unwrap(),
                    message,
                    "{} len {len}",
                    R::NAME
                );
            }
        }
        conn.close(CloseCode::NORMAL, "done").unwrap();
        server.join().unwrap();
    }
}

pub fn split_halves_exchange_10000_messages_while_pings_arrive<R: Runtime>() {
    const N: usize = 10_000;
    let (url, server) = R::serve(Upgrader::default(), |conn| {
        let (mut reader, mut writer) = conn.split();
        let reading = thread::spawn(move || {
            let mut got = Vec::new();
            while let Some(message) = reader.recv() {
                got.push(message.unwrap());
            }
            got
        });
        for i in 0..N {
            if i % 10 == 0 {
                writer.ping(&(i as u32).to_be_bytes()).unwrap();
            }
            writer.feed(Message::text(format!("server {i}"))).unwrap();
        }
        writer.flush().unwrap();
        reading.join().unwrap()
    });
    let conn = R::connect(&url, ClientOptions::default()).unwrap();
    let (mut reader, mut writer) = conn.split();
    let sending = thread::spawn(move || {
        for i in 0..N {
            writer.feed(Message::text(format!("client {i}"))).unwrap();
        }
        writer.flush().unwrap();
        writer
    });
    for i in 0..N {
        assert_eq!(
            reader.recv().unwrap().unwrap(),
            Message::text(format!("server {i}")),
            "{}",
            R::NAME
        );
    }
    let mut writer = sending.join().unwrap();
    writer.close(CloseCode::NORMAL, "all sent").unwrap();
    assert!(
        reader.recv().is_none(),
        "{}: our close was answered",
        R::NAME
    );
    let got = server.join().unwrap();
    let expected: Vec<Message> = (0..N)
        .map(|i| Message::text(format!("client {i}")))
        .collect();
    assert_eq!(got, expected, "{}: every message once, in order", R::NAME);
}

pub fn a_256_mib_message_streams_through_bounded_buffers<R: Runtime>() {
    const CHUNK: usize = 64 << 10;
    const COUNT: usize = (256 << 20) / CHUNK;
    let config = big_limits(false);
    let (url, server) = R::serve(
        Upgrader::default().with_config(config.clone()),
        |mut conn| {
            let mut expected = 0u8;
            let mut ok = true;
            let streamed = conn
                .stream_in(&mut |piece| {
                    for &b in piece {
                        ok &= b == expected;
                        expected = expected.wrapping_add(1);
                    }
                })
                .unwrap()
                .expect("a message");
            conn.send(Message::text(format!("{} {ok}", streamed.len)))
                .unwrap();
            while conn.recv().is_some() {}
            streamed
        },
    );
    let mut conn = R::connect(&url, options(config)).unwrap();
    let chunk: Vec<u8> = (0..CHUNK).map(|i| i as u8).collect();
    let out = conn.stream_out(MessageKind::Binary, &chunk, COUNT).unwrap();
    assert_eq!(
        conn.recv().unwrap().unwrap(),
        Message::text(format!("{} true", CHUNK * COUNT))
    );
    conn.close(CloseCode::NORMAL, "").unwrap();
    let streamed = server.join().unwrap();
    assert_eq!(streamed.kind, MessageKind::Binary);
    // Sender: at most one fragment waits to be framed, and output waits for the socket once
    // a write buffer is queued: at most that, one write's fragment and headers.
    assert!(out.write_buffered <= 64 << 10, "{}: {out:?}", R::NAME);
    assert!(
        out.output_pending <= 4096 + (64 << 10) + 28,
        "{}: {out:?}",
        R::NAME
    );
    // Receiver: only what reads brought in, nothing assembled.
    assert!(
        streamed.worst.read_capacity <= 64 << 10,
        "{}: {:?}",
        R::NAME,
        streamed.worst
    );
    assert_eq!(streamed.worst.message_buffered, 0, "{}", R::NAME);
}

pub fn a_read_that_gives_up_mid_message_continues_later<R: Runtime>() {
    let (go_on, wait) = mpsc::channel::<()>();
    let (url, server) = R::serve(Upgrader::default(), move |mut conn| {
        let started = Instant::now();
        assert!(
            conn.recv_within(Duration::from_millis(200)).is_none(),
            "timed out"
        );
        assert!(started.elapsed() >= Duration::from_millis(150));
        go_on.send(()).unwrap();
        conn.recv().unwrap().unwrap()
    });
    let mut tcp = raw_client(&url);
    let frame = client_frame(0x81, b"hello world");
    tcp.write_all(&frame[..10]).unwrap();
    wait.recv().unwrap();
    tcp.write_all(&frame[10..]).unwrap();
    assert_eq!(
        server.join().unwrap(),
        Message::text("hello world"),
        "{}",
        R::NAME
    );
}

pub fn close_from_either_side_delivers_code_and_reason<R: Runtime>() {
    let (url, server) = R::serve(Upgrader::default(), |mut conn| {
        assert!(conn.recv().is_none());
        conn.peer_close().unwrap()
    });
    let mut conn = R::connect(&url, ClientOptions::default()).unwrap();
    conn.close(CloseCode(4000), "client done").unwrap();
    assert_eq!(
        server.join().unwrap(),
        Some(CloseFrame::new(CloseCode(4000), "client done")),
        "{}",
        R::NAME
    );
    assert_eq!(
        conn.peer_close(),
        Some(Some(CloseFrame::new(CloseCode(4000), ""))),
        "{}: echo",
        R::NAME
    );

    let (url, server) = R::serve(Upgrader::default(), |mut conn| {
        conn.close(CloseCode::GOING_AWAY, "server leaving").unwrap();
    });
    let mut conn = R::connect(&url, ClientOptions::default()).unwrap();
    assert!(conn.recv().is_none());
    let expected = CloseFrame::new(CloseCode::GOING_AWAY, "server leaving");
    assert_eq!(conn.peer_close(), Some(Some(expected)), "{}", R::NAME);
    server.join().unwrap();
}

pub fn a_silent_peer_is_dropped_after_the_close_timeout<R: Runtime>() {
    let config = Config {
        close_timeout: Duration::from_millis(300),
        ..Config::default()
    };
    let (url, server) = R::serve(Upgrader::default().with_config(config), |mut conn| {
        let started = Instant::now();
        let result = conn.close(CloseCode::NORMAL, "").map_err(|e| e.to_string());
        (result, started.elapsed())
    });
    let mut tcp = raw_client(&url);
    let (result, elapsed) = server.join().unwrap();
    assert!(
        result.unwrap_err().contains("close handshake"),
        "{}",
        R::NAME
    );
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3),
        "{}: {elapsed:?}",
        R::NAME
    );
    // The close frame was sent and the transport ended.
    tcp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut rest = Vec::new();
    tcp.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, [0x88, 0x02, 0x03, 0xE8], "{}", R::NAME);
}

pub fn an_idle_reader_answers_a_ping_at_once<R: Runtime>() {
    let (url, server) = R::serve(Upgrader::default(), |mut conn| {
        conn.recv().map(|m| m.is_ok())
    });
    let mut tcp = raw_client(&url);
    tcp.write_all(&client_frame(0x89, b"ping")).unwrap();
    let mut pong = [0u8; 6];
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.read_exact(&mut pong).unwrap();
    assert_eq!(pong, [0x8A, 0x04, b'p', b'i', b'n', b'g'], "{}", R::NAME);
    tcp.write_all(&client_frame(0x88, &1000u16.to_be_bytes()))
        .unwrap();
    assert_eq!(server.join().unwrap(), None, "{}", R::NAME);
}

pub fn heartbeat_pings_an_idle_peer_and_drops_a_dead_one<R: Runtime>() {
    let config = Config {
        ping_interval: Some(Duration::from_millis(50)),
        pong_timeout: Duration::from_millis(400),
        ..Config::default()
    };
    let (url, server) = R::serve(Upgrader::default().with_config(config), |mut conn| {
        conn.recv().map(|m| m.map_err(|e| e.to_string()))
    });
    let mut conn = R::connect(&url, ClientOptions::default()).unwrap();
    let (tx, rx) = mpsc::channel();
    conn.set_ping_handler(Some(Box::new(move |p: &Bytes| {
        let _ = tx.send(());
        Some(p.clone())
    })));
    assert!(conn.recv_within(Duration::from_millis(400)).is_none());
    assert!(rx.try_iter().count() >= 3, "{}: pings every 50 ms", R::NAME);
    // Now stop answering: the server gives up after the pong deadline.
    conn.set_ping_handler(Some(Box::new(|_: &Bytes| None)));
    let _ = conn.recv_within(Duration::from_secs(3));
    let outcome = server.join().unwrap();
    let error = outcome.expect("an error, not the end").unwrap_err();
    assert!(error.contains("pong"), "{}: {error}", R::NAME);
}

pub fn custom_handlers_replace_the_defaults<R: Runtime>() {
    let (url, server) = R::serve(Upgrader::default(), |mut conn| {
        conn.set_ping_handler(Some(Box::new(|p: &Bytes| {
            Some(Bytes::from([b"re: ", &p[..]].concat()))
        })));
        while conn.recv().is_some() {}
    });
    let mut conn = R::connect(&url, ClientOptions::default()).unwrap();
    let (tx, rx) = mpsc::channel();
    conn.set_pong_handler(Some(Box::new(move |p: &Bytes| tx.send(p.clone()).unwrap())));
    conn.ping(b"x").unwrap();
    assert!(conn.recv_within(Duration::from_millis(300)).is_none());
    assert_eq!(
        rx.try_recv().unwrap(),
        Bytes::from_static(b"re: x"),
        "{}",
        R::NAME
    );
    conn.close(CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}

macro_rules! suite {
    ($($module:ident => $runtime:ty),* $(,)?) => {$(
        mod $module {
            use super::*;
            #[test] fn echo_of_every_size_both_kinds() { super::echo_of_every_size_both_kinds::<$runtime>() }
            #[test] fn split_halves_exchange_10000_messages_while_pings_arrive() {
                super::split_halves_exchange_10000_messages_while_pings_arrive::<$runtime>()
            }
            #[test] fn a_256_mib_message_streams_through_bounded_buffers() {
                super::a_256_mib_message_streams_through_bounded_buffers::<$runtime>()
            }
            #[test] fn a_read_that_gives_up_mid_message_continues_later() {
                super::a_read_that_gives_up_mid_message_continues_later::<$runtime>()
            }
            #[test] fn close_from_either_side_delivers_code_and_reason() {
                super::close_from_either_side_delivers_code_and_reason::<$runtime>()
            }
            #[test] fn a_silent_peer_is_dropped_after_the_close_timeout() {
                super::a_silent_peer_is_dropped_after_the_close_timeout::<$runtime>()
            }
            #[test] fn an_idle_reader_answers_a_ping_at_once() { super::an_idle_reader_answers_a_ping_at_once::<$runtime>() }
            #[test] fn heartbeat_pings_an_idle_peer_and_drops_a_dead_one() {
                super::heartbeat_pings_an_idle_peer_and_drops_a_dead_one::<$runtime>()
            }
            #[test] fn custom_handlers_replace_the_defaults() { super::custom_handlers_replace_the_defaults::<$runtime>() }
        }
    )*};
}

suite!(on_std => Std, on_tokio => Tokio, on_smol => Smol);

/// Every runtime's client against every runtime's server, compression on.
fn cross<S: Runtime, C: Runtime>() {
    let (url, server) = S::serve(Upgrader::default().with_config(big_limits(true)), echo);
    let mut conn = C::connect(&url, options(big_limits(true))).unwrap();
    assert!(conn.compressed());
    for message in [
        Message::text("across runtimes"),
        Message::binary(payload(200_000)),
    ] {
        conn.send(message.clone()).unwrap();
        assert_eq!(
            conn.recv().unwrap().unwrap(),
            message,
            "{} server, {} client",
            S::NAME,
            C::NAME
        );
    }
    conn.close(CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}

#[test]
fn every_client_with_every_server() {
    cross::<Std, Std>();
    cross::<Std, Tokio>();
    cross::<Std, Smol>();
    cross::<Tokio, Std>();
    cross::<Tokio, Tokio>();
    cross::<Tokio, Smol>();
    cross::<Smol, Std>();
    cross::<Smol, Tokio>();
    cross::<Smol, Smol>();
}
