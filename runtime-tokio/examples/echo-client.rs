//! A tokio client: sends each line of standard input and prints the echo.
//!
//! `cargo run -p wsio-tokio --example echo-client [URL]` (default ws://127.0.0.1:9001).

use tokio::io::{AsyncBufReadExt, BufReader};
use wsio_tokio::{ClientOptions, CloseCode, Message, connect_with};

#[tokio::main]
async fn main() -> Result<(), wsio_tokio::Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let mut options = ClientOptions::default();
    options.config.deflate.enabled = true;
    let (mut ws, _) = connect_with(&url, options).await?;
    println!(
        "connected to {url}; compression: {}",
        ws.connection().deflate_params().is_some()
    );
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        ws.send(Message::text(line)).await?;
        match ws.recv().await.transpose()? {
            Some(Message::Text(text)) => println!("< {text}"),
            Some(Message::Binary(data)) => println!("< {} bytes", data.len()),
            None => break,
        }
    }
    ws.close(CloseCode::NORMAL, "bye").await
}
