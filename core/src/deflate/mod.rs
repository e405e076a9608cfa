//! permessage-deflate (RFC 7692): negotiation and per-message compression without context
//! takeover.
//!
//! No compression context is carried from one message to the next, in either direction. That
//! keeps memory per idle connection small, and it makes a compressed message's bytes independent
//! of the connection, so one encoding can be broadcast to many connections unchanged (see
//! [`PreparedMessage`](crate::PreparedMessage)).

pub(crate) mod codec;
pub mod negotiate;

pub use negotiate::{
    EXTENSION_NAME, Extension, NegotiationError, accept_response, client_offer, negotiate_server,
    parse_extensions,
};

/// permessage-deflate settings, for both roles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Offer (client) or accept (server) compression at all. Default off, as in gorilla: it
    /// costs CPU and, while a message is compressed, memory.
    pub enabled: bool,
    /// zlib compression level, 0 (store) to 9 (smallest). Default 1: most of the size gain for
    /// a fraction of the CPU of higher levels.
    pub level: u32,
    /// Messages shorter than this many bytes are sent uncompressed: tiny payloads rarely shrink
    /// and cost a compressor pass. Default 64.
    pub threshold: usize,
    /// The largest LZ77 window our compressor may use, 8 to 15 bits; smaller saves memory on
    /// large messages at some cost in ratio. Announced to the peer when below 15. Default 15.
    pub max_window_bits: u8,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            enabled: false,
            level: 1,
            threshold: 64,
            max_window_bits: 15,
        }
    }
}

/// What the two ends agreed on in the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server starts every message with an empty window.
    pub server_no_context_takeover: bool,
    /// The client starts every message with an empty window.
    pub client_no_context_takeover: bool,
    /// The server's compressor window, 8 to 15 bits.
    pub server_max_window_bits: u8,
    /// The client's compressor window, 8 to 15 bits.
    pub client_max_window_bits: u8,
}
