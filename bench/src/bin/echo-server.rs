//! wsio's echo server for the network benchmarks, written exactly the way the README and the
//! crates' docs teach users to write one: accept, then `recv` → `send` until the peer closes.
//! No batching beyond what the public API does by itself, no tuning: what a user gets.
//!
//! ```text
//! echo-server --runtime std|tokio|smol --port N [--threads T] [--deflate]
//! ```
//!
//! - `tokio`: `--threads 1` (the default) is a current-thread runtime, otherwise a
//!   multi-thread runtime with T workers; a task per connection.
//! - `smol`: an executor run by T threads (`--threads 1`: the main thread alone); a task per
//!   connection.
//! - `std`: a thread per connection (`--threads` is ignored), `read_message` → `send`.
//! - `--deflate`: accept with an `Upgrader` that negotiates permessage-deflate when the client
//!   offers it (`Upgrader::with_compression(true)`, as the runtime examples do); without it,
//!   plain `accept` as in the README.
//!
//! Listens on 127.0.0.1 and prints `listening on ADDR` once bound. Per-connection errors go to
//! stderr, as in the examples.

use std::sync::Arc;

use wsio_bench::args::Args;
use wsio_bench::serve::announce;

const USAGE: &str = "echo-server --runtime std|tokio|smol --port N [--threads T] [--deflate]";

/// The upgrader of `--deflate`: compression negotiated when offered, defaults otherwise.
fn deflate_upgrader() -> wsio_core::handshake::Upgrader {
    wsio_core::handshake::Upgrader::default().with_compression(true)
}

fn tokio_server(addr: String, threads: usize, deflate: bool) -> std::io::Result<()> {
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        announce(listener.local_addr()?);
        let upgrader = Arc::new(deflate_upgrader());
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    eprintln!("accept: {e}");
                    continue;
                }
            };
            // As the README's server does.
            if let Err(e) = stream.set_nodelay(true) {
                eprintln!("nodelay: {e}");
            }
            let upgrader = deflate.then(|| upgrader.clone());
            // The README's server: accept, then `recv` → `send` until the peer closes.
            tokio::spawn(async move {
                let result = async {
                    let mut ws = match upgrader {
                        Some(upgrader) => wsio_tokio::accept_with(stream, &upgrader).await?.0,
                        None => wsio_tokio::accept(stream).await?,
                    };
                    while let Some(message) = ws.recv().await {
                        ws.send(message?).await?;
                    }
                    Ok::<_, wsio_tokio::Error>(())
                };
                if let Err(e) = result.await {
                    eprintln!("connection ended: {e}");
                }
            });
        }
    })
}

fn smol_server(addr: String, threads: usize, deflate: bool) -> std::io::Result<()> {
    let executor = Arc::new(smol::Executor::new());
    for _ in 1..threads.max(1) {
        let executor = executor.clone();
        std::thread::spawn(move || {
            smol::block_on(executor.run(smol::future::pending::<()>()));
        });
    }
    let spawner = executor.clone();
    smol::block_on(executor.run(async move {
        let listener = smol::net::TcpListener::bind(&addr).await?;
        announce(listener.local_addr()?);
        let upgrader = Arc::new(deflate_upgrader());
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    eprintln!("accept: {e}");
                    continue;
                }
            };
            // As the README's server does.
            if let Err(e) = stream.set_nodelay(true) {
                eprintln!("nodelay: {e}");
            }
            let upgrader = deflate.then(|| upgrader.clone());
            spawner
                .spawn(async move {
                    let result = async {
                        let mut ws = match upgrader {
                            Some(upgrader) => wsio_smol::accept_with(stream, &upgrader).await?.0,
                            None => wsio_smol::accept(stream).await?,
                        };
                        while let Some(message) = ws.recv().await {
                            ws.send(message?).await?;
                        }
                        Ok::<_, wsio_smol::Error>(())
                    };
                    if let Err(e) = result.await {
                        eprintln!("connection ended: {e}");
                    }
                })
                .detach();
        }
    }))
}

fn std_server(addr: String, deflate: bool) -> std::io::Result<()> {
    let listener = std::net::TcpListener::bind(&addr)?;
    announce(listener.local_addr()?);
    let upgrader = Arc::new(deflate_upgrader());
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            eprintln!("nodelay: {e}");
        }
        let upgrader = deflate.then(|| upgrader.clone());
        std::thread::spawn(move || {
            let result = (|| {
                let mut ws = match upgrader {
                    Some(upgrader) => wsio_std::accept_with(stream, &upgrader)?.0,
                    None => wsio_std::accept(stream)?,
                };
                while let Some(message) = ws.read_message()? {
                    ws.send(message)?;
                }
                Ok::<_, wsio_std::Error>(())
            })();
            if let Err(e) = result {
                eprintln!("connection ended: {e}");
            }
        });
    }
    Ok(())
}

fn run() -> Result<(), String> {
    let mut args = Args::from_env(USAGE);
    let runtime: String = args
        .optional("--runtime")?
        .ok_or_else(|| format!("--runtime is required\n{USAGE}"))?;
    let port: u16 = args
        .optional("--port")?
        .ok_or_else(|| format!("--port is required\n{USAGE}"))?;
    let threads: usize = args.value("--threads", 1)?;
    let deflate = args.flag("--deflate");
    args.finish()?;
    let addr = format!("127.0.0.1:{port}");
    let result = match runtime.as_str() {
        "tokio" => tokio_server(addr, threads, deflate),
        "smol" => smol_server(addr, threads, deflate),
        "std" => std_server(addr, deflate),
        other => return Err(format!("unknown runtime {other:?}\n{USAGE}")),
    };
    result.map_err(|e| e.to_string())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("echo-server: {e}");
        std::process::exit(1);
    }
}
