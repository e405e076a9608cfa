//! The echo load generator: `--conns` WebSocket connections to `127.0.0.1:--port`, each keeping
//! `--window` messages of `--size` bytes in flight, measured for `--seconds` after `--warmup`.
//!
//! ```text
//! loadgen --port N [--conns 64] [--size 16] [--window 16] [--seconds 10] [--warmup 2]
//!         [--pid SERVER_PID] [--clk-tck 100] [--deflate] [--text]
//! ```
//!
//! Why our own: the comparison is "messages per server CPU-second", so the client must be the
//! same for every server, cheap (one thread on its own core, pre-built frames, one write per
//! batch of refills, 64 KiB reads, no payload copies) and tolerant of what the servers send
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

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsio_bench::args::Args;
use wsio_bench::client::{EchoScanner, Frames, connect};
use wsio_bench::procfs::cpu_ticks;

const USAGE: &str = "loadgen --port N [--conns 64] [--size 16] [--window 16] [--seconds 10] \
[--warmup 2] [--pid SERVER_PID] [--clk-tck 100] [--deflate] [--text]";

/// What the connection tasks share with the measuring task (one thread: `Rc`, `Cell`).
struct Shared {
    port: u16,
    size: usize,
    window: usize,
    deflate: bool,
    /// Frames as sent when the server did not accept deflate.
    plain: Frames,
    /// Frames as sent when it did (compressed; built only with `--deflate`).
    compressed: Option<Frames>,
    /// Messages echoed, all connections.
    echoed: Cell<u64>,
    /// Connections upgraded.
    connected: Cell<usize>,
    /// Connections that negotiated deflate.
    negotiated: Cell<usize>,
    errors: RefCell<Vec<String>>,
}

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

/// One connection: upgrade, send a window of messages in one write, and send the next window
/// once all of its echoes are back.
///
/// Refilling the window whenever any echo arrives lets the batch sizes drift into whatever
/// regime the first seconds happened to set up (one message per read, or sixteen), and the
/// same server measured twice differed by half; whole windows give every server the same
/// bursts, round after round.
async fn drive(shared: Rc<Shared>) -> Result<(), String> {
    let up = connect(shared.port, shared.deflate).await?;
    let mut stream = up.stream;
    let frames = match (&shared.compressed, up.deflate) {
        (Some(compressed), true) => {
            shared.negotiated.set(shared.negotiated.get() + 1);
            compressed
        }
        _ => &shared.plain,
    };
    shared.connected.set(shared.connected.get() + 1);
    let mut scanner = EchoScanner::new(shared.size);
    let mut done = scanner.feed(&up.leftover).map_err(|e| e.to_string())?;
    stream
        .write_all(frames.first(shared.window))
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = vec![0u8; 64 << 10];
    let mut back = 0u64;
    loop {
        if done > 0 {
            back += done;
            if back > shared.window as u64 {
                return Err(format!("{back} echoes with {} in flight", shared.window));
            }
            shared.echoed.set(shared.echoed.get() + done);
            if back == shared.window as u64 {
                back = 0;
                stream
                    .write_all(frames.first(shared.window))
                    .await
                    .map_err(|e| format!("write: {e}"))?;
            }
        }
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("server closed the connection".into());
        }
        done = scanner.feed(&buf[..n]).map_err(|e| e.to_string())?;
    }
}

/// A point of the measurement.
struct Snapshot {
    at: Instant,
    echoed: u64,
    server: Option<u64>,
    client: Option<u64>,
}

fn snapshot(shared: &Shared, pid: Option<u32>) -> Snapshot {
    Snapshot {
        at: Instant::now(),
        echoed: shared.echoed.get(),
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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let local = tokio::task::LocalSet::new();
    let code = local.block_on(&runtime, run(options));
    std::process::exit(code);
}

async fn run(o: Options) -> i32 {
    let shared = Rc::new(Shared {
        port: o.port,
        size: o.size,
        window: o.window,
        deflate: o.deflate,
        plain: Frames::new(o.window, o.size, o.text, false),
        compressed: o
            .deflate
            .then(|| Frames::new(o.window, o.size, o.text, true)),
        echoed: Cell::new(0),
        connected: Cell::new(0),
        negotiated: Cell::new(0),
        errors: RefCell::new(Vec::new()),
    });
    for _ in 0..o.conns {
        let shared = shared.clone();
        tokio::task::spawn_local(async move {
            if let Err(e) = drive(shared.clone()).await {
                shared.errors.borrow_mut().push(e);
            }
        });
    }
    // Every connection up (or failed) before the clock starts.
    let deadline = Instant::now() + Duration::from_secs(30);
    while shared.connected.get() + shared.errors.borrow().len() < o.conns {
        if Instant::now() > deadline {
            eprintln!("loadgen: connections not set up within 30 s");
            return 2;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if shared.connected.get() < o.conns {
        let errors = shared.errors.borrow();
        eprintln!(
            "loadgen: {} of {} connections failed, first: {}",
            errors.len(),
            o.conns,
            errors[0]
        );
        return 2;
    }
    tokio::time::sleep(Duration::from_secs_f64(o.warmup)).await;
    let start = snapshot(&shared, o.pid);
    tokio::time::sleep(Duration::from_secs_f64(o.seconds)).await;
    let end = snapshot(&shared, o.pid);

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
    let errors = shared.errors.borrow();
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
        shared.negotiated.get(),
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
