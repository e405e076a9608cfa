//! permessage-deflate negotiation (RFC 7692 section 7.1) over the `Sec-WebSocket-Extensions`
//! grammar of RFC 6455 section 9.1.
//!
//! Our policy, both roles: we never keep compression context between messages, and we ask the
//! peer not to either, so that no compression state has to outlive a message. As a server we
//! therefore answer every acceptable offer with `server_no_context_takeover;
//! client_no_context_takeover`; as a client we offer both. Window limits are honoured as offered.

use std::fmt;

use super::{DeflateConfig, DeflateParams};

/// The extension's registered name.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// One extension of a `Sec-WebSocket-Extensions` list, with its parameters as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension<'a> {
    /// The extension token, e.g. `permessage-deflate`.
    pub name: &'a str,
    /// `(name, value)` pairs; a quoted value is given without its quotes.
    pub params: Vec<(&'a str, Option<&'a str>)>,
}

/// Why an extensions header or a permessage-deflate offer or response was not acceptable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NegotiationError {
    /// The header does not follow the RFC 6455 section 9.1 grammar.
    Syntax,
    /// A parameter appeared twice.
    DuplicateParameter(String),
    /// A parameter this extension does not define.
    UnknownParameter(String),
    /// A parameter with a value it may not have (e.g. window bits outside 8..=15).
    InvalidValue(String),
    /// The server's response does not fit what the client offered.
    NotOffered(String),
    /// The server accepted permessage-deflate twice.
    DuplicateExtension,
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NegotiationError::Syntax => f.write_str("malformed Sec-WebSocket-Extensions header"),
            NegotiationError::DuplicateParameter(p) => {
                write!(f, "duplicate extension parameter {p}")
            }
            NegotiationError::UnknownParameter(p) => write!(f, "unknown extension parameter {p}"),
            NegotiationError::InvalidValue(p) => {
                write!(f, "invalid value for extension parameter {p}")
            }
            NegotiationError::NotOffered(p) => {
                write!(f, "the server answered {p}, which was not offered")
            }
            NegotiationError::DuplicateExtension => {
                f.write_str("permessage-deflate accepted twice")
            }
        }
    }
}

impl std::error::Error for NegotiationError {}

/// Parses one `Sec-WebSocket-Extensions` header value into its extensions, in one linear pass.
pub fn parse_extensions(value: &str) -> Result<Vec<Extension<'_>>, NegotiationError> {
    let mut extensions = Vec::new();
    for item in split_outside_quotes(value, b',') {
        let item = item.trim_matches(is_ows);
        if item.is_empty() {
            // `1#element` allows empty list elements; they carry nothing.
            continue;
        }
        let mut parts = split_outside_quotes(item, b';');
        let name = parts.next().unwrap_or("").trim_matches(is_ows);
        if !is_token(name) {
            return Err(NegotiationError::Syntax);
        }
        let mut params = Vec::new();
        for part in parts {
            let part = part.trim_matches(is_ows);
            let (key, value) = match part.split_once('=') {
                Some((k, v)) => (
                    k.trim_matches(is_ows),
                    Some(unquote(v.trim_matches(is_ows))?),
                ),
                None => (part, None),
            };
            if !is_token(key) {
                return Err(NegotiationError::Syntax);
            }
            params.push((key, value));
        }
        extensions.push(Extension { name, params });
    }
    Ok(extensions)
}

/// The parameters of one offer or response, checked for duplicates and values.
#[derive(Default)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value (allowed in offers only).
    client_max_window_bits: Option<Option<u8>>,
}

fn read_params(ext: &Extension<'_>, in_offer: bool) -> Result<Params, NegotiationError> {
    let mut p = Params::default();
    for &(name, value) in &ext.params {
        let duplicate = || NegotiationError::DuplicateParameter(name.to_owned());
        let invalid = || NegotiationError::InvalidValue(name.to_owned());
        match name {
            "server_no_context_takeover" | "client_no_context_takeover" => {
                if value.is_some() {
                    return Err(invalid());
                }
                let flag = if name.starts_with("server") {
                    &mut p.server_no_context_takeover
                } else {
                    &mut p.client_no_context_takeover
                };
                if std::mem::replace(flag, true) {
                    return Err(duplicate());
                }
            }
            "server_max_window_bits" => {
                let bits = value.and_then(window_bits).ok_or_else(invalid)?;
                if p.server_max_window_bits.replace(bits).is_some() {
                    return Err(duplicate());
                }
            }
            "client_max_window_bits" => {
                let bits = match value {
                    None if in_offer => None,
                    None => return Err(invalid()),
                    Some(v) => Some(window_bits(v).ok_or_else(invalid)?),
                };
                if p.client_max_window_bits.replace(bits).is_some() {
                    return Err(duplicate());
                }
            }
            other => return Err(NegotiationError::UnknownParameter(other.to_owned())),
        }
    }
    Ok(p)
}

/// Server side: picks the first acceptable permessage-deflate offer among the values of every
/// `Sec-WebSocket-Extensions` header of the request, and returns the agreed parameters with the
/// response header value. An offer with a duplicate, unknown or invalid parameter is declined
/// (RFC 7692 section 5) and the next one is tried; `None` means no compression.
pub fn negotiate_server(
    offers: &[&str],
    config: &DeflateConfig,
) -> Option<(DeflateParams, String)> {
    if !config.enabled {
        return None;
    }
    for header in offers {
        // A header that does not parse is ignored as a whole: its offers cannot be trusted.
        let Ok(extensions) = parse_extensions(header) else {
            continue;
        };
        for ext in extensions
            .iter()
            .filter(|e| e.name.eq_ignore_ascii_case(EXTENSION_NAME))
        {
            let Ok(offer) = read_params(ext, true) else {
                continue;
            };
            let mut response = String::from(EXTENSION_NAME);
            response.push_str("; server_no_context_takeover; client_no_context_takeover");
            // Our window: what the client allows, further limited by our own setting.
            let server_bits = offer
                .server_max_window_bits
                .unwrap_or(15)
                .min(config.max_window_bits);
            if offer.server_max_window_bits.is_some() || server_bits < 15 {
                response.push_str(&format!("; server_max_window_bits={server_bits}"));
            }
            // The client's window: what it announced, if anything. We inflate with the largest
            // window, which reads any smaller one, so there is nothing to ask for.
            let client_bits = offer.client_max_window_bits.flatten().unwrap_or(15);
            let params = DeflateParams {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: server_bits,
                client_max_window_bits: client_bits,
            };
            return Some((params, response));
        }
    }
    None
}

/// Client side: the offer to send in `Sec-WebSocket-Extensions`, or `None` when disabled.
pub fn client_offer(config: &DeflateConfig) -> Option<String> {
    if !config.enabled {
        return None;
    }
    let mut offer = String::from(EXTENSION_NAME);
    offer.push_str("; server_no_context_takeover; client_no_context_takeover");
    if config.max_window_bits < 15 {
        offer.push_str(&format!(
            "; client_max_window_bits={}",
            config.max_window_bits
        ));
    } else {
        offer.push_str("; client_max_window_bits");
    }
    Some(offer)
}

/// Client side: checks the server's answer to [`client_offer`] (the values of every
/// `Sec-WebSocket-Extensions` response header). `Ok(None)`: the server declined compression.
/// Any extension we did not offer, or parameters outside our offer, fail the handshake.
pub fn accept_response(
    headers: &[&str],
    config: &DeflateConfig,
) -> Result<Option<DeflateParams>, NegotiationError> {
    let mut agreed = None;
    for header in headers {
        for ext in parse_extensions(header)? {
            if !config.enabled || !ext.name.eq_ignore_ascii_case(EXTENSION_NAME) {
                return Err(NegotiationError::NotOffered(ext.name.to_owned()));
            }
            if agreed.is_some() {
                return Err(NegotiationError::DuplicateExtension);
            }
            let p = read_params(&ext, false)?;
            // We offered server_no_context_takeover: a server that accepts must confirm it.
            if !p.server_no_context_takeover {
                return Err(NegotiationError::NotOffered("context takeover".to_owned()));
            }
            let client_bits = match p.client_max_window_bits.flatten() {
                Some(bits) if bits > config.max_window_bits => {
                    return Err(NegotiationError::NotOffered(format!(
                        "client_max_window_bits={bits}"
                    )));
                }
                Some(bits) => bits,
                None => config.max_window_bits,
            };
            agreed = Some(DeflateParams {
                server_no_context_takeover: true,
                // We offered it, so it holds whether or not the server repeats it.
                client_no_context_takeover: true,
                server_max_window_bits: p.server_max_window_bits.unwrap_or(15),
                client_max_window_bits: client_bits,
            });
        }
    }
    Ok(agreed)
}

fn window_bits(value: &str) -> Option<u8> {
    // Only plain decimal digits, without a sign or leading zeros (RFC 7692 section 7.1.2).
    if value.is_empty()
        || value.len() > 2
        || value.starts_with('0')
        || !value.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// RFC 7230 `token`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A parameter value: a token, or a quoted string whose content is a token (RFC 6455 9.1).
fn unquote(v: &str) -> Result<&str, NegotiationError> {
    let inner = match v.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').ok_or(NegotiationError::Syntax)?,
        None => v,
    };
    if is_token(inner) {
        Ok(inner)
    } else {
        Err(NegotiationError::Syntax)
    }
}

/// Splits on `sep` where it is not inside a quoted string, in one pass.
fn split_outside_quotes(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut in_quotes = false;
    let mut i = 0;
    std::iter::from_fn(move || {
        if start > bytes.len() {
            return None;
        }
        while i < bytes.len() {
            match bytes[i] {
                b'"' => in_quotes = !in_quotes,
                b if b == sep && !in_quotes => {
                    let piece = &s[start..i];
                    i += 1;
                    start = i;
                    return Some(piece);
                }
                _ => {}
            }
            i += 1;
        }
        let piece = &s[start..];
        start = bytes.len() + 1;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> DeflateConfig {
        DeflateConfig {
            enabled: true,
            ..DeflateConfig::default()
        }
    }

    fn server(offers: &[&str]) -> Option<(DeflateParams, String)> {
        negotiate_server(offers, &on())
    }

    const BOTH_NO_CONTEXT: &str =
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

    #[test]
    fn chromium_offer() {
        let (params, response) = server(&["permessage-deflate; client_max_window_bits"]).unwrap();
        assert_eq!(response, BOTH_NO_CONTEXT);
        assert_eq!(
            (params.server_max_window_bits, params.client_max_window_bits),
            (15, 15)
        );
    }

    #[test]
    fn firefox_offer() {
        assert_eq!(server(&["permessage-deflate"]).unwrap().1, BOTH_NO_CONTEXT);
    }

    #[test]
    fn gorilla_offer() {
        let offer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
        assert_eq!(server(&[offer]).unwrap().1, BOTH_NO_CONTEXT);
    }

    #[test]
    fn server_window_limited_by_the_offer() {
        let (params, response) =
            server(&["permessage-deflate; server_max_window_bits=10"]).unwrap();
        assert_eq!(
            response,
            format!("{BOTH_NO_CONTEXT}; server_max_window_bits=10")
        );
        assert_eq!(params.server_max_window_bits, 10);
        let (params, _) = server(&["permessage-deflate; client_max_window_bits=9"]).unwrap();
        assert_eq!(params.client_max_window_bits, 9);
    }

    #[test]
    fn our_own_window_setting_is_announced() {
        let config = DeflateConfig {
            max_window_bits: 11,
            ..on()
        };
        let (params, response) = negotiate_server(&["permessage-deflate"], &config).unwrap();
        assert_eq!(
            response,
            format!("{BOTH_NO_CONTEXT}; server_max_window_bits=11")
        );
        assert_eq!(params.server_max_window_bits, 11);
        let (params, _) =
            negotiate_server(&["permessage-deflate; server_max_window_bits=9"], &config).unwrap();
        assert_eq!(params.server_max_window_bits, 9);
    }

    #[test]
    fn invalid_offers_are_declined() {
        for bad in [
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_max_window_bits=10; client_max_window_bits=10",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=abc",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=16",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; unknown_param",
        ] {
            assert_eq!(server(&[bad]), None, "{bad}");
        }
    }

    #[test]
    fn the_first_acceptable_offer_wins() {
        let header = "x-unknown; foo=bar, permessage-deflate; server_max_window_bits=16, \
                      permessage-deflate; server_max_window_bits=12, permessage-deflate";
        let (params, _) = server(&[header]).unwrap();
        assert_eq!(params.server_max_window_bits, 12);
        // Offers may also come in several headers.
        let (params, _) = server(&[
            "x-webkit-deflate-frame",
            "permessage-deflate; server_max_window_bits=9",
        ])
        .unwrap();
        assert_eq!(params.server_max_window_bits, 9);
    }

    #[test]
    fn quoted_values_and_spacing() {
        let (params, _) =
            server(&["permessage-deflate ;  server_max_window_bits = \"10\" "]).unwrap();
        assert_eq!(params.server_max_window_bits, 10);
        assert_eq!(
            parse_extensions("a; b=\"x,y\""),
            Err(NegotiationError::Syntax),
            "quoted value must be a token"
        );
        assert_eq!(parse_extensions("a, , b").unwrap().len(), 2);
    }

    #[test]
    fn disabled_means_no_compression() {
        let off = DeflateConfig::default();
        assert_eq!(negotiate_server(&["permessage-deflate"], &off), None);
        assert_eq!(client_offer(&off), None);
    }

    #[test]
    fn client_accepts_answers_within_its_offer() {
        let config = on();
        assert_eq!(
            client_offer(&config).unwrap(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits"
        );
        assert_eq!(accept_response(&[], &config), Ok(None));
        let p = accept_response(&[BOTH_NO_CONTEXT], &config)
            .unwrap()
            .unwrap();
        assert_eq!(
            (p.server_max_window_bits, p.client_max_window_bits),
            (15, 15)
        );
        let p = accept_response(&["permessage-deflate; server_no_context_takeover; client_max_window_bits=10; server_max_window_bits=9"], &config)
            .unwrap()
            .unwrap();
        assert_eq!(
            (p.server_max_window_bits, p.client_max_window_bits),
            (9, 10)
        );
    }

    #[test]
    fn client_rejects_answers_outside_its_offer() {
        let config = on();
        for bad in [
            "x-other",
            "permessage-deflate",
            "permessage-deflate; server_no_context_takeover; client_max_window_bits",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=16",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover; mystery",
            "permessage-deflate; server_no_context_takeover, permessage-deflate; server_no_context_takeover",
        ] {
            assert!(accept_response(&[bad], &config).is_err(), "{bad}");
        }
        let limited = DeflateConfig {
            max_window_bits: 10,
            ..on()
        };
        let over = "permessage-deflate; server_no_context_takeover; client_max_window_bits=12";
        assert!(accept_response(&[over], &limited).is_err());
        let off = DeflateConfig::default();
        assert!(accept_response(&[BOTH_NO_CONTEXT], &off).is_err());
    }

    #[test]
    fn long_hostile_headers_parse_in_one_pass() {
        let commas = ", ".repeat(4096);
        assert_eq!(parse_extensions(&commas).unwrap(), vec![]);
        let semis = format!("permessage-deflate{}", "; ".repeat(4096));
        assert!(parse_extensions(&semis).is_err());
        let quotes = "\"".repeat(8191);
        assert!(parse_extensions(&quotes).is_err());
    }
}
