//! What every runtime adds on top of a [`Connection`] that needs no I/O: control-frame
//! handlers with gorilla/websocket's defaults, whole-message and streamed reading (with the rest
//! of an abandoned streamed message skipped), and the closing sequence.
//!
//! Keeping this here means the std, tokio and smol adapters differ only in how they read,
//! write and wait; a [`Progress::NeedInput`] tells them to do exactly that and call again.

use std::fmt;
use std::io;

use bytes::Bytes;

use crate::close::{CloseCode, CloseFrame};
use crate::connection::{Connection, Event, ReadMode};
use crate::error::Error;
use crate::handshake::HandshakeError;
use crate::message::{Message, MessageKind};

/// The outcome of a read step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress<T> {
    /// The step finished.
    Done(T),
    /// More input is needed: write any pending output, read from the transport (or wait for
    /// the connection's deadline), then call again.
    NeedInput,
}

/// Called with each ping's payload; returns the pong payload to send, or `None` for no pong.
pub type PingHandler = Box<dyn FnMut(&Bytes) -> Option<Bytes> + Send>;
/// Called with each pong's payload.
pub type PongHandler = Box<dyn FnMut(&Bytes) + Send>;
/// Called with the peer's close frame (`None`: it had no status); returns our reply.
pub type CloseHandler = Box<dyn FnMut(Option<&CloseFrame>) -> CloseFrame + Send>;

/// Errors of a connection driven over a transport.
#[derive(Debug)]
pub enum SessionError {
    /// The transport failed, or a read timed out (see [`is_timeout`](Self::is_timeout)); after
    /// a timeout the connection stays usable and the next read continues where this one stopped.
    Io(io::Error),
    /// The protocol engine's error: a peer's violation (its close frame already sent), local
    /// misuse, a close or heartbeat timeout, or the connection being closed.
    Ws(Error),
    /// The opening handshake failed.
    Handshake(HandshakeError),
}

impl SessionError {
    /// Whether this is a read timeout after which the connection is still usable.
    pub fn is_timeout(&self) -> bool {
        matches!(self, SessionError::Io(e) if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock))
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Io(e) => write!(f, "I/O error: {e}"),
            SessionError::Ws(e) => e.fmt(f),
            SessionError::Handshake(e) => write!(f, "handshake failed: {e}"),
        }
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SessionError::Io(e) => Some(e),
            SessionError::Ws(e) => Some(e),
            SessionError::Handshake(e) => Some(e),
        }
    }
}

impl From<io::Error> for SessionError {
    fn from(e: io::Error) -> Self {
        SessionError::Io(e)
    }
}

impl From<Error> for SessionError {
    fn from(e: Error) -> Self {
        SessionError::Ws(e)
    }
}

impl From<HandshakeError> for SessionError {
    fn from(e: HandshakeError) -> Self {
        SessionError::Handshake(e)
    }
}

impl From<SessionError> for io::Error {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Io(e) => e,
            other => io::Error::other(other),
        }
    }
}

/// A connection plus the application-side policy every runtime shares.
pub struct Session {
    conn: Connection,
    on_ping: Option<PingHandler>,
    on_pong: Option<PongHandler>,
    on_close: Option<CloseHandler>,
    /// A streamed message has started and not ended.
    streaming: bool,
    /// A whole message that completed while a streamed read was being set up, served as a
    /// stream: its payload, then its end. Boxed, like `peer_close`: rare, and an idle
    /// connection then pays a pointer for each.
    replay: Option<Box<Option<Bytes>>>,
    /// The peer's close frame, once it arrived.
    peer_close: Option<Box<Option<CloseFrame>>>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("conn", &self.conn)
            .field("streaming", &self.streaming)
            .field("peer_close", &self.peer_close)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Wraps a connection with the default handlers: pings answered with pongs, the peer's
    /// close echoed, pongs ignored.
    pub fn new(conn: Connection) -> Self {
        Session {
            conn,
            on_ping: None,
            on_pong: None,
            on_close: None,
            streaming: false,
            replay: None,
            peer_close: None,
        }
    }

    /// The protocol engine, for commands (`send`, `ping`, `close`, ...), output and timers.
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The protocol engine, read-only.
    pub fn connection_ref(&self) -> &Connection {
        &self.conn
    }

    /// Replaces the ping handler (`None` restores the default: answer with the same payload).
    pub fn set_ping_handler(&mut self, handler: Option<PingHandler>) {
        self.conn.set_auto_pong(handler.is_none());
        self.on_ping = handler;
    }

    /// Replaces the pong handler (`None` restores the default: ignore).
    pub fn set_pong_handler(&mut self, handler: Option<PongHandler>) {
        self.on_pong = handler;
    }

    /// Replaces the close handler (`None` restores the default: echo the peer's code).
    pub fn set_close_handler(&mut self, handler: Option<CloseHandler>) {
        self.conn.set_auto_close(handler.is_none());
        self.on_close = handler;
    }

    /// The peer's close frame, once it arrived (`Some(None)`: it carried no status).
    pub fn peer_close(&self) -> Option<Option<&CloseFrame>> {
        self.peer_close.as_deref().map(Option::as_ref)
    }

    /// The next whole message; `Done(None)` once the peer has closed. A streamed message left
    /// unfinished by an earlier reader is skipped first.
    // Inline: see the runtimes' `poll_recv`, whose hot path this is.
    #[inline]
    pub fn poll_message(&mut self) -> Result<Progress<Option<Message>>, Error> {
        loop {
            if self.streaming {
                match self.skip_streamed()? {
                    Progress::Done(true) => continue,
                    Progress::Done(false) => return Ok(Progress::Done(None)),
                    Progress::NeedInput => return Ok(Progress::NeedInput),
                }
            }
            self.conn.set_read_mode(ReadMode::Whole);
            // Most messages are small whole frames: taken straight from the engine's fast path.
            if let Some(message) = self.conn.poll_complete_message()? {
                return Ok(Progress::Done(Some(message)));
            }
            return Ok(match self.next_event()? {
                Progress::Done(Some(Event::Message(m))) => Progress::Done(Some(m)),
                Progress::Done(None) => Progress::Done(None),
                Progress::NeedInput => Progress::NeedInput,
                Progress::Done(Some(Event::MessageStart(_))) => {
                    // Whole mode was set before this message started, and a message that
                    // started streaming sets `streaming`, handled above.
                    unreachable!("a message started streaming in whole-message mode")
                }
                Progress::Done(Some(other)) => {
                    unreachable!("data event {other:?} outside a message")
                }
            });
        }
    }

    /// Starts reading the next message as a stream: returns its kind (`Done(None)` once the
    /// peer has closed); then [`poll_message_data`](Self::poll_message_data) yields its payload.
    pub fn poll_message_start(&mut self) -> Result<Progress<Option<MessageKind>>, Error> {
        loop {
            if self.streaming {
                match self.skip_streamed()? {
                    Progress::Done(true) => continue,
                    Progress::Done(false) => return Ok(Progress::Done(None)),
                    Progress::NeedInput => return Ok(Progress::NeedInput),
                }
            }
            self.conn.set_read_mode(ReadMode::Streaming);
            return Ok(match self.next_event()? {
                Progress::Done(Some(Event::MessageStart(kind))) => {
                    self.streaming = true;
                    Progress::Done(Some(kind))
                }
                Progress::Done(Some(Event::Message(m))) => {
                    // It began arriving before the switch to streaming; replay it as a stream.
                    let kind = m.kind();
                    self.replay = Some(Box::new(Some(m.into_bytes())));
                    self.streaming = true;
                    Progress::Done(Some(kind))
                }
                Progress::Done(None) => Progress::Done(None),
                Progress::NeedInput => Progress::NeedInput,
                Progress::Done(Some(other)) => {
                    unreachable!("data event {other:?} outside a message")
                }
            });
        }
    }

    /// The next piece of the streamed message; `Done(None)` at its end. A close from the peer
    /// before the end is an error ([`Error::Closed`]): the message is incomplete.
    pub fn poll_message_data(&mut self) -> Result<Progress<Option<Bytes>>, Error> {
        if let Some(replay) = &mut self.replay {
            return Ok(Progress::Done(match replay.take() {
                Some(data) => Some(data),
                None => {
                    self.replay = None;
                    self.streaming = false;
                    None
                }
            }));
        }
        if !self.streaming {
            return Ok(Progress::Done(None));
        }
        Ok(match self.next_event()? {
            Progress::Done(Some(Event::MessageData(data))) => Progress::Done(Some(data)),
            Progress::Done(Some(Event::MessageEnd)) => {
                self.streaming = false;
                Progress::Done(None)
            }
            Progress::Done(None) => return Err(Error::Closed),
            Progress::NeedInput => Progress::NeedInput,
            Progress::Done(Some(other)) => {
                unreachable!("event {other:?} inside a streamed message")
            }
        })
    }

    /// After [`Connection::close`]: reads (and drops) whatever arrives until the peer's close
    /// frame completes the handshake, or the connection ends otherwise.
    pub fn poll_close(&mut self) -> Result<Progress<()>, Error> {
        loop {
            match self.next_event() {
                Ok(Progress::Done(None)) | Err(Error::Closed) => return Ok(Progress::Done(())),
                Ok(Progress::Done(Some(_))) => {}
                Ok(Progress::NeedInput) => return Ok(Progress::NeedInput),
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads past the rest of an unfinished streamed message. `Done(true)` when it ended,
    /// `Done(false)` when the peer closed first.
    fn skip_streamed(&mut self) -> Result<Progress<bool>, Error> {
        if self.replay.take().is_some() {
            self.streaming = false;
            return Ok(Progress::Done(true));
        }
        loop {
            match self.next_event()? {
                Progress::Done(Some(Event::MessageEnd)) => {
                    self.streaming = false;
                    return Ok(Progress::Done(true));
                }
                Progress::Done(Some(_)) => {}
                Progress::Done(None) => {
                    self.streaming = false;
                    return Ok(Progress::Done(false));
                }
                Progress::NeedInput => return Ok(Progress::NeedInput),
            }
        }
    }

    /// The next data event, with control frames dispatched to the handlers. `Done(None)` once
    /// the peer has closed.
    fn next_event(&mut self) -> Result<Progress<Option<Event>>, Error> {
        loop {
            match self.conn.poll_event() {
                Ok(Some(Event::Ping(payload))) => {
                    if let Some(reply) = self.on_ping.as_mut().and_then(|h| h(&payload)) {
                        // After our close, no pong is owed; anything else is our bug.
                        match self.conn.pong(&reply) {
                            Ok(()) | Err(Error::SendAfterClose | Error::Closed) => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                Ok(Some(Event::Pong(payload))) => {
                    if let Some(handler) = &mut self.on_pong {
                        handler(&payload);
                    }
                }
                Ok(Some(Event::Close(frame))) => {
                    if let Some(handler) = &mut self.on_close {
                        let reply = handler(frame.as_ref());
                        let code = if reply.code.is_sendable() {
                            reply.code
                        } else {
                            CloseCode::NORMAL
                        };
                        match self.conn.close(code, &reply.reason) {
                            // We had closed first: the handshake is already complete.
                            Ok(()) | Err(Error::SendAfterClose) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    self.peer_close = Some(Box::new(frame));
                    return Ok(Progress::Done(None));
                }
                Ok(Some(event)) => return Ok(Progress::Done(Some(event))),
                Ok(None) => return Ok(Progress::NeedInput),
                Err(Error::Closed) if self.peer_close.is_some() => return Ok(Progress::Done(None)),
                Err(e) => return Err(e),
            }
        }
    }
}
