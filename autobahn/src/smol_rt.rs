//! The harness on `wsio-smol`: a task per connection on an executor with a thread per core.

use std::future::Future;
use std::sync::Arc;
use std::thread;

use smol::Executor;
use smol::net::{TcpListener, TcpStream};
use wsio_smol::{Message, Upgrader, accept_with, connect_with};

use crate::{
    CaseOutcome, CaseQueue, ClientArgs, RunSummary, Runtime, Urls, client_options,
    parse_case_count, server_upgrader,
};

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
                    let _ = echo(stream, &upgrader).await;
                })
                .detach();
        }
    })
}

async fn echo(stream: TcpStream, upgrader: &Upgrader) -> wsio_smol::Result<()> {
    stream.set_nodelay(true)?;
    let (mut ws, _request) = accept_with(stream, upgrader).await?;
    while let Some(message) = ws.recv().await {
        ws.send(message?).await?;
    }
    Ok(())
}

/// Runs the Autobahn client protocol: every case, `args.jobs` at a time, then the report.
pub fn run(args: &ClientArgs) -> Result<RunSummary, String> {
    block_on(|executor| async move {
        let count = case_count(&args.urls).await?;
        eprintln!("{count} cases, {} at a time", args.jobs);
        let queue = Arc::new(CaseQueue::new(count));
        let workers: Vec<_> = (0..args.jobs)
            .map(|_| {
                let queue = queue.clone();
                let urls = args.urls.clone();
                executor.spawn(async move {
                    let mut summary = RunSummary::default();
                    while let Some(case) = queue.take() {
                        summary.add(case, run_case(&urls.run_case(case)).await);
                    }
                    summary
                })
            })
            .collect();
        let mut summary = RunSummary::default();
        for worker in workers {
            summary.merge(worker.await);
        }
        update_reports(&args.urls).await?;
        Ok(summary)
    })
}

async fn case_count(urls: &Urls) -> Result<usize, String> {
    let (mut ws, _) = connect_with(&urls.case_count(), client_options())
        .await
        .map_err(|e| format!("getCaseCount: {e}"))?;
    let count = match ws.recv().await {
        Some(Ok(Message::Text(text))) => parse_case_count(&text)?,
        other => return Err(format!("getCaseCount: no count in {other:?}")),
    };
    // Let the server close.
    while let Some(Ok(_)) = ws.recv().await {}
    Ok(count)
}

async fn run_case(url: &str) -> CaseOutcome {
    let mut ws = match connect_with(url, client_options()).await {
        Ok((ws, _)) => ws,
        Err(e) => return CaseOutcome::NoConnection(e.to_string()),
    };
    let mut echoed = 0;
    // Until the peer closes, or the connection fails on what the case sent.
    while let Some(Ok(message)) = ws.recv().await {
        if ws.send(message).await.is_err() {
            break;
        }
        echoed += 1;
    }
    CaseOutcome::Ran(echoed)
}

async fn update_reports(urls: &Urls) -> Result<(), String> {
    let (mut ws, _) = connect_with(&urls.update_reports(), client_options())
        .await
        .map_err(|e| format!("updateReports: {e}"))?;
    // The runner writes the reports, then closes (or just drops the connection).
    while let Some(Ok(_)) = ws.recv().await {}
    Ok(())
}
