//! An echo server on one of our runtimes, for peers written by others (Chromium, Python
//! `websockets`) to talk to. Used by `tests/interop/run.sh`.
//!
//! `interop-server --runtime std|tokio|smol [--addr 127.0.0.1:0]`
//!
//! Accepts any number of connections, one thread each, with compression on, the subprotocol
//! `chat` supported and any origin allowed. It pings each peer once, as it connects, and
//! echoes every message byte for byte, except a text message `close <code> <reason>`, which
//! makes it start the closing handshake itself with that code and reason (so a peer can check
//! a close that comes from our side). The request path is free: tests give each connection a
//! path of its own and find its lines by it.
//!
//! Its stdout is what a test reads, one line per event, flushed as it happens:
//!
//! ```text
//! ws://127.0.0.1:PORT/                       first line: the URL to connect to
//! open <id> <path> protocol=<name|-> compressed=<yes|no>
//! pong <id> ok                               the peer answered the ping we sent on opening
//! closed <id> <code> <reason>                the close frame the peer sent (reason may be empty)
//! closed <id> nostatus                       the peer's close frame had no status code
//! closed <id> none                           the connection ended without the peer's close frame
//! error <id> <message>                       the connection failed (also ends it)
//! ```

use std::net::TcpListener;
use std::thread;

use bytes::Bytes;
use wsio_core::handshake::CheckOrigin;
use wsio_core::{CloseCode, Config, Message};
use wsio_std::Upgrader;
use wsio_tests::{Runtime, Smol, Std, Tokio};

/// The payload of the ping sent to every peer as it connects.
const PING: &[u8] = b"wsio-ping";

const USAGE: &str = "usage: interop-server --runtime std|tokio|smol [--addr 127.0.0.1:0]";

fn main() {
    let mut runtime = None;
    let mut addr = "127.0.0.1:0".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--runtime", Some(value)) => runtime = Some(value),
            ("--addr", Some(value)) => addr = value,
            _ => fail(USAGE),
        }
    }
    match runtime.as_deref() {
        Some("std") => serve::<Std>(&addr),
        Some("tokio") => serve::<Tokio>(&addr),
        Some("smol") => serve::<Smol>(&addr),
        _ => fail(USAGE),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2)
}

/// The upgrader every runtime serves with: what a browser-facing echo server needs.
fn upgrader() -> Upgrader {
    // Room for the 1 MiB messages of the suite, with their compression, and then some.
    let config = Config {
        max_message_size: 16 << 20,
        ..Config::default()
    };
    let mut upgrader = Upgrader::default()
        .with_config(config)
        .with_compression(true)
        .with_subprotocols(["chat"]);
    // The test pages come from another origin (a file or another port), as for any public
    // echo service.
    upgrader.check_origin = CheckOrigin::custom(|_| true);
    upgrader
}

fn serve<R: Runtime>(addr: &str) -> ! {
    let listener = TcpListener::bind(addr).unwrap_or_else(|e| fail(&format!("bind {addr}: {e}")));
    let local = listener.local_addr().expect("bound address");
    println!("ws://{local}/");
    let upgrader = upgrader();
    for (id, tcp) in (1u64..).zip(listener.incoming()) {
        let tcp = match tcp {
            Ok(tcp) => tcp,
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let upgrader = upgrader.clone();
        thread::spawn(move || session::<R>(id, tcp, &upgrader));
    }
    unreachable!("TcpListener::incoming never ends")
}

/// Serves one connection: echo until the peer closes, then report its close.
fn session<R: Runtime>(id: u64, tcp: std::net::TcpStream, upgrader: &Upgrader) {
    let (mut conn, request) = match R::upgrade(tcp, upgrader) {
        Ok(upgraded) => upgraded,
        Err(e) => {
            println!("error {id} handshake: {e}");
            return;
        }
    };
    // The runtimes return the request, not our answer; choosing the subprotocol again is pure
    // and gives the same answer the 101 carried.
    let protocol = upgrader
        .upgrade(&request)
        .ok()
        .and_then(|accepted| accepted.protocol().map(str::to_owned));
    println!(
        "open {id} {} protocol={} compressed={}",
        request.path(),
        protocol.as_deref().unwrap_or("-"),
        if conn.compressed() { "yes" } else { "no" }
    );
    // Our own ping, answered by the peer's stack without its application's help; the handler
    // runs while we read, so the answer is reported whatever the peer sends meanwhile.
    let mut answered = false;
    conn.set_pong_handler(Some(Box::new(move |payload: &Bytes| {
        if !answered && payload.as_ref() == PING {
            answered = true;
            println!("pong {id} ok");
        }
    })));
    if let Err(e) = conn.ping(PING) {
        println!("error {id} ping: {e}");
        return;
    }
    while let Some(message) = conn.recv() {
        let result = match message {
            Ok(Message::Text(text)) if text.starts_with("close ") => {
                let (code, reason) = parse_close(&text["close ".len()..]);
                conn.close(code, reason)
            }
            Ok(message) => conn.send(message),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            println!("error {id} {e}");
            break;
        }
    }
    match conn.peer_close() {
        Some(Some(frame)) => println!("closed {id} {} {}", u16::from(frame.code), frame.reason),
        Some(None) => println!("closed {id} nostatus"),
        None => println!("closed {id} none"),
    }
}

/// `<code> <reason>` from a close command; an unusable code becomes 1000.
fn parse_close(args: &str) -> (CloseCode, &str) {
    let (code, reason) = args.split_once(' ').unwrap_or((args, ""));
    let code = code
        .parse::<u16>()
        .ok()
        .map(CloseCode::from)
        .filter(|c| c.is_sendable())
        .unwrap_or(CloseCode::NORMAL);
    (code, reason)
}
