//! The `Sec-WebSocket-Extensions` grammar, permessage-deflate negotiation on both sides, and the
//! comma-list splitter used for every list header (`Connection`, `Upgrade`, subprotocols).
//!
//! Input: 2 bytes of settings, then a header value.
//! - byte 0: the server's own window limit (8 to 15) and whether compression is on
//! - byte 1: where to cut the value into two headers
//!
//! Checked: what parses is made of tokens and survives being written back and parsed again;
//! whatever the server agrees to, a client that offered compression accepts with the same
//! parameters; window bits stay in 8..=15 and under our limit; list elements are trimmed and
//! non-empty.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsio_core::deflate::{
    DeflateConfig, Extension, accept_response, negotiate_server, parse_extensions,
};
use wsio_core::handshake::split_list;

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Writes parsed extensions back as a header value.
fn render(extensions: &[Extension<'_>]) -> String {
    let mut out = String::new();
    for (i, ext) in extensions.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(ext.name);
        for (key, value) in &ext.params {
            out.push_str("; ");
            out.push_str(key);
            if let Some(value) = value {
                out.push('=');
                out.push_str(value);
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((head, value)) = data.split_first_chunk::<2>() else {
        return;
    };

    for element in split_list(value) {
        assert!(!element.is_empty());
        assert!(!matches!(element[0], b' ' | b'\t' | b','));
        assert!(!matches!(element[element.len() - 1], b' ' | b'\t'));
    }
    assert!(split_list(value).count() <= value.len() / 2 + 1);

    let Ok(text) = std::str::from_utf8(value) else {
        return;
    };
    if let Ok(extensions) = parse_extensions(text) {
        for ext in &extensions {
            assert!(is_token(ext.name), "{:?}", ext.name);
            for (key, value) in &ext.params {
                assert!(is_token(key));
                assert!(value.is_none_or(is_token));
            }
        }
        let rendered = render(&extensions);
        assert_eq!(parse_extensions(&rendered).as_ref(), Ok(&extensions));
    }

    let server = DeflateConfig {
        enabled: head[0] & 0x80 == 0,
        max_window_bits: 8 + (head[0] & 7),
        ..DeflateConfig::default()
    };
    let cut = usize::from(head[1]).min(text.len());
    let offers: Vec<&str> = match text.split_at_checked(cut) {
        Some((a, b)) if head[1] & 1 != 0 => vec![a, b],
        _ => vec![text],
    };
    if let Some((params, answer)) = negotiate_server(&offers, &server) {
        assert!(server.enabled);
        assert!((8..=server.max_window_bits).contains(&params.server_max_window_bits));
        assert!((8..=15).contains(&params.client_max_window_bits));
        let client = DeflateConfig {
            enabled: true,
            ..DeflateConfig::default()
        };
        let agreed = accept_response(&[&answer], &client)
            .expect("a client accepts the server's answer")
            .expect("the answer agrees to compression");
        assert_eq!(agreed.server_max_window_bits, params.server_max_window_bits);
        assert_eq!(
            agreed.server_no_context_takeover,
            params.server_no_context_takeover
        );
    }

    // The same value as a server's answer: whatever a client accepts is within its offer.
    for max_window_bits in [9, 15] {
        let client = DeflateConfig {
            enabled: true,
            max_window_bits,
            ..DeflateConfig::default()
        };
        if let Ok(Some(params)) = accept_response(&offers, &client) {
            assert!(params.server_no_context_takeover);
            assert!((8..=15).contains(&params.server_max_window_bits));
            assert!((8..=max_window_bits).contains(&params.client_max_window_bits));
        }
    }
});
