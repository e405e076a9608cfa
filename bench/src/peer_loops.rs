//! The peers' echo loops, shared by `peer-echo-server` (over TCP) and `codec` (in memory), so
//! that both benchmarks measure the same code: each library's README loop, and the best
//! hand-batching its public API allows.

use std::error::Error;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Any error of any library.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// The plain loop of a `Stream` + `Sink` WebSocket (tokio-tungstenite, tokio-websockets):
/// `next()` → `send()` of every data message (`is_data`); control frames are the library's.
pub async fn echo_readme<W, M, E>(mut ws: W, is_data: fn(&M) -> bool) -> Result<(), BoxError>
where
    W: futures_util::Stream<Item = Result<M, E>> + futures_util::Sink<M, Error = E> + Unpin,
    E: Error + Send + Sync + 'static,
{
    while let Some(msg) = ws.next().await {
        let msg = msg?;
        if is_data(&msg) {
            ws.send(msg).await?;
        }
    }
    Ok(())
}

/// The hand-batched loop of a `Stream` + `Sink` WebSocket: `feed` the message awaited and every
/// further one already available (`now_or_never`), then one `flush`.
pub async fn echo_batched<W, M, E>(mut ws: W, is_data: fn(&M) -> bool) -> Result<(), BoxError>
where
    W: futures_util::Stream<Item = Result<M, E>> + futures_util::Sink<M, Error = E> + Unpin,
    E: Error + Send + Sync + 'static,
{
    while let Some(msg) = ws.next().await {
        let mut msg = Some(msg?);
        while let Some(m) = msg.take() {
            if is_data(&m) {
                ws.feed(m).await?;
            }
            match ws.next().now_or_never() {
                Some(Some(next)) => msg = Some(next?),
                Some(None) => {
                    ws.flush().await?;
                    return Ok(());
                }
                None => {}
            }
        }
        ws.flush().await?;
    }
    Ok(())
}

/// fastwebsockets' echo loop over any stream: `readme` passes the socket, `batched` a
/// [`WriteBatcher`]. Returns the stream so that the caller can push out what it holds.
pub async fn fastwebsockets_echo<S>(stream: S) -> Result<S, BoxError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut ws = fastwebsockets::WebSocket::after_handshake(stream, fastwebsockets::Role::Server);
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    let mut ws = fastwebsockets::FragmentCollector::new(ws);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            fastwebsockets::OpCode::Close => break,
            fastwebsockets::OpCode::Text | fastwebsockets::OpCode::Binary => {
                ws.write_frame(frame).await?;
            }
            _ => {}
        }
    }
    Ok(ws.into_inner())
}

/// Write batching under a library that writes each frame as it is produced.
///
/// Writes are appended to a buffer and always succeed at once (unless more than
/// [`WriteBatcher::HIGH_WATER`] bytes are waiting: then the buffer is written out first, which
/// keeps back-pressure). The buffer goes to the socket when a read finds no data (the inner
/// `poll_read` returned `Pending`): the task is about to sleep, so everything produced from
/// the data read so far leaves in one write, before the `Pending` is returned. The read's
/// waker is registered first, and a partial write registers the same waker for writability,
/// so the task wakes for either. `poll_flush` is deliberately a no-op, so that a library's
/// flush cannot force a write per frame; `poll_shutdown` writes everything out first.
#[derive(Debug)]
pub struct WriteBatcher<S> {
    inner: S,
    out: Vec<u8>,
    written: usize,
}

impl<S: AsyncWrite + Unpin> WriteBatcher<S> {
    /// Bytes waiting beyond which a write first drains the buffer.
    const HIGH_WATER: usize = 64 << 10;

    /// Batches the writes to `inner`.
    pub fn new(inner: S) -> Self {
        WriteBatcher {
            inner,
            out: Vec::new(),
            written: 0,
        }
    }

    /// Writes out the buffer; `Pending` if the socket is full.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.out.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.out.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }

    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.out.len() - self.written >= Self::HIGH_WATER {
            ready!(self.poll_drain(cx))?;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WriteBatcher<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending => match this.poll_drain(cx) {
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                _ => Poll::Pending,
            },
            ready => ready,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteBatcher<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_room(cx))?;
        this.out.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_room(cx))?;
        let mut n = 0;
        for buf in bufs {
            this.out.extend_from_slice(buf);
            n += buf.len();
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}
