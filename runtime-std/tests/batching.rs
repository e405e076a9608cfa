//! Write batching in the blocking adapter: the README loop (`read_message`, then `send`)
//! answers a burst of messages that arrived together with one write, and never holds a reply
//! back while the next frame is incomplete. The peer is a client-role engine over the other end
//! of a socket pair, so what is counted is exactly what the server wrote.

use std::io::{self, IoSlice, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use wsio_core::testing::take_output;
use wsio_core::{Config, Connection, Event, Message, Role};
use wsio_std::{Stream, WebSocket};

/// A socket that counts the write calls that carried bytes.
struct CountingStream {
    inner: UnixStream,
    writes: Arc<AtomicUsize>,
}

impl Read for CountingStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl Write for CountingStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if n > 0 {
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
        Ok(n)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let n = self.inner.write_vectored(bufs)?;
        if n > 0 {
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Stream for CountingStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(timeout)
    }
    fn shutdown(&mut self) -> io::Result<()> {
        self.inner.shutdown(std::net::Shutdown::Both)
    }
}

/// Starts the README's echo loop on a thread; returns the peer's socket and the write count.
fn echo_server() -> (UnixStream, Arc<AtomicUsize>) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let writes = Arc::new(AtomicUsize::new(0));
    let stream = CountingStream {
        inner: ours,
        writes: writes.clone(),
    };
    std::thread::spawn(move || {
        let conn = Connection::new(Role::Server, Config::default());
        let mut ws = WebSocket::from_connection(conn, stream);
        while let Ok(Some(message)) = ws.read_message() {
            if ws.send(message).is_err() {
                break;
            }
        }
    });
    // Generous: only guards against a reply held back forever, not a timing expectation.
    theirs
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (theirs, writes)
}

fn numbered(n: usize) -> Vec<Message> {
    (0..n)
        .map(|i| Message::text(format!("message {i}")))
        .collect()
}

fn encode(client: &mut Connection, messages: &[Message]) -> Vec<u8> {
    for m in messages {
        client.send(m.clone()).unwrap();
    }
    take_output(client)
}

fn receive(peer: &mut UnixStream, client: &mut Connection, n: usize) -> Vec<Message> {
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    while got.len() < n {
        while let Some(event) = client.poll_event().unwrap() {
            if let Event::Message(m) = event {
                got.push(m);
            }
        }
        if got.len() == n {
            break;
        }
        let read = peer.read(&mut buf).expect("a reply was held back");
        assert!(read > 0, "the server closed");
        client.receive(&buf[..read]);
    }
    got
}

#[test]
fn a_burst_is_echoed_in_order_with_one_write() {
    let (mut peer, writes) = echo_server();
    let mut client = Connection::new(Role::Client, Config::default());
    let burst = numbered(32);
    peer.write_all(&encode(&mut client, &burst)).unwrap();
    assert_eq!(receive(&mut peer, &mut client, 32), burst);
    let n = writes.load(Ordering::SeqCst);
    // The frames can reach the server in more than one read, each ending a burst; they
    // cannot take 32 writes.
    assert!(n <= 2, "{n} writes for one burst of 32 messages");
}

#[test]
fn a_reply_is_not_held_back_by_an_incomplete_next_frame() {
    let (mut peer, _) = echo_server();
    let mut client = Connection::new(Role::Client, Config::default());
    let wire = encode(&mut client, &numbered(2));
    let first_len = wire.len() / 2;
    peer.write_all(&wire[..first_len + 3]).unwrap();
    assert_eq!(receive(&mut peer, &mut client, 1), numbered(1));
    peer.write_all(&wire[first_len + 3..]).unwrap();
    assert_eq!(
        receive(&mut peer, &mut client, 1),
        vec![numbered(2).remove(1)]
    );
}
