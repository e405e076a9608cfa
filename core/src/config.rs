//! Connection settings. Every limit is finite by default, so no peer can make a connection
//! buffer without bound unless the application raises a limit on purpose.

use std::time::Duration;

use crate::deflate::DeflateConfig;
use crate::rng::KeySource;

/// Settings for one [`Connection`](crate::Connection).
#[derive(Clone, Debug)]
pub struct Config {
    /// Largest frame payload accepted, in bytes; a larger declared length fails the connection
    /// with 1009 before any of it is buffered. A whole single-frame message is held in the read
    /// buffer until complete, so this bounds the read buffer. Default 16 MiB.
    pub max_frame_size: usize,
    /// Largest message accepted, in bytes, counted after decompression. Whole-message reading
    /// holds this much at most; streaming reading holds only the bytes in flight but still
    /// enforces it, so raise it for `next_reader` of very large messages. Default 64 MiB.
    pub max_message_size: usize,
    /// Most frames one message may have, empty ones included. Each frame costs a little CPU and
    /// no memory; the limit stops a peer from dribbling one message forever. Default 65,536
    /// (a 4 MiB message in 64-byte frames).
    pub max_fragments: usize,
    /// Output bytes that may wait for the transport before [`send`](crate::Connection::send)
    /// refuses more with [`Error::OutputFull`](crate::Error::OutputFull). Automatic pongs
    /// coalesce and the close reply is one frame, so a peer that never reads cannot push output
    /// past this by pinging. A single message larger than the limit is still accepted when
    /// nothing else waits. Default 16 MiB.
    pub max_pending_output: usize,
    /// Payload bytes per frame for streamed messages (`begin_message` / `write_chunk`). Larger
    /// fragments mean fewer headers; smaller ones mean less buffered before a frame leaves.
    /// Default 64 KiB.
    pub fragment_size: usize,
    /// Answer each ping with a pong automatically (RFC 6455 requires an answer). Default on.
    pub auto_pong: bool,
    /// Echo the peer's close frame automatically, completing the closing handshake. Default on.
    pub auto_close: bool,
    /// How long to wait for the peer's close frame after sending ours, before giving up and
    /// dropping the transport. Default 5 s.
    pub close_timeout: Duration,
    /// Send a ping this often while the connection is open; `None` disables heartbeats.
    /// Default `None`.
    pub ping_interval: Option<Duration>,
    /// With heartbeats on, how long a ping may go unanswered before the connection fails with
    /// [`TimeoutKind::Heartbeat`](crate::TimeoutKind::Heartbeat). Default 20 s.
    pub pong_timeout: Duration,
    /// Where client mask keys come from. Default: the operating system's CSPRNG.
    pub key_source: KeySource,
    /// permessage-deflate: whether to negotiate it, and how to compress once it is. Default off.
    pub deflate: DeflateConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            max_fragments: 1 << 16,
            max_pending_output: 16 << 20,
            fragment_size: 64 << 10,
            auto_pong: true,
            auto_close: true,
            close_timeout: Duration::from_secs(5),
            ping_interval: None,
            pong_timeout: Duration::from_secs(20),
            key_source: KeySource::Os,
            deflate: DeflateConfig::default(),
        }
    }
}
