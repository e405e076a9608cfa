//! The echo load generator: `--conns` WebSocket connections to `127.0.0.1:--port`, each sending
//! windows of `--window` messages of `--size` bytes (the next window once the last one is fully
//! echoed), measured for `--seconds` after `--warmup`.
//!
//! ```text
//! loadgen --port N [--conns 64] [--size 16] [--window 16] [--seconds 10] [--warmup 2]
//!         [--pid SERVER_PID] [--clk-tck 100] [--deflate] [--text]
//! ```
//!
//! Why our own: the comparison is "messages per server CPU-second", so the client must be the
//! same for every server, cheap (one thread on its own core that polls its non-blocking
//! sockets without sleeping, pre-built frames, one write per window, 64 KiB reads, no payload
//! copies; see `run` for why it never sleeps) and tolerant of what the servers send
//! back (the raw byte-copy server echoes our masked frames; deflate servers compress).
//!
//! Prints one line of `key=value` fields for `bench/run.py`:
//! `msgs= secs= msgs_per_s= server_cpu_s= msgs_per_cpu_s= server_cpu_util= client_cpu_s=
//! conns= size= window= deflate= errors=` (`deflate`: connections on which the server
//! accepted the `--deflate` offer; they send pre-compressed frames). Server CPU is
//! `utime + stime` of `/proc/PID/stat` (all threads) over the measured interval, in ticks of
//! `--clk-tck` (`getconf CLK_TCK`, 100 on Linux). Exits 1 if any connection failed (the line
//! is still printed; the first errors go to stderr), 2 on bad arguments or if not every
//! connection could be set up.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use wsio_bench::args::Args;
use wsio_bench::client::{EchoScanner, Frames, connect};
use wsio_bench::procfs::cpu_ticks;

const USAGE: &str = "loadgen --port N [--conns 64] [--size 16] [--window 16] [--seconds 10] \
[--warmup 2] [--pid SERVER_PID] [--clk-tck 100] [--deflate] [--text]";

struct Options {
    port: u16,
    conns: usize,
    size: usize,
    window: usize,
    seconds: f64,
    warmup: f64,
    pid: Option<u32>,
    clk_tck: f64,
    deflate: bool,
    text: bool,
}

fn options() -> Result<Options, String> {
    let mut args = Args::from_env(USAGE);
    let options = Options {
        port: args
            .optional("--port")?
            .ok_or_else(|| format!("--port is required\n{USAGE}"))?,
        conns: args.value("--conns", 64)?,
        size: args.value("--size", 16)?,
        window: args.value("--window", 16)?,
        seconds: args.value("--seconds", 10.0)?,
        warmup: args.value("--warmup", 2.0)?,
        pid: args.optional("--pid")?,
        clk_tck: args.value("--clk-tck", 100.0)?,
        deflate: args.flag("--deflate"),
        text: args.flag("--text"),
    };
    args.finish()?;
    if options.conns == 0 || options.window == 0 || options.seconds <= 0.0 {
        return Err(format!(
            "--conns, --window and --seconds must be positive\n{USAGE}"
        ));
    }
    Ok(options)
}

/// One connection of the measurement loop.
struct Conn {
    stream: TcpStream,
    scanner: EchoScanner,
    /// Whether the server accepted deflate (it gets the compressed frames).
    compressed: bool,
    /// Echoes of the current window received so far.
    back: usize,
    /// Bytes of the current window not yet taken by the socket.
    unsent: usize,
}

/// Sets up every connection (tokio, for the handshakes), then hands them over as plain
/// non-blocking sockets to the measurement loop.
fn connect_all(o: &Options) -> Result<(Vec<Conn>, Vec<Vec<u8>>), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let mut conns = Vec::new();
    let mut leftovers = Vec::new();
    for _ in 0..o.conns {
        let up = runtime.block_on(connect(o.port, o.deflate))?;
        let stream = up.stream.into_std().map_err(|e| format!("socket: {e}"))?;
        stream
            .set_nonblocking(true)
            .map_err(|e| format!("socket: {e}"))?;
        conns.push(Conn {
            stream,
            scanner: EchoScanner::new(o.size),
            compressed: up.deflate,
            back: 0,
            unsent: 0,
        });
        leftovers.push(up.leftover.to_vec());
    }
    Ok((conns, leftovers))
}

/// Writes what the socket takes of the current window's remaining bytes.
fn push(conn: &mut Conn, window: &[u8]) -> Result<(), String> {
    while conn.unsent > 0 {
        let from = window.len() - conn.unsent;
        match conn.stream.write(&window[from..]) {
            Ok(0) => return Err("write: socket closed".into()),
            Ok(n) => conn.unsent -= n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("write: {e}")),
        }
    }
    Ok(())
}

/// A point of the measurement.
struct Snapshot {
    at: Instant,
    echoed: u64,
    server: Option<u64>,
    client: Option<u64>,
}

fn snapshot(echoed: u64, pid: Option<u32>) -> Snapshot {
    Snapshot {
        at: Instant::now(),
        echoed,
        server: pid.and_then(|pid| cpu_ticks(Some(pid)).ok()),
        client: cpu_ticks(None).ok(),
    }
}

fn main() {
    let options = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    std::process::exit(run(options));
}

/// The measurement: every connection sends a window of messages in one write, and the next
/// window once all of its echoes are back.
///
/// Refilling the window whenever any echo arrives let batch sizes drift into whatever regime
/// the first seconds happened to set up (one message per read, or sixteen), and the same
/// server measured twice differed by half; whole windows give every server the same bursts.
///
/// The loop polls the non-blocking sockets in turn without ever sleeping. A load generator
/// that sleeps in `epoll_wait` makes the server pay for waking it (on loopback the sender's
/// system call runs the receiver's wake-up), and pays it more often the faster the server
/// is: a byte-copy server kept its client busy and was charged less per message than a
/// slower one. Spinning on its own core, the client is always awake and every server's CPU
/// seconds count only its own work.
fn run(o: Options) -> i32 {
    let (mut conns, leftovers) = match connect_all(&o) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("loadgen: setting up the connections failed: {e}");
            return 2;
        }
    };
    let plain = Frames::new(o.window, o.size, o.text, false);
    let compressed = o
        .deflate
        .then(|| Frames::new(o.window, o.size, o.text, true));
    let negotiated = conns.iter().filter(|c| c.compressed).count();
    let window_of = |c: &Conn| -> &[u8] {
        match (&compressed, c.compressed) {
            (Some(frames), true) => frames.first(o.window),
            _ => plain.first(o.window),
        }
    };
    let mut errors: Vec<String> = Vec::new();
    let mut failed = vec![false; conns.len()];
    let mut echoed = 0u64;
    for (i, conn) in conns.iter_mut().enumerate() {
        let result = conn
            .scanner
            .feed(&leftovers[i])
            .map_err(|e| e.to_string())
            .and_then(|done| match done {
                0 => Ok(()),
                n => Err(format!("{n} echoes before any message was sent")),
            });
        conn.unsent = window_of(conn).len();
        if let Err(e) = result.and_then(|()| push(conn, window_of(conn))) {
            errors.push(e);
            failed[i] = true;
        }
    }

    let warmup_end = Instant::now() + Duration::from_secs_f64(o.warmup);
    let mut start: Option<Snapshot> = None;
    let mut end_at = warmup_end;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        for (i, conn) in conns.iter_mut().enumerate() {
            if failed[i] {
                continue;
            }
            let window = window_of(conn);
            let result = (|| -> Result<(), String> {
                push(conn, window)?;
                let n = match conn.stream.read(&mut buf) {
                    Ok(0) => return Err("server closed the connection".into()),
                    Ok(n) => n,
                    Err(e)
                        if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) =>
                    {
                        return Ok(());
                    }
                    Err(e) => return Err(format!("read: {e}")),
                };
                let done = conn.scanner.feed(&buf[..n]).map_err(|e| e.to_string())? as usize;
                conn.back += done;
                echoed += done as u64;
                if conn.back > o.window {
                    return Err(format!("{} echoes with {} in flight", conn.back, o.window));
                }
                if conn.back == o.window {
                    if conn.unsent > 0 {
                        return Err("echoes of bytes not yet sent".into());
                    }
                    conn.back = 0;
                    conn.unsent = window.len();
                    push(conn, window)?;
                }
                Ok(())
            })();
            if let Err(e) = result {
                errors.push(e);
                failed[i] = true;
            }
        }
        let now = Instant::now();
        match &start {
            None if now >= warmup_end => {
                start = Some(snapshot(echoed, o.pid));
                end_at = now + Duration::from_secs_f64(o.seconds);
            }
            Some(_) if now >= end_at => break,
            _ => {}
        }
    }
    let start = start.expect("taken after the warm-up");
    let end = snapshot(echoed, o.pid);

    let secs = (end.at - start.at).as_secs_f64();
    let msgs = end.echoed - start.echoed;
    let ticks = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / o.clk_tck),
        _ => None,
    };
    let server_cpu = ticks(start.server, end.server);
    let client_cpu = ticks(start.client, end.client);
    let fmt = |v: Option<f64>, digits: usize| match v {
        Some(v) => format!("{v:.digits$}"),
        None => "nan".into(),
    };
    println!(
        "msgs={msgs} secs={secs:.3} msgs_per_s={:.0} server_cpu_s={} msgs_per_cpu_s={} \
         server_cpu_util={} client_cpu_s={} conns={} size={} window={} deflate={} errors={}",
        msgs as f64 / secs,
        fmt(server_cpu, 2),
        fmt(server_cpu.filter(|c| *c > 0.0).map(|c| msgs as f64 / c), 0),
        fmt(server_cpu.map(|c| c / secs), 3),
        fmt(client_cpu, 2),
        o.conns,
        o.size,
        o.window,
        negotiated,
        errors.len(),
    );
    if o.pid.is_some() && server_cpu.is_none() {
        eprintln!("loadgen: could not read /proc/PID/stat of the server");
    }
    for e in errors.iter().take(3) {
        eprintln!("loadgen: connection failed: {e}");
    }
    i32::from(!errors.is_empty())
}
