"""Payloads shared by the Python peers: the sizes every interop check exchanges, and
deterministic text and binary data of an exact byte length (the same recipe as
tests/src/bin/interop-client.rs and browser.mjs)."""

# Both edges of the 7-bit and 16-bit length forms, the first 64-bit one, and 1 MiB.
SIZES = [0, 125, 126, 65535, 65536, 1 << 20]

# Large enough for 1 MiB messages with room to spare (websockets' default is exactly 1 MiB).
MAX_SIZE = 16 << 20


def text_payload(length: int) -> str:
    """Valid UTF-8 of exactly `length` bytes, mixing 1- to 4-byte characters so that code
    points straddle frame and inflate-buffer boundaries; ASCII pads the end."""
    chars = ["a", "é", "€", "😀", "z", " "]
    parts, used, i = [], 0, 0
    while True:
        c = chars[i % len(chars)]
        n = len(c.encode())
        if used + n > length:
            break
        parts.append(c)
        used += n
        i += 1
    parts.append("." * (length - used))
    return "".join(parts)


def binary_payload(length: int) -> bytes:
    """A noisy first half (xorshift32, which deflate cannot shrink), then the start of that
    noise repeated every 6000 bytes (which it can, but only with matches further back than a
    9- to 12-bit window reaches: with such a window negotiated, the compressor has to give
    them up and send the bytes as they are)."""
    out = bytearray(length)
    state = 0x2545F491
    half = length // 2
    for i in range(half):
        state ^= (state << 13) & 0xFFFFFFFF
        state ^= state >> 17
        state ^= (state << 5) & 0xFFFFFFFF
        out[i] = state & 0xFF
    period = min(half, 6000)
    for i in range(half, length):
        out[i] = out[i % period] if period else 0
    return bytes(out)


# Messages of this many bytes or more are also sent in fragments of FRAGMENT bytes.
FRAGMENT_FROM = 65536
FRAGMENT = 16 << 10


def fragments(message):
    """`message` cut into FRAGMENT-byte pieces for websockets' `send(pieces, text=...)`.

    Text is cut as UTF-8 bytes, wherever the cut falls: a code point split across two frames
    is valid (only the whole message must be UTF-8), and a receiver has to cope with it."""
    data = message.encode() if isinstance(message, str) else message
    return [data[i:i + FRAGMENT] for i in range(0, len(data), FRAGMENT)]
