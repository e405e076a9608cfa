//! The harness on `wsio-smol`: a task per connection on an executor with a thread per core.

use std::future::Future;
use std::sync::Arc;
use std::thread;

use smol::Executor;
use smol::net::{TcpListener, TcpStream};
use wsio_smol::{Upgrader, accept_with, connect_with};

use crate::async_harness::{echo, run_client};
use crate::{ClientArgs, RunSummary, Runtime, client_options, server_upgrader};

/// Runs `main` on an executor served by one thread per core (the calling thread included),
/// as tokio's multi-threaded scheduler would; smol's global executor has a single thread
/// unless `SMOL_THREADS` says otherwise.
fn block_on<F: Future>(main: impl FnOnce(Arc<Executor<'static>>) -> F) -> F::Output {
    let executor = Arc::new(Executor::new());
    let extra = thread::available_parallelism().map_or(1, |n| n.get()) - 1;
    for _ in 0..extra {
        let executor = executor.clone();
        // Detached: they serve the executor until the process exits.
        thread::spawn(move || smol::block_on(executor.run(smol::future::pending::<()>())));
    }
    let future = main(executor.clone());
    smol::block_on(executor.run(future))
}

/// Echoes every message on every connection accepted at `addr`, until the process is killed.
pub fn serve(addr: &str) -> std::io::Result<()> {
    block_on(|executor| async move {
        let listener = TcpListener::bind(addr).await?;
        let upgrader = Arc::new(server_upgrader(Runtime::Smol));
        eprintln!(
            "autobahn-server (smol) listening on ws://{}",
            listener.local_addr()?
        );
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    continue;
                }
            };
            let upgrader = upgrader.clone();
            executor
                .spawn(async move {
                    // A protocol error provoked by the suite is a normal end of a connection.
                    let _ = accept(stream, &upgrader).await;
                })
                .detach();
        }
    })
}

async fn accept(stream: TcpStream, upgrader: &Upgrader) -> wsio_smol::Result<()> {
    stream.set_nodelay(true)?;
    let (ws, _request) = accept_with(stream, upgrader).await?;
    echo(ws).await
}

/// Runs the Autobahn client protocol: every case, `args.jobs` at a time, then the report.
pub fn run(args: &ClientArgs) -> Result<RunSummary, String> {
    block_on(|executor| async move {
        let connect =
            |url: String| async move { Ok(connect_with(&url, client_options()).await?.0) };
        let spawn = |worker| {
            let task = executor.spawn(worker);
            async { Ok(task.await) }
        };
        run_client(args, connect, spawn).await
    })
}
