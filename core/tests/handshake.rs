//! The opening handshake (RFC 6455 section 4) end to end: parsing, server checks and their
//! HTTP answers, the client's checks, and both sides together.

use bytes::BytesMut;
use proptest::prelude::*;
use wsio_core::handshake::{
    AcceptOutcome, Accepted, ClientHandshake, ClientOptions, Connected, HandshakeError, Limits,
    Parsed, Rejection, Request, RequestParser, Upgrader, accept_key, split_list,
};
use wsio_core::rng::KeySource;

/// The client's request from RFC 6455 section 1.2.
const RFC_REQUEST: &str = "GET /chat HTTP/1.1\r\n\
    Host: server.example.com\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Origin: http://example.com\r\n\
    Sec-WebSocket-Protocol: chat, superchat\r\n\
    Sec-WebSocket-Version: 13\r\n\
    \r\n";

/// A minimal valid request; tests replace or drop its lines to break one thing at a time.
const GOOD_LINES: &[&str] = &[
    "GET /ws HTTP/1.1",
    "Host: example.com",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
];

fn head(lines: &[&str]) -> String {
    let mut text = lines.join("\r\n");
    text.push_str("\r\n\r\n");
    text
}

/// What the server writes back for `input`, fed whole: (status, bytes).
fn answer(upgrader: &Upgrader, input: &[u8]) -> (u16, Vec<u8>) {
    let mut parser = upgrader.request_parser();
    match upgrader.accept_bytes(&mut parser, input) {
        AcceptOutcome::Accepted { accepted, .. } => (101, accepted.response_bytes().to_vec()),
        AcceptOutcome::Rejected(rejection) => (rejection.status(), rejection.to_bytes().to_vec()),
        AcceptOutcome::NeedMore => panic!("request head incomplete"),
    }
}

/// Checks that `bytes` is a well-formed rejection with `status` and returns its text.
fn assert_rejection(bytes: &[u8], status: u16) -> String {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.contains("\r\nContent-Type: text/plain"), "{text}");
    assert!(head.contains("\r\nConnection: close"), "{text}");
    assert!(
        head.contains(&format!("\r\nContent-Length: {}", body.len())),
        "{text}"
    );
    assert!(!body.is_empty() && body.len() < 200, "{body}");
    text
}

fn complete<T: std::fmt::Debug>(parsed: Parsed<T>) -> (T, BytesMut) {
    match parsed {
        Parsed::Complete { value, leftover } => (value, leftover),
        Parsed::Partial => panic!("expected a complete head"),
    }
}

// ---- RFC 6455 examples ----

#[test]
fn rfc_accept_key_example() {
    assert_eq!(
        accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn rfc_sample_request_is_answered_byte_for_byte() {
    let upgrader = Upgrader::new()
        .with_subprotocols(["chat"])
        .with_check_origin(|request| request.header("Origin") == Some(b"http://example.com"));
    let (status, response) = answer(&upgrader, RFC_REQUEST.as_bytes());
    assert_eq!(status, 101);
    assert_eq!(
        response,
        b"HTTP/1.1 101 Switching Protocols\r\n\
          Upgrade: websocket\r\n\
          Connection: Upgrade\r\n\
          Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
          Sec-WebSocket-Protocol: chat\r\n\
          \r\n"
    );
}

#[test]
fn rfc_sample_without_a_common_subprotocol_gets_no_protocol_line() {
    let upgrader = Upgrader::new().with_check_origin(|_| true);
    let (_, response) = answer(&upgrader, RFC_REQUEST.as_bytes());
    assert_eq!(
        response,
        b"HTTP/1.1 101 Switching Protocols\r\n\
          Upgrade: websocket\r\n\
          Connection: Upgrade\r\n\
          Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
          \r\n"
    );
}

#[test]
fn rfc_sample_is_cross_origin_for_the_default_check() {
    // Origin example.com, Host server.example.com: a different host, so 403.
    let (status, response) = answer(&Upgrader::new(), RFC_REQUEST.as_bytes());
    assert_eq!(status, 403);
    assert_rejection(&response, 403);
}

// ---- Server checks ----

#[test]
fn malformed_requests_get_their_status() {
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
    let cases: Vec<(&str, Vec<&str>, u16)> = vec![
        (
            "missing key",
            vec![
                GOOD_LINES[0],
                GOOD_LINES[1],
                GOOD_LINES[2],
                GOOD_LINES[3],
                GOOD_LINES[5],
            ],
            400,
        ),
        ("duplicate key", [GOOD_LINES, &[key]].concat(), 400),
        (
            "short key (15 bytes)",
            vec![
                GOOD_LINES[0],
                GOOD_LINES[1],
                GOOD_LINES[2],
                GOOD_LINES[3],
                "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA",
                GOOD_LINES[5],
            ],
            400,
        ),
        (
            "key not base64",
            vec![
                GOOD_LINES[0],
                GOOD_LINES[1],
                GOOD_LINES[2],
                GOOD_LINES[3],
                "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==",
                GOOD_LINES[5],
            ],
            400,
        ),
        (
            "missing Upgrade",
            vec![
                GOOD_LINES[0],
                GOOD_LINES[1],
                GOOD_LINES[3],
                GOOD_LINES[4],
                GOOD_LINES[5],
            ],
            400,
        ),
        (
            "Upgrade not websocket",
            vec![
                GOOD_LINES[0],
                GOOD_LINES[1],
                "Upgrade: h2c",
                GOOD_LINES[3],
                GOOD_LINES[4],
                GOOD_LINES[5],
            ],
            400,
        ),
        (
            "Connection without upgrade",
            vec![
                GOOD_LINES[0],
                GOOD_LINES[1],
                GOOD_LINES[2],
                "Connection: keep-alive",
                GOOD_LINES[4],
                GOOD_LINES[5],
            ],
            400,
        ),
        (
            "missing Host",
            vec![
                GOOD_LINES[0],
                GOOD_LINES[2],
                GOOD_LINES[3],
                GOOD_LINES[4],
                GOOD_LINES[5],
            ],
            400,
        ),
        (
            "POST",
            [&["POST /ws HTTP/1.1"], &GOOD_LINES[1..]].concat(),
            405,
        ),
        (
            "HTTP/1.0",
            [&["GET /ws HTTP/1.0"], &GOOD_LINES[1..]].concat(),
            400,
        ),
        (
            "version 8",
            [&GOOD_LINES[..5], &["Sec-WebSocket-Version: 8"]].concat(),
            426,
        ),
        ("no version", GOOD_LINES[..5].to_vec(), 426),
        (
            "cross-origin",
            [GOOD_LINES, &["Origin: http://evil.example"]].concat(),
            403,
        ),
        (
            "other port",
            [GOOD_LINES, &["Origin: http://example.com:8080"]].concat(),
            403,
        ),
        (
            "not HTTP",
            vec!["GET /ws HTTP/1.1", "Host example.com"],
            400,
        ),
    ];
    let upgrader = Upgrader::new();
    for (name, lines, status) in cases {
        let (got, response) = answer(&upgrader, head(&lines).as_bytes());
        assert_eq!(got, status, "{name}");
        let text = assert_rejection(&response, status);
        if status == 426 {
            assert!(
                text.contains("\r\nSec-WebSocket-Version: 13\r\n"),
                "{name}: {text}"
            );
        }
        if status == 405 {
            assert!(text.contains("\r\nAllow: GET\r\n"), "{name}: {text}");
        }
    }
}

#[test]
fn errors_carry_their_type() {
    let upgrader = Upgrader::new();
    let request = |lines: &[&str]| {
        complete(Request::parse(head(lines).as_bytes(), Limits::default()).unwrap()).0
    };
    let error = |lines: &[&str]| {
        upgrader
            .upgrade(&request(lines))
            .unwrap_err()
            .error()
            .clone()
    };
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
    assert_eq!(
        error(&[GOOD_LINES, &[key]].concat()),
        HandshakeError::DuplicateKey
    );
    assert_eq!(error(&GOOD_LINES[..5]), HandshakeError::UnsupportedVersion);
    assert_eq!(
        error(&[GOOD_LINES, &["Origin: null"]].concat()),
        HandshakeError::OriginRejected
    );
    let no_key = [&GOOD_LINES[..4], &GOOD_LINES[5..]].concat();
    assert_eq!(error(&no_key), HandshakeError::MissingKey);
}

#[test]
fn same_origin_is_accepted_ignoring_case() {
    let lines = [GOOD_LINES, &["Origin: https://EXAMPLE.com"]].concat();
    assert_eq!(answer(&Upgrader::new(), head(&lines).as_bytes()).0, 101);
}

#[test]
fn connection_and_upgrade_tokens_are_lists() {
    let variants: &[&[&str]] = &[
        &["Connection: keep-alive,Upgrade"],
        &["Connection:   keep-alive ,  UPGRADE  "],
        &["Connection: keep-alive", "Connection: upgrade"],
        &["Connection: ,,upgrade,,"],
    ];
    for extra in variants {
        let mut lines = vec![GOOD_LINES[0], GOOD_LINES[1], "Upgrade: WebSocket"];
        lines.extend_from_slice(extra);
        lines.extend_from_slice(&GOOD_LINES[4..]);
        assert_eq!(
            answer(&Upgrader::new(), head(&lines).as_bytes()).0,
            101,
            "{extra:?}"
        );
    }
    // A token is a whole element: "upgrades" is not "upgrade".
    let lines = [
        &GOOD_LINES[..3],
        &["Connection: upgrades"],
        &GOOD_LINES[4..],
    ]
    .concat();
    assert_eq!(answer(&Upgrader::new(), head(&lines).as_bytes()).0, 400);
}

#[test]
fn head_over_the_size_limit_gets_431() {
    let big = format!("X-Filler: {}", "a".repeat(9000));
    let lines = [GOOD_LINES, &[big.as_str()]].concat();
    let (status, response) = answer(&Upgrader::new(), head(&lines).as_bytes());
    assert_eq!(status, 431);
    assert_rejection(&response, 431);

    // The limit is configurable.
    let upgrader = Upgrader::new().with_limits(Limits {
        max_head_size: 16 * 1024,
        ..Limits::default()
    });
    assert_eq!(answer(&upgrader, head(&lines).as_bytes()).0, 101);
}

#[test]
fn too_many_headers_get_431_even_with_upgrade_last() {
    let fillers: Vec<String> = (0..64).map(|i| format!("X-Filler-{i}: {i}")).collect();
    let mut lines: Vec<&str> = vec![
        GOOD_LINES[0],
        GOOD_LINES[1],
        GOOD_LINES[3],
        GOOD_LINES[4],
        GOOD_LINES[5],
    ];
    lines.extend(fillers.iter().map(String::as_str));
    lines.push(GOOD_LINES[2]); // Upgrade: websocket, past the limit
    let (status, response) = answer(&Upgrader::new(), head(&lines).as_bytes());
    assert_eq!(status, 431);
    assert_rejection(&response, 431);

    // With room for every header, the same request is fine: the Upgrade header was read.
    let upgrader = Upgrader::new().with_limits(Limits {
        max_headers: 100,
        ..Limits::default()
    });
    assert_eq!(answer(&upgrader, head(&lines).as_bytes()).0, 101);
}

#[test]
fn megabyte_head_fed_bytewise_fails_at_the_limit() {
    let mut input = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
    input.resize(1024 * 1024, b'a');
    let upgrader = Upgrader::new();
    let mut parser = upgrader.request_parser();
    let mut consumed = 0;
    let outcome = loop {
        let byte = &input[consumed..consumed + 1];
        consumed += 1;
        match upgrader.accept_bytes(&mut parser, byte) {
            AcceptOutcome::NeedMore => assert!(consumed < input.len(), "never rejected"),
            other => break other,
        }
    };
    assert_eq!(consumed, Limits::DEFAULT_MAX_HEAD_SIZE);
    match outcome {
        AcceptOutcome::Rejected(rejection) => {
            assert_eq!(
                rejection.error(),
                &HandshakeError::HeadTooLarge { limit: 8192 }
            );
            assert_rejection(&rejection.to_bytes(), 431);
        }
        other => panic!("expected a rejection, got {other:?}"),
    }

    // Fed at once, the head is refused without buffering past the limit.
    let mut parser = RequestParser::new(Limits::default());
    assert_eq!(
        parser.feed(&input).unwrap_err(),
        HandshakeError::HeadTooLarge { limit: 8192 }
    );
    assert_eq!(parser.buffered(), 0);
}

#[test]
fn subprotocol_header_of_commas_and_spaces() {
    let junk = ", ".repeat(4096); // 8 KiB
    let limits = Limits {
        max_head_size: 32 * 1024,
        ..Limits::default()
    };
    let upgrader = Upgrader::new()
        .with_subprotocols(["superchat", "chat"])
        .with_limits(limits);

    let only_junk = format!("Sec-WebSocket-Protocol: {junk}");
    let lines = [GOOD_LINES, &[only_junk.as_str()]].concat();
    let request = complete(Request::parse(head(&lines).as_bytes(), limits).unwrap()).0;
    assert_eq!(upgrader.upgrade(&request).unwrap().protocol(), None);

    let with_tokens = format!("Sec-WebSocket-Protocol: {junk}chat{junk} , superchat ,{junk}");
    let lines = [GOOD_LINES, &[with_tokens.as_str()]].concat();
    let request = complete(Request::parse(head(&lines).as_bytes(), limits).unwrap()).0;
    assert_eq!(
        upgrader.upgrade(&request).unwrap().protocol(),
        Some("superchat")
    );

    let items: Vec<&[u8]> = split_list(with_tokens.as_bytes()).collect();
    assert_eq!(items.len(), 3);
}

#[test]
fn subprotocol_follows_server_preference() {
    let offer = "Sec-WebSocket-Protocol: a, b";
    let offer2 = "Sec-WebSocket-Protocol: c";
    let lines = [GOOD_LINES, &[offer, offer2]].concat();
    let request = complete(Request::parse(head(&lines).as_bytes(), Limits::default()).unwrap()).0;
    let choose = |ours: &[&str]| {
        Upgrader::new()
            .with_subprotocols(ours.iter().copied())
            .upgrade(&request)
            .unwrap()
            .protocol()
            .map(str::to_owned)
    };
    assert_eq!(choose(&["c", "b"]).as_deref(), Some("c"));
    assert_eq!(choose(&["b", "a"]).as_deref(), Some("b"));
    assert_eq!(choose(&["B", "x"]), None); // exact match only
    assert_eq!(choose(&[]), None);
}

#[test]
fn permessage_deflate_is_negotiated_when_enabled() {
    let lines = [
        GOOD_LINES,
        &[
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
            "Sec-WebSocket-Extensions: x-foo",
        ],
    ]
    .concat();
    let request = complete(Request::parse(head(&lines).as_bytes(), Limits::default()).unwrap()).0;
    // Off by default: offers are recorded, nothing is agreed.
    let accepted = Upgrader::new().upgrade(&request).unwrap();
    assert_eq!(
        accepted.extension_offers(),
        ["permessage-deflate; client_max_window_bits", "x-foo"]
    );
    assert_eq!((accepted.extensions(), accepted.deflate()), (None, None));
    assert!(!String::from_utf8_lossy(&accepted.response_bytes()).contains("Extensions"));
    // On: the Chromium-style offer is accepted without context takeover either way.
    let accepted = Upgrader::new()
        .with_compression(true)
        .upgrade(&request)
        .unwrap();
    let agreed = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
    assert_eq!(accepted.extensions(), Some(agreed));
    assert!(accepted.deflate().is_some());
    let response = String::from_utf8(accepted.response_bytes().to_vec()).unwrap();
    assert!(
        response.contains(&format!("\r\nSec-WebSocket-Extensions: {agreed}\r\n")),
        "{response}"
    );
}

#[test]
fn compressed_connection_end_to_end() {
    use wsio_core::{Config, DeflateConfig, Event, Message};
    let deflate = DeflateConfig {
        enabled: true,
        ..DeflateConfig::default()
    };
    let mut client = ClientHandshake::new(
        "ws://localhost:9001/echo",
        ClientOptions {
            config: Config {
                deflate: deflate.clone(),
                ..Config::default()
            },
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let upgrader = Upgrader::new().with_compression(true);
    let mut parser = upgrader.request_parser();
    let AcceptOutcome::Accepted {
        accepted, leftover, ..
    } = upgrader.accept_bytes(&mut parser, &client.request_bytes())
    else {
        panic!("rejected")
    };
    let mut server = upgrader.connection(&accepted, &leftover);
    let text = "compress me, ".repeat(10);
    let text = text.as_str();
    server.send(Message::text(text)).unwrap();
    let mut wire = accepted.response_bytes().to_vec();
    wire.extend(wsio_core::testing::take_output(&mut server));
    // The response and the first (compressed) frame arrive in one read.
    let Parsed::Complete {
        value: connected,
        leftover,
    } = client.feed(&wire).unwrap()
    else {
        panic!("partial")
    };
    assert!(connected.deflate.is_some());
    let mut conn = client.connection(&connected, &leftover);
    assert_eq!(
        conn.poll_event(),
        Ok(Some(Event::Message(Message::text(text))))
    );
    assert_eq!(
        wire[accepted.response_bytes().len()] & 0x40,
        0x40,
        "the frame was compressed (RSV1)"
    );
}

#[test]
fn client_rejects_a_deflate_answer_outside_its_offer() {
    let options = ClientOptions {
        config: wsio_core::Config {
            deflate: wsio_core::DeflateConfig {
                enabled: true,
                ..Default::default()
            },
            ..Default::default()
        },
        ..ClientOptions::default()
    };
    let c = client(options.clone());
    let offer = String::from_utf8(c.request_bytes().to_vec()).unwrap();
    assert!(
        offer.contains("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover"),
        "{offer}"
    );
    let accept = accept_key(c.key());
    let bad = response_101(
        &accept,
        &["Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=16"],
    );
    assert!(matches!(
        client_error(c, &bad),
        HandshakeError::Extension(_)
    ));
    // A server that declines compression is fine.
    let mut c = client(options);
    let accept = accept_key(c.key());
    let Parsed::Complete { value, .. } = c.feed(response_101(&accept, &[]).as_bytes()).unwrap()
    else {
        panic!()
    };
    assert_eq!(value.deflate, None);
}

#[test]
fn hooks_can_refuse_and_headers_can_be_added() {
    let upgrader = Upgrader::new()
        .with_check_request(|request| match request.path() {
            "/ws" => Ok(()),
            _ => Err(Rejection::new(404, "no such endpoint")),
        })
        .with_check_header(|name, value| {
            if name.eq_ignore_ascii_case("Authorization") && value != b"Bearer ok" {
                Err(Rejection::new(401, "bad credentials")
                    .with_header("WWW-Authenticate", "Bearer"))
            } else {
                Ok(())
            }
        })
        .with_response_header("Set-Cookie", "session=1");

    let (status, response) = answer(&upgrader, head(GOOD_LINES).as_bytes());
    assert_eq!(status, 101);
    assert!(response.ends_with(b"\r\nSet-Cookie: session=1\r\n\r\n"));

    let other_path = [&["GET /other?x HTTP/1.1"], &GOOD_LINES[1..]].concat();
    let (status, response) = answer(&upgrader, head(&other_path).as_bytes());
    assert_eq!(status, 404);
    assert!(assert_rejection(&response, 404).ends_with("\r\n\r\nno such endpoint\n"));

    let bad_auth = [GOOD_LINES, &["Authorization: Bearer no"]].concat();
    let (status, response) = answer(&upgrader, head(&bad_auth).as_bytes());
    assert_eq!(status, 401);
    assert!(assert_rejection(&response, 401).contains("\r\nWWW-Authenticate: Bearer\r\n"));

    // A response header the handshake writes itself is a configuration error: 500, not a
    // broken 101.
    let misconfigured = Upgrader::new().with_response_header("Sec-WebSocket-Accept", "x");
    let (status, response) = answer(&misconfigured, head(GOOD_LINES).as_bytes());
    assert_eq!(status, 500);
    assert_rejection(&response, 500);
}

#[test]
fn leftover_after_the_request_reaches_the_connection() {
    let mut input = head(GOOD_LINES).into_bytes();
    input.extend_from_slice(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
    let upgrader = Upgrader::new();
    let mut parser = upgrader.request_parser();
    match upgrader.accept_bytes(&mut parser, &input) {
        AcceptOutcome::Accepted {
            leftover, request, ..
        } => {
            assert_eq!(
                &leftover[..],
                b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
            );
            assert_eq!(request.path(), "/ws");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn request_split_at_every_byte_parses_the_same() {
    let mut input = RFC_REQUEST.as_bytes().to_vec();
    input.extend_from_slice(b"frame");
    let (whole, whole_leftover) = complete(Request::parse(&input, Limits::default()).unwrap());
    for split in 0..=input.len() {
        let mut parser = RequestParser::default();
        let (request, leftover) = match parser.feed(&input[..split]).unwrap() {
            Parsed::Complete {
                value,
                mut leftover,
            } => {
                leftover.extend_from_slice(&input[split..]);
                (value, leftover)
            }
            Parsed::Partial => complete(parser.feed(&input[split..]).unwrap()),
        };
        assert_eq!(request, whole, "split at {split}");
        assert_eq!(leftover, whole_leftover, "split at {split}");
    }
}

#[test]
fn request_fed_one_byte_at_a_time() {
    let mut parser = RequestParser::default();
    let input = RFC_REQUEST.as_bytes();
    for (i, byte) in input.iter().enumerate() {
        match parser.feed(std::slice::from_ref(byte)).unwrap() {
            Parsed::Partial => assert!(i + 1 < input.len()),
            Parsed::Complete { value, leftover } => {
                assert_eq!(i + 1, input.len());
                assert_eq!(value.header("host"), Some(&b"server.example.com"[..]));
                assert!(leftover.is_empty());
            }
        }
    }
}

// ---- Client ----

fn client(options: ClientOptions) -> ClientHandshake {
    let options = ClientOptions {
        config: wsio_core::Config {
            key_source: KeySource::Seeded(42),
            ..options.config
        },
        ..options
    };
    ClientHandshake::new("ws://server.example.com/chat", options).unwrap()
}

fn offering(protocols: &[&str], extensions: &[&str]) -> ClientOptions {
    ClientOptions {
        protocols: protocols.iter().map(|p| p.to_string()).collect(),
        extensions: extensions.iter().map(|e| e.to_string()).collect(),
        ..ClientOptions::default()
    }
}

fn response_101(accept: &str, extra: &[&str]) -> String {
    let mut lines = vec![
        "HTTP/1.1 101 Switching Protocols".to_owned(),
        "Upgrade: websocket".to_owned(),
        "Connection: Upgrade".to_owned(),
        format!("Sec-WebSocket-Accept: {accept}"),
    ];
    lines.extend(extra.iter().map(|l| l.to_string()));
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    head(&lines)
}

fn client_error(mut client: ClientHandshake, response: &str) -> HandshakeError {
    client.feed(response.as_bytes()).unwrap_err()
}

#[test]
fn client_accepts_a_good_response_and_keeps_the_leftover() {
    let mut client = client(offering(&["chat"], &["permessage-deflate"]));
    let accept = accept_key(client.key());
    let mut input = response_101(
        &accept,
        &[
            "Sec-WebSocket-Protocol: chat",
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover",
        ],
    )
    .into_bytes();
    input.extend_from_slice(b"\x81\x05Hello");
    let (connected, leftover) = complete(client.feed(&input).unwrap());
    assert_eq!(connected.protocol.as_deref(), Some("chat"));
    assert_eq!(
        connected.extensions,
        ["permessage-deflate; server_no_context_takeover"]
    );
    assert_eq!(&leftover[..], b"\x81\x05Hello");
    assert_eq!(client.feed(b"more").unwrap_err(), HandshakeError::Finished);
}

#[test]
fn client_rejects_wrong_accept() {
    let c = client(ClientOptions::default());
    let wrong = accept_key("AAAAAAAAAAAAAAAAAAAAAA==");
    assert_eq!(
        client_error(c, &response_101(&wrong, &[])),
        HandshakeError::WrongAccept
    );

    let c = client(ClientOptions::default());
    let missing = head(&[
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
    ]);
    assert_eq!(client_error(c, &missing), HandshakeError::WrongAccept);
}

#[test]
fn client_rejects_non_101() {
    let c = client(ClientOptions::default());
    let response = "HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno\n";
    assert_eq!(client_error(c, response), HandshakeError::BadStatus(403));
    let c = client(ClientOptions::default());
    assert_eq!(
        client_error(c, "HTTP/1.1 200 OK\r\n\r\n"),
        HandshakeError::BadStatus(200)
    );
}

#[test]
fn client_rejects_missing_upgrade_headers() {
    let c = client(ClientOptions::default());
    let accept = accept_key(c.key());
    let response = head(&[
        "HTTP/1.1 101 Switching Protocols",
        "Connection: Upgrade",
        &format!("Sec-WebSocket-Accept: {accept}"),
    ]);
    assert_eq!(client_error(c, &response), HandshakeError::MissingUpgrade);

    let c = client(ClientOptions::default());
    let accept = accept_key(c.key());
    let response = head(&[
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        &format!("Sec-WebSocket-Accept: {accept}"),
    ]);
    assert_eq!(
        client_error(c, &response),
        HandshakeError::MissingConnectionUpgrade
    );
}

#[test]
fn client_rejects_an_unoffered_subprotocol() {
    let c = client(offering(&["chat"], &[]));
    let response = response_101(&accept_key(c.key()), &["Sec-WebSocket-Protocol: superchat"]);
    assert_eq!(
        client_error(c, &response),
        HandshakeError::UnofferedProtocol("superchat".into())
    );

    // None offered, one chosen.
    let c = client(ClientOptions::default());
    let response = response_101(&accept_key(c.key()), &["Sec-WebSocket-Protocol: chat"]);
    assert_eq!(
        client_error(c, &response),
        HandshakeError::UnofferedProtocol("chat".into())
    );

    // A list is not a choice.
    let c = client(offering(&["chat", "superchat"], &[]));
    let response = response_101(
        &accept_key(c.key()),
        &["Sec-WebSocket-Protocol: chat, superchat"],
    );
    assert!(matches!(
        client_error(c, &response),
        HandshakeError::UnofferedProtocol(_)
    ));
}

#[test]
fn client_rejects_an_unoffered_extension() {
    let c = client(offering(
        &[],
        &["permessage-deflate; client_max_window_bits"],
    ));
    let response = response_101(
        &accept_key(c.key()),
        &["Sec-WebSocket-Extensions: permessage-deflate, x-webkit-deflate-frame"],
    );
    assert_eq!(
        client_error(c, &response),
        HandshakeError::UnofferedExtension("x-webkit-deflate-frame".into())
    );

    let c = client(ClientOptions::default());
    let response = response_101(
        &accept_key(c.key()),
        &["Sec-WebSocket-Extensions: permessage-deflate"],
    );
    assert_eq!(
        client_error(c, &response),
        HandshakeError::UnofferedExtension("permessage-deflate".into())
    );
}

#[test]
fn client_response_split_at_every_byte_parses_the_same() {
    let probe = client(offering(&["chat"], &[]));
    let mut input =
        response_101(&accept_key(probe.key()), &["Sec-WebSocket-Protocol: chat"]).into_bytes();
    input.extend_from_slice(b"\x89\x00");
    for split in 0..=input.len() {
        let mut c = client(offering(&["chat"], &[]));
        let (connected, leftover): (Connected, BytesMut) = match c.feed(&input[..split]).unwrap() {
            Parsed::Complete {
                value,
                mut leftover,
            } => {
                leftover.extend_from_slice(&input[split..]);
                (value, leftover)
            }
            Parsed::Partial => complete(c.feed(&input[split..]).unwrap()),
        };
        assert_eq!(
            connected.protocol.as_deref(),
            Some("chat"),
            "split at {split}"
        );
        assert_eq!(&leftover[..], b"\x89\x00", "split at {split}");
    }
}

#[test]
fn client_and_server_round_trip() {
    let options = ClientOptions {
        protocols: vec!["superchat".into(), "chat".into()],
        headers: vec![("Origin".into(), "http://server.example.com:8080".into())],
        extensions: vec!["permessage-deflate; client_max_window_bits".into()],
        ..ClientOptions::default()
    };
    let mut client =
        ClientHandshake::new("ws://server.example.com:8080/chat?room=1", options).unwrap();
    assert!(!client.needs_tls());

    // The server prefers chat; the client's order does not matter.
    let upgrader = Upgrader::new().with_subprotocols(["chat", "superchat"]);
    let mut parser = upgrader.request_parser();
    let mut request_bytes = client.request_bytes().to_vec();
    request_bytes.extend_from_slice(b"client frame");
    let (mut accepted, request, leftover): (Accepted, Request, BytesMut) =
        match upgrader.accept_bytes(&mut parser, &request_bytes) {
            AcceptOutcome::Accepted {
                accepted,
                request,
                leftover,
            } => (accepted, request, leftover),
            other => panic!("{other:?}"),
        };
    assert_eq!(request.path(), "/chat");
    assert_eq!(request.query(), Some("room=1"));
    assert_eq!(&leftover[..], b"client frame");
    assert_eq!(
        accepted.extension_offers(),
        ["permessage-deflate; client_max_window_bits"]
    );
    // Stand-in for the deflate negotiation of issue 03.
    accepted
        .set_extensions(Some("permessage-deflate".into()))
        .unwrap();

    let mut response = accepted.response_bytes().to_vec();
    response.extend_from_slice(b"server frame");
    let (connected, leftover) = complete(client.feed(&response).unwrap());
    assert_eq!(connected.protocol.as_deref(), Some("chat"));
    assert_eq!(connected.extensions, ["permessage-deflate"]);
    assert_eq!(&leftover[..], b"server frame");
}

#[test]
fn wss_urls_need_tls_and_ipv6_hosts_are_bracketed() {
    let client = ClientHandshake::new("wss://[::1]:8443", ClientOptions::default()).unwrap();
    assert!(client.needs_tls());
    assert_eq!(client.url().host(), "::1");
    assert!(
        client
            .request_bytes()
            .starts_with(b"GET / HTTP/1.1\r\nHost: [::1]:8443\r\n")
    );
    let client = ClientHandshake::new("wss://example.com:443/x", ClientOptions::default()).unwrap();
    assert!(
        client
            .request_bytes()
            .starts_with(b"GET /x HTTP/1.1\r\nHost: example.com\r\n")
    );
    assert_eq!(
        ClientHandshake::new("https://example.com", ClientOptions::default()).unwrap_err(),
        HandshakeError::UnsupportedScheme("https".into())
    );
}

// ---- No panics on any input ----

proptest! {
    #[test]
    fn server_never_panics(input in proptest::collection::vec(any::<u8>(), 0..600), split in 0usize..600) {
        let upgrader = Upgrader::new().with_limits(Limits { max_head_size: 512, max_headers: 8 });
        let mut parser = upgrader.request_parser();
        let split = split.min(input.len());
        if let AcceptOutcome::NeedMore = upgrader.accept_bytes(&mut parser, &input[..split]) {
            let _ = upgrader.accept_bytes(&mut parser, &input[split..]);
        }
    }

    #[test]
    fn server_never_panics_on_near_valid_requests(
        lines in proptest::collection::vec("[A-Za-z-]{1,20}: [ -~]{0,30}", 0..10),
    ) {
        let mut all: Vec<&str> = GOOD_LINES.to_vec();
        all.extend(lines.iter().map(String::as_str));
        let (status, response) = answer(&Upgrader::new(), head(&all).as_bytes());
        if status != 101 {
            assert_rejection(&response, status);
        }
    }

    #[test]
    fn client_never_panics(input in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut c = client(offering(&["chat"], &["permessage-deflate"]));
        let _ = c.feed(&input);
    }

    #[test]
    fn client_never_panics_on_odd_urls(url in "(ws|wss|http)://[ -~]{0,40}") {
        let _ = ClientHandshake::new(&url, ClientOptions::default());
    }
}

// ---- http crate interop ----

#[cfg(feature = "http")]
mod http_interop {
    use super::*;

    fn http_request(extra: &[(&str, &str)]) -> http::Request<()> {
        let mut builder = http::Request::builder()
            .method("GET")
            .uri("/chat?x=1")
            .version(http::Version::HTTP_11)
            .header("host", "server.example.com")
            .header("upgrade", "websocket")
            .header("connection", "keep-alive, Upgrade")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-version", "13");
        for (name, value) in extra {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn http_request_upgrades_to_http_101() {
        let upgrader = Upgrader::new().with_subprotocols(["chat"]);
        let request = http_request(&[("sec-websocket-protocol", "superchat, chat")]);
        let accepted = upgrader.upgrade_http(&request).unwrap();
        let response = accepted.to_http_response();
        assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
        let headers = response.headers();
        assert_eq!(headers["upgrade"], "websocket");
        assert_eq!(headers["connection"], "Upgrade");
        assert_eq!(
            headers["sec-websocket-accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(headers["sec-websocket-protocol"], "chat");

        let (parts, ()) = request.into_parts();
        assert_eq!(upgrader.upgrade_parts(&parts).unwrap(), accepted);
    }

    #[test]
    fn http_request_rejections_are_http_responses() {
        let upgrader = Upgrader::new();
        let request = http_request(&[("origin", "http://evil.example")]);
        let rejection = upgrader.upgrade_http(&request).unwrap_err();
        let response: http::Response<String> = rejection.to_http_response_with_body();
        assert_eq!(response.status(), http::StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            response.headers()["content-length"],
            response.body().len().to_string()
        );
        assert_eq!(response.body(), "origin not allowed\n");

        let mut request = http_request(&[]);
        request
            .headers_mut()
            .insert("sec-websocket-version", http::HeaderValue::from_static("8"));
        let response = upgrader
            .upgrade_http(&request)
            .unwrap_err()
            .to_http_response();
        assert_eq!(response.status(), http::StatusCode::UPGRADE_REQUIRED);
        assert_eq!(response.headers()["sec-websocket-version"], "13");

        let mut request = http_request(&[]);
        *request.version_mut() = http::Version::HTTP_2;
        let rejection = upgrader.upgrade_http(&request).unwrap_err();
        assert_eq!(rejection.error(), &HandshakeError::NotHttp11);

        let mut request = http_request(&[]);
        *request.method_mut() = http::Method::POST;
        assert_eq!(upgrader.upgrade_http(&request).unwrap_err().status(), 405);
    }

    #[test]
    fn client_through_http_types() {
        let options = ClientOptions {
            protocols: vec!["chat".into()],
            ..ClientOptions::default()
        };
        let client = ClientHandshake::new("ws://server.example.com:9000/chat", options).unwrap();
        let request = client.to_http_request().unwrap();
        assert_eq!(request.uri(), "/chat");
        assert_eq!(request.headers()["host"], "server.example.com:9000");

        let upgrader = Upgrader::new().with_subprotocols(["chat"]);
        let response = upgrader.upgrade_http(&request).unwrap().to_http_response();
        let connected = client.check_http_response(&response).unwrap();
        assert_eq!(connected.protocol.as_deref(), Some("chat"));

        let forbidden = http::Response::builder().status(403).body(()).unwrap();
        assert_eq!(
            client.check_http_response(&forbidden).unwrap_err(),
            HandshakeError::BadStatus(403)
        );
    }
}
