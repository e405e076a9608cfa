//! wsio-tokio over real TCP on 127.0.0.1 (port 0).

use std::time::Duration;

use bytes::Bytes;
use futures_sink::Sink;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use wsio_tokio::{
    ClientOptions, CloseCode, Config, Message, Upgrader, WebSocketStream, accept_with, connect_with,
};

const SIZES: [usize; 6] = [0, 125, 126, 65535, 65536, 16 << 20];

fn big_limits() -> Config {
    Config {
        max_frame_size: 64 << 20,
        max_message_size: 512 << 20,
        ..Config::default()
    }
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn options(config: Config) -> ClientOptions {
    ClientOptions {
        config,
        ..ClientOptions::default()
    }
}

/// Serves one connection with `handler` on a spawned task; returns the URL and its handle.
async fn serve<F, Fut, T>(upgrader: Upgrader, handler: F) -> (String, tokio::task::JoinHandle<T>)
where
    F: FnOnce(WebSocketStream<TcpStream>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T> + Send,
    T: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let handle = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (ws, _) = accept_with(stream, &upgrader).await.unwrap();
        handler(ws).await
    });
    (url, handle)
}

async fn echo<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut ws: WebSocketStream<S>) {
    while let Some(message) = ws.recv().await {
        ws.send(message.unwrap()).await.unwrap();
    }
}

fn messages_of_every_size() -> Vec<Message> {
    SIZES
        .iter()
        .flat_map(|&len| {
            [
                Message::text("é".repeat(len / 2) + &"a".repeat(len % 2)),
                Message::binary(payload(len)),
            ]
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_through_split_halves_from_two_tasks() {
    let (url, server) = serve(
        Upgrader::default().with_config(big_limits()),
        |ws| async move {
            // The server echoes through its own halves, reading and writing on two tasks.
            let (mut reader, mut writer) = ws.split();
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let writing = tokio::spawn(async move {
                while let Some(message) = rx.recv().await {
                    writer.send(message).await.unwrap();
                }
                writer
            });
            while let Some(message) = reader.recv().await {
                tx.send(message.unwrap()).unwrap();
            }
            drop(tx);
            writing.await.unwrap();
        },
    )
    .await;
    let (ws, _) = connect_with(&url, options(big_limits())).await.unwrap();
    let (mut reader, mut writer) = ws.split();
    let expected = messages_of_every_size();
    let sending = {
        let expected = expected.clone();
        tokio::spawn(async move {
            for message in expected {
                writer.send(message).await.unwrap();
            }
            writer
        })
    };
    for message in &expected {
        assert_eq!(&reader.recv().await.unwrap().unwrap(), message);
    }
    let mut writer = sending.await.unwrap();
    writer.close(CloseCode::NORMAL, "").await.unwrap();
    assert!(reader.recv().await.is_none(), "the server echoed our close");
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_in_select_with_a_busy_timer_loses_and_duplicates_nothing() {
    const N: usize = 20_000;
    let (url, server) = serve(Upgrader::default(), |mut ws| async move {
        for i in 0..N {
            // Varied sizes so that frames straddle reads, batches of feeds, and pauses so that
            // the stream lasts long enough for the client's timer to fire thousands of times.
            let text = format!("{i}:{}", "x".repeat(i % 300));
            ws.feed(Message::text(text)).await.unwrap();
            if i % 7 == 0 {
                ws.flush().await.unwrap();
            }
            if i % 10 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        ws.flush().await.unwrap();
        while ws.recv().await.is_some() {}
    })
    .await;
    let (mut ws, _) = connect_with(&url, ClientOptions::default()).await.unwrap();
    let mut ticker = tokio::time::interval(Duration::from_micros(200));
    let (mut ticks, mut next) = (0u64, 0usize);
    while next < N {
        tokio::select! {
            message = ws.recv() => {
                let Message::Text(text) = message.unwrap().unwrap() else { panic!("text expected") };
                let (index, padding) = text.split_once(':').unwrap();
                assert_eq!(index.parse::<usize>().unwrap(), next, "in order, none lost or repeated");
                assert_eq!(padding.len(), next % 300);
                next += 1;
            }
            _ = ticker.tick() => ticks += 1,
        }
    }
    assert!(ticks >= 2000, "the timer won the race often: {ticks} ticks");
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_split_reader_answers_a_ping_while_the_writer_is_busy() {
    let (url, server) = serve(Upgrader::default(), |ws| async move {
        let (mut reader, mut writer) = ws.split();
        let writing = tokio::spawn(async move {
            for i in 0..2000u32 {
                writer
                    .send(Message::binary(vec![i as u8; 1000]))
                    .await
                    .unwrap();
            }
            writer
        });
        let got = reader.recv().await;
        (writing.await.unwrap(), got.is_none())
    })
    .await;
    let (mut ws, _) = connect_with(&url, ClientOptions::default()).await.unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    ws.set_pong_handler(Some(Box::new(move |p: &Bytes| tx.send(p.clone()).unwrap())));
    ws.ping(b"while busy").await.unwrap();
    let mut received = 0;
    while received < 2000 {
        ws.recv().await.unwrap().unwrap();
        received += 1;
    }
    // The pong arrives among the data, handled while we read.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while rx.try_recv().is_err() {
        assert!(tokio::time::Instant::now() < deadline, "pong never arrived");
        ws.ping(b"nudge").await.unwrap();
        let _ = tokio::time::timeout(Duration::from_millis(20), ws.recv()).await;
    }
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    let (_, closed) = server.await.unwrap();
    assert!(closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_and_sink_interfaces() {
    use std::future::poll_fn;
    use std::pin::Pin;
    let (url, server) = serve(Upgrader::default(), echo).await;
    let (mut ws, _) = connect_with(&url, ClientOptions::default()).await.unwrap();
    for i in 0..100 {
        poll_fn(|cx| Pin::new(&mut ws).poll_ready(cx))
            .await
            .unwrap();
        Pin::new(&mut ws)
            .start_send(Message::text(format!("sink {i}")))
            .unwrap();
    }
    poll_fn(|cx| Pin::new(&mut ws).poll_flush(cx))
        .await
        .unwrap();
    for i in 0..100 {
        let next = poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut ws), cx)).await;
        assert_eq!(next.unwrap().unwrap(), Message::text(format!("sink {i}")));
    }
    poll_fn(|cx| Pin::new(&mut ws).poll_close(cx))
        .await
        .unwrap();
    assert!(ws.recv().await.is_none(), "the close was answered");
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upgrade_gets_an_http_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        tx.send(
            accept_with(stream, &Upgrader::default())
                .await
                .err()
                .map(|e| e.to_string()),
        )
        .unwrap();
    });
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(rx.await.unwrap().is_some());
}
