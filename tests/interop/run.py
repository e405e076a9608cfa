"""The interop suite: real peers written by others against wsio. Run by run.sh after setup.sh.

Builds our peers once (tests/src/bin/interop-server.rs, interop-client.rs and the tokio chat
example), then:

1. Python `websockets` as a client against our echo server on std, tokio and smol: compression
   and subprotocol on, then compression off with the close coming from our side; large
   messages whole and fragmented; pings both ways.
2. Our client on std, tokio and smol against Python `websockets` servers (compression on and
   off): subprotocol, compression offered and accepted or declined, fragmented echoes, pings
   both ways, closes from either side.
3. Headless Chromium (browser.mjs) against our echo servers on all three runtimes (the issue
   asks for tokio and smol; std costs a second more), and two pages of the chat example
   talking to each other, with screenshots.

Each check is one line, `PASS <name>` or `FAIL <name>: <why>` (with the output of the peers
involved), and the last line is `N passed, N failed`. A check passes only if both sides agree:
a peer's own view (its exit status) and what the other side printed about the same connection.
"""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PYTHON = sys.executable
RUNTIMES = ["std", "tokio", "smol"]
# How long a peer may take for one check (a run of 1 MiB echoes both ways is well under a
# second here), and how long a server may take to print a line.
RUN_TIMEOUT = 120
LINE_TIMEOUT = 15
# browser.mjs as a whole: it takes a few seconds here.
BROWSER_TIMEOUT = 180


class Mismatch(Exception):
    pass


class Peer:
    """A long-running process (a server) whose stdout lines are collected as they come.
    Every peer started is in `Peer.started`, to be stopped at the end whatever happened."""

    started = []

    def __init__(self, name, argv, cwd=HERE):
        self.name = name
        self.lines = []
        self.changed = threading.Condition()
        self.proc = subprocess.Popen(
            argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, encoding="utf-8", errors="replace",
            stdin=subprocess.DEVNULL,
        )
        Peer.started.append(self)
        threading.Thread(target=self._read, daemon=True).start()
        self.first = self.wait(lambda line: True, f"{name}: its first line")

    def _read(self):
        for line in self.proc.stdout:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def wait(self, match, what, timeout=LINE_TIMEOUT):
        """The first line that `match`es, waiting up to `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for line in self.lines:
                    if match(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise Mismatch(f"{what}: not printed by {self.name}")
                self.changed.wait(left)

    def expect(self, line):
        """Waits for exactly `line`."""
        return self.wait(lambda got: got == line, repr(line))

    def log(self):
        with self.changed:
            return "\n".join(self.lines)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Suite:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def count(self, ok):
        """Counts a check that ran elsewhere (in browser.mjs) and printed its own line."""
        if ok:
            self.passed += 1
        else:
            self.failed += 1

    def check(self, name, body, *peers):
        """Runs one check; `peers` are the servers whose output helps explain a failure."""
        started = time.monotonic()
        try:
            body()
        except Mismatch as e:
            self.failed += 1
            print(f"FAIL {name}: {e}")
            for peer in peers:
                print(indent(f"--- {peer.name} said:\n{peer.log()}"))
        else:
            self.passed += 1
            print(f"PASS {name} ({time.monotonic() - started:.1f}s)")
        sys.stdout.flush()


def indent(text):
    return "\n".join("    " + line for line in text.splitlines())


def run(argv, cwd=HERE):
    """Runs a peer to completion; a non-zero exit is a mismatch carrying its output."""
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, encoding="utf-8", errors="replace", timeout=RUN_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise Mismatch(f"{Path(argv[0]).name} did not finish in {RUN_TIMEOUT}s") from e
    if done.returncode != 0:
        raise Mismatch(f"{Path(argv[0]).name} exited {done.returncode}\n"
                       + indent(done.stdout + done.stderr))
    return done.stdout


def build():
    """Builds our peers, returning their paths.

    The profile and features are those of `cargo test --workspace --all-features` (what
    .ci/run runs first), so that after it nothing here needs compiling: cargo test already
    built these binaries and examples with the same settings.
    """
    print("building interop-server, interop-client and the chat example ...", flush=True)
    cmd = ["cargo", "build", "--workspace", "--all-features", "--profile", "test",
           "--bin", "interop-server", "--bin", "interop-client", "--example", "chat",
           "--message-format", "json-render-diagnostics"]
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, encoding="utf-8", errors="replace")
    if done.returncode != 0:
        sys.exit(f"cargo build failed ({done.returncode})")
    paths = {}
    for line in done.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable"):
            paths[msg["target"]["name"]] = msg["executable"]
    print(f"built in {time.monotonic() - started:.0f}s", flush=True)
    return paths["interop-server"], paths["interop-client"], paths["chat"]


def main():
    wall = time.monotonic()
    server_bin, client_bin, chat_bin = build()
    suite = Suite()
    try:
        ours = {rt: Peer(f"wsio {rt} server", [server_bin, "--runtime", rt]) for rt in RUNTIMES}
        # Each of our servers numbers its connections from 1; the checks run one at a time.
        next_id = {rt: 1 for rt in RUNTIMES}

        def conn_id(rt):
            n = next_id[rt]
            next_id[rt] += 1
            return n

        # 1. Python client -> our servers.
        for rt in RUNTIMES:
            server, url = ours[rt], ours[rt].first

            def compressed(server=server, url=url, rt=rt):
                n = conn_id(rt)
                run([PYTHON, "peer_client.py", "--url", url, "--compression", "on",
                     "--protocol", "chat"])
                server.expect(f"open {n} protocol=chat compressed=yes")
                server.expect(f"pong {n} ok")
                server.expect(f"closed {n} 4001 python says bye ✓")

            def plain(server=server, url=url, rt=rt):
                n = conn_id(rt)
                run([PYTHON, "peer_client.py", "--url", url, "--compression", "off",
                     "--peer-closes"])
                server.expect(f"open {n} protocol=- compressed=no")
                server.expect(f"pong {n} ok")
                # What the server printed is the close Python sent back: the same code.
                server.wait(lambda line: line.startswith(f"closed {n} 4002"), "Python's close reply")

            def small_window(server=server, url=url, rt=rt):
                n = conn_id(rt)
                run([PYTHON, "peer_client.py", "--url", url, "--compression", "on",
                     "--window-bits", "9"])
                server.expect(f"open {n} protocol=- compressed=yes")
                server.expect(f"closed {n} 4001 python says bye ✓")

            suite.check(f"python client → {rt} server: deflate, subprotocol, echoes, pings, close 4001",
                        compressed, server)
            suite.check(f"python client → {rt} server: deflate with 9-bit windows negotiated, echoes",
                        small_window, server)
            suite.check(f"python client → {rt} server: no deflate, echoes, pings, server closes 4002",
                        plain, server)

        # 2. Our clients -> Python servers.
        py_on = Peer("python server (deflate on)", [PYTHON, "peer_server.py", "--compression", "on"])
        py_off = Peer("python server (deflate off)", [PYTHON, "peer_server.py", "--compression", "off"])
        py_id = {py_on: 1, py_off: 1}

        def ours_against(rt, server, flags, opened, closed, window=None):
            def body():
                n = py_id[server]
                py_id[server] += 1
                run([client_bin, "--runtime", rt, "--url", server.first, "--expect-ping", *flags])
                server.expect(f"open {n} {opened}")
                if window:
                    server.wait(lambda line: line.startswith(f"extensions {n} ") and window in line,
                                f"{window} in the server's answer")
                server.expect(f"pong {n} ok")
                server.wait(lambda line: line.startswith(f"closed {n} {closed}"), f"closed {n} {closed}")
            return body

        for rt in RUNTIMES:
            # websockets' server asks every client for a 12-bit window.
            suite.check(f"{rt} client → python server: deflate with a 12-bit client window, subprotocol, "
                        "echoes, pings, close 4000",
                        ours_against(rt, py_on, ["--compress", "--protocol", "chat"],
                                     "protocol=chat compressed=yes", "4000 wsio says bye ✓",
                                     window="client_max_window_bits=12"), py_on)
            suite.check(f"{rt} client → python server: no deflate, echoes, pings, server closes 4002",
                        ours_against(rt, py_on, ["--peer-closes"],
                                     "protocol=- compressed=no", "4002"), py_on)
            suite.check(f"{rt} client → python server without deflate: offer declined, echoes",
                        ours_against(rt, py_off, ["--compress", "--expect-compressed", "no"],
                                     "protocol=- compressed=no", "4000 wsio says bye ✓"), py_off)

        # 3. Chromium -> our servers, and the chat example.
        chat = Peer("chat example", [chat_bin, "127.0.0.1:0"], cwd=ROOT)
        chat_url = chat.first.removeprefix("chat on ").strip()
        browser_ids = {rt: (conn_id(rt), conn_id(rt)) for rt in RUNTIMES}
        argv = ["node", str(HERE / "browser.mjs"), "--out", str(HERE / "out"), "--chat", chat_url]
        for rt in browser_ids:
            argv += ["--echo", f"{rt}={ours[rt].first}"]
        browser = subprocess.Popen(argv, cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   encoding="utf-8", errors="replace", stdin=subprocess.DEVNULL)
        # A browser that hangs must not hang the suite.
        watchdog = threading.Timer(BROWSER_TIMEOUT, browser.kill)
        watchdog.start()
        other, browser_failed = [], False
        for line in browser.stdout:
            line = line.rstrip("\n")
            if line.startswith(("PASS ", "FAIL ")):
                browser_failed |= line.startswith("FAIL ")
                suite.count(not line.startswith("FAIL "))
                print(line, flush=True)
            elif line.startswith("screenshot: "):
                print(line, flush=True)
            else:
                other.append(line)
        status = browser.wait()
        watchdog.cancel()
        if status != 0 and not browser_failed:
            suite.count(False)
            print(f"FAIL chromium: browser.mjs exited {status}\n" + indent("\n".join(other)))

        # What our servers saw of the browser's connections.
        for rt, (first, second) in browser_ids.items():
            server = ours[rt]

            def seen(server=server, first=first, second=second):
                server.expect(f"open {first} protocol=chat compressed=yes")
                server.expect(f"pong {first} ok")
                server.expect(f"closed {first} 4001 bye from chromium ✓")
                server.expect(f"open {second} protocol=- compressed=yes")
                server.expect(f"closed {second} 4003 wsio says bye ✓")

            suite.check(f"{rt} server saw chromium's deflate, subprotocol, pong and both closes",
                        seen, server)
    except Mismatch as e:
        # A peer that did not start: nothing after it can run.
        suite.count(False)
        print(f"FAIL starting a peer: {e}\n" + "\n".join(indent(p.log()) for p in Peer.started))
    finally:
        for peer in Peer.started:
            peer.stop()

    print(f"interop wall time {time.monotonic() - wall:.0f}s")
    print(f"{suite.passed} passed, {suite.failed} failed")
    return 1 if suite.failed else 0


if __name__ == "__main__":
    sys.exit(main())
