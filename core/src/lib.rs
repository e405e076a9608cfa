//! wsio-core: a sans-IO WebSocket engine (placeholder; filled in by issue 01).
#![forbid(unsafe_code)]

pub mod handshake;
pub mod rng;
