//! Upgrading inside an axum application, through the `hyper` feature.
//!
//! `cargo run -p wsio-tokio --features hyper --example axum`, then connect to
//! ws://127.0.0.1:3000/ws.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::get;
use wsio_tokio::Upgrader;

async fn websocket(State(upgrader): State<Arc<Upgrader>>, mut request: Request) -> Response {
    match wsio_tokio::hyper::upgrade::<_, Body>(&mut request, &upgrader) {
        Ok((response, upgrading)) => {
            tokio::spawn(async move {
                let mut ws = upgrading.await?;
                while let Some(message) = ws.recv().await {
                    ws.send(message?).await?;
                }
                Ok::<_, wsio_tokio::Error>(())
            });
            response
        }
        Err(rejection) => rejection,
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let upgrader = Arc::new(Upgrader::default().with_compression(true));
    let app = Router::new()
        .route("/", get(|| async { "WebSocket echo on /ws" }))
        .route("/ws", get(websocket))
        .with_state(upgrader);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("axum on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
