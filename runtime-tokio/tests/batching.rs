//! Write batching and idle memory in the async adapter.
//!
//! An echo loop written the plain way (`recv`, then `send`) must answer a burst of messages that
//! arrived together with one write rather than one per message, must never hold a reply back
//! while the next frame is incomplete, and an idle connection must lend its read buffer back.
//! The peer here is written by hand (raw bytes through a client-role engine), so what is counted
//! is exactly what the server wrote.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use wsio_core::testing::take_output;
use wsio_core::{Config, Connection, Event, Message, Role};
use wsio_tokio::{ClientHandshake, ClientOptions, accept};

/// A stream that counts the write calls that carried bytes.
struct CountingStream {
    inner: DuplexStream,
    writes: Arc<AtomicUsize>,
}

impl AsyncRead for CountingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountingStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
        result
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The peer: a client-role engine over the raw end of the pipe.
struct Peer {
    io: DuplexStream,
    conn: Connection,
}

impl Peer {
    /// Sends the opening handshake and reads the 101 response.
    async fn open(mut io: DuplexStream) -> Peer {
        let handshake = ClientHandshake::new("ws://127.0.0.1/", ClientOptions::default()).unwrap();
        io.write_all(&handshake.request_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0];
            io.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        assert!(head.starts_with(b"HTTP/1.1 101"), "refused: {head:?}");
        Peer {
            io,
            conn: Connection::new(Role::Client, Config::default()),
        }
    }

    /// The wire bytes of `messages` as a client sends them (masked).
    fn encode(&mut self, messages: &[Message]) -> Vec<u8> {
        for m in messages {
            self.conn.send(m.clone()).unwrap();
        }
        take_output(&mut self.conn)
    }

    /// Reads until `n` messages have arrived, with a generous limit that only guards against a
    /// hang (a reply held back forever), not a timing expectation.
    async fn receive(&mut self, n: usize) -> Vec<Message> {
        let mut got = Vec::new();
        let mut buf = [0; 4096];
        while got.len() < n {
            while let Some(event) = self.conn.poll_event().unwrap() {
                if let Event::Message(m) = event {
                    got.push(m);
                }
            }
            if got.len() == n {
                break;
            }
            let read = tokio::time::timeout(Duration::from_secs(10), self.io.read(&mut buf))
                .await
                .expect("a reply was held back")
                .unwrap();
            assert!(read > 0, "the server closed");
            self.conn.receive(&buf[..read]);
        }
        got
    }
}

/// Runs the README's echo loop on the server end; returns the peer and the write counter.
async fn echo_server() -> (Peer, Arc<AtomicUsize>) {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let writes = Arc::new(AtomicUsize::new(0));
    let stream = CountingStream {
        inner: ours,
        writes: writes.clone(),
    };
    tokio::spawn(async move {
        let mut ws = accept(stream).await.unwrap();
        while let Some(message) = ws.recv().await {
            ws.send(message.unwrap()).await.unwrap();
        }
    });
    let peer = Peer::open(theirs).await;
    (peer, writes)
}

fn numbered(n: usize) -> Vec<Message> {
    (0..n)
        .map(|i| Message::text(format!("message {i}")))
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_burst_is_echoed_in_order_with_one_write() {
    let (mut peer, writes) = echo_server().await;
    let handshake_writes = writes.load(Ordering::SeqCst);
    let burst = numbered(32);
    let wire = peer.encode(&burst);
    peer.io.write_all(&wire).await.unwrap();
    assert_eq!(peer.receive(32).await, burst);
    let echo_writes = writes.load(Ordering::SeqCst) - handshake_writes;
    // The 32 frames can reach the server in more than one read, each ending a burst; they
    // cannot take 32 writes.
    assert!(
        echo_writes <= 2,
        "{echo_writes} writes for one burst of 32 messages"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_reply_is_not_held_back_by_an_incomplete_next_frame() {
    let (mut peer, _) = echo_server().await;
    let wire = peer.encode(&numbered(2));
    let first_len = wire.len() / 2;
    // The first frame and three bytes of the second: the second cannot be read yet, so the
    // first reply must leave now.
    peer.io.write_all(&wire[..first_len + 3]).await.unwrap();
    assert_eq!(peer.receive(1).await, numbered(1));
    peer.io.write_all(&wire[first_len + 3..]).await.unwrap();
    assert_eq!(peer.receive(1).await, vec![numbered(2).remove(1)]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_ping_inside_a_burst_is_answered() {
    let (mut peer, _) = echo_server().await;
    peer.conn.ping(b"in the middle").unwrap();
    let mut wire = peer.encode(&numbered(1));
    peer.conn.ping(b"in the middle").unwrap();
    wire.extend(peer.encode(&numbered(2)[1..]));
    peer.io.write_all(&wire).await.unwrap();
    let mut pongs = 0;
    let mut messages = Vec::new();
    let mut buf = [0; 4096];
    while pongs < 2 || messages.len() < 2 {
        while let Some(event) = peer.conn.poll_event().unwrap() {
            match event {
                Event::Pong(p) => {
                    assert_eq!(&p[..], b"in the middle");
                    pongs += 1;
                }
                Event::Message(m) => messages.push(m),
                _ => {}
            }
        }
        if pongs == 2 && messages.len() == 2 {
            break;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), peer.io.read(&mut buf))
            .await
            .expect("a pong or reply was held back")
            .unwrap();
        assert!(n > 0);
        peer.conn.receive(&buf[..n]);
    }
    assert_eq!(messages, numbered(2));
}

#[tokio::test(flavor = "current_thread")]
async fn an_idle_connection_lends_its_read_buffer_back() {
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(async move {
        let mut ws = accept(ours).await.unwrap();
        let message = ws.recv().await.unwrap().unwrap();
        ws.send(message).await.unwrap();
        // Wait for a message that does not come; `recv` is cancel-safe.
        let idle = tokio::time::timeout(Duration::from_millis(50), ws.recv()).await;
        assert!(idle.is_err(), "nothing was sent");
        ws.connection().buffer_stats()
    });
    let mut peer = Peer::open(theirs).await;
    let wire = peer.encode(&numbered(1));
    peer.io.write_all(&wire).await.unwrap();
    assert_eq!(peer.receive(1).await, numbered(1));
    let stats = server.await.unwrap();
    assert_eq!(stats.read_capacity, 0, "{stats:?}");
    assert_eq!(stats.output_pending, 0, "{stats:?}");
}

/// `send` queues its message when it is called (the output has room), so a send future dropped
/// before it was ever polled, as a `select!` that picks another branch first may do, has not
/// lost its message: the next `flush` writes it, in order behind the sends before it.
#[tokio::test(flavor = "current_thread")]
async fn a_send_dropped_before_its_first_poll_is_still_written() {
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(async move {
        let mut ws = accept(ours).await.unwrap();
        ws.send(Message::text("first")).await.unwrap();
        drop(ws.send(Message::text("second")));
        drop(ws.feed(Message::binary(&b"third"[..])));
        ws.flush().await.unwrap();
        ws
    });
    let mut peer = Peer::open(theirs).await;
    let expected = vec![
        Message::text("first"),
        Message::text("second"),
        Message::binary(&b"third"[..]),
    ];
    assert_eq!(peer.receive(3).await, expected);
    drop(server.await.unwrap());
}
