//! A blocking client: sends each line of standard input and prints the echo.
//!
//! `cargo run -p wsio-std --example std-echo-client [URL]` (default ws://127.0.0.1:9002).

use std::io::BufRead;

use wsio_std::{ClientOptions, CloseCode, Config, DeflateConfig, Message, connect_with};

fn main() -> Result<(), wsio_std::Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9002".into());
    let options = ClientOptions {
        config: Config {
            deflate: DeflateConfig {
                enabled: true,
                ..DeflateConfig::default()
            },
            ..Config::default()
        },
        ..ClientOptions::default()
    };
    let (mut ws, _response) = connect_with(&url, options)?;
    println!(
        "connected to {url}; compression: {}",
        ws.connection().deflate_params().is_some()
    );
    for line in std::io::stdin().lock().lines() {
        ws.send(Message::text(line?))?;
        match ws.read_message()? {
            Some(Message::Text(text)) => println!("< {text}"),
            Some(Message::Binary(data)) => println!("< {} bytes", data.len()),
            None => break,
        }
    }
    ws.close(CloseCode::NORMAL, "bye")
}
