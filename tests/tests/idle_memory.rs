//! Memory an idle connection keeps, counted by a global allocator.
//!
//! Thousands of mostly idle connections are the normal load of a WebSocket server, so what one
//! costs while it waits matters as much as speed. After a connection has exchanged a message
//! (so every lazily made part exists), waiting for the next one must not hold a read buffer
//! (it is lent back to a per-thread pool) or, with permessage-deflate negotiated, any zlib
//! state (a compressor alone is about 256 KiB; without context takeover none is needed between
//! messages). Measured as the heap bytes still live per extra connection pair (both ends, both
//! wsio, on one tokio thread) once pools are warm: pools are per thread, not per connection.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use wsio_core::{Config, DeflateConfig, Message};
use wsio_tests::{CountingAlloc, measure};
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
