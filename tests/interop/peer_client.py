"""Python `websockets` as a client against a wsio echo server (tests/src/bin/interop-server.rs).

    peer_client.py --url ws://... [--compression on|off] [--window-bits N] [--protocol chat]
                   [--peer-closes]

Checks, printing one line each and exiting 1 at the first mismatch: the subprotocol and
compression negotiated (with --window-bits, server_max_window_bits=N and
client_max_window_bits=N are asked for and the server's answer must grant the first; zlib's
inflater accepts matches beyond the window it was given, so whether the server's compressor
kept to it is left to wsio-core's own tests); text and binary echoes of every size in payloads.SIZES, byte for byte,
the larger ones also sent in fragments (text cut inside code points);
a ping from our side answered with its pong; then either our close (4001 and a reason) answered
with the same code, or (--peer-closes) the server's own close, 4002 and a reason, asked for
with the text `close 4002 <reason>`.
"""

import argparse
import asyncio
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from payloads import FRAGMENT_FROM, MAX_SIZE, SIZES, binary_payload, fragments, text_payload

TIMEOUT = 10


class Mismatch(Exception):
    pass


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise Mismatch(what)


async def run(args: argparse.Namespace) -> None:
    compress = args.compression == "on"
    extensions = None
    if args.window_bits:
        extensions = [ClientPerMessageDeflateFactory(server_max_window_bits=args.window_bits,
                                                     client_max_window_bits=args.window_bits)]
    async with connect(
        args.url,
        compression="deflate" if compress else None,
        extensions=extensions,
        subprotocols=[args.protocol] if args.protocol else None,
        max_size=MAX_SIZE,
        # Nothing between us and 127.0.0.1, whatever the environment says; and no pings of
        # websockets' own, so that the one below is the only one.
        proxy=None,
        ping_interval=None,
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
    ) as ws:
        expect(ws.subprotocol == args.protocol,
               f"subprotocol: offered {args.protocol!r}, got {ws.subprotocol!r}")
        print(f"ok subprotocol {ws.subprotocol!r}")
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
        negotiated = bool(ws.protocol.extensions)
        expect(negotiated == compress,
               f"compression: wanted {compress}, server answered {extensions!r}")
        if args.window_bits:
            bits = f"server_max_window_bits={args.window_bits}"
            expect(bits in (extensions or ""), f"window: asked for {bits}, server answered {extensions!r}")
        print(f"ok compression {negotiated} ({extensions})")

        for size in SIZES:
            for payload in (text_payload(size), binary_payload(size)):
                kind = type(payload).__name__
                ways = [("whole", payload)]
                if size >= FRAGMENT_FROM:
                    ways.append(("fragmented", fragments(payload)))
                for how, sent in ways:
                    await ws.send(sent, text=isinstance(payload, str))
                    echo = await asyncio.wait_for(ws.recv(), TIMEOUT)
                    expect(type(echo) is type(payload),
                           f"echo of {how} {kind} {size}: got {type(echo).__name__}")
                    expect(echo == payload, f"echo of {how} {kind} {size}: {len(echo)} different bytes")
            print(f"ok echo text+binary {size}" + (" whole and fragmented" if size >= FRAGMENT_FROM else ""))

        pong = await ws.ping(b"py-ping")
        latency = await asyncio.wait_for(pong, TIMEOUT)
        print(f"ok pong after {latency * 1000:.1f} ms")

        if args.peer_closes:
            reason = "wsio server says bye ✓"
            await ws.send(f"close 4002 {reason}")
            try:
                got = await asyncio.wait_for(ws.recv(), TIMEOUT)
                raise Mismatch(f"expected the server's close, got a {type(got).__name__}")
            except ConnectionClosed:
                pass
            rcvd = ws.protocol.close_rcvd
            expect(rcvd is not None and rcvd.code == 4002 and rcvd.reason == reason,
                   f"server's close: expected 4002 {reason!r}, got {rcvd}")
            print(f"ok server closed {rcvd.code} {rcvd.reason!r}")
        else:
            await ws.close(4001, "python says bye ✓")
            rcvd = ws.protocol.close_rcvd
            expect(rcvd is not None and rcvd.code == 4001,
                   f"close reply: expected 4001, got {rcvd}")
            print(f"ok closed 4001, server echoed {rcvd.reason!r}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--compression", choices=["on", "off"], default="on")
    parser.add_argument("--window-bits", type=int)
    parser.add_argument("--protocol")
    parser.add_argument("--peer-closes", action="store_true")
    args = parser.parse_args()
    try:
        asyncio.run(run(args))
    except Exception as e:  # any failure is a failed check; say what it was
        print(f"FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
