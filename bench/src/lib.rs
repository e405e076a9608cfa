//! Shared pieces of the benchmarks: workloads, timing, and an in-memory stream for the async
//! peers (the `codec` benchmark); argument parsing, a lean WebSocket client, a hand-written
//! server upgrade and `/proc` readers (the network benchmarks: `echo-server`,
//! `peer-echo-server`, `loadgen`, `idle-conns`, driven by `bench/run.py`).

#![warn(missing_docs)]

pub mod args;
pub mod client;
#[cfg(feature = "peers")]
pub mod peer_loops;
pub mod procfs;
pub mod serve;

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use wsio_core::testing::take_output;
use wsio_core::{CloseCode, Config, Connection, DeflateParams, KeySource, Message, Role};

/// What a workload's messages carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// Binary messages.
    Binary,
    /// Text messages, all ASCII (most text on the wire).
    Text,
    /// Text messages in several scripts (Latin with accents, CJK, symbols): the UTF-8
    /// validator's hard case, where ASCII shortcuts do not apply.
    MixedText,
}

/// What one benchmark run feeds a decoder: `count` client frames (masked) of one kind and size.
#[derive(Clone, Debug)]
pub struct Workload {
    /// The messages, as sent.
    pub messages: Vec<Message>,
    /// Their bytes on the wire from a client (masked), uncompressed.
    pub wire: Vec<u8>,
}

impl Workload {
    /// `total` bytes of payload in messages of `size` bytes.
    pub fn new(size: usize, content: Content, total: usize) -> Self {
        let count = Self::count(size, total);
        // Every message its own payload, as received messages are: none shares a cached copy.
        let messages: Vec<Message> = (0..count)
            .map(|_| match content {
                Content::Binary => Message::binary(
                    (0..size)
                        .map(|i| b'a' + (i % 26) as u8)
                        .collect::<Vec<u8>>(),
                ),
                Content::Text => Message::text(
                    (0..size)
                        .map(|i| char::from(b'a' + (i % 26) as u8))
                        .collect::<String>(),
                ),
                Content::MixedText => Message::text(mixed_text(size)),
            })
            .collect();
        let wire = client_wire(&messages, None);
        Workload { messages, wire }
    }

    /// How many messages [`new`](Self::new) makes: known before they are built, so that a
    /// table can be named (and skipped) without building its workload.
    pub fn count(size: usize, total: usize) -> usize {
        (total / size.max(1)).clamp(1, 1 << 20)
    }

    /// A label for the table of a workload, e.g. "binary 16 B".
    pub fn label(size: usize, content: Content) -> String {
        let kind = match content {
            Content::Binary => "binary",
            Content::Text => "text",
            Content::MixedText => "mixed text",
        };
        format!("{kind} {}", human(size))
    }

    /// Payload bytes in the workload.
    pub fn payload_bytes(&self) -> usize {
        self.messages.iter().map(Message::len).sum()
    }
}

/// `size` bytes of valid UTF-8 in several scripts (1-, 2-, 3- and 4-byte characters), padded
/// with ASCII where a character would not fit.
fn mixed_text(size: usize) -> String {
    const PATTERN: &str = "Grüße, 世界! ✓ naïve café 😀 ";
    let mut text = String::with_capacity(size);
    for c in PATTERN.chars().cycle() {
        if text.len() + c.len_utf8() > size {
            break;
        }
        text.push(c);
    }
    while text.len() < size {
        text.push('x');
    }
    text
}

/// Encodes `messages` as a wsio client would send them (masked; compressed with `deflate`).
pub fn client_wire(messages: &[Message], deflate: Option<DeflateParams>) -> Vec<u8> {
    client_frames(messages, deflate).concat()
}

/// As [`client_wire`], one buffer per message, so that a load generator can write any number
/// of whole messages from pre-built bytes. Masks come from a seeded source: reproducible.
pub fn client_frames(messages: &[Message], deflate: Option<DeflateParams>) -> Vec<Vec<u8>> {
    let mut config = big_config();
    config.key_source = KeySource::Seeded(1);
    config.deflate.enabled = deflate.is_some();
    config.deflate.threshold = 0;
    let mut client = Connection::with_deflate(Role::Client, config, deflate);
    messages
        .iter()
        .map(|m| {
            client.send(m.clone()).unwrap();
            take_output(&mut client)
        })
        .collect()
}

/// A client's close frame (masked), to end an in-memory echo run the way a peer ends a
/// connection: every library answers it and ends its loop.
pub fn client_close() -> Vec<u8> {
    let mut config = big_config();
    config.key_source = KeySource::Seeded(2);
    let mut client = Connection::new(Role::Client, config);
    client.close(CloseCode::NORMAL, "").unwrap();
    take_output(&mut client)
}

/// Limits large enough for every workload.
pub fn big_config() -> Config {
    Config {
        max_frame_size: 64 << 20,
        max_message_size: 64 << 20,
        max_pending_output: usize::MAX,
        ..Config::default()
    }
}

/// `1 KiB`-style sizes.
pub fn human(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

/// Times each of `candidates` (each processes the whole workload once) `runs` times after one
/// warm-up each, in rounds that run every candidate once, and returns each one's median.
///
/// Why rounds: this machine's speed drifts (a VM's neighbours, frequency), by up to a quarter
/// within a minute. Timed one candidate after another, a slow spell can fall on one row of a
/// table and not on the next, and the ratio between them says more about the spell than about
/// the code; in rounds every row samples the same spells.
pub fn interleaved_medians(runs: usize, candidates: &mut [&mut dyn FnMut()]) -> Vec<Duration> {
    for f in candidates.iter_mut() {
        f();
    }
    let mut times = vec![Vec::with_capacity(runs); candidates.len()];
    for _ in 0..runs {
        for (f, times) in candidates.iter_mut().zip(&mut times) {
            let start = Instant::now();
            f();
            times.push(start.elapsed());
        }
    }
    times
        .into_iter()
        .map(|mut t| {
            t.sort();
            t[t.len() / 2]
        })
        .collect()
}

/// A stream that behaves like a socket under the echo benchmark's load, in memory: it hands its
/// input over in bursts of `burst` bytes (the echo benchmark's window of 16 frames), and once a
/// burst is read the next read finds nothing (`Pending`, the task woken at once, as when a
/// socket is drained and the next burst arrives). Writes always succeed and are only counted,
/// into `written`. So a server's loop runs as over TCP (a batching library writes once per
/// burst, before it waits) without the kernel's cost, which is most of the CPU of every server
/// over loopback and varies from run to run.
pub struct BurstStream<'a> {
    input: &'a [u8],
    pos: usize,
    burst: usize,
    /// A burst was read to its end: the next read returns `Pending` once.
    drained: bool,
    written: &'a Cell<usize>,
}

impl<'a> BurstStream<'a> {
    /// A stream yielding `input` whole, as fast as it is read, then the end of the stream; bytes
    /// written are added to `written`. For the decode and encode tables, which measure the
    /// codecs, not a socket: reads never find the stream empty before its end.
    pub fn whole(input: &'a [u8], written: &'a Cell<usize>) -> Self {
        Self::new(input, input.len(), written)
    }

    /// A stream yielding `input` in bursts of `burst` bytes, then the end of the stream;
    /// bytes written are added to `written`.
    pub fn new(input: &'a [u8], burst: usize, written: &'a Cell<usize>) -> Self {
        BurstStream {
            input,
            pos: 0,
            burst: burst.max(1),
            drained: false,
            written,
        }
    }
}

impl tokio::io::AsyncRead for BurstStream<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.drained {
            self.drained = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let boundary = (self.pos / self.burst + 1) * self.burst;
        let end = boundary.min(self.input.len());
        let n = buf.remaining().min(end - self.pos);
        let start = self.pos;
        buf.put_slice(&self.input[start..start + n]);
        self.pos += n;
        self.drained = n > 0 && self.pos == end;
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for BurstStream<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.written.set(self.written.get() + buf.len());
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let n: usize = bufs.iter().map(|b| b.len()).sum();
        self.written.set(self.written.get() + n);
        Poll::Ready(Ok(n))
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
