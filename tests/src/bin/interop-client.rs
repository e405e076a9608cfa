//! A client on one of our runtimes that puts a peer written by others (Python `websockets`)
//! through the interop checks. Used by `tests/interop/run.sh`.
//!
//! `interop-client --runtime std|tokio|smol --url ws://... [--compress] [--expect-compressed
//! yes|no] [--protocol NAME] [--expect-ping] [--peer-closes]`
//!
//! Against an echo server it:
//! 1. offers permessage-deflate if `--compress` and the subprotocol `NAME` if `--protocol`,
//!    and checks what the server chose (compression expected iff offered, unless
//!    `--expect-compressed` says otherwise; the subprotocol iff offered);
//! 2. sends text and binary messages of 0, 125, 126, 65535, 65536 bytes and 1 MiB and checks
//!    that each echo comes back with the same kind and the same bytes;
//! 3. pings and waits for the matching pong;
//! 4. with `--expect-ping`, waits until the server's own ping has reached our ping handler
//!    (whose answer, the pong, the server checks on its side);
//! 5. closes with 4000 and a reason and checks that the server's close frame echoes the code,
//!    or with `--peer-closes` asks the server (text `close 4002 <reason>`) to close and checks
//!    the code and reason it sent.
//!
//! Prints one line per step and exits non-zero at the first mismatch.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use wsio_core::{CloseCode, Config, Message};
use wsio_std::ClientOptions;
use wsio_tests::{Conn, Runtime, Smol, Std, Tokio};

/// The payload sizes every interop peer exchanges: both edges of the 7-bit and 16-bit length
/// forms, the first 64-bit one, and a large message.
const SIZES: [usize; 6] = [0, 125, 126, 65535, 65536, 1 << 20];

/// How long any one wait (an echo, a pong, the peer's ping) may take.
const WAIT: Duration = Duration::from_secs(10);

const USAGE: &str = "usage: interop-client --runtime std|tokio|smol --url ws://... [--compress] \
                     [--expect-compressed yes|no] [--protocol NAME] [--expect-ping] [--peer-closes]";

/// What the command line asked for.
struct Args {
    url: String,
    compress: bool,
    expect_compressed: Option<bool>,
    protocol: Option<String>,
    expect_ping: bool,
    peer_closes: bool,
}

fn main() -> ExitCode {
    let mut runtime = None;
    let mut args = Args {
        url: String::new(),
        compress: false,
        expect_compressed: None,
        protocol: None,
        expect_ping: false,
        peer_closes: false,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--runtime" => runtime = argv.next(),
            "--url" => args.url = argv.next().unwrap_or_default(),
            "--compress" => args.compress = true,
            "--expect-compressed" => {
                args.expect_compressed = match argv.next().as_deref() {
                    Some("yes") => Some(true),
                    Some("no") => Some(false),
                    _ => return usage(),
                }
            }
            "--protocol" => args.protocol = argv.next(),
            "--expect-ping" => args.expect_ping = true,
            "--peer-closes" => args.peer_closes = true,
            _ => return usage(),
        }
    }
    if args.url.is_empty() {
        return usage();
    }
    let result = match runtime.as_deref() {
        Some("std") => run::<Std>(&args),
        Some("tokio") => run::<Tokio>(&args),
        Some("smol") => run::<Smol>(&args),
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

/// Valid UTF-8 of exactly `len` bytes, mixing one- to four-byte characters so that code points
/// straddle frame and inflate-buffer boundaries; ASCII pads the end.
fn text_payload(len: usize) -> String {
    let mut text = String::with_capacity(len);
    for c in ['a', 'é', '€', '😀', 'z', ' '].iter().cycle() {
        if text.len() + c.len_utf8() > len {
            break;
        }
        text.push(*c);
    }
    while text.len() < len {
        text.push('.');
    }
    text
}

/// `len` bytes: a noisy first half (xorshift, which deflate cannot shrink), then the start of
/// that noise repeated every 6000 bytes (which it can, but only with matches further back than
/// a 9- to 12-bit window reaches).
fn binary_payload(len: usize) -> Vec<u8> {
    let half = len / 2;
    let mut state = 0x2545_f491_u32;
    let mut out: Vec<u8> = (0..half)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    let period = half.min(6000);
    for i in half..len {
        out.push(if period > 0 { out[i % period] } else { 0 });
    }
    out
}

fn run<R: Runtime>(args: &Args) -> Result<(), String> {
    let mut config = Config {
        max_message_size: 16 << 20,
        ..Config::default()
    };
    config.deflate.enabled = args.compress;
    let options = ClientOptions {
        protocols: args.protocol.iter().cloned().collect(),
        config,
        ..ClientOptions::default()
    };
    let (mut conn, response) =
        R::connect_with_response(&args.url, options).map_err(|e| format!("connect: {e}"))?;

    // Handlers first: the server may ping straight after its 101.
    let pings = Arc::new(Mutex::new(Vec::<Bytes>::new()));
    let seen = pings.clone();
    conn.set_ping_handler(Some(Box::new(move |payload: &Bytes| {
        seen.lock().unwrap().push(payload.clone());
        Some(payload.clone())
    })));
    let pongs = Arc::new(Mutex::new(Vec::<Bytes>::new()));
    let seen = pongs.clone();
    conn.set_pong_handler(Some(Box::new(move |payload: &Bytes| {
        seen.lock().unwrap().push(payload.clone());
    })));

    let chosen = response
        .header("Sec-WebSocket-Protocol")
        .map(|p| String::from_utf8_lossy(p).into_owned());
    if chosen != args.protocol {
        return Err(format!(
            "subprotocol: offered {:?}, server chose {chosen:?}",
            args.protocol
        ));
    }
    println!("ok subprotocol {:?}", chosen);
    let expected = args.expect_compressed.unwrap_or(args.compress);
    if conn.compressed() != expected {
        return Err(format!(
            "compression: expected {expected}, negotiated {} ({:?})",
            conn.compressed(),
            response
                .header("Sec-WebSocket-Extensions")
                .map(String::from_utf8_lossy)
        ));
    }
    println!("ok compression {expected}");

    for size in SIZES {
        let text = text_payload(size);
        echo(&mut *conn, Message::text(text))?;
        echo(&mut *conn, Message::binary(binary_payload(size)))?;
        println!("ok echo text+binary {size}");
    }

    conn.ping(b"wsio-ping").map_err(|e| format!("ping: {e}"))?;
    wait_for(&mut *conn, "our ping's pong", || {
        pongs
            .lock()
            .unwrap()
            .iter()
            .any(|p| p.as_ref() == b"wsio-ping")
    })?;
    println!("ok pong");

    if args.expect_ping {
        wait_for(&mut *conn, "the server's ping", || {
            !pings.lock().unwrap().is_empty()
        })?;
        println!("ok ping from peer {:?}", pings.lock().unwrap()[0]);
    }

    if args.peer_closes {
        let reason = "peer says bye ✓";
        conn.send(Message::text(format!("close 4002 {reason}")))
            .map_err(|e| format!("send close request: {e}"))?;
        match conn.recv_within(WAIT) {
            Some(None) => {}
            Some(Some(other)) => return Err(format!("expected the peer's close, got {other:?}")),
            None => return Err("no close from the peer in time".into()),
        }
        match conn.peer_close() {
            Some(Some(frame))
                if frame.code == CloseCode(4002) && frame.reason.as_str() == reason => {}
            other => {
                return Err(format!(
                    "peer's close: expected 4002 {reason:?}, got {other:?}"
                ));
            }
        }
        // Our reply went out while reading; closing again only finishes the transport.
        conn.close(CloseCode::NORMAL, "")
            .map_err(|e| format!("close after the peer's: {e}"))?;
        println!("ok peer closed 4002 {reason:?}");
    } else {
        conn.close(CloseCode(4000), "wsio says bye ✓")
            .map_err(|e| format!("close: {e}"))?;
        match conn.peer_close() {
            Some(Some(frame)) if frame.code == CloseCode(4000) => {
                println!("ok closed 4000, peer echoed {:?}", frame.reason.as_str())
            }
            other => return Err(format!("close reply: expected 4000, got {other:?}")),
        }
    }
    Ok(())
}

/// Sends `message` and checks that the next message is its exact echo.
fn echo(conn: &mut dyn Conn, message: Message) -> Result<(), String> {
    let (kind, len) = (message.kind(), message.len());
    conn.send(message.clone())
        .map_err(|e| format!("send {kind:?} {len}: {e}"))?;
    match conn.recv_within(WAIT) {
        Some(Some(Ok(echo))) if echo == message => Ok(()),
        Some(Some(Ok(echo))) => {
            let first_diff = echo
                .as_bytes()
                .iter()
                .zip(message.as_bytes())
                .position(|(a, b)| a != b);
            Err(format!(
                "echo of {kind:?} {len}: got {:?} of {} bytes, first difference at {first_diff:?}",
                echo.kind(),
                echo.len()
            ))
        }
        Some(Some(Err(e))) => Err(format!("echo of {kind:?} {len}: {e}")),
        Some(None) => Err(format!("echo of {kind:?} {len}: the peer closed")),
        None => Err(format!("echo of {kind:?} {len}: none within {WAIT:?}")),
    }
}

/// Reads (expecting no message) until `done` holds: control frames reach the handlers only
/// while we read.
fn wait_for(conn: &mut dyn Conn, what: &str, done: impl Fn() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + WAIT;
    while !done() {
        if Instant::now() >= deadline {
            return Err(format!("{what}: not seen within {WAIT:?}"));
        }
        match conn.recv_within(Duration::from_millis(50)) {
            None => {}
            Some(Some(Ok(message))) => {
                return Err(format!("waiting for {what}: unexpected {message:?}"));
            }
            Some(Some(Err(e))) => return Err(format!("waiting for {what}: {e}")),
            Some(None) => return Err(format!("waiting for {what}: the peer closed")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Python and browser peers make the same payloads (payloads.py, echo.html), so that
    /// a failure reads the same from every side.
    #[test]
    fn payloads_are_those_of_the_other_peers() {
        assert_eq!(
            binary_payload(20),
            [
                58, 171, 172, 38, 175, 35, 26, 113, 108, 145, 58, 171, 172, 38, 175, 35, 26, 113,
                108, 145
            ]
        );
        assert_eq!(text_payload(16), "aé€😀z aé.");
        for size in SIZES {
            assert_eq!(text_payload(size).len(), size);
            assert_eq!(binary_payload(size).len(), size);
        }
    }
}
