//! The harness on `wsio-std`: a thread per connection.

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;

use wsio_std::{Message, Upgrader, accept_with, connect_with};

use crate::{
    CaseOutcome, CaseQueue, ClientArgs, RunSummary, Runtime, Urls, client_options,
    parse_case_count, server_upgrader,
};

/// Echoes every message on every connection accepted at `addr`, until the process is killed.
pub fn serve(addr: &str) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    let upgrader = Arc::new(server_upgrader(Runtime::Std));
    eprintln!(
        "autobahn-server (std) listening on ws://{}",
        listener.local_addr()?
    );
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                eprintln!("accept failed: {e}");
                continue;
            }
        };
        let upgrader = upgrader.clone();
        thread::spawn(move || {
            // A protocol error provoked by the suite is a normal end of a connection.
            let _ = echo(stream, &upgrader);
        });
    }
    Ok(())
}

fn echo(stream: TcpStream, upgrader: &Upgrader) -> wsio_std::Result<()> {
    stream.set_nodelay(true)?;
    let (mut ws, _request) = accept_with(stream, upgrader)?;
    while let Some(message) = ws.read_message()? {
        ws.send(message)?;
    }
    Ok(())
}

/// Runs the Autobahn client protocol: every case, `args.jobs` at a time, then the report.
pub fn run(args: &ClientArgs) -> Result<RunSummary, String> {
    let count = case_count(&args.urls)?;
    eprintln!("{count} cases, {} at a time", args.jobs);
    let queue = CaseQueue::new(count);
    let mut summary = RunSummary::default();
    thread::scope(|scope| {
        let workers: Vec<_> = (0..args.jobs)
            .map(|_| {
                scope.spawn(|| {
                    let mut summary = RunSummary::default();
                    while let Some(case) = queue.take() {
                        summary.add(case, run_case(&args.urls.run_case(case)));
                    }
                    summary
                })
            })
            .collect();
        for worker in workers {
            summary.merge(worker.join().expect("a case worker panicked"));
        }
    });
    update_reports(&args.urls)?;
    Ok(summary)
}

fn case_count(urls: &Urls) -> Result<usize, String> {
    let (mut ws, _) = connect_with(&urls.case_count(), client_options())
        .map_err(|e| format!("getCaseCount: {e}"))?;
    let count = match ws.read_message() {
        Ok(Some(Message::Text(text))) => parse_case_count(&text)?,
        other => return Err(format!("getCaseCount: no count in {other:?}")),
    };
    // Let the server close.
    while let Ok(Some(_)) = ws.read_message() {}
    Ok(count)
}

fn run_case(url: &str) -> CaseOutcome {
    let mut ws = match connect_with(url, client_options()) {
        Ok((ws, _)) => ws,
        Err(e) => return CaseOutcome::NoConnection(e.to_string()),
    };
    let mut echoed = 0;
    // Until the peer closes, or the connection fails on what the case sent.
    while let Ok(Some(message)) = ws.read_message() {
        if ws.send(message).is_err() {
            break;
        }
        echoed += 1;
    }
    CaseOutcome::Ran(echoed)
}

fn update_reports(urls: &Urls) -> Result<(), String> {
    let (mut ws, _) = connect_with(&urls.update_reports(), client_options())
        .map_err(|e| format!("updateReports: {e}"))?;
    // The runner writes the reports, then closes (or just drops the connection).
    while let Ok(Some(_)) = ws.read_message() {}
    Ok(())
}
