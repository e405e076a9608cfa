//! Errors: a peer's protocol violations, each with the close code it earns, and local misuse.

use std::fmt;

use crate::close::CloseCode;

/// A violation of RFC 6455 (or a negotiated extension) by the peer, or input beyond our limits.
///
/// Each variant knows the close code the connection sends when it fails because of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// An opcode the RFC reserves (3-7, 11-15).
    ReservedOpcode(u8),
    /// RSV1, RSV2 or RSV3 set without a negotiated extension that defines it.
    ReservedBits,
    /// A 64-bit payload length with the most significant bit set.
    InvalidLength,
    /// A client sent an unmasked frame to us (server role).
    UnmaskedFrame,
    /// A server sent a masked frame to us (client role).
    MaskedFrame,
    /// A control frame without FIN.
    FragmentedControl,
    /// A control frame with more than 125 bytes of payload.
    ControlTooLong,
    /// A continuation frame with no message in progress.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message was still in progress.
    ExpectedContinuation,
    /// A close frame with a 1-byte payload.
    InvalidClosePayload,
    /// A close frame with a code that may not be sent (e.g. 1005, 999, 5000).
    InvalidCloseCode(u16),
    /// A text message or close reason that is not UTF-8.
    InvalidUtf8,
    /// A frame declared a payload larger than `Config::max_frame_size`.
    FrameTooLarge,
    /// A message grew past `Config::max_message_size` (after inflation, when compressed).
    MessageTooLarge,
    /// A message had more fragments than `Config::max_fragments`.
    TooManyFragments,
    /// A compressed payload that does not inflate (permessage-deflate).
    BadCompression,
}

impl ProtocolError {
    /// The close code sent when the connection fails with this error.
    pub fn close_code(self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8 => CloseCode::INVALID_PAYLOAD,
            ProtocolError::FrameTooLarge
            | ProtocolError::MessageTooLarge
            | ProtocolError::TooManyFragments => CloseCode::MESSAGE_TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }

    /// A short reason, also used as the close frame's reason text.
    pub fn reason(self) -> &'static str {
        match self {
            ProtocolError::ReservedOpcode(_) => "reserved opcode",
            ProtocolError::ReservedBits => "reserved bits set",
            ProtocolError::InvalidLength => "invalid payload length",
            ProtocolError::UnmaskedFrame => "client frame not masked",
            ProtocolError::MaskedFrame => "server frame masked",
            ProtocolError::FragmentedControl => "fragmented control frame",
            ProtocolError::ControlTooLong => "control frame too long",
            ProtocolError::UnexpectedContinuation => "continuation without a message",
            ProtocolError::ExpectedContinuation => "new message inside a fragmented one",
            ProtocolError::InvalidClosePayload => "1-byte close payload",
            ProtocolError::InvalidCloseCode(_) => "invalid close code",
            ProtocolError::InvalidUtf8 => "invalid UTF-8",
            ProtocolError::FrameTooLarge => "frame too large",
            ProtocolError::MessageTooLarge => "message too large",
            ProtocolError::TooManyFragments => "too many fragments",
            ProtocolError::BadCompression => "invalid compressed data",
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            ProtocolError::InvalidCloseCode(code) => write!(f, "invalid close code {code}"),
            other => f.write_str(other.reason()),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Which timer ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutKind {
    /// The peer did not answer our close frame within `Config::close_timeout`.
    Close,
    /// No pong arrived within `Config::pong_timeout` of a heartbeat ping.
    Heartbeat,
}

/// Everything that can go wrong on a connection.
///
/// [`Error::Protocol`] is the peer's fault and has already queued a close frame; the other
/// variants are local misuse, timeouts, or the transport ending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The peer broke the protocol; the matching close frame is queued and the connection is
    /// closed for input.
    Protocol(ProtocolError),
    /// A timer expired; the connection is closed and the transport should be dropped.
    Timeout(TimeoutKind),
    /// The transport ended without a close handshake (close code 1006, which is never sent).
    AbnormalClosure,
    /// The connection is closed: the close handshake finished, or an earlier error ended it.
    Closed,
    /// A send after we sent a close frame (or after the connection closed).
    SendAfterClose,
    /// A whole-message send or `begin_message` while a streamed message was unfinished.
    MessageInProgress,
    /// `write_chunk`/`end_message` without a streamed message in progress.
    NoMessageInProgress,
    /// Output is over `Config::max_pending_output`; flush before sending more.
    OutputFull,
    /// A control frame payload over 125 bytes, or a close reason over 123 bytes.
    ControlPayloadTooLong,
    /// `close` with a code that may not be sent (1005, 1006, 1015, or outside the valid ranges).
    InvalidCloseCode(u16),
}

impl Error {
    /// Whether the peer caused this error (as opposed to our own misuse or a timer).
    pub fn is_peer_fault(&self) -> bool {
        matches!(self, Error::Protocol(_) | Error::AbnormalClosure)
    }

    /// The close code this error puts on the wire, if any.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            Error::Protocol(e) => Some(e.close_code()),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Protocol(e) => write!(f, "protocol error: {e} (close code {})", e.close_code()),
            Error::Timeout(TimeoutKind::Close) => {
                f.write_str("the peer did not complete the close handshake in time")
            }
            Error::Timeout(TimeoutKind::Heartbeat) => {
                f.write_str("no pong arrived before the heartbeat deadline")
            }
            Error::AbnormalClosure => f.write_str("the connection ended without a close frame"),
            Error::Closed => f.write_str("the connection is closed"),
            Error::SendAfterClose => f.write_str("cannot send after the close frame"),
            Error::MessageInProgress => f.write_str("a streamed message is still in progress"),
            Error::NoMessageInProgress => f.write_str("no streamed message in progress"),
            Error::OutputFull => f.write_str("pending output is over its limit; flush first"),
            Error::ControlPayloadTooLong => f.write_str("control frame payload over 125 bytes"),
            Error::InvalidCloseCode(c) => write!(f, "close code {c} may not be sent"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Protocol(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}
