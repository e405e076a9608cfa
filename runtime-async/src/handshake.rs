//! The opening handshake over any [`Transport`], for every async runtime: the tokio and smol
//! adapters wrap their stream in their transport and call these, so the HTTP exchange is
//! written once.

use std::future::poll_fn;
use std::io;

use bytes::BytesMut;
use wsio_core::handshake::{ClientHandshake, Parsed, Rejection, Request, Response, Upgrader};

use crate::transport::{Timer, Transport};
use crate::{Result, WebSocketStream};

/// Accepts a WebSocket upgrade with the default [`Upgrader`] (same-origin check, no
/// subprotocols, no compression).
pub async fn accept<T: Transport, R: Timer>(transport: T) -> Result<WebSocketStream<T, R>> {
    // Boxed with the default upgrader inside: a task awaiting this keeps neither the
    // handshake's state nor the upgrader once the connection is up (see `accept_with`).
    Box::pin(async move { accept_with(transport, &Upgrader::default()).await })
        .await
        .map(|(ws, _)| ws)
}

/// Accepts a WebSocket upgrade with `upgrader`'s settings, returning the connection and the
/// request. A refused request gets its HTTP error response first.
pub async fn accept_with<T: Transport, R: Timer>(
    mut transport: T,
    upgrader: &Upgrader,
) -> Result<(WebSocketStream<T, R>, Request)> {
    // Boxed: a future is as large as its largest state, so a task awaiting the handshake
    // inline would carry the handshake's buffers for the whole life of the connection.
    Box::pin(async move {
        let (request, leftover) = read_request(&mut transport, upgrader).await?;
        let ws = accept_request(transport, upgrader, &request, leftover).await?;
        Ok((ws, request))
    })
    .await
}

/// Reads one HTTP request head within `upgrader`'s limits. Returns the request and the bytes
/// that followed it. A malformed or oversized head gets its HTTP error response and is
/// returned as an error.
pub async fn read_request<T: Transport>(
    transport: &mut T,
    upgrader: &Upgrader,
) -> Result<(Request, BytesMut)> {
    let mut parser = upgrader.request_parser();
    let mut buf = vec![0; upgrader.read_buffer_size.max(512)];
    loop {
        let n = read(transport, &mut buf).await?;
        match parser.feed(&buf[..n]) {
            Ok(Parsed::Partial) => {}
            Ok(Parsed::Complete { value, leftover }) => return Ok((value, leftover)),
            Err(error) => {
                reject(transport, Rejection::from(error.clone())).await;
                return Err(error.into());
            }
        }
    }
}

/// Completes (or refuses, with its HTTP response) the upgrade of a request read by
/// [`read_request`].
pub async fn accept_request<T: Transport, R: Timer>(
    mut transport: T,
    upgrader: &Upgrader,
    request: &Request,
    leftover: BytesMut,
) -> Result<WebSocketStream<T, R>> {
    match upgrader.upgrade(request) {
        Ok(accepted) => {
            write_all(&mut transport, &accepted.response_bytes()).await?;
            let conn = upgrader.connection(&accepted, &leftover);
            Ok(WebSocketStream::with_buffers(
                conn,
                transport,
                upgrader.read_buffer_size.max(512),
                upgrader.write_buffer_size.max(512),
            ))
        }
        Err(rejection) => {
            let error = rejection.error().clone();
            reject(&mut transport, rejection).await;
            Err(error.into())
        }
    }
}

/// Runs the client handshake over an already connected transport (plain, TLS, or a proxy
/// tunnel), returning the connection and the server's response.
pub async fn client<T: Transport, R: Timer>(
    mut transport: T,
    mut handshake: ClientHandshake,
) -> Result<(WebSocketStream<T, R>, Response)> {
    // Boxed, as in `accept_with`: the task keeps only the connection, not the handshake.
    Box::pin(async move {
        write_all(&mut transport, &handshake.request_bytes()).await?;
        let mut buf = vec![0; 4096];
        loop {
            let n = read(&mut transport, &mut buf).await?;
            if let Parsed::Complete {
                value: connected,
                leftover,
            } = handshake.feed(&buf[..n])?
            {
                let conn = handshake.connection(&connected, &leftover);
                return Ok((
                    WebSocketStream::from_connection(conn, transport),
                    connected.response,
                ));
            }
        }
    })
    .await
}

/// Reads some bytes; the end of the stream in the middle of a handshake is an error.
async fn read<T: Transport>(transport: &mut T, buf: &mut [u8]) -> Result<usize> {
    match poll_fn(|cx| transport.poll_read(cx, buf)).await? {
        0 => Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
        n => Ok(n),
    }
}

/// Writes all of `bytes` and flushes.
async fn write_all<T: Transport>(transport: &mut T, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        let n = poll_fn(|cx| transport.poll_write(cx, bytes)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[n..];
    }
    poll_fn(|cx| transport.poll_flush(cx)).await
}

/// Sends a refusal and ends the stream. Best effort: the peer may already be gone, and the
/// handshake error is what matters.
async fn reject<T: Transport>(transport: &mut T, rejection: Rejection) {
    let _ = write_all(transport, &rejection.to_bytes()).await;
    let _ = poll_fn(|cx| transport.poll_shutdown(cx)).await;
}
