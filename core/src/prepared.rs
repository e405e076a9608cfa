//! Messages encoded once and sent on many connections (broadcast).

use bytes::Bytes;

use crate::connection::data_opcode;
use crate::deflate::DeflateConfig;
use crate::deflate::codec::Deflater;
use crate::frame::{FrameHeader, MAX_HEADER_LEN};
use crate::message::{Message, MessageKind};

/// One encoding of a payload: the payload bytes and the unmasked frame that carries them.
#[derive(Clone, Debug)]
struct Encoding {
    payload: Bytes,
    frame: Bytes,
}

impl Encoding {
    fn new(kind: MessageKind, rsv1: bool, payload: Bytes) -> Self {
        let mut header = FrameHeader::new(true, data_opcode(kind), payload.len() as u64);
        header.rsv1 = rsv1;
        let mut head = [0; MAX_HEADER_LEN];
        let n = header.encode(&mut head);
        let mut frame = Vec::with_capacity(n + payload.len());
        frame.extend_from_slice(&head[..n]);
        frame.extend_from_slice(&payload);
        Encoding {
            payload,
            frame: Bytes::from(frame),
        }
    }
}

/// A message framed, and compressed when asked, once; then queued on any number of connections
/// with [`Connection::send_prepared`](crate::Connection::send_prepared).
///
/// Because wsio never keeps compression context between messages, a compressed encoding
/// depends only on the payload and the window size, so it is valid on every connection that
/// negotiated permessage-deflate with a window at least that large. Connections without
/// compression (or with a smaller window) get the plain encoding, made once as well. Server
/// connections queue the frame bytes without copying; client connections mask a copy, as the
/// protocol requires a fresh mask per frame.
#[derive(Clone, Debug)]
pub struct PreparedMessage {
    kind: MessageKind,
    plain: Encoding,
    /// The compressed encoding and the window it was made with.
    compressed: Option<(Encoding, u8)>,
}

impl PreparedMessage {
    /// Encodes `message`; with `deflate` enabled and the message at least its threshold long,
    /// a compressed encoding is made too, with the configured level and window.
    pub fn new(message: Message, deflate: Option<&DeflateConfig>) -> Self {
        let kind = message.kind();
        let payload = message.into_bytes();
        let compressed = deflate
            .filter(|d| d.enabled && payload.len() >= d.threshold)
            .map(|d| {
                let window = d.max_window_bits.clamp(8, 15);
                let mut deflater = Deflater::take(d.level, window);
                let deflated = deflater.compress(&payload);
                deflater.release();
                (Encoding::new(kind, true, Bytes::from(deflated)), window)
            });
        PreparedMessage {
            kind,
            plain: Encoding::new(kind, false, payload),
            compressed,
        }
    }

    /// Text or binary.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    /// Whether a compressed encoding exists.
    pub fn is_compressed(&self) -> bool {
        self.compressed.is_some()
    }

    /// The encoding for a connection whose compressor window is `window` (`None`: no deflate):
    /// RSV1, the payload and the unmasked frame.
    pub(crate) fn encoding_for(&self, window: Option<u8>) -> (bool, &Bytes, &Bytes) {
        match (&self.compressed, window) {
            (Some((enc, made_with)), Some(allowed)) if *made_with <= allowed => {
                (true, &enc.payload, &enc.frame)
            }
            _ => (false, &self.plain.payload, &self.plain.frame),
        }
    }
}
