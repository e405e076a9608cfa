//! Re-creates aiohttp issue 1437 (2016; the same flaw was reported in autobahn-python,
//! OkHttp and Java-WebSocket): the client drew its frame mask keys from a general-purpose
//! PRNG (Python's `random`, a Mersenne Twister) whose future outputs follow from past ones.
//! RFC 6455 sections 5.3 and 10.3 require unpredictable keys, so that a script choosing a
//! message's content cannot choose the bytes an intermediary sees on the wire (the cache
//! poisoning attack masking exists to stop).
//!
//! wsio's default `KeySource::Os` draws keys from the operating system's CSPRNG. These tests
//! check what can be observed from outside: the default is that source, keys and handshake
//! nonces are distinct across frames and across connections (a fixed, counter or
//! time-seeded generator repeats), and key bytes are spread evenly.

use std::collections::HashSet;

use base64::Engine as _;
use wsio_core::frame::FrameHeader;
use wsio_core::handshake::{ClientHandshake, ClientOptions};
use wsio_core::testing::take_output;
use wsio_core::{Config, Connection, KeySource, Message, Role};

/// The mask keys of every frame in a client's output.
fn keys(output: &[u8]) -> Vec<[u8; 4]> {
    let mut keys = Vec::new();
    let mut rest = output;
    while let Ok(Some((header, n))) = FrameHeader::parse(rest) {
        keys.push(header.mask.expect("client frames are masked"));
        rest = &rest[n + header.payload_len as usize..];
    }
    assert!(rest.is_empty());
    keys
}

/// How many values repeat an earlier one.
fn repeats<T: std::hash::Hash + Eq>(values: impl IntoIterator<Item = T>) -> usize {
    let mut seen = HashSet::new();
    values
        .into_iter()
        .map(|v| seen.insert(v))
        .filter(|new| !new)
        .count()
}

// Drawing n values from 2^32, the expected number of repeats is n^2 / 2^33: 0.003 for 5,000,
// so allowing two keeps a sound source from ever failing while any fixed, cyclic or
// time-seeded one fails at once.
const ALLOWED_REPEATS: usize = 2;

#[test]
fn the_default_source_is_the_operating_system() {
    assert_eq!(Config::default().key_source, KeySource::Os);
    assert_eq!(ClientOptions::default().config.key_source, KeySource::Os);
}

#[test]
fn keys_are_distinct_across_frames() {
    let mut client = Connection::new(Role::Client, Config::default());
    for i in 0..5000u32 {
        client
            .send(Message::binary(i.to_be_bytes().to_vec()))
            .unwrap();
    }
    let keys = keys(&take_output(&mut client));
    assert_eq!(keys.len(), 5000);
    assert!(repeats(keys.iter().copied()) <= ALLOWED_REPEATS);
    // No constant step between consecutive keys (a counter, or a key reused with an offset).
    let steps = keys
        .windows(2)
        .map(|w| u32::from_be_bytes(w[1]).wrapping_sub(u32::from_be_bytes(w[0])));
    assert!(repeats(steps) <= ALLOWED_REPEATS);
}

#[test]
fn keys_are_distinct_across_connections() {
    // Connections made in the same instant: a generator seeded from the clock would give
    // them the same keys.
    let firsts: Vec<[u8; 4]> = (0..2000)
        .map(|_| {
            let mut client = Connection::new(Role::Client, Config::default());
            client.ping(b"").unwrap();
            keys(&take_output(&mut client))[0]
        })
        .collect();
    assert!(repeats(firsts) <= ALLOWED_REPEATS);
}

#[test]
fn key_bytes_are_spread_evenly() {
    let mut client = Connection::new(Role::Client, Config::default());
    for _ in 0..16_384 {
        client.pong(b"").unwrap();
    }
    let mut counts = [0u32; 256];
    for key in keys(&take_output(&mut client)) {
        for b in key {
            counts[usize::from(b)] += 1;
        }
    }
    // 65,536 bytes: 256 of each value expected, standard deviation 16. A source stuck on a
    // few values, or with a biased byte, lands far outside eight deviations.
    for (value, &count) in counts.iter().enumerate() {
        assert!(
            (128..=384).contains(&count),
            "byte {value:#04x} seen {count} times"
        );
    }
}

#[test]
fn handshake_nonces_are_distinct() {
    let nonces: Vec<String> = (0..2000)
        .map(|_| {
            let client = ClientHandshake::new("ws://a.example/", ClientOptions::default())
                .expect("valid URL");
            let key = client.key().to_owned();
            let raw = base64::engine::general_purpose::STANDARD
                .decode(&key)
                .unwrap();
            assert_eq!(raw.len(), 16);
            key
        })
        .collect();
    assert_eq!(repeats(nonces), 0, "128-bit nonces never repeat");
}

#[test]
fn a_seeded_source_is_what_makes_keys_predictable() {
    // The contrast that shows the tests above can fail: an explicit seeded source gives
    // two connections the very same keys.
    let draw = || {
        let config = Config {
            key_source: KeySource::Seeded(42),
            ..Config::default()
        };
        let mut client = Connection::new(Role::Client, config);
        for _ in 0..10 {
            client.ping(b"").unwrap();
        }
        keys(&take_output(&mut client))
    };
    let (a, b) = (draw(), draw());
    assert_eq!(a, b);
    assert_eq!(repeats(a.into_iter().chain(b)), 10);
}
