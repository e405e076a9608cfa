//! The WebSocket connection state machine (RFC 6455 sections 5 to 7), for both roles.
//!
//! ```text
//!                    close() / fail ──► close frame queued
//!   ┌──────┐  we send close  ┌──────────────────────┐  peer's close arrives  ┌────────┐
//!   │ Open ├────────────────►│ Closing (sent)       ├───────────────────────►│ Closed │
//!   └──┬───┘                 └──────────────────────┘  or close_timeout      └────────┘
//!      │ peer's close arrives ┌──────────────────────┐  we reply (auto_close      ▲
//!      └─────────────────────►│ Closing (received)   ├──  or close()) ──────────┘
//!                             └──────────────────────┘
//!   A protocol violation, a timeout or the end of the transport goes straight to Closed.
//! ```
//!
//! The connection does no I/O and reads no clock. A runtime drives it in a loop:
//!
//! 1. put transport bytes into [`read_buf`](Connection::read_buf) (or pass them to
//!    [`receive`](Connection::receive)), and call [`receive_eof`](Connection::receive_eof) at the
//!    end of the stream;
//! 2. drain [`poll_event`](Connection::poll_event) until it returns `Ok(None)`;
//! 3. write out what [`poll_transmit`](Connection::poll_transmit) holds (automatic pongs and close
//!    replies are there without any call from the application);
//! 4. sleep until [`poll_timeout`](Connection::poll_timeout), and call
//!    [`handle_timeout`](Connection::handle_timeout) when it passes;
//! 5. once [`state`](Connection::state) is [`State::Closed`] and the output is written, close the
//!    transport.
//!
//! Commands ([`send`](Connection::send), [`begin_message`](Connection::begin_message),
//! [`ping`](Connection::ping), [`close`](Connection::close), ...) only queue output. Output leaves
//! in the order it was queued; an automatic pong that finds the output over its limit waits in a
//! single slot (a newer ping replaces it) and is queued by the next `poll_transmit`, and so does
//! a heartbeat ping.

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};

use crate::close::{CloseCode, CloseFrame, MAX_REASON_LEN};
use crate::config::Config;
use crate::deflate::DeflateParams;
use crate::deflate::codec::{Deflater, INFLATE_CHUNK, Inflater, TAIL};

use crate::error::{Error, ProtocolError, TimeoutKind};
use crate::frame::{FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, OpCode};
use crate::mask::{apply_mask, mask_copy, unmask, unmask_append};
use crate::message::{Message, MessageKind};
use crate::payload::{self, INLINE_CAPACITY, Payload};
use crate::pool;
use crate::prepared::PreparedMessage;

use crate::rng::Rng;
use crate::transmit::Transmit;
use crate::utf8::{Utf8Validator, is_utf8};

/// Received payloads shorter than this are copied out of the read buffer rather than shared
/// with it (see `Connection::take_payload`): below it, a copy costs less than the memory a
/// shared view can pin.
const SHARE_THRESHOLD: usize = 1024;

/// The block small payloads are packed into by the fast path.
const SMALL_BLOCK: usize = 4096;

/// Frames with a payload at least this long are read in their own way (`prepare_read`) and
/// unmasked as they are copied in (`receive`); shorter ones, the common case, go as they come.
const LARGE_FRAME: u64 = 16 * 1024;

/// Which end of the connection this is. Clients mask what they send; servers must not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The end that opened the connection.
    Client,
    /// The end that accepted it.
    Server,
}

/// Where the closing handshake stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// One close frame has been sent or received, not both.
    Closing,
    /// The handshake finished, or the connection failed: flush the output, then close the
    /// transport.
    Closed,
}

/// How received data messages are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReadMode {
    /// One [`Event::Message`] per message, assembled in memory (bounded by
    /// `Config::max_message_size`).
    #[default]
    Whole,
    /// [`Event::MessageStart`], then [`Event::MessageData`] for each piece of payload as it
    /// arrives, then [`Event::MessageEnd`]: a message of any size passes through bounded memory.
    Streaming,
}

/// What [`Connection::poll_event`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A whole data message (read mode [`ReadMode::Whole`]).
    Message(Message),
    /// A data message begins (read mode [`ReadMode::Streaming`]).
    MessageStart(MessageKind),
    /// The next piece of the current message's payload (streaming). Text pieces are validated
    /// UTF-8 up to the last complete code point; a code point may be split between pieces.
    MessageData(Bytes),
    /// The current message is complete (streaming).
    MessageEnd,
    /// A ping arrived; with `Config::auto_pong` the pong is already queued.
    Ping(Bytes),
    /// A pong arrived.
    Pong(Bytes),
    /// The peer's close frame arrived (`None`: it carried no status code). With
    /// `Config::auto_close` the reply is already queued. No events follow.
    Close(Option<CloseFrame>),
}

/// Sizes of what the connection is holding, for tests and monitoring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BufferStats {
    /// Received bytes not yet consumed.
    pub read_buffered: usize,
    /// Allocated capacity of the read buffer.
    pub read_capacity: usize,
    /// Bytes of a fragmented message being assembled (whole-message mode).
    pub message_buffered: usize,
    /// Bytes of a streamed outgoing message not yet framed (below one fragment).
    pub write_buffered: usize,
    /// Encoded bytes waiting for the transport.
    pub output_pending: usize,
}

/// A frame whose header has been read and whose payload is still being consumed.
#[derive(Clone, Copy, Debug)]
struct InFrame {
    header: FrameHeader,
    /// Payload bytes not yet taken out of the read buffer.
    remaining: u64,
    /// Payload bytes at the front of the read buffer already unmasked and validated.
    ready: usize,
    /// Payload bytes unmasked so far, for the mask phase.
    unmasked: usize,
    /// Payload bytes right after the `ready` ones that [`Connection::receive`] unmasked as it
    /// copied them in: still to be validated, not to be unmasked again.
    premasked: Premasked,
}

/// Payload bytes that [`Connection::receive`] unmasked on their way into the read buffer.
#[derive(Clone, Copy, Debug, Default)]
struct Premasked {
    /// How many.
    len: usize,
    /// Whether they are known to be all ASCII (looked at only for a text payload; `false`
    /// says nothing).
    ascii: bool,
}

impl Premasked {
    /// Counts `len` more bytes, whose own verdict is `ascii`.
    fn add(&mut self, len: usize, ascii: bool) {
        self.ascii = (self.len == 0 || self.ascii) && ascii;
        self.len += len;
    }
}

/// A data message being received.
#[derive(Debug)]
struct InMessage {
    kind: MessageKind,
    /// Payload bytes received so far.
    size: usize,
    /// Frames received so far.
    fragments: usize,
    /// Text only.
    utf8: Option<Utf8Validator>,
    /// Whole mode: payload of the frames before the current one (and the current one's
    /// arrived part, once the message has more than one frame); inflated when compressed.
    assembled: Vec<u8>,
    streaming: bool,
    /// RSV1 was set on the first frame: the payload is DEFLATE data.
    compressed: bool,
    /// Compressed messages: bytes inflated so far, counted against the message limit.
    inflated: usize,
    /// Compressed messages: how much of the 4-byte sync tail has been fed to the inflater.
    tail_fed: usize,
}

impl InMessage {
    /// Whether its payload is checked as UTF-8 as it arrives: text, unless compressed (then
    /// what is checked is the inflated output instead).
    fn validates_arrivals(&self) -> bool {
        self.utf8.is_some() && !self.compressed
    }
}

/// How a message is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendOptions {
    /// Compress the message when permessage-deflate was negotiated and the message is at least
    /// `DeflateConfig::threshold` bytes (streamed messages: whatever their size). Turn off for
    /// data that is already compressed (images, archives). Default on.
    pub compress: bool,
}

impl Default for SendOptions {
    fn default() -> Self {
        SendOptions { compress: true }
    }
}

/// The negotiated permessage-deflate state.
#[derive(Debug)]
struct DeflateState {
    params: DeflateParams,
    /// Our compressor's window: the limit the peer set on us.
    window_bits: u8,
    /// Whether the peer starts each message with an empty window.
    peer_no_context: bool,
    /// Held only while a message is being compressed or inflated (with context takeover on
    /// the peer's side, the inflater is kept between messages); borrowed from and returned to
    /// the thread's pool (`deflate::codec`).
    deflater: Option<Deflater>,
    inflater: Option<Inflater>,
}

/// A data message being sent piece by piece.
#[derive(Debug)]
struct OutMessage {
    kind: MessageKind,
    /// Whether the first frame (which carries the opcode) has gone out.
    started: bool,
    /// The payload goes through the compressor.
    compressed: bool,
    /// Payload (compressed, if so) not yet framed: at most one fragment awaiting the knowledge
    /// of whether it is the last.
    pending: Vec<u8>,
}

/// A deadline that is off, waiting to be armed at the next clock reading, or set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    Off,
    /// Arms at the next `poll_timeout`/`handle_timeout`, `Duration` from the time given there.
    Pending(Duration),
    At(Instant),
}

impl Timer {
    fn arm(&mut self, now: Instant) {
        if let Timer::Pending(after) = *self {
            *self = Timer::At(now + after);
        }
    }

    fn expired(self, now: Instant) -> bool {
        matches!(self, Timer::At(at) if at <= now)
    }

    fn deadline(self) -> Option<Instant> {
        match self {
            Timer::At(at) => Some(at),
            _ => None,
        }
    }
}

/// One WebSocket connection after the opening handshake: bytes in, events out; messages in,
/// bytes out. See the [module documentation](self) for how a runtime drives it.
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: Config,
    /// Mask keys, for a client (the operating system's bytes live per thread, so this holds
    /// only a seeded source's state).
    rng: Rng,
    /// permessage-deflate, when negotiated; it gives RSV1 its meaning.
    /// Boxed: most connections do not negotiate it, and the rest pay one pointer while idle.
    deflate: Option<Box<DeflateState>>,

    read_buf: BytesMut,
    /// Bytes at the front of `read_buf` that the fast path has consumed but not yet cut off:
    /// it moves this cursor per message and the buffer is advanced once per batch
    /// (`settle_read`), before anything else looks at it.
    read_consumed: usize,
    /// Where the fast path packs small payloads (`complete_message`); freed when idle.
    small_payloads: BytesMut,
    eof: bool,
    frame: Option<InFrame>,
    /// With no frame in progress: how much of the payload of the frame whose header is at the
    /// front of `read_buf` `receive` has already unmasked (see `receive_unmasked`).
    front_premasked: Premasked,
    /// Boxed: only fragmented, compressed or streamed messages need one, and an idle
    /// connection then pays one pointer for it.
    message: Option<Box<InMessage>>,
    read_mode: ReadMode,
    /// Payloads shorter than this may take the fast path (`complete_message`): every limit that
    /// would refuse a one-frame message of that size, folded into one bound when the
    /// connection is made, so the per-frame test is a single comparison.
    fast_bound: usize,
    /// Streaming mode: the last piece of a message went out, `MessageEnd` is next.
    message_end_due: bool,

    transmit: Transmit,
    /// An automatic pong that found the output full; a newer ping replaces it.
    pending_pong: Option<Bytes>,
    /// A heartbeat ping that found the output full, queued by `poll_transmit` once there is
    /// room: at most one waits, however long the peer leaves our output unread.
    pending_ping: bool,
    outgoing: Option<OutMessage>,

    close_sent: bool,
    close_received: bool,
    /// No more input is processed: the peer's close arrived, or the connection failed.
    input_closed: bool,
    /// Failed, timed out or cut off: closed whatever the handshake says.
    terminated: bool,
    /// An error to report from the next `poll_event` (a timeout found by `handle_timeout`).
    pending_error: Option<Error>,

    close_timer: Timer,
    ping_timer: Timer,
    pong_timer: Timer,
    pings_sent: u64,
}

impl Connection {
    /// A connection in the given role, open and ready for frames, with no extension.
    pub fn new(role: Role, config: Config) -> Self {
        Self::with_deflate(role, config, None)
    }

    /// A connection with the permessage-deflate parameters agreed in the opening handshake
    /// (`None`: not negotiated). Compression level and threshold come from `config.deflate`.
    pub fn with_deflate(role: Role, config: Config, deflate: Option<DeflateParams>) -> Self {
        let deflate = deflate.map(|params| {
            let (ours, peer_no_context) = match role {
                Role::Server => (
                    params.server_max_window_bits,
                    params.client_no_context_takeover,
                ),
                Role::Client => (
                    params.client_max_window_bits,
                    params.server_no_context_takeover,
                ),
            };
            Box::new(DeflateState {
                params,
                window_bits: ours.min(config.deflate.max_window_bits),
                peer_no_context,
                deflater: None,
                inflater: None,
            })
        });
        let ping_timer = config.ping_interval.map_or(Timer::Off, Timer::Pending);
        // A peer-chosen length above a limit, or any message at all when fragments are limited
        // to none, goes to the general path (which refuses it the same way in either read
        // mode).
        let fast_bound = if config.max_fragments == 0 {
            0
        } else {
            config
                .max_frame_size
                .min(config.max_message_size)
                .saturating_add(1)
        };
        Connection {
            fast_bound,
            role,
            rng: Rng::new(config.key_source.clone()),
            config,
            deflate,

            read_buf: BytesMut::new(),
            read_consumed: 0,
            front_premasked: Premasked::default(),
            small_payloads: BytesMut::new(),
            eof: false,
            frame: None,
            message: None,
            read_mode: ReadMode::Whole,
            message_end_due: false,
            transmit: Transmit::default(),
            pending_pong: None,
            pending_ping: false,
            outgoing: None,
            close_sent: false,
            close_received: false,
            input_closed: false,
            terminated: false,
            pending_error: None,
            close_timer: Timer::Off,
            ping_timer,
            pong_timer: Timer::Off,
            pings_sent: 0,
        }
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        if self.terminated || (self.close_sent && self.close_received) {
            State::Closed
        } else if self.close_sent || self.close_received {
            State::Closing
        } else {
            State::Open
        }
    }

    /// Bytes queued for the transport: `buffer_stats().output_pending` alone, for runtimes
    /// that check it per message to decide when to write (no other field computed).
    #[inline]
    pub fn output_pending(&self) -> usize {
        self.transmit.len()
    }

    /// Sizes of the buffers the connection holds.
    pub fn buffer_stats(&self) -> BufferStats {
        BufferStats {
            read_buffered: self.read_buf.len() - self.read_consumed,
            read_capacity: self.read_buf.capacity() - self.read_consumed,
            message_buffered: self.message.as_ref().map_or(0, |m| m.assembled.len()),
            write_buffered: self.outgoing.as_ref().map_or(0, |m| m.pending.len()),
            output_pending: self.transmit.len(),
        }
    }

    // ---------------------------------------------------------------- input

    /// The buffer the runtime reads transport bytes into (reserve, then read into its spare
    /// capacity). Bytes appended here are consumed by [`poll_event`](Self::poll_event).
    pub fn read_buf(&mut self) -> &mut BytesMut {
        self.settle_read();
        &mut self.read_buf
    }

    /// Whether every received byte has been processed: the next
    /// [`poll_event`](Self::poll_event) needs a read first. Cheaper than looking at
    /// [`read_buf`](Self::read_buf), which first cuts off what the fast path consumed.
    #[inline]
    pub fn input_drained(&self) -> bool {
        self.read_buf.len() == self.read_consumed
    }

    /// Cuts off the bytes the fast path consumed (see `read_consumed`).
    #[inline]
    fn settle_read(&mut self) {
        if self.read_consumed > 0 {
            self.read_buf.advance(self.read_consumed);
            self.read_consumed = 0;
        }
    }

    /// Whether the bytes already received hold a whole frame (or the rest of the frame being
    /// read), so the next [`poll_event`](Self::poll_event) makes progress without reading the
    /// transport. Runtimes use it to batch output: while the application works through a burst
    /// of messages that arrived together, its replies can wait for one write at the end of the
    /// burst. Errs on the side of `false` (a malformed header, a fragment whose rest has not
    /// arrived), which only costs a write.
    pub fn input_ready(&self) -> bool {
        if self.input_closed {
            return false;
        }
        let input = &self.read_buf[self.read_consumed..];
        match &self.frame {
            Some(frame) => frame.remaining > 0 && frame.remaining <= input.len() as u64,
            None => match FrameHeader::parse(input) {
                Ok(Some((header, header_len))) => {
                    header.payload_len <= (input.len() - header_len) as u64
                }
                _ => false,
            },
        }
    }

    /// Sizes the next read into [`read_buf`](Self::read_buf) and makes room for it: `max`
    /// bytes, or fewer while a large frame (16 KiB or more) is arriving, so that the read ends
    /// exactly at its end. An empty buffer without storage (given back while idle) is taken
    /// from this thread's [`pool`](crate::pool), with room for a frame header beyond `max`.
    /// For a large frame that will leave the buffer whole (an uncompressed message of one
    /// frame, read whole), it also reserves room for the rest of the frame now.
    ///
    /// Why: a large payload is handed to the application without a copy, split off the buffer
    /// it was read into, so the buffer must hold it whole. A buffer grown by doubling copies
    /// what it holds each time; a read that runs past the frame's end leaves the next frame's
    /// start in storage the payload keeps, to be copied out before the next read; and a
    /// `max`-sized frame read with a `max`-sized read needs room for its header too. Each of
    /// these costs about one extra copy of every byte of a large message (measured in the
    /// `codec` benchmark). The reservation is within the frame limits already checked, and
    /// memory the peer never fills is address space, not resident memory.
    pub fn prepare_read(&mut self, max: usize) -> usize {
        self.settle_read();
        if self.read_buf.capacity() == 0 {
            // An empty view at the end of storage a payload was cut from still holds that
            // storage: let it go first, so that when the application has already dropped the
            // payload, the allocator can hand the same (cache-warm) memory straight back.
            self.read_buf = BytesMut::new();
            self.read_buf = pool::take(max + MAX_HEADER_LEN);
        }
        let Some(frame) = &self.frame else {
            return self.fit_read(max);
        };
        let rest = frame.remaining - (self.read_buf.len() as u64).min(frame.remaining);
        if frame.header.payload_len < LARGE_FRAME || rest == 0 {
            return self.fit_read(max);
        }
        let rest = usize::try_from(rest).unwrap_or(usize::MAX);
        let whole = frame.header.fin
            && self
                .message
                .as_ref()
                .is_some_and(|m| !m.streaming && !m.compressed && m.fragments == 1);
        if whole {
            self.read_buf.reserve(rest);
        }
        max.min(rest)
    }

    /// `max`, or a little less when that lets the read land in the buffer's own storage.
    ///
    /// Why: the bytes left over from the last read (the start of a frame still arriving) sit
    /// at the end of the buffer's storage, so a `max`-byte read after them does not fit, and
    /// reserving room for it moves everything to a new, larger allocation — for a busy
    /// connection, nearly every read, into memory not in cache. A read shortened by what is
    /// held fits once the leftover is moved to the front of the same storage (a copy of less
    /// than a frame); `codec` decode 1 KiB: +10%. Not when the leftover is over half of `max`
    /// (the read would be short), nor when the storage is shared with a payload the
    /// application still holds (it cannot be reused).
    fn fit_read(&mut self, max: usize) -> usize {
        let held = self.read_buf.len();
        if self.read_buf.capacity() - held >= max || held > max / 2 {
            return max;
        }
        let shorter = max - held;
        if self.read_buf.try_reclaim(shorter) {
            shorter
        } else {
            max
        }
    }

    /// Gives the read buffer back to this thread's [`pool`](crate::pool) when every received
    /// byte has been processed, and says whether it did. The next
    /// [`prepare_read`](Self::prepare_read) takes one again, so a connection that waits for its
    /// peer holds no read buffer.
    pub fn release_read_buf(&mut self) -> bool {
        if !self.input_drained() {
            return false;
        }
        self.settle_read();
        if self.read_buf.capacity() == 0 {
            return false;
        }
        pool::give(std::mem::take(&mut self.read_buf), pool::MAX_POOLED);
        true
    }

    /// Hands received transport bytes to the connection (a copying alternative to `read_buf`).
    ///
    /// A server unmasks the payload of a large data frame (16 KiB or more) as it copies it in,
    /// when the payload follows everything already received: the rest of the frame in
    /// progress, or a frame whose header starts `data`. Why: one pass over the payload instead
    /// of the copy and then an unmasking pass over the buffer (`codec` decode, three runs
    /// alternating with the build before: 1 MiB 85-93% -> 111-114% of memcpy, 64 KiB
    /// 76-81% -> 78-92%). Pieces sized by [`prepare_read`](Self::prepare_read), as for
    /// `read_buf`, keep a large payload in one buffer.
    pub fn receive(&mut self, data: &[u8]) {
        self.settle_read();
        let taken = self.receive_unmasked(data);
        self.read_buf.extend_from_slice(&data[taken..]);
    }

    /// The part of `receive` that unmasks on the way: appends the leading bytes of `data` that
    /// belong to a large masked data frame's payload (and the frame's header before them, when
    /// `data` starts a frame) unmasked, and returns how many bytes of `data` it took. Takes
    /// only bytes that follow everything processed or unmasked so far, so the payload's
    /// unmasked bytes always run unbroken from the front of what is still to be processed;
    /// `process_arrived` skips unmasking them, and the fast path leaves a frame so begun to
    /// the general one.
    fn receive_unmasked(&mut self, data: &[u8]) -> usize {
        if self.role != Role::Server || data.is_empty() {
            return 0;
        }
        let held = self.read_buf.len();
        if let Some(frame) = &mut self.frame {
            let Some(key) = frame.header.mask else {
                return 0;
            };
            if frame.header.payload_len < LARGE_FRAME
                || frame.header.opcode.is_control()
                || held != frame.ready + frame.premasked.len
            {
                return 0;
            }
            let due = frame.remaining.saturating_sub(held as u64);
            let n = due.min(data.len() as u64) as usize;
            if n == 0 {
                return 0;
            }
            let text = self
                .message
                .as_ref()
                .is_some_and(|m| m.validates_arrivals());
            let ascii = unmask_append(&mut self.read_buf, &data[..n], key, frame.unmasked, text);
            frame.unmasked += n;
            frame.premasked.add(n, ascii);
            return n;
        }
        // The next frame's header: at the front of `data`, or (when an earlier call began
        // unmasking its payload) at the front of the buffer.
        let (header, header_len, taken) = if held == 0 {
            self.front_premasked = Premasked::default();
            match FrameHeader::parse(data) {
                Ok(Some((header, len))) => (header, len, len),
                _ => return 0,
            }
        } else if self.front_premasked.len > 0 {
            match FrameHeader::parse(&self.read_buf) {
                Ok(Some((header, len))) => (header, len, 0),
                _ => return 0,
            }
        } else {
            return 0;
        };
        let Some(key) = header.mask else { return 0 };
        let done = self.front_premasked.len;
        if header.payload_len < LARGE_FRAME
            || header.opcode.is_control()
            || (held != 0 && held != header_len + done)
        {
            return 0;
        }
        // Saturating: `done` counts bytes of this very frame, unless the caller rewrote the
        // buffer behind `read_buf`'s back, which may garble its input but must not panic.
        let due = header.payload_len.saturating_sub(done as u64);
        let n = due.min((data.len() - taken) as u64) as usize;
        if n == 0 {
            return 0;
        }
        let text = match header.opcode {
            OpCode::Text => !header.rsv1,
            _ => self
                .message
                .as_ref()
                .is_some_and(|m| m.validates_arrivals()),
        };
        self.read_buf.extend_from_slice(&data[..taken]);
        let payload = &data[taken..taken + n];
        let ascii = unmask_append(&mut self.read_buf, payload, key, done, text);
        self.front_premasked.add(n, ascii);
        taken + n
    }

    /// Reports that the transport has no more bytes to give.
    pub fn receive_eof(&mut self) {
        self.eof = true;
    }

    /// Chooses how data messages are reported, from the next message on; a message already in
    /// progress finishes in the mode it started in.
    pub fn set_read_mode(&mut self, mode: ReadMode) {
        self.read_mode = mode;
    }

    /// Turns the automatic pong on or off (for an application that answers pings itself).
    pub fn set_auto_pong(&mut self, on: bool) {
        self.config.auto_pong = on;
    }

    /// Turns the automatic close reply on or off (for an application that chooses its reply).
    pub fn set_auto_close(&mut self, on: bool) {
        self.config.auto_close = on;
    }

    /// The read mode for the next message.
    pub fn read_mode(&self) -> ReadMode {
        self.read_mode
    }

    /// The negotiated permessage-deflate parameters, if any.
    pub fn deflate_params(&self) -> Option<DeflateParams> {
        self.deflate.as_ref().map(|d| d.params)
    }

    /// Processes buffered input and returns the next event.
    ///
    /// `Ok(None)` means more bytes are needed. A protocol violation returns
    /// `Err(Error::Protocol(_))` once, with the matching close frame queued; after that, and after
    /// [`Event::Close`], it returns `Err(Error::Closed)`. A timeout found by
    /// [`handle_timeout`](Self::handle_timeout) is reported here as `Err(Error::Timeout(_))`.
    #[inline]
    pub fn poll_event(&mut self) -> Result<Option<Event>, Error> {
        // Most frames are small whole messages: the fast path is inlined into the caller's
        // loop and everything else stays out of line. Returned from a call, the event is a
        // 48-byte value that the caller reads straight back from the stack, and `perf` showed
        // it waiting on those loads (`codec` decode 16 B: 54-55 -> 67-71 M msgs/s).
        match self.poll_complete_message()? {
            Some(message) => Ok(Some(Event::Message(message))),
            None => self.poll_general_event(),
        }
    }

    /// `poll_event` for everything the fast path leaves: errors, control frames, fragments,
    /// streamed reads, frames still arriving.
    #[inline(never)]
    fn poll_general_event(&mut self) -> Result<Option<Event>, Error> {
        if let Some(error) = self.pending_error.take() {
            return Err(error);
        }
        if self.input_closed {
            return Err(Error::Closed);
        }
        match self.next_event() {
            Ok(Some(event)) => Ok(Some(event)),
            Ok(None) if self.eof => {
                // The transport ended without a close frame, possibly mid-frame.
                self.terminate();
                Err(Error::AbnormalClosure)
            }
            Ok(None) => Ok(None),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// The next event if it is a message that the fast path takes (see `complete_message`);
    /// `Ok(None)` leaves everything to [`poll_event`](Self::poll_event). For `Session`, which
    /// then skips wrapping the message in an [`Event`].
    #[inline]
    pub(crate) fn poll_complete_message(&mut self) -> Result<Option<Message>, Error> {
        if self.pending_error.is_some()
            || self.input_closed
            || self.frame.is_some()
            || self.message_end_due
            || self.front_premasked.len > 0
        {
            return Ok(None);
        }
        self.complete_message().map_err(|e| self.fail(e))
    }

    fn next_event(&mut self) -> Result<Option<Event>, ProtocolError> {
        self.settle_read();
        loop {
            if self.message_end_due {
                self.message_end_due = false;
                return Ok(Some(Event::MessageEnd));
            }
            let frame = match self.frame {
                Some(frame) => frame,
                None => {
                    let Some((header, len)) = FrameHeader::parse(&self.read_buf)? else {
                        return Ok(None);
                    };
                    let premasked = std::mem::take(&mut self.front_premasked);
                    self.check_header(&header)?;
                    self.read_buf.advance(len);
                    let frame = InFrame {
                        header,
                        remaining: header.payload_len,
                        ready: 0,
                        unmasked: premasked.len,
                        premasked,
                    };
                    self.frame = Some(frame);
                    if let Some(kind) = self.begin_incoming(&header) {
                        return Ok(Some(Event::MessageStart(kind)));
                    }
                    frame
                }
            };
            let step = if frame.header.opcode.is_control() {
                self.control_frame(frame)?
            } else {
                self.data_frame(frame)?
            };
            match step {
                Step::Event(event) => return Ok(Some(event)),
                Step::NeedMore => return Ok(None),
                Step::Continue => {}
            }
        }
    }

    /// Enforces the framing rules that need the connection's context.
    fn check_header(&self, h: &FrameHeader) -> Result<(), ProtocolError> {
        // Only the first frame of a message may set RSV1, and only with deflate negotiated.
        let rsv1_ok = self.deflate.is_some() && matches!(h.opcode, OpCode::Text | OpCode::Binary);
        if h.rsv2 || h.rsv3 || (h.rsv1 && !rsv1_ok) {
            return Err(ProtocolError::ReservedBits);
        }
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        if h.opcode.is_control() {
            if !h.fin {
                return Err(ProtocolError::FragmentedControl);
            }
            if h.payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError::ControlTooLong);
            }
            return Ok(());
        }
        match (h.opcode, &self.message) {
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Text | OpCode::Binary, Some(_)) => {
                return Err(ProtocolError::ExpectedContinuation);
            }
            _ => {}
        }
        if h.payload_len > self.config.max_frame_size as u64 {
            return Err(ProtocolError::FrameTooLarge);
        }
        let (size, fragments) = self
            .message
            .as_ref()
            .map_or((0, 0), |m| (m.size, m.fragments));
        if size as u64 + h.payload_len > self.config.max_message_size as u64 {
            return Err(ProtocolError::MessageTooLarge);
        }
        if fragments >= self.config.max_fragments {
            return Err(ProtocolError::TooManyFragments);
        }
        Ok(())
    }

    /// The fast path, for the most common frame of all: a whole, unfragmented, uncompressed
    /// text or binary message that has fully arrived, masked as its direction requires, read
    /// in whole-message mode with no message in progress. A tiny payload (at most
    /// `INLINE_CAPACITY` bytes) is unmasked into the message itself (`inline_message`); a
    /// small one is copied into the shared block and unmasked in the copy (in cache); a large
    /// one is unmasked in place and split off the read buffer (`take_payload`). Everything
    /// else, including every frame this path would have to refuse, is left untouched to the
    /// general path, which owns the errors.
    #[inline]
    fn complete_message(&mut self) -> Result<Option<Message>, ProtocolError> {
        let start = self.read_consumed;
        let buf = &self.read_buf[start..];
        let [b0, b1, ..] = *buf else { return Ok(None) };
        // FIN, no reserved bits, text or binary.
        let kind = match b0 {
            0x81 => MessageKind::Text,
            0x82 => MessageKind::Binary,
            _ => return Ok(None),
        };
        let masked = b1 & 0x80 != 0;
        if masked != (self.role == Role::Server)
            || self.message.is_some()
            || self.read_mode != ReadMode::Whole
        {
            return Ok(None);
        }
        let (len, mut header_len) = match b1 & 0x7F {
            127 => match buf.get(2..10) {
                Some(b) => (u64::from_be_bytes(b.try_into().expect("8 bytes")), 10),
                None => return Ok(None),
            },
            126 => match buf.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        let key = if masked {
            let Some(k) = buf.get(header_len..header_len + 4) else {
                return Ok(None);
            };
            header_len += 4;
            Some([k[0], k[1], k[2], k[3]])
        } else {
            None
        };
        // Every limit `check_header` applies to such a frame: a frame it would refuse goes to
        // the general path, which refuses it the same way in either read mode. So does a frame
        // still arriving, whatever length it claims (none that is not buffered is trusted).
        if len >= self.fast_bound as u64 || ((buf.len() - header_len) as u64) < len {
            return Ok(None);
        }
        let len = len as usize;
        if len <= INLINE_CAPACITY {
            return self.inline_message(start + header_len, len, key, kind);
        }
        if len >= SHARE_THRESHOLD && self.shares_payload(len) {
            return self
                .large_message(start + header_len, len, key, kind)
                .map(Some);
        }
        // Small payloads are packed into a shared block rather than given an allocation each:
        // a message costs a reference count instead of a malloc and a free, and one the
        // application keeps pins at most one block. The block's length is the room it has
        // left, initialised (see `renew_small_block`). The payload's part is cut off the
        // front first and then unmasked into: cutting takes a reference (an atomic
        // increment, which waits for every earlier store to reach the cache), so done after
        // the payload's stores it would wait for them (`codec` decode 1 KiB: +5-10%).
        if self.small_payloads.len() < len {
            Self::renew_small_block(&mut self.small_payloads, len);
        }
        let mut part = self.small_payloads.split_to(len);
        let from = &buf[header_len..header_len + len];
        let ascii = match key {
            Some(key) => mask_copy(&mut part, from, key, kind == MessageKind::Text),
            None => {
                part.copy_from_slice(from);
                false
            }
        };
        self.read_consumed = start + header_len + len;
        let payload = Payload::from(part.freeze());
        // Validated after the split, not before: the other order measured half as fast at
        // 16 bytes (code generation around the early return), though it does the same work.
        if kind == MessageKind::Text && !ascii && !is_utf8(&payload) {
            return Err(ProtocolError::InvalidUtf8);
        }
        Ok(Some(Message::from_validated(kind, payload)))
    }

    /// `complete_message` for a payload of at most `INLINE_CAPACITY` bytes, at `at` in the
    /// read buffer: it is unmasked into the message itself (`Payload`), so there is no block
    /// to cut it from and no reference count to take now and give back when the message is
    /// dropped. It is unmasked a word at a time, in registers: read straight from the buffer
    /// where 24 bytes follow the payload's start (the usual case: more frames follow), else
    /// from a zero-padded copy.
    #[inline(always)]
    fn inline_message(
        &mut self,
        at: usize,
        len: usize,
        key: Option<[u8; 4]>,
        kind: MessageKind,
    ) -> Result<Option<Message>, ProtocolError> {
        let key = key.map_or(0, |[a, b, c, d]| {
            u64::from_ne_bytes([a, b, c, d, a, b, c, d])
        });
        let words = match self.read_buf.get(at..at + 24) {
            Some(bytes) => payload::words(bytes),
            None => {
                let mut data = [0; 24];
                data[..len].copy_from_slice(&self.read_buf[at..at + len]);
                payload::words(&data)
            }
        };
        // The key repeats every 4 bytes and the payload starts at its first byte, so every
        // word of the payload is masked with the same word of the key.
        let payload = Payload::from_words(words.map(|w| w ^ key), len);
        self.read_consumed = at + len;
        if kind == MessageKind::Text && !payload.is_inline_ascii() && !payload.is_inline_utf8() {
            return Err(ProtocolError::InvalidUtf8);
        }
        Ok(Some(Message::from_validated(kind, payload)))
    }

    /// Gives the small-payload block room for `len` bytes: the same storage again when no
    /// message cut from it is still held (the usual case: a message is handled before the
    /// next is read), else one that a connection gave back to the thread's pool, else a new
    /// block.
    ///
    /// Why: every block is zeroed once, when it is made, so its room is initialised memory
    /// that payloads can be unmasked straight into. Appending into spare capacity instead
    /// (`mask::mask_append`) means setting the block's length after each copy, which cutting
    /// the payload off reads straight back: a store-to-load stall behind the copy's stores,
    /// about a tenth of 1 KiB decode. Reusing the storage also spares a block's malloc, free
    /// and zeroing while the application keeps no messages, and so does the pool for a
    /// connection that went idle between bursts. Measured against appending: decode 16 B +6%,
    /// 100 B +7%, 1 KiB +10-14% (scratch harness, interleaved).
    #[inline(never)]
    #[allow(unsafe_code)]
    fn renew_small_block(block: &mut BytesMut, len: usize) {
        if len > SMALL_BLOCK {
            *block = BytesMut::zeroed(len);
            return;
        }
        loop {
            block.clear();
            // Room for `len`: what is left, else the whole storage again if no message cut
            // from it is still held.
            if block.try_reclaim(len) {
                break;
            }
            // Held messages pin the storage, or there is none (after `release_idle_buffers`):
            // a block a connection gave back to the pool (tried in turn), else a new one.
            *block = pool::take_block().unwrap_or_else(|| BytesMut::zeroed(SMALL_BLOCK));
        }
        // SAFETY: every block was zeroed when it was made (`BytesMut::zeroed`, here: the pool's
        // blocks come only from `release_idle_buffers`, so were made here too), and neither
        // `try_reclaim` nor the pool allocates, so every byte up to the capacity is
        // initialised: zeros, or payloads written since.
        unsafe { block.set_len(block.capacity()) };
    }

    /// `complete_message` for a payload large enough to be handed out without a copy
    /// (`shares_payload`): it is unmasked where it lies, validated, and taken off the read
    /// buffer by `take_payload`. Kept out of line so that the path of small messages stays
    /// short.
    #[inline(never)]
    fn large_message(
        &mut self,
        at: usize,
        len: usize,
        key: Option<[u8; 4]>,
        kind: MessageKind,
    ) -> Result<Message, ProtocolError> {
        self.read_consumed = at;
        self.settle_read();
        let text = kind == MessageKind::Text;
        let ascii = match key {
            Some(key) => unmask(&mut self.read_buf[..len], key, 0, text),
            None => false,
        };
        if text && !ascii && !is_utf8(&self.read_buf[..len]) {
            return Err(ProtocolError::InvalidUtf8);
        }
        Ok(Message::from_validated(kind, self.take_payload(len).into()))
    }

    /// Books a data frame against its message, starting the message on its first frame.
    /// Returns the kind when a streamed message starts, for `MessageStart`.
    fn begin_incoming(&mut self, h: &FrameHeader) -> Option<MessageKind> {
        let kind = match h.opcode {
            OpCode::Text => MessageKind::Text,
            OpCode::Binary => MessageKind::Binary,
            OpCode::Continuation => {
                let message = self.message.as_mut().expect("checked by check_header");
                message.fragments += 1;
                message.size += h.payload_len as usize;
                return None;
            }
            _ => return None,
        };
        let streaming = self.read_mode == ReadMode::Streaming;
        self.message = Some(Box::new(InMessage {
            kind,
            size: h.payload_len as usize,
            fragments: 1,
            utf8: (kind == MessageKind::Text).then(Utf8Validator::new),
            assembled: Vec::new(),
            streaming,
            compressed: h.rsv1,
            inflated: 0,
            tail_fed: 0,
        }));
        streaming.then_some(kind)
    }

    /// Unmasks and validates the payload bytes of the current data frame that have arrived
    /// since the last call, so that bad UTF-8 fails on arrival.
    fn process_arrived(&mut self, frame: &mut InFrame) -> Result<(), ProtocolError> {
        let available = (self.read_buf.len() as u64).min(frame.remaining) as usize;
        if available > frame.ready {
            let fresh = &mut self.read_buf[frame.ready..available];
            let message = self
                .message
                .as_mut()
                .expect("a data frame belongs to a message");
            // Compressed text is validated after inflation instead.
            let validate = message.validates_arrivals();
            // The bytes `receive` unmasked come first; the rest (read into `read_buf`) are
            // unmasked here.
            let premasked = std::mem::take(&mut frame.premasked);
            let (_, rest) = fresh.split_at_mut(premasked.len.min(fresh.len()));
            let rest_ascii = match frame.header.mask {
                Some(key) if !rest.is_empty() => unmask(rest, key, frame.unmasked, validate),
                _ => false,
            };
            frame.unmasked += rest.len();
            let ascii = match (premasked.len, rest.is_empty()) {
                (0, _) => rest_ascii,
                (_, true) => premasked.ascii,
                _ => premasked.ascii && rest_ascii,
            };
            if let (Some(utf8), true) = (&mut message.utf8, validate) {
                // ASCII after a complete code point is valid as it stands; anything else,
                // including ASCII where a code point's continuation is due, is checked.
                if !(ascii && utf8.is_complete()) {
                    utf8.feed(fresh).map_err(|_| ProtocolError::InvalidUtf8)?;
                }
            }
            frame.ready = available;
        }
        Ok(())
    }

    fn data_frame(&mut self, mut frame: InFrame) -> Result<Step, ProtocolError> {
        self.process_arrived(&mut frame)?;
        let message = self
            .message
            .as_mut()
            .expect("a data frame belongs to a message");
        if message.compressed {
            return self.compressed_data_frame(frame);
        }
        let complete = frame.ready as u64 == frame.remaining;
        let fin = frame.header.fin;

        if message.streaming {
            if complete && fin {
                finish_text(message)?;
            }
            let piece = self.take_payload(frame.ready);
            frame.remaining -= frame.ready as u64;
            frame.ready = 0;
            if complete {
                self.frame = None;
                if fin {
                    self.message = None;
                    self.message_end_due = true;
                }
            } else {
                self.frame = Some(frame);
            }
            return Ok(if !piece.is_empty() {
                Step::Event(Event::MessageData(piece))
            } else if complete {
                Step::Continue
            } else {
                Step::NeedMore
            });
        }

        // Whole mode. A message of one frame stays in the read buffer until complete and is
        // then split off (without a copy when it is large); the frames of a fragmented message move to the
        // assembly buffer as they arrive, so the read buffer never holds more than a read.
        let sole_frame = fin && message.fragments == 1;
        if !sole_frame {
            message
                .assembled
                .extend_from_slice(&self.read_buf[..frame.ready]);
            self.read_buf.advance(frame.ready);
            frame.remaining -= frame.ready as u64;
            frame.ready = 0;
        }
        if !complete {
            self.frame = Some(frame);
            return Ok(Step::NeedMore);
        }
        self.frame = None;
        if !fin {
            return Ok(Step::Continue);
        }
        finish_text(message)?;
        let mut message = self.message.take().expect("present");
        let payload = if sole_frame {
            self.take_payload(frame.ready)
        } else {
            Bytes::from(std::mem::take(&mut message.assembled))
        };
        let message = Message::from_validated(message.kind, payload.into());
        Ok(Step::Event(Event::Message(message)))
    }

    /// Whether a payload of `len` bytes leaves the read buffer by reference (see
    /// [`take_payload`](Self::take_payload)) rather than as a copy.
    fn shares_payload(&self, len: usize) -> bool {
        len >= SHARE_THRESHOLD && 2 * len >= self.read_buf.capacity() - self.read_consumed
    }

    /// Takes the first `len` bytes of the read buffer for the application.
    ///
    /// A large payload is split out without a copy. A `Bytes` split out of the read buffer
    /// keeps the buffer's whole allocation alive, though, so a small payload is copied
    /// instead: otherwise a peer sending tiny messages (or trickling a streamed one) would make
    /// each byte the application keeps hold a whole read buffer, thousands of times its size
    /// for one-byte messages read with the usual 4 KiB reads. Payloads that are shared are at
    /// least half of what is left of the buffer, so they pin at most about twice their size.
    fn take_payload(&mut self, len: usize) -> Bytes {
        if self.shares_payload(len) {
            self.read_buf.split_to(len).freeze()
        } else {
            let payload = Bytes::copy_from_slice(&self.read_buf[..len]);
            self.read_buf.advance(len);
            payload
        }
    }

    /// The data path of a compressed message: inflate what has arrived, at most
    /// `INFLATE_CHUNK` bytes per step, counting every byte against the message limit as it is
    /// produced, so a small frame that would inflate to gigabytes stops at the limit.
    fn compressed_data_frame(&mut self, mut frame: InFrame) -> Result<Step, ProtocolError> {
        let max = self.config.max_message_size;
        let deflate = self
            .deflate
            .as_mut()
            .expect("RSV1 is accepted only with deflate");
        let peer_no_context = deflate.peer_no_context;
        let inflater = deflate
            .inflater
            .get_or_insert_with(|| Inflater::take(peer_no_context));
        let message = self
            .message
            .as_mut()
            .expect("a data frame belongs to a message");
        let fin = frame.header.fin;
        loop {
            let frame_done = frame.remaining == 0;
            let input: &[u8] = match (frame_done, fin) {
                (false, _) => &self.read_buf[..frame.ready],
                (true, true) => &TAIL[message.tail_fed..],
                (true, false) => &[],
            };
            let mut piece = Vec::new();
            let out = if message.streaming {
                &mut piece
            } else {
                &mut message.assembled
            };
            let start = out.len();
            let room = (max - message.inflated.min(max))
                .saturating_add(1)
                .min(INFLATE_CHUNK);
            let (consumed, produced, valid) = inflater.inflate(input, out, room);
            if frame_done {
                message.tail_fed += consumed;
            } else {
                self.read_buf.advance(consumed);
                frame.ready -= consumed;
                frame.remaining -= consumed as u64;
            }
            message.inflated += produced;
            // One inflate step may produce the bytes that several smaller steps would, so the
            // checks run in the order of the inflated stream, whatever the step: UTF-8 (fails
            // at the first bad byte) before the size (fails at byte `max + 1`) before the
            // inflater's verdict (after all the output before the bad data). Then the error,
            // and the close code, do not depend on how the transport split the input.
            if let Some(utf8) = &mut message.utf8 {
                utf8.feed(&out[start..])
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            if message.inflated > max {
                return Err(ProtocolError::MessageTooLarge);
            }
            valid?;
            if message.streaming && produced > 0 {
                // The step's buffer has room for INFLATE_CHUNK bytes; hand out only what was
                // inflated, or a piece of a few bytes would hold 32 KiB for as long as the
                // application keeps it (a peer trickling its input makes many such pieces).
                piece.shrink_to_fit();
                self.frame = Some(frame);
                return Ok(Step::Event(Event::MessageData(Bytes::from(piece))));
            }
            if consumed == 0 && produced == 0 {
                break;
            }
        }
        if frame.remaining > 0 {
            self.frame = Some(frame);
            return Ok(Step::NeedMore);
        }
        self.frame = None;
        if !fin {
            return Ok(Step::Continue);
        }
        finish_text(message)?;
        inflater.end_message();
        if peer_no_context {
            // Nothing carries over to the next message: the state goes back to the thread's
            // pool, and an idle connection holds none.
            if let Some(inflater) = deflate.inflater.take() {
                inflater.release();
            }
        }
        let message = self.message.take().expect("present");
        if message.streaming {
            return Ok(Step::Event(Event::MessageEnd));
        }
        let payload = Bytes::from(message.assembled);
        let message = Message::from_validated(message.kind, payload.into());
        Ok(Step::Event(Event::Message(message)))
    }

    fn control_frame(&mut self, frame: InFrame) -> Result<Step, ProtocolError> {
        let len = frame.header.payload_len as usize;
        if self.read_buf.len() < len {
            return Ok(Step::NeedMore);
        }
        // Control payloads are tiny: copy them, so the read buffer stays unshared and reusable.
        let mut payload = BytesMut::from(&self.read_buf[..len]);
        self.read_buf.advance(len);
        if let Some(key) = frame.header.mask {
            apply_mask(&mut payload, key, 0);
        }
        let payload = payload.freeze();
        self.frame = None;
        let event = match frame.header.opcode {
            OpCode::Ping => {
                if self.config.auto_pong && !self.close_sent {
                    self.queue_auto_pong(payload.clone());
                }
                Event::Ping(payload)
            }
            OpCode::Pong => {
                self.pong_timer = Timer::Off;
                Event::Pong(payload)
            }
            _ => {
                let close = CloseFrame::parse(payload)?;
                self.close_received = true;
                self.input_closed = true;
                if self.close_sent {
                    self.close_timer = Timer::Off;
                } else if self.config.auto_close {
                    let code = close.as_ref().map(|c| c.code);
                    self.queue_close(code, b"");
                }
                self.stop_heartbeat();
                Event::Close(close)
            }
        };
        Ok(Step::Event(event))
    }

    /// Fails the connection for a peer's violation: queues the matching close frame, stops
    /// reading, and returns the error to report.
    fn fail(&mut self, error: ProtocolError) -> Error {
        if !self.close_sent && !self.terminated {
            self.queue_close(Some(error.close_code()), error.reason().as_bytes());
        }
        self.terminate();
        Error::Protocol(error)
    }

    /// Ends the connection without waiting for anything more from the peer.
    fn terminate(&mut self) {
        self.terminated = true;
        self.input_closed = true;
        self.close_timer = Timer::Off;
        self.stop_heartbeat();
    }

    fn stop_heartbeat(&mut self) {
        self.ping_timer = Timer::Off;
        self.pong_timer = Timer::Off;
        self.pending_ping = false;
    }

    // --------------------------------------------------------------- output

    /// Queues a whole message as a single frame, compressed when permessage-deflate was
    /// negotiated and the message reaches `DeflateConfig::threshold`.
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        self.send_with(message, SendOptions::default())
    }

    /// Queues a whole message as a single frame, with per-message options.
    pub fn send_with(&mut self, message: Message, options: SendOptions) -> Result<(), Error> {
        self.check_can_send()?;
        if self.outgoing.is_some() {
            return Err(Error::MessageInProgress);
        }
        self.check_output_room()?;
        let opcode = data_opcode(message.kind());
        let compress = options.compress
            && self.deflate.is_some()
            && message.len() >= self.config.deflate.threshold;
        // The most common reply of all, a server's small uncompressed message, is written
        // from the message where it lies (see `Transmit::push_inline`).
        if !compress && self.role == Role::Server {
            if let Some((words, len)) = message.payload().inline_words_le() {
                self.transmit.push_inline(opcode, words, len);
                return Ok(());
            }
        }
        // Borrowed where it lies, not moved out: the move loaded the payload in 16-byte
        // pieces over the 8-byte stores that had just written it, which the core cannot
        // forward (`perf annotate` of the 1 KiB TCP echo server: two thirds of this
        // function's samples on that load, waiting for the unmasked payload's stores).
        let payload = message.payload();
        if compress {
            let compressed = Bytes::from(self.deflater().compress(payload));
            self.release_deflater();
            self.push_frame(true, true, opcode, &compressed, Some(&compressed));
        } else {
            self.push_frame(true, false, opcode, payload, payload.shared());
        }
        Ok(())
    }

    /// Queues a message encoded once for many connections. Its compressed encoding is used
    /// when this connection negotiated permessage-deflate with a window at least as large as
    /// the one it was compressed with; otherwise its plain encoding is.
    pub fn send_prepared(&mut self, prepared: &PreparedMessage) -> Result<(), Error> {
        self.check_can_send()?;
        if self.outgoing.is_some() {
            return Err(Error::MessageInProgress);
        }
        self.check_output_room()?;
        let window = self.deflate.as_ref().map(|d| d.window_bits);
        let (rsv1, payload, frame) = prepared.encoding_for(window);
        match self.role {
            // Unmasked frames are the same bytes on every connection: queue them as they are.
            Role::Server => self.transmit.push_encoded(frame.clone()),
            Role::Client => {
                let payload = payload.clone();
                self.push_frame(true, rsv1, data_opcode(prepared.kind()), &payload, None);
            }
        }
        Ok(())
    }

    /// Starts a message that will be sent in fragments of `Config::fragment_size` as its payload
    /// is written with [`write_chunk`](Self::write_chunk); [`end_message`](Self::end_message)
    /// sends the last one. Control frames may be sent in between. Compressed when
    /// permessage-deflate was negotiated.
    pub fn begin_message(&mut self, kind: MessageKind) -> Result<(), Error> {
        self.begin_message_with(kind, SendOptions::default())
    }

    /// Starts a streamed message with per-message options.
    pub fn begin_message_with(
        &mut self,
        kind: MessageKind,
        options: SendOptions,
    ) -> Result<(), Error> {
        self.check_can_send()?;
        if self.outgoing.is_some() {
            return Err(Error::MessageInProgress);
        }
        let compressed = options.compress && self.deflate.is_some();
        self.outgoing = Some(OutMessage {
            kind,
            started: false,
            compressed,
            pending: Vec::new(),
        });
        Ok(())
    }

    /// Adds payload to the message started with [`begin_message`](Self::begin_message), framing
    /// every complete fragment. For a text message the caller is responsible for the whole
    /// payload being UTF-8; pieces may split code points.
    pub fn write_chunk(&mut self, mut data: &[u8]) -> Result<(), Error> {
        self.check_can_send()?;
        if self.outgoing.is_none() {
            return Err(Error::NoMessageInProgress);
        }
        self.check_output_room()?;
        let size = self.config.fragment_size.max(1);
        let mut out = self.outgoing.take().expect("checked above");
        if out.compressed {
            self.deflater().write(data, &mut out.pending);
            self.push_full_fragments(&mut out, size);
            self.outgoing = Some(out);
            return Ok(());
        }
        // A fragment leaves only once more payload follows it, so that the last one can carry FIN.
        if !out.pending.is_empty() {
            let take = (size - out.pending.len()).min(data.len());
            out.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if !data.is_empty() {
                let fragment = std::mem::take(&mut out.pending);
                self.push_fragment(&mut out, false, &fragment);
            }
        }
        while data.len() > size {
            self.push_fragment(&mut out, false, &data[..size]);
            data = &data[size..];
        }
        out.pending.extend_from_slice(data);
        self.outgoing = Some(out);
        Ok(())
    }

    /// Sends the last fragment of the streamed message (possibly empty) and ends it.
    pub fn end_message(&mut self) -> Result<(), Error> {
        self.check_can_send()?;
        let mut out = self.outgoing.take().ok_or(Error::NoMessageInProgress)?;
        if out.compressed {
            self.deflater().finish(&mut out.pending);
            self.release_deflater();
            self.push_full_fragments(&mut out, self.config.fragment_size.max(1));
        }
        let last = std::mem::take(&mut out.pending);
        self.push_fragment(&mut out, true, &last);
        Ok(())
    }

    /// Frames every complete fragment of `out.pending` except a last one that may turn out to
    /// be the final fragment.
    fn push_full_fragments(&mut self, out: &mut OutMessage, size: usize) {
        let mut pending = std::mem::take(&mut out.pending);
        let mut offset = 0;
        while pending.len() - offset > size {
            self.push_fragment(out, false, &pending[offset..offset + size]);
            offset += size;
        }
        pending.drain(..offset);
        out.pending = pending;
    }

    /// The compressor, borrowed from the thread's pool for the message being compressed. Only
    /// called with deflate negotiated.
    fn deflater(&mut self) -> &mut Deflater {
        let level = self.config.deflate.level;
        let deflate = self
            .deflate
            .as_mut()
            .expect("compression requires negotiated deflate");
        let window = deflate.window_bits;
        deflate
            .deflater
            .get_or_insert_with(|| Deflater::take(level, window))
    }

    /// Gives the compressor back once a message is complete: without context takeover the
    /// next message starts from nothing, so an idle connection keeps no compressor state.
    fn release_deflater(&mut self) {
        if let Some(deflater) = self.deflate.as_mut().and_then(|d| d.deflater.take()) {
            deflater.release();
        }
    }

    /// Queues a ping. The payload is at most 125 bytes.
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.send_control(OpCode::Ping, payload)
    }

    /// Queues an unsolicited pong (a one-way heartbeat). The payload is at most 125 bytes.
    pub fn pong(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.send_control(OpCode::Pong, payload)
    }

    /// Starts the closing handshake, or completes it when the peer's close arrived and
    /// `Config::auto_close` is off. The code must be sendable and the reason at most 123 bytes;
    /// an unfinished streamed message is abandoned. The peer then has `Config::close_timeout`
    /// to answer.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        if !code.is_sendable() {
            return Err(Error::InvalidCloseCode(code.0));
        }
        if reason.len() > MAX_REASON_LEN {
            return Err(Error::ControlPayloadTooLong);
        }
        self.check_can_send()?;
        self.queue_close(Some(code), reason.as_bytes());
        Ok(())
    }

    /// The output waiting for the transport, or `None` when there is none. Write it (vectored),
    /// then [`advance`](Buf::advance) it by what was written; the rest stays queued.
    pub fn poll_transmit(&mut self) -> Option<&mut Transmit> {
        if self.pending_pong.is_some() && self.has_output_room() {
            let payload = self.pending_pong.take().expect("checked");
            self.push_frame(true, false, OpCode::Pong, &payload, None);
        }
        if self.pending_ping && self.has_output_room() {
            self.pending_ping = false;
            self.push_heartbeat_ping();
        }
        (!self.transmit.is_empty()).then_some(&mut self.transmit)
    }

    /// Lets go of the buffers a busy connection keeps for reuse: the output buffer (back to
    /// the thread's pool) if everything was written, and the block small payloads are packed
    /// into (back to the pool too, with whatever room it has left while messages taken from
    /// it are still held). A runtime calls it when the connection goes idle (everything read
    /// is consumed, nothing waits to be sent), so thousands of idle connections keep no
    /// buffers; a busy one keeps reusing its own, and one woken again takes warm ones from the
    /// pool.
    pub fn release_idle_buffers(&mut self) {
        self.transmit.release_if_empty();
        if pool::has_storage(&self.small_payloads) {
            pool::give_block(std::mem::take(&mut self.small_payloads), SMALL_BLOCK);
        }
    }

    /// Whether output is waiting (an automatic reply included): the runtime must write it even
    /// when the application is only reading.
    pub fn wants_write(&self) -> bool {
        !self.transmit.is_empty() || self.pending_pong.is_some() || self.pending_ping
    }

    fn check_can_send(&self) -> Result<(), Error> {
        if self.terminated {
            Err(Error::Closed)
        } else if self.close_sent {
            Err(Error::SendAfterClose)
        } else {
            Ok(())
        }
    }

    fn check_output_room(&self) -> Result<(), Error> {
        if self.has_output_room() {
            Ok(())
        } else {
            Err(Error::OutputFull)
        }
    }

    /// Whether more output may be queued: the output is under `max_pending_output`, or empty.
    /// An empty output always has room, so that any limit, 0 included, lets one message (or
    /// one waiting pong or ping) through at a time rather than none ever. A runtime checks it
    /// before [`send`](Self::send), which consumes its message even when it fails with
    /// [`Error::OutputFull`].
    pub fn has_output_room(&self) -> bool {
        self.transmit.is_empty() || self.transmit.len() < self.config.max_pending_output
    }

    // ------------------------------------------------------- write batching
    //
    // Runtimes batch output the way Netty's flush consolidation does: while the application
    // works through a burst of frames that arrived together, its replies (and automatic
    // pongs) are queued and leave in one vectored write at the end of the burst, instead of
    // a write each. The two rules below are the whole policy, shared by every runtime.

    /// After a `send` on a stream whose owner also reads it: whether the output may wait.
    /// It may while another whole frame is already received (the application will be back
    /// for it without blocking, and the read step writes everything before it waits for the
    /// network) and less than a batch is queued (see `batch_limit`).
    pub fn send_may_wait(&self, write_buffer_size: usize) -> bool {
        self.input_ready() && self.output_pending() < Self::batch_limit(write_buffer_size)
    }

    /// After a message was received: whether queued output must be written now rather than
    /// before the next wait for input: when the connection is closing (a close reply must
    /// not wait for a read that may never come), or a batch's worth is queued.
    pub fn must_write_now(&self, write_buffer_size: usize) -> bool {
        self.state() != State::Open || self.output_pending() >= Self::batch_limit(write_buffer_size)
    }

    /// How much output a burst may gather before it is written anyway: 64 KiB, or the
    /// runtime's write buffer size if larger. Not the write buffer size itself (gorilla's
    /// 4 KiB default would split a burst of 1 KiB replies into a write per four); large
    /// payloads are queued by reference, so this bounds bytes waiting, not bytes copied.
    fn batch_limit(write_buffer_size: usize) -> usize {
        (64 * 1024).max(write_buffer_size)
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(Error::ControlPayloadTooLong);
        }
        self.check_can_send()?;
        self.check_output_room()?;
        self.push_frame(true, false, opcode, payload, None);
        Ok(())
    }

    fn queue_auto_pong(&mut self, payload: Bytes) {
        if self.has_output_room() {
            self.push_frame(true, false, OpCode::Pong, &payload, None);
        } else {
            self.pending_pong = Some(payload);
        }
    }

    /// Queues a close frame (empty when `code` is `None`) and books that it was sent.
    fn queue_close(&mut self, code: Option<CloseCode>, reason: &[u8]) {
        let mut payload = Vec::with_capacity(2 + reason.len());
        if let Some(code) = code {
            payload.extend_from_slice(&code.0.to_be_bytes());
            payload.extend_from_slice(reason);
        }
        if self.outgoing.take().is_some_and(|out| out.compressed) {
            // The abandoned message left the compressor mid-stream; start afresh if ever needed.
            if let Some(deflate) = &mut self.deflate {
                deflate.deflater = None;
            }
        }
        self.pending_pong = None;
        self.push_frame(true, false, OpCode::Close, &payload, None);
        self.close_sent = true;
        if !self.close_received {
            self.close_timer = Timer::Pending(self.config.close_timeout);
        }
        self.stop_heartbeat();
    }

    fn push_fragment(&mut self, out: &mut OutMessage, fin: bool, payload: &[u8]) {
        let (opcode, rsv1) = if out.started {
            (OpCode::Continuation, false)
        } else {
            // RSV1 marks the whole message as compressed, on its first frame only.
            (data_opcode(out.kind), out.compressed)
        };
        out.started = true;
        self.push_frame(fin, rsv1, opcode, payload, None);
    }

    fn push_frame(
        &mut self,
        fin: bool,
        rsv1: bool,
        opcode: OpCode,
        payload: &[u8],
        shared: Option<&Bytes>,
    ) {
        let mut header = FrameHeader::new(fin, opcode, payload.len() as u64);
        header.rsv1 = rsv1;
        if self.role == Role::Client {
            header.mask = Some(self.rng.mask_key());
        }
        self.transmit.push_frame(header, payload, shared);
    }

    // ----------------------------------------------------------------- time

    /// Whether any timer runs or waits to be armed: when none does (no heartbeat configured,
    /// no close in progress), a runtime need not read the clock before each read.
    pub fn has_timers(&self) -> bool {
        [self.close_timer, self.ping_timer, self.pong_timer]
            .iter()
            .any(|t| !matches!(t, Timer::Off))
    }

    /// The next deadline, after arming any timer started since the last clock reading with
    /// `now` as its start. Sleep until it, then call [`handle_timeout`](Self::handle_timeout).
    pub fn poll_timeout(&mut self, now: Instant) -> Option<Instant> {
        for timer in [
            &mut self.close_timer,
            &mut self.ping_timer,
            &mut self.pong_timer,
        ] {
            timer.arm(now);
        }
        [self.close_timer, self.ping_timer, self.pong_timer]
            .into_iter()
            .filter_map(Timer::deadline)
            .min()
    }

    /// Acts on every deadline that `now` has reached: sends a heartbeat ping, or ends the
    /// connection when the peer missed the close or pong deadline (reported by the next
    /// [`poll_event`](Self::poll_event)).
    pub fn handle_timeout(&mut self, now: Instant) {
        for timer in [
            &mut self.close_timer,
            &mut self.ping_timer,
            &mut self.pong_timer,
        ] {
            timer.arm(now);
        }
        let expired = if self.close_timer.expired(now) {
            Some(TimeoutKind::Close)
        } else if self.pong_timer.expired(now) {
            Some(TimeoutKind::Heartbeat)
        } else {
            None
        };
        if let Some(kind) = expired {
            self.terminate();
            self.pending_error = Some(Error::Timeout(kind));
            return;
        }
        if self.ping_timer.expired(now) {
            let interval = self
                .config
                .ping_interval
                .expect("ping timer runs only with an interval");
            self.ping_timer = Timer::At(now + interval);
            // Like automatic pongs, heartbeats respect the output limit: a peer that never
            // reads (and keeps the connection alive with unsolicited pongs) must not make
            // pings pile up. The ping waits in one slot; its pong deadline runs from now.
            if self.has_output_room() {
                self.push_heartbeat_ping();
            } else {
                self.pending_ping = true;
            }
            if self.pong_timer == Timer::Off {
                self.pong_timer = Timer::At(now + self.config.pong_timeout);
            }
        }
    }

    /// Queues a heartbeat ping carrying its sequence number.
    fn push_heartbeat_ping(&mut self) {
        self.pings_sent += 1;
        let payload = self.pings_sent.to_be_bytes();
        self.push_frame(true, false, OpCode::Ping, &payload, None);
    }
}

/// What one step of input processing produced.
enum Step {
    Event(Event),
    NeedMore,
    Continue,
}

/// The opcode of a message's first frame.
pub(crate) fn data_opcode(kind: MessageKind) -> OpCode {
    match kind {
        MessageKind::Text => OpCode::Text,
        MessageKind::Binary => OpCode::Binary,
    }
}

/// Checks that a text message does not end inside a code point.
fn finish_text(message: &mut InMessage) -> Result<(), ProtocolError> {
    match &mut message.utf8 {
        Some(utf8) => utf8.finish().map_err(|_| ProtocolError::InvalidUtf8),
        None => Ok(()),
    }
}
