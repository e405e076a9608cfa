//! The harness on `wsio-tokio`: a task per connection on the multi-threaded scheduler.

use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use wsio_tokio::{Upgrader, accept_with, connect_with};

use crate::async_harness::{echo, run_client};
use crate::{ClientArgs, RunSummary, Runtime, client_options, server_upgrader};

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// Echoes every message on every connection accepted at `addr`, until the process is killed.
pub fn serve(addr: &str) -> std::io::Result<()> {
    runtime()?.block_on(async {
        let listener = TcpListener::bind(addr).await?;
        let upgrader = Arc::new(server_upgrader(Runtime::Tokio));
        eprintln!(
            "autobahn-server (tokio) listening on ws://{}",
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
            tokio::spawn(async move {
                // A protocol error provoked by the suite is a normal end of a connection.
                let _ = accept(stream, &upgrader).await;
            });
        }
    })
}

async fn accept(stream: TcpStream, upgrader: &Upgrader) -> wsio_tokio::Result<()> {
    stream.set_nodelay(true)?;
    let (ws, _request) = accept_with(stream, upgrader).await?;
    echo(ws).await
}

/// Runs the Autobahn client protocol: every case, `args.jobs` at a time, then the report.
pub fn run(args: &ClientArgs) -> Result<RunSummary, String> {
    let rt = runtime().map_err(|e| format!("tokio runtime: {e}"))?;
    let connect = |url: String| async move { Ok(connect_with(&url, client_options()).await?.0) };
    let spawn = |worker| {
        let task = tokio::spawn(worker);
        async { task.await.map_err(|e| format!("a case worker failed: {e}")) }
    };
    rt.block_on(run_client(args, connect, spawn))
}
