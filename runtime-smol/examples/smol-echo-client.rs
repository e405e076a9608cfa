//! A smol client: sends each line of standard input and prints the echo.
//!
//! `cargo run -p wsio-smol --example smol-echo-client [URL]` (default ws://127.0.0.1:9003).

use std::io::BufRead;

use wsio_smol::{ClientOptions, CloseCode, Message, connect_with};

fn main() -> Result<(), wsio_smol::Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9003".into());
    smol::block_on(async {
        let mut options = ClientOptions::default();
        options.config.deflate.enabled = true;
        let (mut ws, _) = connect_with(&url, options).await?;
        println!(
            "connected to {url}; compression: {}",
            ws.connection().deflate_params().is_some()
        );
        // Standard input is read on a blocking thread so the connection's task stays free.
        let lines = smol::unblock(|| {
            std::io::stdin()
                .lock()
                .lines()
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
        for line in lines {
            ws.send(Message::text(line)).await?;
            match ws.recv().await.transpose()? {
                Some(Message::Text(text)) => println!("< {text}"),
                Some(Message::Binary(data)) => println!("< {} bytes", data.len()),
                None => break,
            }
        }
        ws.close(CloseCode::NORMAL, "bye").await
    })
}
