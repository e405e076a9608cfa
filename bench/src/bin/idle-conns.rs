//! Server memory per idle WebSocket connection.
//!
//! ```text
//! idle-conns --port N --pid SERVER_PID [--conns 10000] [--size 16] [--settle 2] [--deflate]
//! ```
//!
//! Reads the server's resident set size (`VmRSS`, `/proc/PID/status`) with no connection
//! open, opens `--conns` connections (upgrade, offering permessage-deflate with `--deflate`;
//! one `--size`-byte message sent, compressed if negotiated, and its echo read back, so every
//! connection is fully set up and has used its buffers once), leaves them idle for `--settle`
//! seconds, reads the RSS again and prints one line:
//! `conns= rss_before= rss_after= bytes_per_conn= deflate=` (bytes; `deflate` counts the
//! connections that negotiated it). Then it closes everything.
//!
//! The file-descriptor limit must allow `--conns` sockets in this process and in the server
//! (`bench/run.py` raises `RLIMIT_NOFILE` for both). Connections are opened 128 at a time, so
//! that the server's listen backlog never overflows (a dropped SYN costs a 1 s retry).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsio_bench::args::Args;
use wsio_bench::client::{EchoScanner, Frames, connect};
use wsio_bench::procfs::rss_bytes;

const USAGE: &str = "idle-conns --port N --pid SERVER_PID [--conns 10000] [--size 16] \
[--settle 2] [--deflate]";

/// How many connections are being set up at once.
const PARALLEL: usize = 128;

/// Opens one connection and exchanges one message on it.
async fn open(port: u16, size: usize, deflate: bool) -> Result<(TcpStream, bool), String> {
    let up = connect(port, deflate).await?;
    let mut stream = up.stream;
    let frames = Frames::new(1, size, false, up.deflate);
    stream
        .write_all(frames.first(1))
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut scanner = EchoScanner::new(size);
    let mut done = scanner.feed(&up.leftover).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4096];
    while done == 0 {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("server closed the connection".into());
        }
        done = scanner.feed(&buf[..n]).map_err(|e| e.to_string())?;
    }
    Ok((stream, up.deflate))
}

async fn run() -> Result<(), String> {
    let mut args = Args::from_env(USAGE);
    let port: u16 = args
        .optional("--port")?
        .ok_or_else(|| format!("--port is required\n{USAGE}"))?;
    let pid: u32 = args
        .optional("--pid")?
        .ok_or_else(|| format!("--pid is required\n{USAGE}"))?;
    let conns: usize = args.value("--conns", 10_000)?;
    let size: usize = args.value("--size", 16)?;
    let settle: f64 = args.value("--settle", 2.0)?;
    let deflate = args.flag("--deflate");
    args.finish()?;
    if conns == 0 {
        return Err("--conns must be positive".into());
    }

    let rss = || rss_bytes(Some(pid)).map_err(|e| format!("server RSS: {e}"));
    let before = rss()?;
    let mut streams = Vec::with_capacity(conns);
    let mut negotiated = 0;
    while streams.len() < conns {
        let batch = PARALLEL.min(conns - streams.len());
        let tasks: Vec<_> = (0..batch)
            .map(|_| tokio::spawn(open(port, size, deflate)))
            .collect();
        for task in tasks {
            let (stream, deflated) = task
                .await
                .map_err(|e| format!("task: {e}"))?
                .map_err(|e| format!("connection {}: {e}", streams.len() + 1))?;
            negotiated += usize::from(deflated);
            streams.push(stream);
        }
    }
    tokio::time::sleep(Duration::from_secs_f64(settle)).await;
    let after = rss()?;
    println!(
        "conns={conns} rss_before={before} rss_after={after} bytes_per_conn={:.0} deflate={negotiated}",
        (after as f64 - before as f64) / conns as f64
    );
    drop(streams);
    Ok(())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = runtime.block_on(run()) {
        eprintln!("idle-conns: {e}");
        std::process::exit(1);
    }
}
