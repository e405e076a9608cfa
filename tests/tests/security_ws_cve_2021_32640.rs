//! Re-creates ws CVE-2021-32640 (ReDoS in `Sec-Websocket-Protocol`): ws before 7.4.6 split
//! the header with the regular expression `/ *, */`, which backtracks quadratically on a
//! value such as `"b" + " " * n + "x"`, so one request could hold a server's event loop for
//! seconds. The websocket-extensions advisories CVE-2020-7662 (npm) and CVE-2020-7663 (Ruby)
//! were the same flaw in the `Sec-WebSocket-Extensions` parser.
//!
//! wsio splits list headers and parses extension offers in one forward pass each. These tests
//! feed 64 KiB hostile values (spaces, commas, semicolons, quotes, in the shapes of those
//! advisories) through the whole upgrade and check that it completes with the right result;
//! linearity is checked through allocation (a quarter of the input costs about a quarter),
//! never through wall time.

use wsio_core::deflate::{DeflateConfig, negotiate_server, parse_extensions};
use wsio_core::handshake::{AcceptOutcome, Limits, Upgrader, split_list};
use wsio_tests::{CountingAlloc, measure};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const HOSTILE: usize = 64 << 10;

/// An opening request carrying `extra` header lines, with a head limit that fits them.
fn accept(upgrader: &Upgrader, extra: &str) -> AcceptOutcome {
    let head = format!(
        "GET / HTTP/1.1\r\nHost: a.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    let mut parser = upgrader.request_parser();
    upgrader.accept_bytes(&mut parser, head.as_bytes())
}

fn upgrader() -> Upgrader {
    Upgrader::new()
        .with_subprotocols(["chat", "x"])
        .with_compression(true)
        .with_limits(Limits {
            max_head_size: 1 << 20,
            ..Limits::default()
        })
}

fn accepted(outcome: AcceptOutcome) -> wsio_core::handshake::Accepted {
    match outcome {
        AcceptOutcome::Accepted { accepted, .. } => accepted,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_advisory_protocol_value_is_one_odd_token() {
    // `b`, 64 KiB of spaces, `x`: one list element (spaces do not split), which is not "x".
    let value = format!("b{}x", " ".repeat(HOSTILE));
    let upgrader = upgrader();
    let (outcome, usage) =
        measure(|| accept(&upgrader, &format!("Sec-WebSocket-Protocol: {value}\r\n")));
    assert_eq!(accepted(outcome).protocol(), None);
    assert!(usage.total < 12 * HOSTILE, "{usage:?}");
    let elements: Vec<&[u8]> = split_list(value.as_bytes()).collect();
    assert_eq!(elements, [value.as_bytes()]);
}

#[test]
fn a_protocol_after_64_kib_of_separators_is_still_found() {
    let value = format!("{}chat", " , ,".repeat(HOSTILE / 4));
    let upgrader = upgrader();
    let (outcome, usage) =
        measure(|| accept(&upgrader, &format!("Sec-WebSocket-Protocol: {value}\r\n")));
    assert_eq!(accepted(outcome).protocol(), Some("chat"));
    assert!(usage.total < 12 * HOSTILE, "{usage:?}");
    assert_eq!(split_list(value.as_bytes()).count(), 1);
}

#[test]
fn hostile_extension_offers_are_declined_and_a_good_one_still_wins() {
    let upgrader = upgrader();
    for hostile in [
        // The websocket-extensions shapes: long runs of separators and of quoted text.
        format!("permessage-deflate{}", "; ".repeat(HOSTILE / 2)),
        format!("permessage-deflate; a=\"{}", "\\\"".repeat(HOSTILE / 2)),
        "\"".repeat(HOSTILE),
        format!("x{}", " ,".repeat(HOSTILE / 2)),
        format!(
            "permessage-deflate; server_max_window_bits={}",
            "1".repeat(HOSTILE)
        ),
    ] {
        // Alone, the offer is declined: no compression, but the upgrade succeeds.
        let (outcome, usage) = measure(|| {
            accept(
                &upgrader,
                &format!("Sec-WebSocket-Extensions: {hostile}\r\n"),
            )
        });
        assert_eq!(accepted(outcome).deflate(), None, "{}", &hostile[..30]);
        assert!(usage.total < 12 * HOSTILE, "{}: {usage:?}", &hostile[..30]);
        // Next to a sound offer in another header, the sound one is taken.
        let extra = format!(
            "Sec-WebSocket-Extensions: {hostile}\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n"
        );
        let params = accepted(accept(&upgrader, &extra))
            .deflate()
            .expect("negotiated");
        assert_eq!(params.server_max_window_bits, 10);
    }
}

#[test]
fn many_small_offers_parse_in_one_pass() {
    // 8,000 offers of which only the last is acceptable: the server tries each once.
    let mut offers = "permessage-deflate; server_max_window_bits=16, ".repeat(8000);
    offers.push_str("permessage-deflate; client_max_window_bits");
    assert!(offers.len() > 256 << 10);
    let config = DeflateConfig {
        enabled: true,
        ..DeflateConfig::default()
    };
    let (negotiated, usage) = measure(|| negotiate_server(&[&offers], &config));
    let (params, answer) = negotiated.expect("the last offer is acceptable");
    assert_eq!(params.server_max_window_bits, 15);
    assert!(answer.starts_with("permessage-deflate"));
    assert!(usage.total < 8 * offers.len(), "{usage:?}");
    assert_eq!(parse_extensions(&offers).unwrap().len(), 8001);
}

#[test]
fn work_grows_linearly() {
    // Four times the hostile input costs about four times the allocation, not sixteen.
    let cost = |n: usize| {
        let value = format!("permessage-deflate{}", "; a".repeat(n));
        let config = DeflateConfig {
            enabled: true,
            ..DeflateConfig::default()
        };
        let header = format!("{value}, {value}");
        measure(|| negotiate_server(&[&header], &config)).1.total
    };
    let (small, large) = (cost(4096), cost(4 * 4096));
    assert!(large <= 5 * small, "{small} vs {large}");
}
