//! The pieces of the Autobahn TestSuite harness that every runtime shares: command-line
//! parsing, the echo server's upgrader, the client's options, and the URLs of the Autobahn
//! client protocol (`/getCaseCount`, `/runCase`, `/updateReports`).
//!
//! The binaries `autobahn-server` and `autobahn-client` are thin: they parse their arguments
//! here and hand over to the module of the chosen runtime.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use wsio_core::handshake::{ClientOptions, Upgrader};
use wsio_core::{Config, DeflateConfig};

mod async_harness;
pub mod smol_rt;
pub mod std_rt;
pub mod tokio_rt;

/// The runtime adapters the harness can drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// `wsio-std`: blocking, a thread per connection.
    Std,
    /// `wsio-tokio`: a task per connection on tokio's multi-threaded scheduler.
    Tokio,
    /// `wsio-smol`: a task per connection on a smol executor with a thread per core.
    Smol,
}

impl Runtime {
    /// Parses a `--runtime` value.
    pub fn parse(name: &str) -> Result<Runtime, String> {
        match name {
            "std" => Ok(Runtime::Std),
            "tokio" => Ok(Runtime::Tokio),
            "smol" => Ok(Runtime::Smol),
            other => Err(format!(
                "unknown runtime `{other}` (expected std, tokio or smol)"
            )),
        }
    }

    /// The name used on the command line and in agent names.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Std => "std",
            Runtime::Tokio => "tokio",
            Runtime::Smol => "smol",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `--name value` / `--name=value` options, in any order, each at most once.
#[derive(Debug, Default)]
pub struct Args {
    pairs: Vec<(String, String)>,
}

impl Args {
    /// Reads the process's arguments; `known` lists the accepted option names (without `--`).
    pub fn parse(args: impl IntoIterator<Item = String>, known: &[&str]) -> Result<Args, String> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let Some(option) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument `{arg}`"));
            };
            let (name, value) = match option.split_once('=') {
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None => {
                    let value = args
                        .next()
                        .ok_or_else(|| format!("option --{option} needs a value"))?;
                    (option.to_owned(), value)
                }
            };
            if !known.contains(&name.as_str()) {
                return Err(format!("unknown option --{name}"));
            }
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(format!("option --{name} given twice"));
            }
            pairs.push((name, value));
        }
        Ok(Args { pairs })
    }

    /// The value of `--name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `--name`, which must be given.
    pub fn require(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("missing option --{name}"))
    }
}

/// The library's defaults with the limits raised for the 9.* cases: 16 MiB messages in one
/// frame (9.1.6, 9.2.6), 4 MiB in 64-byte fragments (9.3.1: 65,536 frames), and echoing a
/// 16 MiB message while more arrives. Compression turned on, at its default level and window.
///
/// One compression setting differs from the default: `threshold` is 0, so every message is
/// compressed, small ones included. RFC 7692 lets an endpoint send any message uncompressed
/// (RSV1 clear) and the original Autobahn cases accept that, but kosoku 0.1.0's Python 3 port
/// of cases 12.*/13.* hashes the echoed payload and crashes (verdict ERROR) when it comes back
/// uncompressed, as the 16-byte messages of 12.x.1 and 13.x.1 would under the default
/// threshold of 64. Compressing everything also makes those cases exercise the compressor at
/// every size.
pub fn autobahn_config() -> Config {
    let mut config = Config {
        max_frame_size: 64 << 20,
        max_message_size: 64 << 20,
        max_fragments: 1 << 20,
        max_pending_output: 64 << 20,
        ..Config::default()
    };
    config.deflate = DeflateConfig {
        enabled: true,
        threshold: 0,
        ..DeflateConfig::default()
    };
    config
}

/// The echo server's upgrader: the default one with compression enabled and the limits of
/// [`autobahn_config`]. The `Server` header names the agent in the suite's reports.
pub fn server_upgrader(runtime: Runtime) -> Upgrader {
    let mut upgrader = Upgrader::default().with_response_header("Server", agent_name(runtime));
    upgrader.config = autobahn_config();
    upgrader
}

/// The agent name a runtime reports under when none is given.
pub fn agent_name(runtime: Runtime) -> String {
    format!("wsio-{runtime}")
}

/// The client's options: permessage-deflate offered, limits raised as for the server.
pub fn client_options() -> ClientOptions {
    ClientOptions {
        config: autobahn_config(),
        ..ClientOptions::default()
    }
}

/// The Autobahn client protocol's URLs, relative to the fuzzing server's base URL.
#[derive(Clone, Debug)]
pub struct Urls {
    base: String,
    agent: String,
}

impl Urls {
    /// `base` is `ws://host:port` (a trailing `/` is ignored); `agent` names us in the reports.
    pub fn new(base: &str, agent: &str) -> Result<Urls, String> {
        if agent.is_empty()
            || !agent
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
        {
            return Err(format!(
                "agent `{agent}` must be non-empty and use only letters, digits and -_.~"
            ));
        }
        Ok(Urls {
            base: base.trim_end_matches('/').to_owned(),
            agent: agent.to_owned(),
        })
    }

    /// Where the number of cases is announced.
    pub fn case_count(&self) -> String {
        format!("{}/getCaseCount", self.base)
    }

    /// Where case `n` (1-based) runs.
    pub fn run_case(&self, n: usize) -> String {
        format!("{}/runCase?case={n}&agent={}", self.base, self.agent)
    }

    /// Where the reports are written once every case ran.
    pub fn update_reports(&self) -> String {
        format!("{}/updateReports?agent={}", self.base, self.agent)
    }
}

/// Parses the text of the `/getCaseCount` message.
pub fn parse_case_count(text: &str) -> Result<usize, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("getCaseCount answered `{text}`, not a number"))
}

/// Hands out case numbers 1..=count to concurrent workers.
#[derive(Debug)]
pub struct CaseQueue {
    next: AtomicUsize,
    count: usize,
}

impl CaseQueue {
    /// Cases 1 to `count`.
    pub fn new(count: usize) -> Self {
        CaseQueue {
            next: AtomicUsize::new(1),
            count,
        }
    }

    /// The next case to run, or `None` when all were handed out.
    pub fn take(&self) -> Option<usize> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        (n <= self.count).then_some(n)
    }
}

/// How one case's connection went, from the client's side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaseOutcome {
    /// The connection opened; it ended however the case made it end (a protocol error the
    /// fuzzer provoked is a normal ending). The count of messages echoed.
    Ran(usize),
    /// The opening handshake failed: the case did not run.
    NoConnection(String),
}

/// The client's settings.
#[derive(Clone, Debug)]
pub struct ClientArgs {
    /// Which adapter to use.
    pub runtime: Runtime,
    /// The fuzzing server, `ws://host:port`.
    pub urls: Urls,
    /// Cases run at once.
    pub jobs: usize,
}

impl ClientArgs {
    /// Parses `--runtime R --url U --agent A [--jobs N]`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<ClientArgs, String> {
        let args = Args::parse(args, &["runtime", "url", "agent", "jobs"])?;
        let runtime = Runtime::parse(args.require("runtime")?)?;
        let url = args.require("url")?;
        let agent = args.require("agent")?;
        let jobs = match args.get("jobs") {
            None => 1,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| format!("--jobs must be a positive number, not `{v}`"))?,
        };
        Ok(ClientArgs {
            runtime,
            urls: Urls::new(url, agent)?,
            jobs,
        })
    }
}

/// The server's settings.
#[derive(Clone, Debug)]
pub struct ServerArgs {
    /// Which adapter to use.
    pub runtime: Runtime,
    /// Where to listen, `host:port`.
    pub addr: String,
}

impl ServerArgs {
    /// Parses `--runtime R --addr A`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<ServerArgs, String> {
        let args = Args::parse(args, &["runtime", "addr"])?;
        Ok(ServerArgs {
            runtime: Runtime::parse(args.require("runtime")?)?,
            addr: args.require("addr")?.to_owned(),
        })
    }
}

/// What a whole client run did, for the exit status.
#[derive(Debug, Default)]
pub struct RunSummary {
    /// Cases whose connection opened.
    pub ran: usize,
    /// Cases that could not connect, with the reason.
    pub failed: Vec<(usize, String)>,
    /// Messages echoed over all cases.
    pub echoed: usize,
}

impl RunSummary {
    /// Books one case's outcome.
    pub fn add(&mut self, case: usize, outcome: CaseOutcome) {
        match outcome {
            CaseOutcome::Ran(echoed) => {
                self.ran += 1;
                self.echoed += echoed;
            }
            CaseOutcome::NoConnection(why) => self.failed.push((case, why)),
        }
    }

    /// Adds another worker's summary.
    pub fn merge(&mut self, other: RunSummary) {
        self.ran += other.ran;
        self.echoed += other.echoed;
        self.failed.extend(other.failed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn client_arguments() {
        let parsed = ClientArgs::parse(args(
            "--runtime tokio --url ws://127.0.0.1:9001/ --agent wsio-tokio --jobs=4",
        ))
        .unwrap();
        assert_eq!(parsed.runtime, Runtime::Tokio);
        assert_eq!(parsed.jobs, 4);
        assert_eq!(
            parsed.urls.run_case(7),
            "ws://127.0.0.1:9001/runCase?case=7&agent=wsio-tokio"
        );
        assert_eq!(
            parsed.urls.update_reports(),
            "ws://127.0.0.1:9001/updateReports?agent=wsio-tokio"
        );
        assert!(ClientArgs::parse(args("--runtime std --url ws://x")).is_err());
        assert!(ClientArgs::parse(args("--runtime std --url ws://x --agent a b")).is_err());
        assert!(ClientArgs::parse(args("--runtime std --url ws://x --agent a --jobs 0")).is_err());
        assert!(ClientArgs::parse(args("--runtime std --url ws://x --agent a&b")).is_err());
    }

    #[test]
    fn runtimes() {
        for name in ["std", "tokio", "smol"] {
            let parsed = ServerArgs::parse(args(&format!("--runtime {name} --addr 127.0.0.1:1")));
            assert_eq!(parsed.unwrap().runtime.name(), name);
        }
        let err = Runtime::parse("async-std").unwrap_err();
        assert!(err.contains("std, tokio or smol"), "{err}");
    }

    #[test]
    fn case_queue_hands_out_each_case_once() {
        let queue = CaseQueue::new(3);
        let taken: Vec<_> = std::iter::from_fn(|| queue.take()).collect();
        assert_eq!(taken, vec![1, 2, 3]);
        assert_eq!(queue.take(), None);
    }

    #[test]
    fn case_count() {
        assert_eq!(parse_case_count("517"), Ok(517));
        assert!(parse_case_count("many").is_err());
    }
}
