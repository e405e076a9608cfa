//! Memory an idle connection keeps, counted by a global allocator.
//!
//! Thousands of mostly idle connections are the normal load of a WebSocket server, so what one
//! costs while it waits matters as much as speed. After a connection has exchanged a message
//! (so every lazily made part exists), waiting for the next one must not hold a read buffer
//! (it is lent back to a per-thread pool) or, with permessage-deflate negotiated, any zlib
//! state (a compressor alone is about 256 KiB; without context takeover none is needed between
//! messages). Measured as the heap bytes still live per extra connection pair (both ends, both
//! wsio, on one tokio thread) once pools are warm: pools are per thread, not per connection.
//! And what an idle connection lets go of serves the next one on its thread: reading a burst
//! of small messages then allocates nothing.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use wsio_core::testing::take_output;
use wsio_core::{Config, Connection, DeflateConfig, Event, Message, Role};
use wsio_tests::{CountingAlloc, discard_output, measure};
use wsio_tokio::{ClientHandshake, ClientOptions, Upgrader, WebSocketStream};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn config(deflate: bool) -> Config {
    Config {
        deflate: DeflateConfig {
            enabled: deflate,
            threshold: 0,
            ..DeflateConfig::default()
        },
        ..Config::default()
    }
}

/// Echo server as the README writes it, on the current thread.
async fn serve(deflate: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let upgrader = Upgrader {
        config: config(deflate),
        ..Upgrader::default()
    };
    tokio::task::spawn_local(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let upgrader = upgrader.clone();
            tokio::task::spawn_local(async move {
                let (mut ws, _) = wsio_tokio::accept_with(stream, &upgrader).await.unwrap();
                while let Some(Ok(message)) = ws.recv().await {
                    if ws.send(message).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// Opens `n` connections, each of which exchanges one message; returns them idle.
async fn open(addr: SocketAddr, n: usize, deflate: bool) -> Vec<WebSocketStream<TcpStream>> {
    let mut clients = Vec::new();
    for i in 0..n {
        let stream = TcpStream::connect(addr).await.unwrap();
        let options = ClientOptions {
            config: config(deflate),
            ..ClientOptions::default()
        };
        let handshake = ClientHandshake::new(&format!("ws://{addr}/"), options).unwrap();
        let (mut ws, _) = wsio_tokio::client(stream, handshake).await.unwrap();
        assert_eq!(ws.connection().deflate_params().is_some(), deflate);
        let message = Message::text(format!("hello {i}, compressible compressible compressible"));
        ws.send(message.clone()).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), message);
        clients.push(ws);
    }
    // Let every server task go back to waiting in `recv`.
    tokio::time::sleep(Duration::from_millis(100)).await;
    clients
}

/// Heap bytes live per extra idle connection pair.
fn per_idle_pair(deflate: bool) -> usize {
    const EXTRA: usize = 32;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let (addr, warm) = local.block_on(&rt, async {
        let addr = serve(deflate).await;
        // Warm-up: the per-thread pools and tokio's own tables reach their working size.
        (addr, open(addr, 16, deflate).await)
    });
    // The counting allocator is per thread; the current-thread runtime and its LocalSet keep
    // every task (both ends of every connection) on this one.
    let (idle, usage) = measure(|| local.block_on(&rt, open(addr, EXTRA, deflate)));
    drop((warm, idle));
    usage.retained / EXTRA
}

#[test]
fn an_idle_connection_holds_no_read_buffer() {
    let bytes = per_idle_pair(false);
    eprintln!("{bytes} bytes per idle connection pair without deflate");
    // Both ends together: two tasks, two sockets' registrations, two engines (about 1.5 KiB
    // each, measured). One 4 KiB read buffer held by either end would break the bound.
    assert!(bytes <= 4 * 1024, "{bytes} bytes per idle pair");
}

#[test]
fn an_idle_connection_holds_no_deflate_state() {
    let bytes = per_idle_pair(true);
    eprintln!("{bytes} bytes per idle connection pair with deflate");
    // A compressor kept between messages alone would be about 256 KiB.
    assert!(bytes <= 5 * 1024, "{bytes} bytes per idle pair");
}

/// The bytes a client sends for `messages` (masked, as a server receives them).
fn client_wire(messages: &[Message]) -> Vec<u8> {
    let mut client = Connection::new(Role::Client, Config::default());
    for message in messages {
        client.send(message.clone()).unwrap();
    }
    take_output(&mut client)
}

/// A burst of small messages, text and binary, as a chat or a game sends them.
fn small_messages() -> Vec<Message> {
    (0..16)
        .map(|i| match i % 2 {
            0 => Message::text(format!("message {i}")),
            _ => Message::binary(vec![i as u8; 40]),
        })
        .collect()
}

/// Reads `wire` the way the runtimes read a socket, appending the messages to `into`.
fn read_burst(server: &mut Connection, wire: &[u8], into: &mut Vec<Message>) {
    let n = server.prepare_read(4096);
    assert!(wire.len() <= n, "one read takes the burst");
    server.read_buf().extend_from_slice(wire);
    while let Some(event) = server.poll_event().unwrap() {
        match event {
            Event::Message(message) => into.push(message),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn a_connection_that_goes_idle_lends_its_buffers_to_the_next_one_on_its_thread() {
    let messages = small_messages();
    let wire = client_wire(&messages);
    let mut first = Connection::new(Role::Server, Config::default());
    let mut received = Vec::with_capacity(messages.len());
    read_burst(&mut first, &wire, &mut received);
    assert_eq!(received, messages);
    // Let go while the application still holds the burst's messages, as a runtime does when
    // it returns the last of them.
    assert!(first.release_read_buf());
    first.release_idle_buffers();
    received.clear();

    // The next connection on the thread reads with the buffers lent: the read buffer and the
    // block its payloads are packed into, here the room left beside the messages still held
    // (a new block would cost an allocation, its zeroing, and another allocation for the
    // header that lets messages share it).
    let mut second = Connection::new(Role::Server, Config::default());
    let ((), usage) = measure(|| read_burst(&mut second, &wire, &mut received));
    assert_eq!(received, messages);
    assert_eq!(usage.calls, 0, "lent while messages were held: {usage:?}");
    // This time the application is done with the messages first: the block goes back whole.
    received.clear();
    assert!(second.release_read_buf());
    second.release_idle_buffers();

    let mut third = Connection::new(Role::Server, Config::default());
    let ((), usage) = measure(|| read_burst(&mut third, &wire, &mut received));
    assert_eq!(received, messages);
    assert_eq!(usage.calls, 0, "lent once they were dropped: {usage:?}");
}

#[test]
fn a_block_that_a_held_message_shares_lends_only_its_room() {
    let kept = Message::binary(vec![0xAA; 100]);
    let mut first = Connection::new(Role::Server, Config::default());
    let mut received = Vec::new();
    read_burst(
        &mut first,
        &client_wire(std::slice::from_ref(&kept)),
        &mut received,
    );
    assert!(first.release_read_buf());
    // The application still holds the message when the connection lets its block go.
    first.release_idle_buffers();

    // Enough messages through other connections on this thread to fill a few blocks.
    let others: Vec<Message> = (0..100).map(|i| Message::binary(vec![i; 100])).collect();
    for burst in others.chunks(10) {
        let mut other = Connection::new(Role::Server, Config::default());
        let mut got = Vec::new();
        read_burst(&mut other, &client_wire(burst), &mut got);
        assert_eq!(got, burst);
        drop(got);
        assert!(other.release_read_buf());
        other.release_idle_buffers();
    }
    assert_eq!(received, vec![kept]);
}

/// Reads a burst and sends every message back, as an echo server does (`received`: room
/// for the burst, made by the caller).
fn echo_burst(server: &mut Connection, wire: &[u8], received: &mut Vec<Message>) {
    read_burst(server, wire, received);
    for message in received.drain(..) {
        server.send(message).unwrap();
    }
    discard_output(server);
}

#[test]
fn an_echoing_connection_that_goes_idle_lends_its_read_and_output_buffers_each_to_its_own_use() {
    let wire = client_wire(&small_messages());
    // Both buffers go back to one list, the read buffer first, then the smaller output
    // buffer: a pool that handed out whichever came last would give the next read the output
    // buffer and grow it (an allocation every burst), and then the output the read buffer.
    let mut received = Vec::with_capacity(16);
    let mut first = Connection::new(Role::Server, Config::default());
    echo_burst(&mut first, &wire, &mut received);
    assert!(first.release_read_buf());
    first.release_idle_buffers();

    let mut second = Connection::new(Role::Server, Config::default());
    let ((), usage) = measure(|| echo_burst(&mut second, &wire, &mut received));
    assert_eq!(usage.calls, 0, "a woken echo allocated: {usage:?}");
}

/// Between bursts over TCP, a connection waiting in `recv` holds no read buffer, whichever way
/// the driver found the socket empty (a short read is followed by an empty read that waits
/// without one, for tokio), and the next burst still wakes it.
#[test]
fn between_bursts_a_tokio_connection_waits_without_a_read_buffer_and_wakes_for_the_next() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let addr = serve(false).await;
        let stream = TcpStream::connect(addr).await.unwrap();
        let handshake = ClientHandshake::new(&format!("ws://{addr}/"), ClientOptions::default());
        let (mut ws, _) = wsio_tokio::client(stream, handshake.unwrap())
            .await
            .unwrap();
        for round in 0..5 {
            let burst: Vec<Message> = (0..10)
                .map(|i| Message::text(format!("round {round} message {i}")))
                .collect();
            for m in &burst {
                ws.feed(m.clone()).await.unwrap();
            }
            ws.flush().await.unwrap();
            for m in &burst {
                let echo = tokio::time::timeout(Duration::from_secs(5), ws.recv())
                    .await
                    .expect("the echo arrives: a waiting read was woken")
                    .unwrap()
                    .unwrap();
                assert_eq!(&echo, m);
            }
            // Nothing more is coming: `recv` waits (and is cancelled, which it allows).
            let waited = tokio::time::timeout(Duration::from_millis(20), ws.recv()).await;
            assert!(waited.is_err(), "round {round}: nothing was sent");
            let stats = ws.connection().buffer_stats();
            assert_eq!(stats.read_capacity, 0, "round {round}: {stats:?}");
        }
    });
}
