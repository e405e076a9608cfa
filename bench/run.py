#!/usr/bin/env python3
"""Network benchmarks of wsio against its peers: echo throughput per server CPU-second and
server memory per idle connection. Python 3 standard library only.

    python3 bench/run.py            # full run: 5 rounds of 10 s per server and load, 10,000 idle conns
    python3 bench/run.py --quick    # smoke test: 1 round of 2 s, 1,000 idle conns
    python3 bench/run.py --skip-memory --rounds 10 --seconds 3 --warmup 1 \
        --servers "wsio,fastwebsockets batched,tokio-websockets batched,raw" \
        --results bench/results/paired   # the echo bars alone, in tight rounds (BENCHMARKS.md)

Builds once (`cargo build --release -p wsio-bench --features peers --bins`), then:

(a) echo: for each load (default 64 connections x 16 B and x 1 KiB, a window of 16 messages in
    flight per connection), for each round, every server in turn (the order rotated each round,
    so that no server always runs first or after the same neighbour): the server is started
    alone on core 0 (`taskset -c 0`), `loadgen` on core 1 measures messages/s and the server's
    CPU seconds (/proc/PID/stat) after a warm-up, the server is killed. Medians over rounds;
    ratios of wsio's messages per server CPU-second against every other server, and the targets
    (>= 1.2x the best hand-batched peer, >= 0.8x the raw byte-copy server).
(b) memory: for each server (readme style), a fresh server, `idle-conns` opens N connections
    (each upgraded and one message echoed), waits for the server to settle and reports
    (RSS after - RSS before) / N. wsio is measured without and with permessage-deflate.
(c) writes bench/results/{echo,memory}.json, bench/results/summary.md (the markdown tables
    printed at the end) and the charts bench/results/echo.svg and bench/results/memory.svg.

The file-descriptor limit is raised for the servers and clients (RLIMIT_NOFILE, as
`ulimit -n`). Run it on an otherwise idle machine with at least two cores: the server and the
load generator each get one core, and anything else running skews the numbers.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import select
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PEERS = ["tokio-tungstenite", "tokio-websockets", "fastwebsockets"]

# Targets of the issue (tokio, one thread, 64 connections x 16 B and x 1 KiB).
TARGET_VS_BATCHED = 1.2
TARGET_VS_RAW = 0.8
TARGET_IDLE = {"wsio": 2048, "wsio + deflate": 4096}


class Server:
    """A benchmarked server: its name, its kind (wsio, peer, batched, raw) and its command
    line without --port."""

    def __init__(self, name, kind, argv):
        self.name = name
        self.kind = kind
        self.argv = argv


def echo_servers(args):
    servers = [Server("wsio", "wsio", ["echo-server", "--runtime", "tokio", "--threads", "1"])]
    if args.runtimes:
        servers.append(Server("wsio std", "wsio", ["echo-server", "--runtime", "std"]))
        servers.append(
            Server("wsio smol", "wsio", ["echo-server", "--runtime", "smol", "--threads", "1"])
        )
    for lib in PEERS:
        servers.append(
            Server(lib, "peer", ["peer-echo-server", "--lib", lib, "--style", "readme"])
        )
        servers.append(
            Server(
                f"{lib} batched",
                "batched",
                ["peer-echo-server", "--lib", lib, "--style", "batched"],
            )
        )
    servers.append(Server("raw", "raw", ["peer-echo-server", "--lib", "raw"]))
    return select_servers(servers, args)


def memory_servers(args):
    servers = [
        Server("wsio", "wsio", ["echo-server", "--runtime", "tokio", "--threads", "1"]),
        Server(
            "wsio + deflate",
            "wsio",
            ["echo-server", "--runtime", "tokio", "--threads", "1", "--deflate"],
        ),
    ]
    if args.runtimes:
        servers.append(Server("wsio std", "wsio", ["echo-server", "--runtime", "std"]))
        servers.append(
            Server("wsio smol", "wsio", ["echo-server", "--runtime", "smol", "--threads", "1"])
        )
    for lib in PEERS:
        servers.append(
            Server(lib, "peer", ["peer-echo-server", "--lib", lib, "--style", "readme"])
        )
    return select_servers(servers, args)


def select_servers(servers, args):
    if not args.servers:
        return servers
    wanted = [s.strip() for s in args.servers.split(",")]
    return [s for s in servers if s.name in wanted or s.name.split()[0] in wanted]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout.strip()


def target_dir():
    meta = json.loads(
        sh(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT)
    )
    return Path(meta["target_directory"]) / "release"


def build():
    log("building: cargo build --release -p wsio-bench --features peers --bins")
    subprocess.run(
        ["cargo", "build", "--release", "-p", "wsio-bench", "--features", "peers", "--bins"],
        cwd=ROOT,
        check=True,
    )


def raise_fd_limit(needed):
    """Raises RLIMIT_NOFILE (inherited by every process started here), as `ulimit -n`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(65536, needed)
    for limits in ((want, max(want, hard)), (hard, hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, limits)
            break
        except (ValueError, OSError):
            continue
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft


class Pinning:
    """`taskset -c N` prefixes, or none when taskset or a second core is missing."""

    def __init__(self, enabled):
        self.enabled = enabled and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
        if enabled and not self.enabled:
            log("warning: cannot pin (no taskset or fewer than 2 cores): running unpinned")

    def prefix(self, core):
        return ["taskset", "-c", str(core)] if self.enabled else []


class Ports:
    """A fresh port for every server start, so that no run meets the TIME_WAIT sockets or a
    lingering listener of the previous one."""

    def __init__(self, base):
        self.next = base

    def take(self):
        while True:
            port = self.next
            self.next = self.next + 1 if self.next < 60000 else 20000
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                    return port
                except OSError:
                    continue


class Running:
    """A server process started on core 0; waits for its `listening on` line."""

    def __init__(self, bindir, server, port, pinning):
        cmd = pinning.prefix(0) + [str(bindir / server.argv[0])] + server.argv[1:]
        cmd += ["--port", str(port)]
        self.cmd = cmd
        self.stderr = open(os.devnull, "w")
        # taskset execs the server: the pid is the server's.
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr)
        self.pid = self.proc.pid
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        line = self.proc.stdout.readline().decode() if ready else ""
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"server did not start: {' '.join(cmd)}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.stderr.close()


def parse_fields(line):
    fields = {}
    for item in line.split():
        key, _, value = item.partition("=")
        try:
            fields[key] = float(value)
        except ValueError:
            fields[key] = value
    return fields


def run_client(cmd, timeout):
    """Runs a client; returns its fields, or None (and logs why) if it failed."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        log(f"  timed out: {' '.join(cmd)}")
        return None
    lines = [l for l in out.stdout.splitlines() if "=" in l]
    if out.returncode != 0 or not lines:
        log(f"  failed ({out.returncode}): {' '.join(cmd)}")
        for l in out.stderr.strip().splitlines()[:5]:
            log(f"    {l}")
        return None
    return parse_fields(lines[-1])


def median(values):
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else float("nan")


def interleaved(servers, rounds, bindir, pinning, ports, client):
    """Runs `client(server, port, running, round)` against each server, started afresh on a
    port of its own, in every round, the servers' order rotated each round so that a drift in
    the machine's speed spreads over all of them. Returns each server's list of results
    (a client's `None`, a failure it logged, is left out)."""
    samples = {s.name: [] for s in servers}
    for rnd in range(rounds):
        order = servers[rnd % len(servers):] + servers[: rnd % len(servers)]
        for server in order:
            port = ports.take()
            try:
                running = Running(bindir, server, port, pinning)
            except RuntimeError as e:
                log(f"  {e}")
                continue
            try:
                fields = client(server, port, running, rnd)
            finally:
                running.stop()
            if fields is not None:
                fields["round"] = rnd
                samples[server.name].append(fields)
    return samples


def echo_bench(args, bindir, pinning, ports):
    servers = echo_servers(args)
    clk_tck = os.sysconf("SC_CLK_TCK")
    loads = []
    for spec in args.loads.split(","):
        conns, size = (int(x) for x in spec.lower().split("x"))
        loads.append((conns, size))
    results = []
    for conns, size in loads:
        def load(server, port, running, rnd):
            cmd = pinning.prefix(1) + [
                str(bindir / "loadgen"),
                "--port", str(port),
                "--conns", str(conns),
                "--size", str(size),
                "--window", str(args.window),
                "--seconds", str(args.seconds),
                "--warmup", str(args.warmup),
                "--pid", str(running.pid),
                "--clk-tck", str(clk_tck),
            ]
            fields = run_client(cmd, args.seconds + args.warmup + 60)
            if fields is not None:
                log(
                    f"[{conns}x{human(size)} round {rnd + 1}/{args.rounds}] {server.name:<26}"
                    f" {si(fields['msgs_per_s'])} msgs/s"
                    f"  {si(fields['msgs_per_cpu_s'])} msgs/server-CPU-s"
                    f"  server CPU {fields['server_cpu_util'] * 100:.0f}%"
                    f"  client CPU {fields['client_cpu_s'] / fields['secs'] * 100:.0f}%"
                )
            return fields

        samples = interleaved(servers, args.rounds, bindir, pinning, ports, load)
        rows = []
        for server in servers:
            s = samples[server.name]
            rows.append(
                {
                    "server": server.name,
                    "kind": server.kind,
                    "command": " ".join(server.argv),
                    "rounds": len(s),
                    "msgs_per_s": median([x["msgs_per_s"] for x in s]),
                    "msgs_per_cpu_s": median([x["msgs_per_cpu_s"] for x in s]),
                    "server_cpu_util": median([x["server_cpu_util"] for x in s]),
                    "client_cpu_util": median([x["client_cpu_s"] / x["secs"] for x in s]),
                    "samples": s,
                }
            )
        results.append(
            {
                "conns": conns,
                "size": size,
                "window": args.window,
                "seconds": args.seconds,
                "warmup": args.warmup,
                "rows": rows,
                "ratios": ratios(rows),
            }
        )
    return results


def paired(w, other):
    """wsio's figure over `other`'s within each round (the two ran minutes apart at most, so a
    drift of the machine's speed between rounds cancels): the median, lowest and highest of
    those ratios. Samples saved without a round number pair by position."""
    def by_round(row):
        return {x.get("round", i): x["msgs_per_cpu_s"] for i, x in enumerate(row["samples"])}
    a, b = by_round(w), by_round(other)
    values = sorted(a[k] / b[k] for k in a.keys() & b.keys() if b[k] > 0)
    if not values:
        return None
    return {"median": median(values), "min": values[0], "max": values[-1], "rounds": len(values)}


def ratios(rows):
    """wsio's messages per server CPU-second divided by every other server's (ratio of the
    medians), and the ratio within each round against the targets' references. The targets
    are judged on the paired ratio: this VM's speed drifts by a third between rounds, which
    the ratio of two medians taken from different rounds does not cancel."""
    out = []
    for w in (r for r in rows if r["kind"] == "wsio"):
        entry = {"wsio": w["server"], "vs": {}}
        for other in rows:
            if other is not w and other["msgs_per_cpu_s"] > 0:
                entry["vs"][other["server"]] = w["msgs_per_cpu_s"] / other["msgs_per_cpu_s"]
        batched = [r for r in rows if r["kind"] == "batched" and r["rounds"]]
        if batched:
            best = max(batched, key=lambda r: r["msgs_per_cpu_s"])
            entry["best_batched"] = best["server"]
            entry["vs_best_batched"] = entry["vs"].get(best["server"], float("nan"))
            entry["vs_best_batched_paired"] = paired(w, best)
        raw = [r for r in rows if r["kind"] == "raw" and r["rounds"]]
        if raw:
            entry["vs_raw"] = entry["vs"].get(raw[0]["server"], float("nan"))
            entry["vs_raw_paired"] = paired(w, raw[0])
        out.append(entry)
    return out


def memory_bench(args, bindir, pinning, ports):
    servers = memory_servers(args)
    limit = raise_fd_limit(args.idle_conns + 1024)
    conns = args.idle_conns
    if limit < conns + 256:
        log(f"warning: file-descriptor limit {limit}: idle connections reduced")
        conns = max(1, limit - 256)
    def idle(server, port, running, rnd):
        # Let the server finish starting (lazy allocations) before the first RSS reading.
        time.sleep(0.3)
        cmd = pinning.prefix(1) + [
            str(bindir / "idle-conns"),
            "--port", str(port),
            "--pid", str(running.pid),
            "--conns", str(conns),
            "--settle", str(args.settle),
        ]
        if "--deflate" in server.argv:
            cmd.append("--deflate")
        fields = run_client(cmd, 300)
        if fields is not None:
            log(
                f"[idle round {rnd + 1}/{args.mem_rounds}] {server.name:<16}"
                f" {fields['bytes_per_conn']:.0f} B per connection"
                f" (deflate negotiated on {fields['deflate']:.0f})"
            )
        return fields

    samples = interleaved(servers, args.mem_rounds, bindir, pinning, ports, idle)
    rows = []
    for server in servers:
        s = samples[server.name]
        rows.append(
            {
                "server": server.name,
                "command": " ".join(server.argv),
                "conns": conns,
                "rounds": len(s),
                "bytes_per_conn": median([x["bytes_per_conn"] for x in s]),
                "deflate_negotiated": median([x["deflate"] for x in s]),
                "rss_before": median([x["rss_before"] for x in s]),
                "rss_after": median([x["rss_after"] for x in s]),
                "target": TARGET_IDLE.get(server.name),
                "samples": s,
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------
# Formatting


def human(size):
    if size >= 1 << 20 and size % (1 << 20) == 0:
        return f"{size >> 20} MiB"
    if size >= 1 << 10 and size % (1 << 10) == 0:
        return f"{size >> 10} KiB"
    return f"{size} B"


def si(v):
    if v != v:
        return "n/a"
    for div, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(v) >= div:
            return f"{v / div:.2f}{suffix}"
    return f"{v:.0f}"


def ratio(v):
    return "n/a" if v != v else f"{v:.2f}x"


def verdict(value, target):
    if value != value:
        return "n/a"
    return "PASS" if value >= target else "FAIL"


def target_line(what, of_medians, pairs, target):
    """One target's line: judged on the per-round ratio when there is one."""
    if not pairs:
        return f"- {what}: {ratio(of_medians)} (target >= {target}x: {verdict(of_medians, target)})"
    return (
        f"- {what}: {pairs['median']:.3f}x within a round (median of {pairs['rounds']},"
        f" range {ratio(pairs['min'])}-{ratio(pairs['max'])}; ratio of the medians"
        f" {ratio(of_medians)}) (target >= {target}x: {verdict(pairs['median'], target)})"
    )


def echo_markdown(results):
    out = []
    for load in results:
        out.append(
            f"### Echo, {load['conns']} connections x {human(load['size'])}"
            f" (window {load['window']}, {load['seconds']:g} s per run,"
            f" median of {max(r['rounds'] for r in load['rows'])} rounds)\n"
        )
        main = next((r for r in load["ratios"] if r["wsio"] == "wsio"), None)
        out.append(
            "| server | msgs/s | msgs per server CPU-s | server CPU | client CPU | wsio ÷ server |"
        )
        out.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for row in load["rows"]:
            vs = main["vs"].get(row["server"], float("nan")) if main else float("nan")
            out.append(
                f"| {row['server']} | {si(row['msgs_per_s'])} | {si(row['msgs_per_cpu_s'])}"
                f" | {row['server_cpu_util'] * 100:.0f}% | {row['client_cpu_util'] * 100:.0f}%"
                f" | {'—' if row['server'] == 'wsio' else ratio(vs)} |"
            )
        out.append("")
        # The targets are set for wsio on tokio (one thread); std and smol are for reference.
        for r in (r for r in load["ratios"] if r["wsio"] == "wsio"):
            if "vs_best_batched" in r:
                out.append(
                    target_line(
                        f"{r['wsio']} vs best hand-batched peer ({r['best_batched']})",
                        r["vs_best_batched"], r.get("vs_best_batched_paired"), TARGET_VS_BATCHED,
                    )
                )
            if "vs_raw" in r:
                out.append(
                    target_line(
                        f"{r['wsio']} vs raw byte-copy server",
                        r["vs_raw"], r.get("vs_raw_paired"), TARGET_VS_RAW,
                    )
                )
        out.append("")
    return "\n".join(out)


def memory_markdown(rows):
    conns = rows[0]["conns"] if rows else 0
    out = [
        f"### Memory per idle connection ({conns} connections, RSS after - before, / {conns})\n",
        "| server | bytes per connection | RSS before | RSS after | deflate negotiated | target |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        target = r["target"]
        tgt = "—" if target is None else f"<= {human(target)}: " + (
            "n/a"
            if r["bytes_per_conn"] != r["bytes_per_conn"]
            else ("PASS" if r["bytes_per_conn"] <= target else "FAIL")
        )
        out.append(
            f"| {r['server']} | {r['bytes_per_conn']:.0f}"
            f" | {r['rss_before'] / 2**20:.1f} MiB | {r['rss_after'] / 2**20:.1f} MiB"
            f" | {r['deflate_negotiated']:.0f} | {tgt} |"
        )
    out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# SVG charts, drawn by hand (no plotting library needed)

COLORS = {
    "wsio": "#d9480f",
    "peer": "#74a9cf",
    "batched": "#2b8cbe",
    "raw": "#969696",
}
LABEL_W = 210
BAR_W = 420
VALUE_W = 90
ROW_H = 22
WIDTH = LABEL_W + BAR_W + VALUE_W + 20


def esc(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def panel(y, title, bars, fmt, marks=()):
    """A horizontal bar chart at height y: bars = [(label, value, color)]. Returns (svg, height)."""
    parts = [
        f'<text x="10" y="{y + 16}" font-size="14" font-weight="bold">{esc(title)}</text>'
    ]
    y0 = y + 28
    values = sorted((v for _, v, _ in bars if v == v and v > 0), reverse=True)
    top = max(values[:1] + [m for m, _ in marks] + [1])
    # One bar far above the rest would flatten them: cut it (drawn broken) at 1.5x the next.
    clip = len(values) >= 2 and values[0] > 3 * values[1]
    if clip:
        top = max([1.5 * values[1]] + [m for m, _ in marks])
    bottom = y0 + len(bars) * ROW_H
    for value, label in marks:
        x = LABEL_W + value / top * BAR_W
        parts.append(
            f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{bottom}" stroke="#333"'
            f' stroke-dasharray="4,3"/>'
        )
        parts.append(
            f'<text x="{x + 3:.1f}" y="{bottom + 12}" font-size="10" fill="#333">'
            f"{esc(label)}</text>"
        )
    for i, (label, value, color) in enumerate(bars):
        by = y0 + i * ROW_H
        parts.append(
            f'<text x="{LABEL_W - 8}" y="{by + 15}" font-size="12" text-anchor="end">'
            f"{esc(label)}</text>"
        )
        if value == value:
            w = max(1, min(value / top, 1) * BAR_W)
            parts.append(
                f'<rect x="{LABEL_W}" y="{by + 3}" width="{w:.1f}" height="{ROW_H - 6}"'
                f' fill="{color}"/>'
            )
            if value > top:
                # The break mark of a cut bar.
                bx = LABEL_W + BAR_W - 24
                parts.append(
                    f'<path d="M{bx} {by + ROW_H - 1} l6 {-(ROW_H - 2)} m0 {ROW_H - 2} l6 {-(ROW_H - 2)}"'
                    f' stroke="white" stroke-width="3"/>'
                )
            parts.append(
                f'<text x="{LABEL_W + w + 6:.1f}" y="{by + 15}" font-size="12">'
                f"{esc(fmt(value))}</text>"
            )
        else:
            parts.append(
                f'<text x="{LABEL_W + 6}" y="{by + 15}" font-size="12" fill="#888">no data</text>'
            )
    return "\n".join(parts), bottom - y + (22 if marks else 10)


def svg_document(panels, legend):
    body = []
    y = 10
    for title, bars, fmt, marks in panels:
        svg, h = panel(y, title, bars, fmt, marks)
        body.append(svg)
        y += h + 12
    x = 10
    for label, color in legend:
        body.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{color}"/>')
        body.append(f'<text x="{x + 16}" y="{y + 11}" font-size="12">{esc(label)}</text>')
        x += 16 + 7 * len(label) + 18
    height = y + 24
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}"'
        f' viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">\n'
        f'<rect width="100%" height="100%" fill="white"/>\n' + "\n".join(body) + "\n</svg>\n"
    )


def echo_svg(results):
    panels = []
    for load in results:
        name = f"{load['conns']} conns x {human(load['size'])}"
        bars = [(r["server"], r["msgs_per_cpu_s"], COLORS[r["kind"]]) for r in load["rows"]]
        panels.append((f"{name}: messages per server CPU-second", bars, si, ()))
        bars = [(r["server"], r["msgs_per_s"], COLORS[r["kind"]]) for r in load["rows"]]
        panels.append((f"{name}: messages per second", bars, si, ()))
    legend = [
        ("wsio", COLORS["wsio"]),
        ("peer, as documented", COLORS["peer"]),
        ("peer, hand-batched", COLORS["batched"]),
        ("raw byte copy", COLORS["raw"]),
    ]
    return svg_document(panels, legend)


def memory_svg(rows):
    conns = rows[0]["conns"] if rows else 0
    bars = [
        (r["server"], r["bytes_per_conn"], COLORS["wsio" if r["server"].startswith("wsio") else "peer"])
        for r in rows
    ]
    marks = [(2048, "2 KiB"), (4096, "4 KiB")]
    title = f"Server memory per idle connection, bytes ({conns} connections)"
    legend = [("wsio", COLORS["wsio"]), ("peer", COLORS["peer"])]
    return svg_document([(title, bars, lambda v: f"{v:,.0f} B", marks)], legend)


# ---------------------------------------------------------------------------------------------


def meta(args):
    def quiet(cmd):
        try:
            return sh(cmd, cwd=ROOT)
        except (subprocess.CalledProcessError, FileNotFoundError):
            return None

    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), None)
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": quiet(["git", "rev-parse", "HEAD"]),
        "dirty": bool(quiet(["git", "status", "--porcelain", "--untracked-files=no"])),
        "kernel": platform.release(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "rustc": quiet(["rustc", "--version"]),
        "args": vars(args),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5, help="echo rounds per server and load (5)")
    p.add_argument("--seconds", type=float, default=10, help="measured seconds per echo run (10)")
    p.add_argument("--warmup", type=float, default=2, help="warm-up seconds per echo run (2)")
    p.add_argument("--window", type=int, default=16, help="messages in flight per connection (16)")
    p.add_argument("--loads", default="64x16,64x1024", help="CONNSxSIZE,... (64x16,64x1024)")
    p.add_argument("--idle-conns", type=int, default=10000, help="idle connections (10000)")
    p.add_argument("--mem-rounds", type=int, default=3, help="idle-memory rounds per server (3)")
    p.add_argument("--settle", type=float, default=2, help="seconds before the idle RSS reading (2)")
    p.add_argument("--runtimes", action="store_true", help="also wsio on std and smol")
    p.add_argument("--servers", help="only these servers (names, comma-separated)")
    p.add_argument("--skip-echo", action="store_true")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--no-build", action="store_true", help="use the binaries already built")
    p.add_argument("--no-pin", action="store_true", help="do not pin to cores 0 and 1")
    p.add_argument("--port-base", type=int, default=21000)
    p.add_argument(
        "--results",
        default=str(RESULTS),
        help="where the JSON, charts and summary go (bench/results); a side measurement"
        " (--servers, --skip-memory) written elsewhere leaves the full run's files as they are",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 1 round, 2 s runs, 0.5 s warm-up, 1000 idle connections, 1 memory round",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="measure nothing: rewrite summary.md and the charts from the saved JSON",
    )
    args = p.parse_args()
    if args.report_only:
        report_from_saved(Path(args.results))
        return
    if args.quick:
        args.rounds, args.seconds, args.warmup = 1, 2, 0.5
        args.idle_conns, args.mem_rounds, args.settle = 1000, 1, 1

    if not args.no_build:
        build()
    bindir = target_dir()
    pinning = Pinning(not args.no_pin)
    ports = Ports(args.port_base)
    raise_fd_limit(4096)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    info = meta(args)
    echo = memory = None
    if not args.skip_echo:
        echo = echo_bench(args, bindir, pinning, ports)
        (results / "echo.json").write_text(json.dumps({"meta": info, "loads": echo}, indent=2))
    if not args.skip_memory:
        memory = memory_bench(args, bindir, pinning, ports)
        (results / "memory.json").write_text(json.dumps({"meta": info, "rows": memory}, indent=2))
    render(results, info, echo, memory)
    log(f"written to {results}: what was measured of echo.{{json,svg}}, memory.{{json,svg}}, summary.md")


def render(results, info, echo, memory):
    """Draws the charts and writes (in `results`) and prints the markdown summary of what was
    measured (either part may be None: skipped)."""
    summary = []
    if echo is not None:
        (results / "echo.svg").write_text(echo_svg(echo))
        summary.append(echo_markdown(echo))
    if memory is not None:
        (results / "memory.svg").write_text(memory_svg(memory))
        summary.append(memory_markdown(memory))
    text = "\n".join(summary)
    (results / "summary.md").write_text(
        f"<!-- bench/run.py, {info['date']}, commit {info['commit']}"
        f"{' (dirty)' if info['dirty'] else ''} -->\n\n{text}"
    )
    print(text)


def report_from_saved(results):
    """Renders summary.md and the charts again from `results`' echo.json and memory.json
    (ratios are recomputed from the samples, so a change to the report needs no new
    measurement); either file may be missing (a run that skipped that part)."""
    echo = memory = None
    if (results / "echo.json").exists():
        echo = json.loads((results / "echo.json").read_text())
        for load in echo["loads"]:
            load["ratios"] = ratios(load["rows"])
        (results / "echo.json").write_text(json.dumps(echo, indent=2))
    if (results / "memory.json").exists():
        memory = json.loads((results / "memory.json").read_text())
    if echo is None and memory is None:
        sys.exit(f"nothing saved in {results}: no echo.json or memory.json")
    info = (echo or memory)["meta"]
    render(results, info, echo and echo["loads"], memory and memory["rows"])


if __name__ == "__main__":
    main()
