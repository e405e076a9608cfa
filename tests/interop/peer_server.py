"""Python `websockets` as an echo server for wsio clients (tests/src/bin/interop-client.rs).

    peer_server.py [--compression on|off]

Serves on 127.0.0.1, port 0, until killed. Supports the subprotocol `chat` (without requiring
it), pings every client as soon as it connects, echoes every message (those of 64 KiB and more
in 16 KiB fragments, text cut inside code points, so that clients reassemble a real peer's
continuation frames), and closes itself, with that code and reason, on a text message
`close <code> <reason>`. Stdout, one line per event:

    ws://127.0.0.1:PORT/                          first line
    open <id> <path> protocol=<name|-> compressed=<yes|no>
    extensions <id> <the Sec-WebSocket-Extensions answer, or ->
    pong <id> ok | pong <id> missing              whether the client answered our ping
    closed <id> <code> <reason> | closed <id> none   the close frame the client sent
"""

import argparse
import asyncio
import itertools

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from payloads import FRAGMENT_FROM, MAX_SIZE, fragments

TIMEOUT = 10
ids = itertools.count(1)


def say(line: str) -> None:
    print(line, flush=True)


def select_subprotocol(connection, offered):
    # websockets refuses a client that offers none when the server has a list; a plain
    # client is welcome here too.
    return "chat" if "chat" in offered else None


async def handler(ws) -> None:
    n = next(ids)
    say(f"open {n} {ws.request.path} protocol={ws.subprotocol or '-'} compressed={'yes' if ws.protocol.extensions else 'no'}")
    say(f"extensions {n} {ws.response.headers.get('Sec-WebSocket-Extensions') or '-'}")

    async def watch_pong(waiter):
        try:
            await asyncio.wait_for(waiter, TIMEOUT)
            say(f"pong {n} ok")
        except (asyncio.TimeoutError, ConnectionClosed):
            say(f"pong {n} missing")

    watcher = asyncio.create_task(watch_pong(await ws.ping(b"py-ping")))
    try:
        async for message in ws:
            if isinstance(message, str) and message.startswith("close "):
                code, _, reason = message[len("close "):].partition(" ")
                await ws.close(int(code), reason)
                break
            size = len(message.encode()) if isinstance(message, str) else len(message)
            if size >= FRAGMENT_FROM:
                await ws.send(fragments(message), text=isinstance(message, str))
            else:
                await ws.send(message)
    except ConnectionClosed:
        pass
    await watcher
    rcvd = ws.protocol.close_rcvd
    say(f"closed {n} {rcvd.code} {rcvd.reason}" if rcvd else f"closed {n} none")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--compression", choices=["on", "off"], default="on")
    args = parser.parse_args()
    async with serve(
        handler,
        "127.0.0.1",
        0,
        compression="deflate" if args.compression == "on" else None,
        subprotocols=["chat"],
        select_subprotocol=select_subprotocol,
        max_size=MAX_SIZE,
        ping_interval=None,
        close_timeout=TIMEOUT,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        say(f"ws://127.0.0.1:{port}/")
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
