//! What the tokio and smol harnesses share, written once over `wsio_async::WebSocketStream`
//! (the type both adapters' streams are): the echo loop and the Autobahn client protocol.
//! The runtime modules keep only what differs: how to listen, connect and spawn.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use wsio_async::{Timer, Transport, WebSocketStream};
use wsio_core::Message;

use crate::{CaseOutcome, CaseQueue, ClientArgs, RunSummary, Urls, parse_case_count};

/// A case worker, boxed so that each runtime can spawn it on its own executor.
pub(crate) type Worker = Pin<Box<dyn Future<Output = RunSummary> + Send>>;

/// Echoes every message on an accepted connection until the peer closes. A protocol error
/// provoked by the suite ends it like a close.
pub(crate) async fn echo<T: Transport, R: Timer>(
    mut ws: WebSocketStream<T, R>,
) -> wsio_async::Result<()> {
    while let Some(message) = ws.recv().await {
        ws.send(message?).await?;
    }
    Ok(())
}

/// Runs the Autobahn client protocol: the case count, every case (`args.jobs` workers, each
/// started by `spawn`, which resolves to its summary), then the report. `connect` opens a
/// client connection to a URL with the harness's options.
pub(crate) async fn run_client<T, R, C, F, S, J>(
    args: &ClientArgs,
    connect: C,
    spawn: S,
) -> Result<RunSummary, String>
where
    T: Transport + Send + 'static,
    R: Timer,
    C: Fn(String) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = wsio_async::Result<WebSocketStream<T, R>>> + Send,
    S: Fn(Worker) -> J,
    J: Future<Output = Result<RunSummary, String>>,
{
    let count = case_count(&args.urls, &connect).await?;
    eprintln!("{count} cases, {} at a time", args.jobs);
    let queue = Arc::new(CaseQueue::new(count));
    let workers: Vec<J> = (0..args.jobs)
        .map(|_| {
            let (queue, urls, connect) = (queue.clone(), args.urls.clone(), connect.clone());
            spawn(Box::pin(async move {
                let mut summary = RunSummary::default();
                while let Some(case) = queue.take() {
                    summary.add(case, run_case(&urls.run_case(case), &connect).await);
                }
                summary
            }))
        })
        .collect();
    let mut summary = RunSummary::default();
    for worker in workers {
        summary.merge(worker.await?);
    }
    update_reports(&args.urls, &connect).await?;
    Ok(summary)
}

async fn case_count<T, R, F>(urls: &Urls, connect: &impl Fn(String) -> F) -> Result<usize, String>
where
    T: Transport,
    R: Timer,
    F: Future<Output = wsio_async::Result<WebSocketStream<T, R>>>,
{
    let mut ws = connect(urls.case_count())
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

async fn run_case<T, R, F>(url: &str, connect: &impl Fn(String) -> F) -> CaseOutcome
where
    T: Transport,
    R: Timer,
    F: Future<Output = wsio_async::Result<WebSocketStream<T, R>>>,
{
    let mut ws = match connect(url.to_owned()).await {
        Ok(ws) => ws,
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

async fn update_reports<T, R, F>(urls: &Urls, connect: &impl Fn(String) -> F) -> Result<(), String>
where
    T: Transport,
    R: Timer,
    F: Future<Output = wsio_async::Result<WebSocketStream<T, R>>>,
{
    let mut ws = connect(urls.update_reports())
        .await
        .map_err(|e| format!("updateReports: {e}"))?;
    // The runner writes the reports, then closes (or just drops the connection).
    while let Some(Ok(_)) = ws.recv().await {}
    Ok(())
}
