//! A blocking echo server: one thread per connection.
//!
//! `cargo run -p wsio-std --example std-echo-server [ADDR]` (default 127.0.0.1:9002), then connect
//! with the std-echo-client example or a browser.

use std::net::TcpListener;
use std::thread;

use wsio_std::{Upgrader, accept_with};

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".into());
    let listener = TcpListener::bind(&addr)?;
    println!("echo server on ws://{addr}");
    // Compression on; any origin allowed, since this demo serves no pages of its own.
    let mut upgrader = Upgrader::default().with_compression(true);
    upgrader.check_origin = wsio_core::handshake::CheckOrigin::custom(|_| true);
    for stream in listener.incoming() {
        let stream = stream?;
        let upgrader = upgrader.clone();
        thread::spawn(move || {
            let result = (|| {
                let (mut ws, request) = accept_with(stream, &upgrader)?;
                println!("connected: {}", request.path());
                while let Some(message) = ws.read_message()? {
                    ws.send(message)?;
                }
                Ok::<_, wsio_std::Error>(())
            })();
            if let Err(e) = result {
                eprintln!("connection ended: {e}");
            }
        });
    }
    Ok(())
}
