//! Server-side helpers for the benchmark servers: a bare WebSocket upgrade for the servers
//! that have no handshake of their own here (fastwebsockets without its hyper feature, and the
//! raw byte-copy server), and the line a server prints once it listens.

use std::io::{self, Write};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use wsio_core::handshake::{Limits, Parsed, RequestParser, accept_key};

/// Reads one HTTP request head and answers `101 Switching Protocols` with the
/// `Sec-WebSocket-Accept` for its key (wsio-core's parser and key function). Nothing else is
/// checked or negotiated: no extensions, no subprotocol. Returns the bytes that followed the
/// head (frames the client sent before seeing the 101).
pub async fn hand_upgrade<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
) -> io::Result<BytesMut> {
    let mut parser = RequestParser::new(Limits::default());
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        match parser.feed(&buf[..n]) {
            Ok(Parsed::Partial) => {}
            Ok(Parsed::Complete { value, leftover }) => {
                let key = value
                    .header("Sec-WebSocket-Key")
                    .ok_or_else(|| io::Error::other("no Sec-WebSocket-Key"))?;
                let response = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                    accept_key(key)
                );
                stream.write_all(response.as_bytes()).await?;
                return Ok(leftover);
            }
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
        }
    }
}

/// Prints `listening on ADDR` and flushes: `bench/run.py` waits for this line before it
/// starts a client, instead of probing the port with connections the server would log.
pub fn announce(addr: impl std::fmt::Display) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "listening on {addr}");
    let _ = out.flush();
}
