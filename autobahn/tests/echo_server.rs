//! The `autobahn-server` binary as other suites use it: a plain echo server on every runtime.
//! Text comes back as text, binary as binary, compression is negotiated, and the `Server`
//! header names the agent for the Autobahn reports.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use wsio_autobahn::client_options;
use wsio_std::{CloseCode, Message, connect_with};

/// A running `autobahn-server`, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(runtime: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_autobahn-server"))
            .args(["--runtime", runtime, "--addr", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("autobahn-server starts");
        let stderr = child.stderr.take().expect("piped");
        let mut line = String::new();
        BufReader::new(stderr)
            .read_line(&mut line)
            .expect("autobahn-server says where it listens");
        let url = line
            .split_whitespace()
            .find(|word| word.starts_with("ws://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_owned();
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn echoes_on(runtime: &str) {
    let server = Server::start(runtime);
    let (mut ws, response) = connect_with(&server.url, client_options()).expect("connects");
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(&h.value).into_owned())
    };
    assert_eq!(
        header("Server").as_deref(),
        Some(&*format!("wsio-{runtime}"))
    );
    assert!(ws.connection().deflate_params().is_some(), "compression");

    let big = "wsio ".repeat(100_000);
    for message in [
        Message::text("hello"),
        Message::binary(vec![0u8, 1, 2, 255]),
        Message::text(""),
        Message::text(big),
    ] {
        ws.send(message.clone()).unwrap();
        assert_eq!(ws.read_message().unwrap(), Some(message), "{runtime}");
    }
    ws.close(CloseCode::NORMAL, "").unwrap();
}

#[test]
fn std_server_echoes() {
    echoes_on("std");
}

#[test]
fn tokio_server_echoes() {
    echoes_on("tokio");
}

#[test]
fn smol_server_echoes() {
    echoes_on("smol");
}

#[test]
fn bad_arguments_are_refused_with_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_autobahn-server"))
        .args(["--runtime", "async-std", "--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("usage: autobahn-server"), "{stderr}");
}
