//! A chat room: one process serves a page on `/` and a WebSocket on `/ws`, and sends each
//! message to every other open page.
//!
//! `cargo run --release --example chat [ADDR]`, then open http://127.0.0.1:8080 in two tabs.
//!
//! Each message is framed and compressed once, as a `PreparedMessage`, and the same bytes are
//! queued on every connection that negotiated compression.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use wsio_tokio::{
    DeflateConfig, Message, PreparedMessage, Upgrader, WebSocketStream, accept_request,
    read_request,
};

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>wsio chat</title>
<style>
  body { font: 16px system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
  #log { border: 1px solid #ccc; height: 20rem; overflow-y: auto; padding: .5rem; }
  #log p { margin: .2rem 0; } .me { color: #555; } .status { color: #999; font-style: italic; }
  form { display: flex; gap: .5rem; margin-top: .5rem; } #msg { flex: 1; }
</style></head>
<body>
<h1>wsio chat</h1>
<div id="log"></div>
<form id="form"><input id="msg" autocomplete="off" placeholder="Say something"><button id="send">Send</button></form>
<script>
  const log = document.getElementById("log");
  const show = (text, cls) => {
    const p = document.createElement("p");
    p.textContent = text; if (cls) p.className = cls;
    log.appendChild(p); log.scrollTop = log.scrollHeight;
  };
  const ws = new WebSocket(`ws://${location.host}/ws`);
  ws.onopen = () => { document.body.dataset.connected = "yes"; show("connected", "status"); };
  ws.onclose = () => show("disconnected", "status");
  ws.onmessage = (event) => show(event.data);
  document.getElementById("form").onsubmit = (event) => {
    event.preventDefault();
    const input = document.getElementById("msg");
    if (input.value && ws.readyState === WebSocket.OPEN) {
      ws.send(input.value); show("me: " + input.value, "me"); input.value = "";
    }
  };
</script>
</body>
</html>
"#;

/// The open connections, each with a queue its writer task drains.
#[derive(Default)]
struct Room {
    members: Mutex<HashMap<u64, mpsc::UnboundedSender<Arc<PreparedMessage>>>>,
    next_id: AtomicU64,
}

impl Room {
    /// Sends `message` to every member but `from`.
    fn broadcast(&self, from: u64, message: Arc<PreparedMessage>) {
        for (&id, queue) in self.members.lock().unwrap().iter() {
            if id != from {
                // A member that just left has a closed queue; it is removed by its own task.
                let _ = queue.send(message.clone());
            }
        }
    }

    async fn join(self: Arc<Self>, ws: WebSocketStream<TcpStream>, deflate: DeflateConfig) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.members.lock().unwrap().insert(id, tx);
        let (mut reader, mut writer) = ws.split();
        let writing = tokio::spawn(async move {
            while let Some(message) = rx.recv().await {
                if writer.send_prepared(&message).await.is_err() {
                    break;
                }
            }
        });
        self.broadcast(
            id,
            Arc::new(PreparedMessage::new(
                Message::text(format!("user {id} joined")),
                None,
            )),
        );
        while let Some(Ok(message)) = reader.recv().await {
            if let Message::Text(text) = message {
                let line = Message::text(format!("user {id}: {text}"));
                self.broadcast(id, Arc::new(PreparedMessage::new(line, Some(&deflate))));
            }
        }
        self.members.lock().unwrap().remove(&id);
        writing.abort();
        self.broadcast(
            id,
            Arc::new(PreparedMessage::new(
                Message::text(format!("user {id} left")),
                None,
            )),
        );
    }
}

async fn respond(
    tcp: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await?;
    tcp.write_all(body.as_bytes()).await?;
    tcp.shutdown().await
}

async fn serve(
    mut tcp: TcpStream,
    upgrader: Arc<Upgrader>,
    room: Arc<Room>,
) -> wsio_tokio::Result<()> {
    let (request, leftover) = read_request(&mut tcp, &upgrader).await?;
    match request.path() {
        "/" => respond(&mut tcp, "200 OK", "text/html; charset=utf-8", PAGE).await?,
        "/ws" => {
            let ws = accept_request(tcp, &upgrader, &request, leftover).await?;
            room.join(ws, upgrader.config.deflate.clone()).await;
        }
        _ => respond(&mut tcp, "404 Not Found", "text/plain", "not found\n").await?,
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("chat on http://{}", listener.local_addr()?);
    // Browsers offer permessage-deflate on every connection; accept it. The default origin
    // check admits only pages served from this same host and port.
    let upgrader = Arc::new(Upgrader::default().with_compression(true));
    let room = Arc::new(Room::default());
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        tokio::spawn(serve(tcp, upgrader.clone(), room.clone()));
    }
}
