//! `autobahn-client --runtime std|tokio|smol --url ws://127.0.0.1:9001 --agent NAME [--jobs N]`:
//! the Autobahn client protocol. Asks `/getCaseCount`, runs every `/runCase?case=N&agent=NAME`
//! echoing each message (N cases at once with `--jobs`), then calls
//! `/updateReports?agent=NAME`. Offers permessage-deflate. Exits 0 when the run completed:
//! every case connected and the reports were requested. The verdicts are in the reports.

use std::process::ExitCode;

use wsio_autobahn::{ClientArgs, Runtime, smol_rt, std_rt, tokio_rt};

const USAGE: &str = "usage: autobahn-client --runtime std|tokio|smol --url ws://HOST:PORT \
                     --agent NAME [--jobs N]";

fn main() -> ExitCode {
    let args = match ClientArgs::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("autobahn-client: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match args.runtime {
        Runtime::Std => std_rt::run(&args),
        Runtime::Tokio => tokio_rt::run(&args),
        Runtime::Smol => smol_rt::run(&args),
    };
    match result {
        Ok(summary) if summary.failed.is_empty() => {
            eprintln!(
                "autobahn-client ({}): {} cases ran, {} messages echoed, reports updated",
                args.runtime, summary.ran, summary.echoed
            );
            ExitCode::SUCCESS
        }
        Ok(summary) => {
            for (case, why) in &summary.failed {
                eprintln!("autobahn-client: case {case} did not connect: {why}");
            }
            eprintln!(
                "autobahn-client ({}): {} cases ran, {} did not connect",
                args.runtime,
                summary.ran,
                summary.failed.len()
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("autobahn-client: {e}");
            ExitCode::FAILURE
        }
    }
}
