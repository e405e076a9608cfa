//! In-memory decode (server role, masked client frames) and encode (client role) throughput of
//! wsio and its peers in one run, with memcpy of the same bytes as the ceiling.
//!
//! wsio decodes twice: `wsio` is handed the bytes with `Connection::receive` (the sans-IO
//! intake of bytes the caller holds, which unmasks a large frame's payload as it copies it),
//! `wsio read_buf` has them copied into its read buffer, as the runtimes' socket reads do
//! (unmasked in place afterwards). The peers are handed theirs through their own stream
//! interfaces over the same memory, each a copy.
//!
//! `cargo run --release -p wsio-bench --features peers --bin codec` (peers are measured only
//! with the feature; without it, wsio and memcpy alone). Prints medians of 7 runs, taken in
//! rounds that time every row of a table once, and ratios.
//! Arguments, if any, select tables: only those whose title contains every one of them run
//! (`codec decode "64 KiB"`).
//!
//! The `echo` tables run each server loop of the TCP echo benchmark (`echo-server`,
//! `peer-echo-server`) over an in-memory stream that hands over bursts of 16 frames
//! ([`BurstStream`]): the libraries' own CPU per message, without the kernel's, which is most
//! of every server's CPU over loopback.

use std::hint::black_box;
use std::time::Duration;

use std::cell::Cell;

use wsio_bench::{
    BurstStream, Content, Workload, big_config, client_close, client_wire, interleaved_medians,
};
use wsio_core::{Connection, DeflateParams, Event, Message, Role};

const RUNS: usize = 7;
/// Payload per workload: enough for a stable median, small enough to run in seconds.
const TOTAL: usize = 32 << 20;

struct Row {
    name: &'static str,
    time: Duration,
}

/// How wsio's decode row is handed its bytes.
#[derive(Clone, Copy)]
enum Intake {
    /// `Connection::receive`: bytes the caller holds, copied in (and a large frame's payload
    /// unmasked on the way), as a sans-IO user feeds them.
    Receive,
    /// Straight into `Connection::read_buf`, as the runtimes read a socket (the copy here stands
    /// for the socket read's); unmasked in place afterwards.
    ReadBuf,
}

fn wsio_decode(wire: &[u8], expected: usize, deflate: Option<DeflateParams>, intake: Intake) {
    let mut conn = Connection::with_deflate(Role::Server, big_config(), deflate);
    let mut received = 0;
    // Reads of up to 64 KiB, sized by `prepare_read` (which ends a read at the end of a large
    // frame and makes room for it), as the runtimes read.
    let mut pos = 0;
    while pos < wire.len() {
        let n = conn.prepare_read(64 << 10).min(wire.len() - pos);
        let piece = &wire[pos..pos + n];
        match intake {
            Intake::Receive => conn.receive(piece),
            Intake::ReadBuf => conn.read_buf().extend_from_slice(piece),
        }
        pos += n;
        while let Some(event) = conn.poll_event().unwrap() {
            if let Event::Message(m) = event {
                black_box(m);
                received += 1;
            }
        }
    }
    assert_eq!(received, expected);
}

fn wsio_encode(messages: &[Message]) {
    use bytes::Buf;
    let mut conn = Connection::new(Role::Client, big_config());
    for m in messages {
        conn.send(m.clone()).unwrap();
        // Written out (as by a socket that takes everything) after every message.
        while let Some(out) = conn.poll_transmit() {
            black_box(out.chunk());
            let n = out.remaining();
            out.advance(n);
        }
    }
}

/// Frames per burst in the echo tables: the TCP echo benchmark's window.
const BURST_FRAMES: usize = 16;

/// The runtime every async row runs on (wsio's echo loop and the async peers): tokio's
/// current-thread scheduler, as the echo servers use.
fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
}

/// A server loop run over the `wire` in bursts of `burst` bytes, adding what it writes to
/// `written`; hand-batched or not (wsio's has one form, the README's).
type EchoLoop = fn(&[u8], usize, &Cell<usize>, bool);

/// The README's server loop (as `echo-server --runtime tokio`) over a [`BurstStream`].
fn wsio_echo(wire: &[u8], burst: usize, written: &Cell<usize>, _batched: bool) {
    current_thread().block_on(async {
        let stream = BurstStream::new(wire, burst, written);
        let mut ws =
            wsio_tokio::from_connection(Connection::new(Role::Server, big_config()), stream);
        while let Some(message) = ws.recv().await {
            ws.send(message.unwrap()).await.unwrap();
        }
    });
}

fn memcpy(wire: &[u8]) {
    let mut sink = vec![0u8; 64 << 10];
    for chunk in wire.chunks(64 << 10) {
        sink[..chunk.len()].copy_from_slice(chunk);
        black_box(&sink);
    }
}

#[cfg(feature = "peers")]
mod peers {
    use std::hint::black_box;
    use std::io::{self, Read, Write};

    use std::cell::Cell;

    use futures_util::{SinkExt, StreamExt};
    use wsio_bench::{BurstStream, peer_loops};
    use wsio_core::Message;

    /// A blocking stream over a prepared buffer, for tungstenite.
    struct SyncMem<'a> {
        input: &'a [u8],
    }

    impl Read for SyncMem<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.input.read(buf)
        }
    }

    impl Write for SyncMem<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            black_box(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn tungstenite_config() -> tungstenite::protocol::WebSocketConfig {
        tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(None)
            .max_frame_size(None)
    }

    pub fn tungstenite_decode(wire: &[u8], expected: usize) {
        let stream = SyncMem { input: wire };
        let mut ws = tungstenite::WebSocket::from_raw_socket(
            stream,
            tungstenite::protocol::Role::Server,
            Some(tungstenite_config()),
        );
        for _ in 0..expected {
            black_box(ws.read().unwrap());
        }
    }

    pub fn tungstenite_encode(messages: &[Message]) {
        let stream = SyncMem { input: &[] };
        let mut ws = tungstenite::WebSocket::from_raw_socket(
            stream,
            tungstenite::protocol::Role::Client,
            Some(tungstenite_config()),
        );
        for m in messages {
            let m = match m {
                Message::Text(t) => tungstenite::Message::text(t.as_str()),
                // The workload's payloads are held as `Bytes`: no copy.
                Message::Binary(b) => tungstenite::Message::binary(b.clone().into_bytes()),
            };
            ws.send(m).unwrap();
        }
    }

    pub fn tokio_websockets_decode(wire: &[u8], expected: usize) {
        super::current_thread().block_on(async {
            let builder = tokio_websockets::ServerBuilder::new()
                .limits(tokio_websockets::Limits::unlimited());
            let written = Cell::new(0);
            let mut ws = builder.serve(BurstStream::whole(wire, &written));
            for _ in 0..expected {
                black_box(ws.next().await.unwrap().unwrap());
            }
        });
    }

    pub fn tokio_websockets_encode(messages: &[Message]) {
        super::current_thread().block_on(async {
            let written = Cell::new(0);
            let mut ws =
                tokio_websockets::ClientBuilder::new().take_over(BurstStream::whole(&[], &written));
            for m in messages {
                let m = match m {
                    Message::Text(t) => tokio_websockets::Message::text(t.as_str().to_owned()),
                    Message::Binary(b) => tokio_websockets::Message::binary(b.clone().into_bytes()),
                };
                ws.feed(m).await.unwrap();
            }
            ws.flush().await.unwrap();
        });
    }

    /// `peer-echo-server`'s loops, readme or batched, over a [`BurstStream`].
    pub fn tungstenite_echo(wire: &[u8], burst: usize, written: &Cell<usize>, batched: bool) {
        super::current_thread().block_on(async {
            let stream = BurstStream::new(wire, burst, written);
            let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                stream,
                tungstenite::protocol::Role::Server,
                Some(tungstenite_config()),
            )
            .await;
            let data = |m: &tungstenite::Message| m.is_text() || m.is_binary();
            let ended = if batched {
                peer_loops::echo_batched(ws, data).await
            } else {
                peer_loops::echo_readme(ws, data).await
            };
            ended.unwrap();
        });
    }

    pub fn tokio_websockets_echo(wire: &[u8], burst: usize, written: &Cell<usize>, batched: bool) {
        super::current_thread().block_on(async {
            let stream = BurstStream::new(wire, burst, written);
            let ws = tokio_websockets::ServerBuilder::new()
                .limits(tokio_websockets::Limits::unlimited())
                .serve(stream);
            let data = |m: &tokio_websockets::Message| m.is_text() || m.is_binary();
            let ended = if batched {
                peer_loops::echo_batched(ws, data).await
            } else {
                peer_loops::echo_readme(ws, data).await
            };
            ended.unwrap();
        });
    }

    pub fn fastwebsockets_echo(wire: &[u8], burst: usize, written: &Cell<usize>, batched: bool) {
        super::current_thread().block_on(tokio::task::unconstrained(async {
            let stream = BurstStream::new(wire, burst, written);
            if batched {
                let mut stream =
                    peer_loops::fastwebsockets_echo(peer_loops::WriteBatcher::new(stream))
                        .await
                        .unwrap();
                tokio::io::AsyncWriteExt::shutdown(&mut stream)
                    .await
                    .unwrap();
            } else {
                peer_loops::fastwebsockets_echo(stream).await.unwrap();
            }
        }));
    }

    pub fn fastwebsockets_decode(wire: &[u8], expected: usize) {
        super::current_thread().block_on(async {
            let written = Cell::new(0);
            let mut ws = fastwebsockets::WebSocket::after_handshake(
                BurstStream::whole(wire, &written),
                fastwebsockets::Role::Server,
            );
            ws.set_max_message_size(usize::MAX);
            for _ in 0..expected {
                let frame = ws.read_frame().await.unwrap();
                black_box(frame.payload.len());
            }
        });
    }

    pub fn fastwebsockets_encode(messages: &[Message]) {
        super::current_thread().block_on(async {
            let written = Cell::new(0);
            let mut ws = fastwebsockets::WebSocket::after_handshake(
                BurstStream::whole(&[], &written),
                fastwebsockets::Role::Client,
            );
            for m in messages {
                let frame = match m {
                    Message::Text(t) => {
                        fastwebsockets::Frame::text(fastwebsockets::Payload::Borrowed(t.as_bytes()))
                    }
                    Message::Binary(b) => {
                        fastwebsockets::Frame::binary(fastwebsockets::Payload::Borrowed(b))
                    }
                };
                ws.write_frame(frame).await.unwrap();
            }
        });
    }
}

fn report(title: &str, bytes: usize, messages: usize, rows: &[Row]) {
    let best_peer = rows
        .iter()
        .filter(|r| !r.name.starts_with("wsio") && r.name != "memcpy")
        .map(|r| r.time)
        .min();
    let memcpy = rows.iter().find(|r| r.name == "memcpy").map(|r| r.time);
    println!("{title}");
    for row in rows {
        let secs = row.time.as_secs_f64();
        let mut line = format!(
            "  {:<25} {:>10.2} Mmsg/s {:>9.0} MiB/s",
            row.name,
            messages as f64 / secs / 1e6,
            bytes as f64 / secs / (1 << 20) as f64
        );
        if row.name.starts_with("wsio") {
            if let Some(peer) = best_peer {
                line += &format!("   {:.2}x best peer", peer.as_secs_f64() / secs);
            }
            if let Some(m) = memcpy {
                line += &format!("   {:.0}% of memcpy", m.as_secs_f64() / secs * 100.0);
            }
        }
        println!("{line}");
    }
}

/// One row of a table to be measured: its name and a run over the whole workload.
type Candidate<'a> = (&'static str, Box<dyn FnMut() + 'a>);

/// Times the candidates of one table in interleaved rounds (`interleaved_medians`).
fn measure(candidates: &mut [Candidate<'_>]) -> Vec<Row> {
    let mut fns: Vec<&mut dyn FnMut()> =
        candidates.iter_mut().map(|(_, f)| &mut **f as _).collect();
    let times = interleaved_medians(RUNS, &mut fns);
    candidates
        .iter()
        .zip(times)
        .map(|((name, _), time)| Row { name, time })
        .collect()
}

/// Whether the table titled `title` was selected on the command line.
fn selected(title: &str) -> bool {
    std::env::args()
        .skip(1)
        .all(|filter| title.contains(&filter))
}

fn main() {
    let deflate = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    for content in [Content::Binary, Content::Text, Content::MixedText] {
        for size in [16usize, 1 << 10, 64 << 10, 1 << 20] {
            let count = Workload::count(size, TOTAL);
            let label = Workload::label(size, content);
            let decode_title = format!("decode {label} ({count} messages)");
            let encode_title = format!("encode {label} ({count} messages)");
            let (decode, encode) = (selected(&decode_title), selected(&encode_title));
            if !decode && !encode {
                continue;
            }
            let w = Workload::new(size, content, TOTAL);
            let bytes = w.payload_bytes();
            if decode {
                let compressed = client_wire(&w.messages, Some(deflate));
                let mut rows: Vec<Candidate<'_>> = vec![
                    ("memcpy", Box::new(|| memcpy(&w.wire))),
                    (
                        "wsio",
                        Box::new(|| wsio_decode(&w.wire, count, None, Intake::Receive)),
                    ),
                    (
                        "wsio read_buf",
                        Box::new(|| wsio_decode(&w.wire, count, None, Intake::ReadBuf)),
                    ),
                    (
                        "wsio+deflate",
                        Box::new(|| {
                            wsio_decode(&compressed, count, Some(deflate), Intake::Receive)
                        }),
                    ),
                ];
                #[cfg(feature = "peers")]
                rows.extend([
                    (
                        "tungstenite",
                        Box::new(|| peers::tungstenite_decode(&w.wire, count))
                            as Box<dyn FnMut() + '_>,
                    ),
                    (
                        "tokio-websockets",
                        Box::new(|| peers::tokio_websockets_decode(&w.wire, count)),
                    ),
                    (
                        "fastwebsockets",
                        Box::new(|| peers::fastwebsockets_decode(&w.wire, count)),
                    ),
                ]);
                report(&decode_title, bytes, count, &measure(&mut rows));
            }
            if !encode {
                continue;
            }
            let mut rows: Vec<Candidate<'_>> = vec![
                ("memcpy", Box::new(|| memcpy(&w.wire))),
                ("wsio", Box::new(|| wsio_encode(&w.messages))),
            ];
            #[cfg(feature = "peers")]
            rows.extend([
                (
                    "tungstenite",
                    Box::new(|| peers::tungstenite_encode(&w.messages)) as Box<dyn FnMut() + '_>,
                ),
                (
                    "tokio-websockets",
                    Box::new(|| peers::tokio_websockets_encode(&w.messages)),
                ),
                (
                    "fastwebsockets",
                    Box::new(|| peers::fastwebsockets_encode(&w.messages)),
                ),
            ]);
            report(&encode_title, bytes, count, &measure(&mut rows));
        }
    }
    for size in [16usize, 1 << 10] {
        let count = Workload::count(size, TOTAL);
        let title = format!(
            "echo {} in memory, bursts of {BURST_FRAMES} ({count} messages)",
            Workload::label(size, Content::Binary)
        );
        if !selected(&title) {
            continue;
        }
        let w = Workload::new(size, Content::Binary, TOTAL);
        let mut wire = w.wire.clone();
        wire.extend(client_close());
        let burst = w.wire.len() / count * BURST_FRAMES;
        // Every echo must have been written: a server frame is the payload and a 2- or 4-byte
        // header.
        let least = count * (size + 2);
        let written = Cell::new(0);
        let checked = |name: &str, echo: EchoLoop, batched: bool| {
            written.set(0);
            echo(&wire, burst, &written, batched);
            assert!(
                written.get() >= least,
                "{name} wrote {} of {least} bytes",
                written.get()
            );
        };
        // Extended with the peers' loops when they are built.
        #[allow(unused_mut)]
        let mut loops: Vec<(&'static str, EchoLoop, bool)> = vec![("wsio", wsio_echo, false)];
        #[cfg(feature = "peers")]
        loops.extend([
            (
                "tokio-tungstenite",
                peers::tungstenite_echo as EchoLoop,
                false,
            ),
            ("tokio-tungstenite batched", peers::tungstenite_echo, true),
            ("tokio-websockets", peers::tokio_websockets_echo, false),
            (
                "tokio-websockets batched",
                peers::tokio_websockets_echo,
                true,
            ),
            ("fastwebsockets", peers::fastwebsockets_echo, false),
            ("fastwebsockets batched", peers::fastwebsockets_echo, true),
        ]);
        let mut rows: Vec<Candidate<'_>> = loops
            .into_iter()
            .map(|(name, echo, batched)| {
                let run: Box<dyn FnMut() + '_> = Box::new(move || checked(name, echo, batched));
                (name, run)
            })
            .collect();
        report(&title, w.payload_bytes(), count, &measure(&mut rows));
    }
}
