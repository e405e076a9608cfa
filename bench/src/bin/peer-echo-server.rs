//! The peers' echo servers for the network benchmarks, and a raw byte-copy server as the
//! ceiling; all on a tokio current-thread runtime, a task per connection, on 127.0.0.1.
//! Built only with `--features peers`.
//!
//! ```text
//! peer-echo-server --lib tokio-tungstenite|tokio-websockets|fastwebsockets|raw
//!                  --style readme|batched --port N [--deflate-off]
//! ```
//!
//! `--style readme` is the echo loop each library's README or examples teach:
//! - tokio-tungstenite: `accept_async`, then `next()` → `send()` of text and binary messages
//!   (pings are answered by the library);
//! - tokio-websockets: `ServerBuilder::accept`, then `next()` → `send()` of text and binary
//!   messages, as its README;
//! - fastwebsockets: a bare upgrade (its own needs hyper; ours is `wsio_bench::serve`), then
//!   `WebSocket::after_handshake` with auto close and auto pong, in a `FragmentCollector`,
//!   `read_frame` → `write_frame` of text and binary frames, the task `unconstrained`: its
//!   `echo_server` example.
//!
//! `--style batched` is the best hand-batching each public API allows, so that wsio is
//! compared with what a careful user can get from a peer, not only with its default:
//! - tokio-tungstenite, tokio-websockets: await one message and `feed` it, then `feed` every
//!   further message already available without waiting (`next().now_or_never()`: polling a
//!   `Stream` once is cancel-safe), then one `flush` for the lot;
//! - fastwebsockets: `read_frame` is not cancel-safe, so batching is done under it: the socket
//!   is wrapped in [`WriteBatcher`], which keeps written bytes and hands them to the socket in
//!   one write when the next read would block. Its `poll_flush` does nothing (fastwebsockets
//!   does not flush per frame today, and must not defeat the batching if it ever does).
//!
//! `--lib raw` (any style) completes the upgrade and then copies every byte read straight back
//! (64 KiB reads, `write_all`): the echoes are our masked frames, which the load generator
//! accepts. It is the cost of moving the bytes with no WebSocket work at all.
//!
//! `--deflate-off` is accepted for symmetry with `echo-server --deflate`: none of these servers
//! negotiates permessage-deflate (tokio-websockets and fastwebsockets do not implement it;
//! tungstenite 0.30 does not either), so it changes nothing.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsio_bench::args::Args;
use wsio_bench::peer_loops::{
    BoxError, WriteBatcher, echo_batched, echo_readme, fastwebsockets_echo,
};
use wsio_bench::serve::{announce, hand_upgrade};

const USAGE: &str = "peer-echo-server --lib tokio-tungstenite|tokio-websockets|fastwebsockets|raw \
--style readme|batched --port N [--deflate-off]";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lib {
    TokioTungstenite,
    TokioWebsockets,
    Fastwebsockets,
    Raw,
}

async fn tungstenite_readme(stream: TcpStream) -> Result<(), BoxError> {
    let ws = tokio_tungstenite::accept_async(stream).await?;
    echo_readme(ws, |m| m.is_text() || m.is_binary()).await
}

async fn tungstenite_batched(stream: TcpStream) -> Result<(), BoxError> {
    let ws = tokio_tungstenite::accept_async(stream).await?;
    echo_batched(ws, |m| m.is_text() || m.is_binary()).await
}

async fn tokio_websockets_readme(stream: TcpStream) -> Result<(), BoxError> {
    let (_request, ws) = tokio_websockets::ServerBuilder::new()
        .accept(stream)
        .await?;
    echo_readme(ws, |m| m.is_text() || m.is_binary()).await
}

async fn tokio_websockets_batched(stream: TcpStream) -> Result<(), BoxError> {
    let (_request, ws) = tokio_websockets::ServerBuilder::new()
        .accept(stream)
        .await?;
    echo_batched(ws, |m| m.is_text() || m.is_binary()).await
}

/// The upgrade for the servers without one of their own here. A client that sent frames
/// before it saw the 101 is refused: fastwebsockets cannot be handed those bytes (the load
/// generator always waits for the 101).
async fn upgrade_without_leftover(stream: &mut TcpStream) -> Result<(), BoxError> {
    let leftover = hand_upgrade(stream).await?;
    if !leftover.is_empty() {
        return Err("frames before the 101 response".into());
    }
    Ok(())
}

async fn fastwebsockets_readme(mut stream: TcpStream) -> Result<(), BoxError> {
    upgrade_without_leftover(&mut stream).await?;
    fastwebsockets_echo(stream).await?;
    Ok(())
}

async fn fastwebsockets_batched(mut stream: TcpStream) -> Result<(), BoxError> {
    upgrade_without_leftover(&mut stream).await?;
    let mut stream = fastwebsockets_echo(WriteBatcher::new(stream)).await?;
    // The close reply (and any echo before it) is still in the batcher.
    stream.shutdown().await?;
    Ok(())
}

async fn raw(mut stream: TcpStream) -> Result<(), BoxError> {
    let leftover = hand_upgrade(&mut stream).await?;
    stream.write_all(&leftover).await?;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

async fn handle(lib: Lib, batched: bool, stream: TcpStream) -> Result<(), BoxError> {
    match (lib, batched) {
        (Lib::TokioTungstenite, false) => tungstenite_readme(stream).await,
        (Lib::TokioTungstenite, true) => tungstenite_batched(stream).await,
        (Lib::TokioWebsockets, false) => tokio_websockets_readme(stream).await,
        (Lib::TokioWebsockets, true) => tokio_websockets_batched(stream).await,
        // As fastwebsockets' echo_server example: the connection task runs unconstrained
        // (outside tokio's cooperative budget).
        (Lib::Fastwebsockets, false) => {
            tokio::task::unconstrained(fastwebsockets_readme(stream)).await
        }
        (Lib::Fastwebsockets, true) => {
            tokio::task::unconstrained(fastwebsockets_batched(stream)).await
        }
        (Lib::Raw, _) => raw(stream).await,
    }
}

fn run() -> Result<(), String> {
    let mut args = Args::from_env(USAGE);
    let lib: String = args
        .optional("--lib")?
        .ok_or_else(|| format!("--lib is required\n{USAGE}"))?;
    let style: String = args.value("--style", "readme".to_string())?;
    let port: u16 = args
        .optional("--port")?
        .ok_or_else(|| format!("--port is required\n{USAGE}"))?;
    let _ = args.flag("--deflate-off");
    args.finish()?;
    let lib = match lib.as_str() {
        "tokio-tungstenite" => Lib::TokioTungstenite,
        "tokio-websockets" => Lib::TokioWebsockets,
        "fastwebsockets" => Lib::Fastwebsockets,
        "raw" => Lib::Raw,
        other => return Err(format!("unknown library {other:?}\n{USAGE}")),
    };
    let batched = match style.as_str() {
        "readme" => false,
        "batched" => true,
        other => return Err(format!("unknown style {other:?}\n{USAGE}")),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime
        .block_on(serve(lib, batched, port))
        .map_err(|e| e.to_string())
}

/// Accepts connections for ever, a task each.
async fn serve(lib: Lib, batched: bool, port: u16) -> io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    announce(listener.local_addr()?);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        // As wsio's README server does (and Go does by default): every server in the
        // comparison runs without Nagle's algorithm, which would otherwise stall the last
        // reply of a burst for a delayed ACK.
        if let Err(e) = stream.set_nodelay(true) {
            eprintln!("nodelay: {e}");
        }
        tokio::spawn(async move {
            if let Err(e) = handle(lib, batched, stream).await {
                eprintln!("connection ended: {e}");
            }
        });
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("peer-echo-server: {e}");
        std::process::exit(1);
    }
}
