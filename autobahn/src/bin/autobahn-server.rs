//! `autobahn-server --runtime std|tokio|smol --addr 127.0.0.1:9001`: an echo server (text as
//! text, binary as binary) with permessage-deflate enabled and the limits raised for the
//! Autobahn 9.* cases, running until killed. Also the plain echo server for interop tests.

use std::process::ExitCode;

use wsio_autobahn::{Runtime, ServerArgs, smol_rt, std_rt, tokio_rt};

const USAGE: &str = "usage: autobahn-server --runtime std|tokio|smol --addr HOST:PORT";

fn main() -> ExitCode {
    let args = match ServerArgs::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("autobahn-server: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match args.runtime {
        Runtime::Std => std_rt::serve(&args.addr),
        Runtime::Tokio => tokio_rt::serve(&args.addr),
        Runtime::Smol => smol_rt::serve(&args.addr),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("autobahn-server: {}: {e}", args.addr);
            ExitCode::FAILURE
        }
    }
}
