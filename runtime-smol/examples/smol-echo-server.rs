//! An echo server on smol, written the way this crate's documentation teaches.
//!
//! `cargo run -p wsio-smol --example smol-echo-server [ADDR]` (default 127.0.0.1:9003).

use smol::net::TcpListener;
use wsio_smol::{Upgrader, accept_with};

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9003".into());
    smol::block_on(async {
        let listener = TcpListener::bind(&addr).await?;
        println!("echo server on ws://{}", listener.local_addr()?);
        // Compression on; any origin allowed, since this demo serves no pages of its own.
        let mut upgrader = Upgrader::default().with_compression(true);
        upgrader.check_origin = wsio_core::handshake::CheckOrigin::custom(|_| true);
        loop {
            let (stream, _) = listener.accept().await?;
            let upgrader = upgrader.clone();
            smol::spawn(async move {
                let result = async {
                    let (mut ws, _) = accept_with(stream, &upgrader).await?;
                    while let Some(message) = ws.recv().await {
                        ws.send(message?).await?;
                    }
                    Ok::<_, wsio_smol::Error>(())
                };
                if let Err(e) = result.await {
                    eprintln!("connection ended: {e}");
                }
            })
            .detach();
        }
    })
}
