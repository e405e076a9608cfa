//! RFC 6455 section 5.7 examples, byte for byte, in both directions.

use bytes::Bytes;
use wsio_core::testing::{drain_events, take_output};
use wsio_core::{Config, Connection, Event, Message, ReadMode, Role};

fn client() -> Connection {
    Connection::new(Role::Client, Config::default())
}

fn server() -> Connection {
    Connection::new(Role::Server, Config::default())
}

fn events(conn: &mut Connection, bytes: &[u8]) -> Vec<Event> {
    conn.receive(bytes);
    drain_events(conn)
        .into_iter()
        .map(|e| e.expect("no error"))
        .collect()
}

/// Splits a client's output into (header without key, key, unmasked payload) for one frame.
fn unmask_client_frame(frame: &[u8], header_len: usize) -> (Vec<u8>, Vec<u8>) {
    let key = &frame[header_len..header_len + 4];
    let payload = frame[header_len + 4..]
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ key[i % 4])
        .collect();
    (frame[..header_len].to_vec(), payload)
}

#[test]
fn single_frame_unmasked_text() {
    let wire = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(
        events(&mut client(), &wire),
        [Event::Message(Message::text("Hello"))]
    );
    let mut s = server();
    s.send(Message::text("Hello")).unwrap();
    assert_eq!(take_output(&mut s), wire);
}

#[test]
fn single_frame_masked_text() {
    let wire = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        events(&mut server(), &wire),
        [Event::Message(Message::text("Hello"))]
    );
    // Our client picks its own random key; with the key it chose, the frame is the RFC's.
    let mut c = client();
    c.send(Message::text("Hello")).unwrap();
    let out = take_output(&mut c);
    assert_eq!(out.len(), wire.len());
    let (head, payload) = unmask_client_frame(&out, 2);
    assert_eq!(head, [0x81, 0x85]);
    assert_eq!(payload, b"Hello");
}

#[test]
fn fragmented_unmasked_text() {
    let wire = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    assert_eq!(
        events(&mut client(), &wire),
        [Event::Message(Message::text("Hello"))]
    );
    let mut s = Connection::new(
        Role::Server,
        Config {
            fragment_size: 3,
            ..Config::default()
        },
    );
    s.begin_message(wsio_core::MessageKind::Text).unwrap();
    s.write_chunk(b"Hello").unwrap();
    s.end_message().unwrap();
    assert_eq!(take_output(&mut s), wire);
}

#[test]
fn ping_and_pong() {
    let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    let mut c = client();
    assert_eq!(
        events(&mut c, &ping),
        [Event::Ping(Bytes::from_static(b"Hello"))]
    );
    // The automatic pong is the RFC's masked pong, with our key.
    let out = take_output(&mut c);
    let (head, payload) = unmask_client_frame(&out, 2);
    assert_eq!(head, [0x8a, 0x85]);
    assert_eq!(payload, b"Hello");

    let masked_pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        events(&mut server(), &masked_pong),
        [Event::Pong(Bytes::from_static(b"Hello"))]
    );
    let mut s = server();
    s.ping(b"Hello").unwrap();
    assert_eq!(take_output(&mut s), ping);
}

#[test]
fn binary_256_bytes_and_64_kib() {
    for (len, head) in [
        (256usize, vec![0x82, 0x7E, 0x01, 0x00]),
        (65536, vec![0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]),
    ] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let mut wire = head.clone();
        wire.extend_from_slice(&payload);
        assert_eq!(
            events(&mut client(), &wire),
            [Event::Message(Message::binary(payload.clone()))]
        );
        let mut s = server();
        s.send(Message::binary(payload.clone())).unwrap();
        assert_eq!(take_output(&mut s), wire);
        let mut c = client();
        c.send(Message::binary(payload.clone())).unwrap();
        let out = take_output(&mut c);
        let mut masked_head = head.clone();
        masked_head[1] |= 0x80;
        let (h, p) = unmask_client_frame(&out, head.len());
        assert_eq!((h, p), (masked_head, payload));
    }
}

#[test]
fn single_frame_message_is_not_copied() {
    let mut s = server();
    let mut wire = vec![0x82, 0xFE, 0x04, 0x00, 1, 2, 3, 4];
    wire.extend((0..1024).map(|i| (i as u8) ^ [1, 2, 3, 4][i % 4]));
    s.read_buf().extend_from_slice(&wire);
    let payload_at = s.read_buf().as_ptr() as usize + 8;
    let Some(Event::Message(Message::Binary(data))) = s.poll_event().unwrap() else {
        panic!()
    };
    assert_eq!(
        data.as_ptr() as usize,
        payload_at,
        "payload split out of the read buffer"
    );
    assert!(data.iter().enumerate().all(|(i, &b)| b == i as u8));
}

#[test]
fn streaming_reports_pieces_as_they_arrive() {
    let mut s = server();
    s.set_read_mode(ReadMode::Streaming);
    let wire = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        events(&mut s, &wire[..8]),
        [
            Event::MessageStart(wsio_core::MessageKind::Text),
            Event::MessageData(Bytes::from_static(b"He")),
        ]
    );
    assert_eq!(
        events(&mut s, &wire[8..]),
        [
            Event::MessageData(Bytes::from_static(b"llo")),
            Event::MessageEnd,
        ]
    );
}
