//! The RFC 6455 section 5.2 frame header: parsing and encoding.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! ```
//!
//! This module knows only the wire layout. Which combinations are legal for a connection (masking
//! direction, RSV bits claimed by an extension, control-frame rules, size limits) is decided by the
//! connection, which has the context to send the right close code.

use crate::error::ProtocolError;

/// The largest header: 2 fixed bytes, 8 bytes of extended length and a 4-byte mask key.
pub const MAX_HEADER_LEN: usize = 14;

/// The largest payload a control frame may carry (RFC 6455 section 5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame's opcode. Reserved opcodes are rejected while parsing, so every value of this type is
/// one the protocol defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// A further fragment of the message in progress.
    Continuation,
    /// The first frame of a text message.
    Text,
    /// The first frame of a binary message.
    Binary,
    /// Starts or answers the closing handshake.
    Close,
    /// A keep-alive or liveness probe; must be answered with a pong.
    Ping,
    /// The answer to a ping, or an unsolicited heartbeat.
    Pong,
}

impl OpCode {
    /// Decodes the low four bits of the first header byte.
    pub fn from_u8(bits: u8) -> Result<OpCode, ProtocolError> {
        Ok(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            other => return Err(ProtocolError::ReservedOpcode(other)),
        })
    }

    /// The four-bit wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Control frames (close, ping, pong) may interleave with fragments but never be fragmented.
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// One parsed or to-be-encoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Set on the last frame of a message.
    pub fin: bool,
    /// Reserved bit 1; permessage-deflate uses it to mark a compressed message.
    pub rsv1: bool,
    /// Reserved bit 2; no extension we support uses it.
    pub rsv2: bool,
    /// Reserved bit 3; no extension we support uses it.
    pub rsv3: bool,
    /// What the frame carries.
    pub opcode: OpCode,
    /// The masking key; clients must mask, servers must not.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes, as declared. Never trusted for allocation.
    pub payload_len: u64,
}

impl FrameHeader {
    /// A header with no reserved bits and no mask.
    pub fn new(fin: bool, opcode: OpCode, payload_len: u64) -> Self {
        FrameHeader {
            fin,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask: None,
            payload_len,
        }
    }

    /// Parses a header from the start of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` does not yet hold the whole header, and the header with its
    /// encoded length otherwise. Fails on a reserved opcode, and on a 64-bit length with the most
    /// significant bit set (section 5.2 requires it to be zero). Non-minimal length encodings are
    /// accepted, as the RFC does not forbid them.
    pub fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        let [b0, b1, ..] = *buf else { return Ok(None) };
        let opcode = OpCode::from_u8(b0 & 0x0F)?;
        let masked = b1 & 0x80 != 0;
        let (payload_len, mut len) = match b1 & 0x7F {
            126 => match buf.get(2..4) {
                Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match buf.get(2..10) {
                Some(b) => {
                    let n = u64::from_be_bytes(b.try_into().expect("slice of 8"));
                    if n >> 63 != 0 {
                        return Err(ProtocolError::InvalidLength);
                    }
                    (n, 10)
                }
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        let mask = if masked {
            match buf.get(len..len + 4) {
                Some(k) => {
                    len += 4;
                    Some([k[0], k[1], k[2], k[3]])
                }
                None => return Ok(None),
            }
        } else {
            None
        };
        let header = FrameHeader {
            fin: b0 & 0x80 != 0,
            rsv1: b0 & 0x40 != 0,
            rsv2: b0 & 0x20 != 0,
            rsv3: b0 & 0x10 != 0,
            opcode,
            mask,
            payload_len,
        };
        Ok(Some((header, len)))
    }

    /// The number of bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        let len_bytes = match self.payload_len {
            0..=125 => 0,
            126..=0xFFFF => 2,
            _ => 8,
        };
        2 + len_bytes + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Encodes the header with the shortest length form into `out`, returning the bytes used.
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        let ([first, second], len) = self.encode_words();
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&first.to_le_bytes());
        bytes[8..].copy_from_slice(&second.to_le_bytes());
        out.copy_from_slice(&bytes[..MAX_HEADER_LEN]);
        len
    }

    /// The header with the shortest length form as two little-endian words (the header's
    /// first byte is the first word's lowest; zeros after its last), and its length in bytes.
    ///
    /// Why words: built in registers, the header is stored into the output as two words. The
    /// same bytes stored one or two at a time into an array and copied out by `memcpy` were
    /// loaded back wider than they were stored, which the core cannot forward from its store
    /// buffer: the load waited until every earlier store, the 1 KiB payload just unmasked
    /// among them, reached the cache (`perf annotate` of the 1 KiB TCP echo server: over half
    /// of `memmove`'s samples on that load).
    #[inline]
    pub(crate) fn encode_words(&self) -> ([u64; 2], usize) {
        let first = (u128::from(self.fin) << 7)
            | (u128::from(self.rsv1) << 6)
            | (u128::from(self.rsv2) << 5)
            | (u128::from(self.rsv3) << 4)
            | u128::from(self.opcode.as_u8());
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        // The extended length is big-endian on the wire: byte-swapped, its little-endian
        // word puts the most significant byte first.
        let (mut head, mut len) = match self.payload_len {
            n @ 0..=125 => (first | u128::from(mask_bit | n as u8) << 8, 2),
            n @ 126..=0xFFFF => (
                first | u128::from(mask_bit | 126) << 8 | u128::from((n as u16).to_be()) << 16,
                4,
            ),
            n => (
                first | u128::from(mask_bit | 127) << 8 | u128::from(n.to_be()) << 16,
                10,
            ),
        };
        if let Some(key) = self.mask {
            head |= u128::from(u32::from_le_bytes(key)) << (8 * len);
            len += 4;
        }
        ([head as u64, (head >> 64) as u64], len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(h: &FrameHeader) -> Vec<u8> {
        let mut out = [0; MAX_HEADER_LEN];
        let n = h.encode(&mut out);
        assert_eq!(n, h.encoded_len());
        // `encode` is `encode_words` laid out as bytes: the output's words hold the header
        // and nothing after it.
        assert!(
            out[n..].iter().all(|&b| b == 0),
            "nothing after the header of {h:?}"
        );
        out[..n].to_vec()
    }

    // RFC 6455 section 5.7: header bytes of the example frames.
    #[test]
    fn rfc_examples_headers() {
        let hello = FrameHeader::new(true, OpCode::Text, 5);
        assert_eq!(encoded(&hello), [0x81, 0x05]);
        let masked = FrameHeader {
            mask: Some([0x37, 0xfa, 0x21, 0x3d]),
            ..hello
        };
        assert_eq!(encoded(&masked), [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(
            encoded(&FrameHeader::new(false, OpCode::Text, 3)),
            [0x01, 0x03]
        );
        assert_eq!(
            encoded(&FrameHeader::new(true, OpCode::Continuation, 2)),
            [0x80, 0x02]
        );
        assert_eq!(
            encoded(&FrameHeader::new(true, OpCode::Ping, 5)),
            [0x89, 0x05]
        );
        let pong = FrameHeader {
            mask: Some([0x37, 0xfa, 0x21, 0x3d]),
            ..FrameHeader::new(true, OpCode::Pong, 5)
        };
        assert_eq!(encoded(&pong), [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(
            encoded(&FrameHeader::new(true, OpCode::Binary, 256)),
            [0x82, 0x7E, 0x01, 0x00]
        );
        assert_eq!(
            encoded(&FrameHeader::new(true, OpCode::Binary, 65536)),
            [0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]
        );
    }

    #[test]
    fn parse_round_trips_every_length_form() {
        for len in [0u64, 1, 125, 126, 127, 0xFFFF, 0x10000, (1 << 63) - 1] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let h = FrameHeader {
                    mask,
                    rsv1: true,
                    ..FrameHeader::new(false, OpCode::Binary, len)
                };
                let bytes = encoded(&h);
                assert_eq!(FrameHeader::parse(&bytes).unwrap(), Some((h, bytes.len())));
                // Every strict prefix is incomplete, never an error.
                for cut in 0..bytes.len() {
                    assert_eq!(
                        FrameHeader::parse(&bytes[..cut]).unwrap(),
                        None,
                        "len {len} cut {cut}"
                    );
                }
            }
        }
    }

    #[test]
    fn rejects_reserved_opcodes_and_high_bit_length() {
        for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_eq!(
                FrameHeader::parse(&[0x80 | op, 0]),
                Err(ProtocolError::ReservedOpcode(op))
            );
        }
        let bytes = [0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(
            FrameHeader::parse(&bytes),
            Err(ProtocolError::InvalidLength)
        );
    }

    #[test]
    fn accepts_non_minimal_length_encoding() {
        let (h, n) = FrameHeader::parse(&[0x82, 0x7E, 0x00, 0x05])
            .unwrap()
            .unwrap();
        assert_eq!((h.payload_len, n), (5, 4));
    }
}
