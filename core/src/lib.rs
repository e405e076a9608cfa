//! # wsio-core
//!
//! A sans-IO WebSocket engine (RFC 6455): bytes in, events out; messages in, bytes out. It
//! opens no sockets, spawns no tasks and reads no clock, so the same protocol code runs under
//! blocking I/O, tokio, smol, a fuzzer or a test that feeds bytes by hand.
//!
//! ```
//! use wsio_core::{Config, Connection, Event, Message, Role};
//!
//! let mut server = Connection::new(Role::Server, Config::default());
//! // A masked "Hello" from a client (RFC 6455 section 5.7), as read from the socket.
//! server.receive(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
//! let event = server.poll_event().unwrap();
//! assert_eq!(event, Some(Event::Message(Message::text("Hello"))));
//!
//! server.send(Message::text("Hello")).unwrap();
//! let out = server.poll_transmit().unwrap();
//! assert_eq!(out.io_slices(4)[0].as_ref(), &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
//! ```
// Five exceptions, each measured and documented where it stands: in `mask::wide`, a call to
// the masking loop compiled for AVX2 after the CPU was checked for it (large-frame decode
// +7-14%); in `mask::unmask_append` (which `mask_append` calls), setting a buffer's length over
// the spare capacity its loop has just written (client encode 1 KiB +60%); in
// `Connection::renew_small_block`, giving a reused small-payload block (its own, or one an idle
// connection left in the thread's pool) its zeroed storage back as room (small-message decode
// +6-14%); in `transmit::append_words`, setting the output's length over the words just stored
// into its spare room (a server's small reply, TCP echo 16 B +3-5%; frame headers, 1 KiB
// +2%); in `transmit::prefetch_for_write`, the `PREFETCHW` hint after the CPU was checked for
// it by CPUID (itself an `unsafe` call in Rust 1.85) (TCP echo 1 KiB +4%).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod close;
pub mod config;
pub mod connection;
pub mod deflate;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod message;
pub mod payload;
pub mod pool;
pub mod prepared;
pub mod rng;
pub mod session;
pub mod testing;
#[cfg(feature = "rustls")]
pub mod tls;
pub mod transmit;
pub mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use config::Config;
pub use connection::{BufferStats, Connection, Event, ReadMode, Role, SendOptions, State};
pub use deflate::{DeflateConfig, DeflateParams};
pub use error::{Error, ProtocolError, TimeoutKind};
pub use message::{Message, MessageKind, Utf8Bytes};
pub use payload::Payload;
pub use prepared::PreparedMessage;
pub use rng::KeySource;
pub use session::{Progress, Session, SessionError};
pub use transmit::Transmit;
