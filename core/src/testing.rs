//! Test support: a client and a server [`Connection`] wired buffer to buffer, with a fake clock.
//!
//! Nothing here touches a socket or the real clock. One side's output becomes the other side's
//! input, optionally cut into pieces of chosen sizes, so tests can check that the engine behaves
//! the same whatever way the transport splits the bytes.

use std::time::{Duration, Instant};

use bytes::Buf;

use crate::{Config, Connection, Error, Event, KeySource, Role};

/// A client and a server connection that talk to each other in memory.
#[derive(Debug)]
pub struct Pair {
    /// The client end (masks its frames).
    pub client: Connection,
    /// The server end.
    pub server: Connection,
    /// The fake clock both ends are driven with.
    pub now: Instant,
}

impl Pair {
    /// Both ends with `config`; the client's mask keys come from a seeded generator so that
    /// failures reproduce.
    pub fn new(config: Config) -> Self {
        Self::with_configs(config.clone(), config)
    }

    /// Each end with its own settings.
    pub fn with_configs(mut client: Config, server: Config) -> Self {
        if client.key_source == KeySource::Os {
            client.key_source = KeySource::Seeded(0x5EED);
        }
        let now = Instant::now();
        let mut pair = Pair {
            client: Connection::new(Role::Client, client),
            server: Connection::new(Role::Server, server),
            now,
        };
        pair.client.poll_timeout(now);
        pair.server.poll_timeout(now);
        pair
    }

    /// Moves everything the client has queued into the server's input; returns the byte count.
    pub fn client_to_server(&mut self) -> usize {
        transfer(&mut self.client, &mut self.server, usize::MAX)
    }

    /// Moves everything the server has queued into the client's input; returns the byte count.
    pub fn server_to_client(&mut self) -> usize {
        transfer(&mut self.server, &mut self.client, usize::MAX)
    }

    /// Advances the fake clock by `by` and lets both ends act on their deadlines.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.client.poll_timeout(self.now);
        self.server.poll_timeout(self.now);
    }
}

/// Moves `from`'s output into `to`'s input in pieces of at most `piece` bytes; returns the total.
pub fn transfer(from: &mut Connection, to: &mut Connection, piece: usize) -> usize {
    let mut total = 0;
    while let Some(out) = from.poll_transmit() {
        let chunk = out.chunk();
        let n = chunk.len().min(piece.max(1));
        to.receive(&chunk[..n]);
        out.advance(n);
        total += n;
    }
    total
}

/// Takes all of a connection's output as one vector.
pub fn take_output(conn: &mut Connection) -> Vec<u8> {
    let mut bytes = Vec::new();
    while let Some(out) = conn.poll_transmit() {
        let n = out.chunk().len();
        bytes.extend_from_slice(out.chunk());
        out.advance(n);
    }
    bytes
}

/// Polls events until the connection needs more input, reports an error (included last), or
/// reports the peer's close (after which no events follow).
pub fn drain_events(conn: &mut Connection) -> Vec<Result<Event, Error>> {
    let mut events = Vec::new();
    loop {
        match conn.poll_event() {
            Ok(Some(event @ Event::Close(_))) => {
                events.push(Ok(event));
                return events;
            }
            Ok(Some(event)) => events.push(Ok(event)),
            Ok(None) => return events,
            Err(e) => {
                events.push(Err(e));
                return events;
            }
        }
    }
}
