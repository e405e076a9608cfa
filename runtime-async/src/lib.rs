//! # wsio-async
//!
//! The async half of wsio written once: the poll loop that drives a
//! [`wsio_core::Session`] over a byte stream, the waker hub that keeps split halves from losing
//! wakeups, and the stream types (`WebSocketStream` with `Stream` + `Sink`, streamed
//! `MessageReader` / `MessageWriter`, `ReadHalf` / `WriteHalf`).
//!
//! It knows no runtime. `wsio-tokio` and `wsio-smol` each implement [`Transport`] and
//! [`Timer`] for their I/O and timers, and expose the handshake ([`handshake`], written here
//! once over `Transport`) with their own stream types; applications use those crates, not
//! this one.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod handshake;
mod inner;
mod transport;
mod wakers;
mod websocket;

pub use inner::{Error, Result};
pub use transport::{Timer, Transport};
pub use websocket::{MessageReader, MessageWriter, ReadHalf, WebSocketStream, WriteHalf};
