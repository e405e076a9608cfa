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

    def opened(self, path, settings):
        """The id the server gave the connection made to `path`, after checking the rest of its
        `open <id> <path> <settings>` line. Every check connects to a path of its own, so that
        a check that never connected cannot shift what the next one reads."""
        line = self.wait(lambda got: got.startswith("open ") and got.split(" ")[2:3] == [path],
                         f"a connection to {path}")
        _, n, _, got = line.split(" ", 3)
        if got != settings:
            raise Mismatch(f"{self.name}: connection to {path} opened with {got}, expected {settings}")
        return n

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

    The profile and features are those of `cargo test --workspace --all-features --exclude
    wsio-bench` (what .ci/run runs first), so that after it nothing here needs compiling: cargo
    test already built these binaries and examples with the same settings, and the benchmark's
    peer libraries stay out of the feature resolution.
    """
    print("building interop-server, interop-client and the chat example ...", flush=True)
    cmd = ["cargo", "build", "--workspace", "--all-features", "--exclude", "wsio-bench", "--profile", "test",
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

        # 1. Python client -> our servers.
        def python_client(server, path, flags, settings, closed):
            def body():
                run([PYTHON, "peer_client.py", "--url", server.first + path, *flags])
                n = server.opened("/" + path, settings)
                server.expect(f"pong {n} ok")
                server.wait(lambda line: line.startswith(f"closed {n} {closed}"), f"closed {n} {closed}")
            return body

        for rt in RUNTIMES:
            server = ours[rt]
            suite.check(f"python client → {rt} server: deflate, subprotocol, echoes, pings, close 4001",
                        python_client(server, "python-deflate",
                                      ["--compression", "on", "--protocol", "chat"],
                                      "protocol=chat compressed=yes", "4001 python says bye ✓"),
                        server)
            suite.check(f"python client → {rt} server: deflate with 9-bit windows negotiated, echoes",
                        python_client(server, "python-window-9",
                                      ["--compression", "on", "--window-bits", "9"],
                                      "protocol=- compressed=yes", "4001 python says bye ✓"),
                        server)
            # The server's log shows the close Python sent back: the same code.
            suite.check(f"python client → {rt} server: no deflate, echoes, pings, server closes 4002",
                        python_client(server, "python-plain",
                                      ["--compression", "off", "--peer-closes"],
                                      "protocol=- compressed=no", "4002"),
                        server)

        # 2. Our clients -> Python servers.
        py_on = Peer("python server (deflate on)", [PYTHON, "peer_server.py", "--compression", "on"])
        py_off = Peer("python server (deflate off)", [PYTHON, "peer_server.py", "--compression", "off"])

        def ours_against(server, path, flags, settings, closed, window=None):
            def body():
                run([client_bin, "--url", server.first + path, "--expect-ping", *flags])
                n = server.opened("/" + path, settings)
                if window:
                    server.wait(lambda line: line.startswith(f"extensions {n} ") and window in line,
                                f"{window} in the server's answer")
                server.expect(f"pong {n} ok")
                server.wait(lambda line: line.startswith(f"closed {n} {closed}"), f"closed {n} {closed}")
            return body

        for rt in RUNTIMES:
            # websockets' server asks every client for a 12-bit window.
            suite.check(f"{rt} client → python server: deflate with a 12-bit client window, "
                        "subprotocol, echoes, pings, close 4000",
                        ours_against(py_on, f"{rt}-deflate",
                                     ["--runtime", rt, "--compress", "--protocol", "chat"],
                                     "protocol=chat compressed=yes", "4000 wsio says bye ✓",
                                     window="client_max_window_bits=12"),
                        py_on)
            suite.check(f"{rt} client → python server: no deflate, echoes, pings, server closes 4002",
                        ours_against(py_on, f"{rt}-plain", ["--runtime", rt, "--peer-closes"],
                                     "protocol=- compressed=no", "4002"),
                        py_on)
            suite.check(f"{rt} client → python server without deflate: offer declined, echoes",
                        ours_against(py_off, f"{rt}-declined",
                                     ["--runtime", rt, "--compress", "--expect-compressed", "no"],
                                     "protocol=- compressed=no", "4000 wsio says bye ✓"),
                        py_off)

        # 3. Chromium -> our servers, and the chat example.
        chat = Peer("chat example", [chat_bin, "127.0.0.1:0"], cwd=ROOT)
        chat_url = chat.first.removeprefix("chat on ").strip()
        argv = ["node", str(HERE / "browser.mjs"), "--out", str(HERE / "out"), "--chat", chat_url]
        for rt in RUNTIMES:
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

        # What our servers saw of the browser's connections (paths set in browser.mjs).
        for rt in RUNTIMES:
            def seen(server=ours[rt]):
                n = server.opened("/chromium-echo", "protocol=chat compressed=yes")
                server.expect(f"pong {n} ok")
                server.expect(f"closed {n} 4001 bye from chromium ✓")
                n = server.opened("/chromium-server-closes", "protocol=- compressed=yes")
                server.expect(f"closed {n} 4003 wsio says bye ✓")

            suite.check(f"{rt} server saw chromium's deflate, subprotocol, pong and both closes",
                        seen, ours[rt])
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
