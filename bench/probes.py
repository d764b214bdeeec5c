#!/usr/bin/env python3
"""Probe-pipeline benchmark for the slamon daemon: can it probe 10,000 domains every 2 s
(5,000 probes/s) on time, and how does that compare with a bare aiohttp loop and with
prometheus-blackbox-exporter on the same machine?

What it does (every request goes to 127.0.0.1; every loop is bounded in time):

1. serves N endpoints locally: N distinct paths (/d<i>/health) spread over a few 127.0.0.1
   ports, answered `200 ok` by nginx (Debian's, run in the foreground from a temp prefix with
   its own nginx.conf) or, when nginx is not installed, by a small aiohttp server in its own
   process;
2. "slamon" phase (a child process): builds the daemon's own objects — a Config from
   monitor.config.parse_config on a generated TOML text (N domains, one http probe each, `every`,
   timeout 5 s, max_concurrency), a Daemon from it (LiveState, the prometheus Histogram,
   default_registry()) and one aiohttp ClientSession on TCPConnector(limit=max_concurrency)
   exactly as Daemon.run makes it — and drives Daemon._start_probes(session) for --seconds.
   Measured over a window after a warm-up whose length is a whole number of intervals:
   probes completed per second, p50/p99/max lateness of probe starts (LiveState.lateness,
   fed by the scheduler's on_lateness), outcome counts, skipped ticks, process CPU (user/sys),
   peak RSS (VmHWM), the server's CPU (/proc/<pid>/stat). Afterwards it times one minute
   close of the cells the run accumulated, as Daemon.close_minutes does it: the part on the
   event loop (a stall the probe phase does not show) and the write in the worker thread;
3. "baseline" phase (a child process): the ceiling of this Python + aiohttp + server on this
   machine — `--concurrency` workers doing session.get(url, Connection: close) round-robin over
   the same URLs as fast as they can, for the same duration -> requests/s;
4. "blackbox" phase (when prometheus-blackbox-exporter is installed): the exporter started with an
   http_2xx module, driven by `--concurrency` concurrent GET /probe?target=...&module=http_2xx
   (keep-alive to the exporter) at full speed -> probes/s (probe_success 1 counted as ok);
5. prints a table with ratios (slamon / baseline, slamon / blackbox, CPU per probe) and PASS/MISS
   against the target (>= 5,000 probes/s sustained with p99 lateness < 250 ms for the full run;
   the offered rate N/every for other sizes), and writes bench/out/probes.json.

Each phase runs in its own child process (same interpreter), so CPU and peak RSS are per phase
and one phase's heap or sockets do not carry into the next. The phases run one after the other
against the same server.

Usage:
    .venv/bin/python bench/probes.py --quick            # 5 s, 500 endpoints (smoke run)
    .venv/bin/python bench/probes.py                    # 30 s, 10,000 endpoints, every 2 s
    .venv/bin/python bench/probes.py --profile          # + cProfile of the slamon phase
    .venv/bin/python bench/probes.py --skip-baseline --skip-blackbox

Exit status: 0 when every phase ran and every slamon probe was ok; 1 when a phase failed or
probes were not ok; 2 for bad arguments. A missed performance target prints MISS and only changes
the exit status with --fail-on-miss.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
OUT_DIR = REPO / "bench" / "out"

TARGET_PROBES_PER_S = 5_000
TARGET_P99_LATENESS_S = 0.250
THROUGHPUT_TOLERANCE = 0.995      # window edges: a whole number of intervals, +- in-flight probes
LOCAL = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/bin/nginx")
BLACKBOX_CANDIDATES = ("/usr/bin/prometheus-blackbox-exporter",)


# --------------------------------------------------------------------------------------------
# small helpers


def free_ports(count: int) -> list[int]:
    socks, ports = [], []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((LOCAL, 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def endpoint_urls(n: int, ports: list[int]) -> list[str]:
    return [f"http://{LOCAL}:{ports[i % len(ports)]}/d{i}/health" for i in range(n)]


def proc_tree(pid: int) -> list[int]:
    """pid and its descendants (nginx master -> workers)."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return pids


def proc_cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes (all their threads), from /proc/<pid>/stat."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])   # fields 14 and 15 of stat(5)
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK_TCK


def vm_hwm_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


class GcClock:
    """Time spent in the cyclic garbage collector, per generation (gc.callbacks)."""

    def __init__(self) -> None:
        import gc
        self.seconds = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self._t = 0.0
        gc.callbacks.append(self._cb)

    def _cb(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t = time.perf_counter()
        else:
            g = info["generation"]
            self.seconds[g] += time.perf_counter() - self._t
            self.count[g] += 1

    def snapshot(self) -> tuple[list[float], list[int]]:
        return list(self.seconds), list(self.count)


class Snap:
    """Process CPU, server CPU and a counter at one instant."""

    def __init__(self, loop_time: float, count: int, server_pids: list[int], prober_pids: list[int]):
        ru = resource.getrusage(resource.RUSAGE_SELF)
        self.t = loop_time
        self.count = count
        self.user = ru.ru_utime
        self.sys = ru.ru_stime
        self.server_cpu = proc_cpu_seconds(server_pids)
        self.prober_pids = list(prober_pids)
        self.prober_cpu = proc_cpu_seconds(prober_pids)


def window_figures(a: Snap, b: Snap) -> dict:
    wall = b.t - a.t
    n = b.count - a.count
    cpu = (b.user - a.user) + (b.sys - a.sys)
    server = b.server_cpu - a.server_cpu
    prober = b.prober_cpu - a.prober_cpu
    return {
        "window_seconds": round(wall, 3),
        "completed": n,
        "per_second": round(n / wall, 1) if wall > 0 else 0.0,
        "cpu_seconds": round(cpu, 3),
        "cpu_user_seconds": round(b.user - a.user, 3),
        "cpu_sys_seconds": round(b.sys - a.sys, 3),
        "cpu_share_of_one_core": round(cpu / wall, 3) if wall > 0 else None,
        "cpu_us_per_request": round(cpu / n * 1e6, 1) if n else None,
        "server_cpu_seconds": round(server, 3),
        "server_cpu_share_of_one_core": round(server / wall, 3) if wall > 0 else None,
        "server_cpu_us_per_request": round(server / n * 1e6, 1) if n else None,
        "prober_cpu_seconds": round(prober, 3),
        "prober_cpu_share_of_one_core": round(prober / wall, 3) if wall > 0 else None,
        "prober_cpu_us_per_request": round(prober / n * 1e6, 1) if n else None,
    }


def window_plan(args) -> tuple[float, float]:
    """(warm-up, measured window): the window is a whole number of probe intervals, so that every
    target is due the same number of times in it."""
    warmup = args.warmup if args.warmup is not None else max(args.every, min(4.0, args.seconds / 5))
    intervals = max(1, int((args.seconds - warmup) / args.every + 1e-9))
    return warmup, intervals * args.every


# --------------------------------------------------------------------------------------------
# servers


NGINX_CONF = """\
worker_processes {workers};
worker_rlimit_nofile 65536;
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections 16384;
    multi_accept on;
}}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_timeout 0;
    default_type text/plain;
    server {{
{listens}
        location / {{
            return 200 "ok";
        }}
    }}
}}
"""


class Server:
    kind = "?"
    proc: subprocess.Popen | None = None

    def pids(self) -> list[int]:
        return proc_tree(self.proc.pid) if self.proc else []

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)   # nginx: fast shutdown; aiohttp: exits
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class NginxServer(Server):
    kind = "nginx"

    def __init__(self, binary: str, ports: list[int], workers: int, tmp: Path):
        self.binary = binary
        self.prefix = tmp / "nginx"
        self.prefix.mkdir()
        os.chmod(self.prefix, 0o755)
        listens = "\n".join(f"        listen {LOCAL}:{p} backlog=4096;" for p in ports)
        conf = self.prefix / "nginx.conf"
        conf.write_text(NGINX_CONF.format(workers=workers, prefix=self.prefix, listens=listens))
        self.cmd = [binary, "-p", str(self.prefix), "-c", str(conf), "-e", str(self.prefix / "error.log")]
        self.ports = ports

    def start(self) -> None:
        check = subprocess.run(self.cmd + ["-t", "-q"], capture_output=True, text=True)
        if check.returncode:
            raise RuntimeError(f"nginx -t failed: {check.stderr.strip()}")
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_listening(self.ports, self.proc, "nginx")

    def version(self) -> str:
        out = subprocess.run([self.binary, "-v"], capture_output=True, text=True)
        return (out.stderr or out.stdout).strip()


class AiohttpServer(Server):
    kind = "aiohttp"

    def __init__(self, ports: list[int]):
        self.ports = ports

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--_phase", "server",
                                      "--_ports", ",".join(map(str, self.ports))],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_listening(self.ports, self.proc, "aiohttp server")

    def version(self) -> str:
        import aiohttp
        return f"aiohttp {aiohttp.__version__} web server (one process)"


def wait_listening(ports: list[int], proc: subprocess.Popen, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    pending = list(ports)
    while pending:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"{what} exited with status {proc.returncode}: {err.strip()[:2000]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not listen on {pending} within {timeout:g} s")
        try:
            with socket.create_connection((LOCAL, pending[0]), timeout=0.5):
                pending.pop(0)
        except OSError:
            time.sleep(0.05)


async def serve_aiohttp(ports: list[int]) -> None:
    from aiohttp import web

    async def ok(request):
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/{tail:.*}", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    for p in ports:
        await web.TCPSite(runner, LOCAL, p, backlog=4096).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), timeout=3600)   # bounded even if the parent dies
    except TimeoutError:
        pass
    await runner.cleanup()


BLACKBOX_CONF = """\
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      method: GET
"""


class Blackbox:
    def __init__(self, binary: str, tmp: Path):
        self.binary = binary
        self.port = free_ports(1)[0]
        self.conf = tmp / "blackbox.yml"
        self.conf.write_text(BLACKBOX_CONF)
        self.proc: subprocess.Popen | None = None
        self.log = tmp / "blackbox.log"

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, f"--config.file={self.conf}",
                                      f"--web.listen-address={LOCAL}:{self.port}", "--log.level=warn"],
                                     stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"))
        wait_listening([self.port], self.proc, "prometheus-blackbox-exporter")

    def version(self) -> str:
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True)
        return ((out.stdout or out.stderr).strip().splitlines() or ["?"])[0]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# --------------------------------------------------------------------------------------------
# phase: slamon (the daemon's own probe pipeline)


def slamon_toml(urls: list[str], every: float, concurrency: int) -> str:
    every_text = f"{round(every * 1000)}ms"
    parts = ["[monitor]", 'database = "slamon.db"', f'listen = "{LOCAL}:1"', 'reports_dir = "reports"',
             f"max_concurrency = {concurrency}", ""]
    for i, url in enumerate(urls):
        parts += ["[[domain]]", f'name = "d{i:05d}.bench.test"',
                  "  [[domain.probe]]", f'  url = "{url}"', f'  every = "{every_text}"', '  timeout = "5s"', ""]
    return "\n".join(parts)


async def slamon_phase(args, urls: list[str], server_pids: list[int]) -> dict:
    import aiohttp

    from monitor.config import parse_config
    from monitor.daemon import Daemon
    from monitor.runtime import settle_garbage

    tmp = Path(tempfile.mkdtemp(prefix="slamon-bench-"))
    try:
        t = time.perf_counter()
        config = parse_config(slamon_toml(urls, args.every, args.concurrency), tmp / "config.toml")
        daemon = Daemon(config)
        setup_seconds = time.perf_counter() - t
        # The default deque keeps the last 100,000 values; a full run starts 150,000 probes.
        # Same type and append, so the measured path is unchanged; only more history is kept.
        recorder = daemon.recorder
        recorder.counters.lateness = deque(maxlen=10_000_000)
        # Daemon.start observes from the next minute; start at this one so that every result
        # also goes through MinuteAccumulator.add_outcome, as it does in steady state.
        recorder.observed_since_minute = int(time.time() // 60)
        live = recorder.counters
        import gc
        gc_clock = GcClock()
        res_gc_objects = len(gc.get_objects())
        loop = asyncio.get_running_loop()
        warmup, window = window_plan(args)
        # exactly what Daemon.run builds
        connector = aiohttp.TCPConnector(limit=config.monitor.max_concurrency, ttl_dns_cache=60)
        async with aiohttp.ClientSession(connector=connector, raise_for_status=False) as session:
            t0 = loop.time()
            daemon.probes.start(config, session)
            settle_garbage()  # what Daemon.run does right after starting

            def completed() -> int:
                return sum(live.requests_total.values())

            timeline = []
            snaps: dict[str, Snap] = {}
            marks = {"start": t0 + warmup, "end": t0 + warmup + window}
            next_tick = t0 + 1.0
            last_count = 0
            while True:
                now = loop.time()
                pending = [(at, name) for name, at in marks.items() if name not in snaps]
                wake = min([next_tick] + [at for at, _ in pending])
                if wake > now:
                    await asyncio.sleep(wake - now)
                now = loop.time()
                for at, name in pending:
                    if now >= at:
                        # the daemon's probe worker processes (if the run has them) are part of it
                        workers = [p.pid for p, _ in daemon.probes.workers.workers] if daemon.probes.workers else []
                        snaps[name] = Snap(now, completed(), server_pids, workers)
                        snaps[name].started = len(live.lateness)
                        snaps[name].skipped = live.samples_dropped_total
                        snaps[name].outcomes = outcome_counts(live.requests_total)
                        snaps[name].gc = gc_clock.snapshot()
                if now >= next_tick:
                    c = completed()
                    timeline.append({"t": round(now - t0, 2), "completed_in_second": c - last_count,
                                     "started_total": len(live.lateness)})
                    last_count = c
                    next_tick += 1.0
                if "end" in snaps:
                    break
            stop_t = time.perf_counter()
            await daemon.probes.stop()
            stop_seconds = time.perf_counter() - stop_t

        a, b = snaps["start"], snaps["end"]
        res = window_figures(a, b)
        # CPU of the daemon = its own process + its probe workers
        res["probe_processes"] = 1 + len(b.prober_pids)
        res["cpu_daemon_process_seconds"] = res["cpu_seconds"]
        res["cpu_seconds"] = round(res["cpu_seconds"] + res["prober_cpu_seconds"], 3)
        if res["window_seconds"]:
            res["cpu_share_of_one_core"] = round(res["cpu_seconds"] / res["window_seconds"], 3)
        if res["completed"]:
            res["cpu_us_per_request"] = round(res["cpu_seconds"] / res["completed"] * 1e6, 1)
        late = sorted(list(live.lateness)[a.started:b.started])
        outcomes = Counter(b.outcomes)
        outcomes.subtract(a.outcomes)
        n_targets = len(urls)
        res.update({
            "offered_per_second": round(n_targets / args.every, 1),
            "started_in_window": b.started - a.started,
            "skipped_ticks_in_window": b.skipped - a.skipped,
            "skipped_ticks_total": live.samples_dropped_total,
            "outcomes_in_window": {k: v for k, v in outcomes.items() if v},
            "outcomes_total": outcome_counts(live.requests_total),
            "lateness_ms": {
                "p50": round(percentile(late, 0.50) * 1e3, 2),
                "p90": round(percentile(late, 0.90) * 1e3, 2),
                "p99": round(percentile(late, 0.99) * 1e3, 2),
                "p999": round(percentile(late, 0.999) * 1e3, 2),
                "max": round(late[-1] * 1e3, 2) if late else None,
                "mean": round(statistics.fmean(late) * 1e3, 2) if late else None,
                "samples": len(late),
            },
            "lateness_p99_ms_by_recorder": round(live.lateness_p99() * 1e3, 2),
            "gc_in_window": {
                "seconds_by_generation": [round(y - x, 3) for x, y in zip(a.gc[0], b.gc[0], strict=True)],
                "collections_by_generation": [y - x for x, y in zip(a.gc[1], b.gc[1], strict=True)],
                "share_of_cpu": round(sum(b.gc[0]) - sum(a.gc[0]), 3) / max(res["cpu_seconds"], 1e-9),
                "tracked_objects_after_setup": res_gc_objects},
            "peak_rss_mib": round(vm_hwm_mib(), 1),
            "setup_seconds": round(setup_seconds, 3),
            "stop_seconds": round(stop_seconds, 3),
            "warmup_seconds": warmup,
            "timeline": timeline,
        })
        res["latency_seconds_histogram"] = histogram_summary(daemon)

        # MinuteRecorder.close: taking the closed cells happens on the event loop, the write in
        # a worker thread (StorageWriter.run); time both.
        through = int(time.time() // 60)
        t = time.perf_counter()
        cells = len(recorder.open.cells)
        taken = recorder.take_closed(through)
        blocking = time.perf_counter() - t
        t = time.perf_counter()
        written = await recorder.write(taken, through)
        res["close_minutes"] = {"cells": cells, "rows_written": written,
                                "seconds_blocking_event_loop": round(blocking, 3),
                                "seconds_writing_in_thread": round(time.perf_counter() - t, 3)}
        daemon.writer.close()
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def outcome_counts(requests_total: dict) -> dict:
    c: Counter = Counter()
    for (_, outcome), n in requests_total.items():
        c[outcome] += n
    return dict(c)


def histogram_summary(daemon) -> dict:
    """Probe latency as the daemon exports it: all domains' buckets added up."""
    buckets: Counter = Counter()
    count = 0.0
    total = 0.0
    for metric in daemon.probes.duration.collect():
        for s in metric.samples:
            if s.name.endswith("_bucket"):
                buckets[s.labels["le"]] += s.value
            elif s.name.endswith("_count"):
                count += s.value
            elif s.name.endswith("_sum"):
                total += s.value
    return {"count": int(count), "mean_ms": round(total / count * 1e3, 2) if count else None,
            "le_buckets": {k: int(v) for k, v in sorted(buckets.items(), key=lambda kv: float(kv[0]))}}


# --------------------------------------------------------------------------------------------
# phases: bare aiohttp loop and blackbox driver


async def closed_loop(args, urls: list[str], server_pids: list[int], prober_pids: list[int], *,
                      close: bool, check: bytes | None) -> dict:
    """`concurrency` workers, each doing one request after another over `urls`, round-robin."""
    import aiohttp

    loop = asyncio.get_running_loop()
    warmup, window = window_plan(args)
    t0 = loop.time()
    stop_at = t0 + warmup + window
    done = [0]
    bad: Counter = Counter()
    headers = {"Connection": "close"} if close else {}
    cursor = iter(range(10 ** 12))
    n = len(urls)
    latencies: list[float] = []
    timeout = aiohttp.ClientTimeout(total=10)
    connector = aiohttp.TCPConnector(limit=args.concurrency, force_close=close)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async def worker() -> None:
            while loop.time() < stop_at:
                url = urls[next(cursor) % n]
                t = loop.time()
                try:
                    async with session.get(url, headers=headers) as resp:
                        body = await resp.read()
                    if resp.status != 200:
                        bad[f"HTTP {resp.status}"] += 1
                    elif check is not None and check not in body:
                        bad["probe failed"] += 1
                    else:
                        done[0] += 1
                        if len(latencies) < 200_000:
                            latencies.append(loop.time() - t)
                except Exception as exc:  # noqa: BLE001 - counted and shown
                    bad[type(exc).__name__] += 1
                    await asyncio.sleep(0.01)

        workers = [loop.create_task(worker()) for _ in range(args.concurrency)]
        await asyncio.sleep(warmup)
        a = Snap(loop.time(), done[0], server_pids, prober_pids)
        bad_before = sum(bad.values())
        await asyncio.sleep(max(0.0, stop_at - loop.time()))
        b = Snap(loop.time(), done[0], server_pids, prober_pids)
        bad_in_window = sum(bad.values()) - bad_before
        _, pending = await asyncio.wait(workers, timeout=15)
        for w in pending:
            w.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    res = window_figures(a, b)
    latencies.sort()
    res.update({"failures_in_window": bad_in_window, "failures_total": dict(bad),
                "latency_ms": {"p50": round(percentile(latencies, 0.5) * 1e3, 2),
                               "p99": round(percentile(latencies, 0.99) * 1e3, 2)},
                "peak_rss_mib": round(vm_hwm_mib(), 1), "warmup_seconds": warmup})
    return res


# --------------------------------------------------------------------------------------------
# child entry point


def run_child(args) -> int:
    ports = [int(p) for p in args._ports.split(",")]
    if args._phase == "server":
        asyncio.run(serve_aiohttp(ports))
        return 0
    urls = endpoint_urls(args.endpoints, ports)
    server_pids = [int(p) for p in args._server_pids.split(",") if p]
    prober_pids = [int(p) for p in args._prober_pids.split(",") if p]
    # every client phase runs on the event loop the daemon runs on (uvloop where installed),
    # so the ceilings compare like with like; --default-loop measures asyncio's own loop
    from monitor.runtime import loop_factory
    factory = None if args.default_loop else loop_factory()

    def run(coro):
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(coro)
    profiler = None
    if args.profile and args._phase == "slamon":
        import cProfile
        profiler = cProfile.Profile()
        profiler.enable()
    if args._phase == "slamon":
        res = run(slamon_phase(args, urls, server_pids))
    elif args._phase == "baseline":
        res = run(closed_loop(args, urls, server_pids, [], close=True, check=None))
    elif args._phase == "blackbox":
        base = f"http://{LOCAL}:{args._blackbox_port}/probe?module=http_2xx&target="
        probe_urls = [base + u for u in urls]
        res = run(closed_loop(args, probe_urls, server_pids, prober_pids, close=False,
                                      check=b"\nprobe_success 1"))
    else:
        raise SystemExit(f"unknown phase {args._phase}")
    if profiler is not None:
        profiler.disable()
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        path = OUT_DIR / "probes-slamon.prof"
        profiler.dump_stats(path)
        res["profile"] = str(path)
    Path(args._out).write_text(json.dumps(res))
    return 0


def run_phase(args, phase: str, ports: list[int], server_pids: list[int], prober_pids=(),
              blackbox_port: int | None = None) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    cmd = [sys.executable, __file__, "--_phase", phase, "--_ports", ",".join(map(str, ports)),
           "--_server-pids", ",".join(map(str, server_pids)),
           "--_prober-pids", ",".join(map(str, prober_pids)), "--_out", out,
           "--seconds", str(args.seconds), "--endpoints", str(args.endpoints), "--every", str(args.every),
           "--concurrency", str(args.concurrency)]
    if args.warmup is not None:
        cmd += ["--warmup", str(args.warmup)]
    if blackbox_port:
        cmd += ["--_blackbox-port", str(blackbox_port)]
    if args.profile:
        cmd += ["--profile"]
    if args.default_loop:
        cmd += ["--default-loop"]
    print(f"  running {phase} phase ({args.seconds:g} s) ...", flush=True)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds + 180)
        if proc.returncode:
            return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-3000:]}"}
        res = json.loads(Path(out).read_text())
        if proc.stderr.strip():
            res["stderr"] = proc.stderr.strip()[-2000:]
        return res
    except subprocess.TimeoutExpired:
        return {"error": "timed out"}
    finally:
        Path(out).unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# orchestration


def apt_install(package: str) -> None:
    print(f"  apt-get install -y {package} ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], env=env, check=False)


def find_binary(candidates) -> str | None:
    return next((c for c in candidates if os.access(c, os.X_OK)), None)


def ratio(a, b) -> float | None:
    try:
        return round(a / b, 3) if a is not None and b else None
    except TypeError:
        return None


def fmt(v, spec=",.0f") -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return format(v, spec)


def print_profile(path: str, limit: int = 30) -> None:
    import pstats
    print(f"\ncProfile of the slamon phase (top {limit} by own time; {path}):")
    stats = pstats.Stats(path)
    stats.sort_stats("tottime").print_stats(limit)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=30.0, help="duration of each phase (default 30)")
    p.add_argument("--endpoints", type=int, default=10_000, help="targets = domains = URLs (default 10000)")
    p.add_argument("--every", type=float, default=2.0, help="probe interval per target, s (default 2)")
    p.add_argument("--concurrency", type=int, default=1000,
                   help="monitor.max_concurrency, and the workers of the baseline/blackbox loops (default 1000)")
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds before the measured window (default max(every, min(4, seconds/5)))")
    p.add_argument("--quick", action="store_true", help="smoke run: 5 s, 500 endpoints")
    p.add_argument("--ports", type=int, default=8, help="server ports the endpoints are spread over (default 8)")
    p.add_argument("--nginx-workers", type=int, default=1, help="nginx worker_processes (default 1)")
    p.add_argument("--server", choices=("auto", "nginx", "aiohttp"), default="auto")
    p.add_argument("--install-nginx", action="store_true", help="apt-get install nginx if missing")
    p.add_argument("--install-blackbox", action="store_true",
                   help="apt-get install prometheus-blackbox-exporter if missing")
    p.add_argument("--skip-baseline", action="store_true")
    p.add_argument("--skip-blackbox", action="store_true")
    p.add_argument("--profile", action="store_true", help="cProfile the slamon phase (slows it down)")
    p.add_argument("--default-loop", action="store_true",
                   help="run every phase on asyncio's default loop instead of the daemon's (uvloop)")
    p.add_argument("--fail-on-miss", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--json", default=str(OUT_DIR / "probes.json"), help="where to write the figures")
    # internal: child phases
    p.add_argument("--_phase", help=argparse.SUPPRESS)
    p.add_argument("--_ports", help=argparse.SUPPRESS)
    p.add_argument("--_server-pids", dest="_server_pids", default="", help=argparse.SUPPRESS)
    p.add_argument("--_prober-pids", dest="_prober_pids", default="", help=argparse.SUPPRESS)
    p.add_argument("--_blackbox-port", dest="_blackbox_port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--_out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args._phase:
        return run_child(args)
    if args.quick:
        args.seconds, args.endpoints = 5.0, 500
    if args.seconds <= 0 or args.seconds > 600 or args.endpoints < 1 or args.every <= 0 or args.concurrency < 1:
        p.error("need 0 < --seconds <= 600, --endpoints >= 1, --every > 0, --concurrency >= 1")
    warmup, window = window_plan(args)
    if warmup + window > args.seconds + 1e-9 or window <= 0:
        p.error(f"--seconds {args.seconds:g} leaves no whole interval after a {warmup:g} s warm-up")

    full_size = args.endpoints == 10_000 and args.every == 2.0
    offered = args.endpoints / args.every
    target_rate = TARGET_PROBES_PER_S if full_size else offered

    nginx = find_binary(NGINX_CANDIDATES)
    if not nginx and args.install_nginx and args.server != "aiohttp":
        apt_install("nginx")
        nginx = find_binary(NGINX_CANDIDATES)
    blackbox_bin = find_binary(BLACKBOX_CANDIDATES)
    if not blackbox_bin and args.install_blackbox and not args.skip_blackbox:
        apt_install("prometheus-blackbox-exporter")
        blackbox_bin = find_binary(BLACKBOX_CANDIDATES)
    if args.server == "nginx" and not nginx:
        p.error("--server nginx: nginx is not installed (try --install-nginx)")

    print(f"slamon probe benchmark: {args.endpoints:,} endpoints every {args.every:g} s "
          f"= {offered:,.0f} probes/s offered; concurrency {args.concurrency}; "
          f"{args.seconds:g} s per phase (warm-up {warmup:g} s, window {window:g} s); "
          f"{os.cpu_count()} CPUs", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="slamon-probes-"))
    os.chmod(tmp, 0o755)
    ports = free_ports(args.ports)
    use_nginx = nginx is not None and args.server != "aiohttp"
    server: Server = NginxServer(nginx, ports, args.nginx_workers, tmp) if use_nginx else AiohttpServer(ports)
    results: dict = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "params": {"seconds": args.seconds, "endpoints": args.endpoints, "every": args.every,
                   "concurrency": args.concurrency,
                   "event_loop": "asyncio" if args.default_loop else "daemon (uvloop if installed)",
                   "ports": len(ports), "warmup_seconds": warmup,
                   "window_seconds": window, "offered_per_second": offered, "target_per_second": target_rate,
                   "target_p99_lateness_ms": TARGET_P99_LATENESS_S * 1e3},
    }
    blackbox: Blackbox | None = None
    failed = False
    try:
        server.start()
        results["server"] = {"kind": server.kind, "version": server.version(),
                             "workers": args.nginx_workers if use_nginx else 1, "pids": server.pids()}
        print(f"  server: {results['server']['version']} on {LOCAL} ports {ports[0]}..{ports[-1]}", flush=True)
        spids = server.pids()

        results["slamon"] = run_phase(args, "slamon", ports, spids)
        if args.skip_baseline:
            results["baseline"] = {"skipped": "--skip-baseline"}
        else:
            results["baseline"] = run_phase(args, "baseline", ports, spids)
        if args.skip_blackbox:
            results["blackbox"] = {"skipped": "--skip-blackbox"}
        elif not blackbox_bin:
            results["blackbox"] = {"skipped": "prometheus-blackbox-exporter is not installed "
                                              "(--install-blackbox tries apt-get install)"}
        else:
            blackbox = Blackbox(blackbox_bin, tmp)
            blackbox.start()
            results["blackbox"] = run_phase(args, "blackbox", ports, spids, [blackbox.proc.pid], blackbox.port)
            results["blackbox"]["version"] = blackbox.version()
    except Exception as exc:  # noqa: BLE001 - reported, servers stopped below
        results["error"] = f"{type(exc).__name__}: {exc}"
        failed = True
    finally:
        if blackbox:
            blackbox.stop()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    s, base, bb = results.get("slamon", {}), results.get("baseline", {}), results.get("blackbox", {})
    for name, r in (("slamon", s), ("baseline", base), ("blackbox", bb)):
        if "error" in r:
            print(f"  {name} phase FAILED: {r['error']}")
            failed = True

    rate = s.get("per_second")
    p99 = (s.get("lateness_ms") or {}).get("p99")
    outcomes = s.get("outcomes_in_window") or {}
    not_ok = sum(v for k, v in outcomes.items() if k != "ok")
    checks = {
        "throughput": rate is not None and rate >= THROUGHPUT_TOLERANCE * target_rate,
        "p99_lateness": p99 is not None and p99 < TARGET_P99_LATENESS_S * 1e3,
        "no_skipped_ticks": "skipped_ticks_in_window" in s and not s["skipped_ticks_in_window"],
        "all_ok": bool(outcomes) and not_ok == 0,
    }
    results["ratios"] = {
        "slamon_per_s_over_baseline_per_s": ratio(rate, base.get("per_second")),
        "blackbox_per_s_over_baseline_per_s": ratio(bb.get("per_second"), base.get("per_second")),
        "slamon_per_s_over_blackbox_per_s": ratio(rate, bb.get("per_second")),
        "slamon_cpu_per_probe_over_baseline_cpu_per_request":
            ratio(s.get("cpu_us_per_request"), base.get("cpu_us_per_request")),
        "slamon_cpu_per_probe_over_blackbox_cpu_per_probe":
            ratio(s.get("cpu_us_per_request"), bb.get("prober_cpu_us_per_request")),
        "slamon_rate_over_target": ratio(rate, target_rate),
        "slamon_p99_lateness_over_target": ratio(p99, TARGET_P99_LATENESS_S * 1e3),
    }
    results["checks"] = {k: ("PASS" if v else "MISS") for k, v in checks.items()}

    # ---- summary table
    def row(label, r, rate_key="per_second", cpu_key="cpu_us_per_request", share_key="cpu_share_of_one_core"):
        if not r or "skipped" in r or "error" in r:
            why = r.get("skipped") or r.get("error", "-") if r else "-"
            print(f"{label:<26} {why[:90]}")
            return
        print(f"{label:<26} {fmt(r.get(rate_key)):>10} {fmt(r.get(share_key), '.2f'):>9} "
              f"{fmt(r.get(cpu_key), ',.1f'):>10} {fmt(r.get('server_cpu_share_of_one_core'), '.2f'):>9} "
              f"{fmt(r.get('server_cpu_us_per_request'), ',.1f'):>10} {fmt(r.get('peak_rss_mib'), ',.0f'):>8}")

    print()
    print(f"{'':<26} {'per s':>10} {'CPU/core':>9} {'CPU us/req':>10} {'srv CPU':>9} {'srv us/req':>10} "
          f"{'RSS MiB':>8}")
    row("slamon (daemon pipeline)", s)
    row("bare aiohttp loop", base)
    if bb and "skipped" not in bb and "error" not in bb:
        row("blackbox driver (python)", bb)
        print(f"{'blackbox exporter (Go)':<26} {fmt(bb.get('per_second')):>10} "
              f"{fmt(bb.get('prober_cpu_share_of_one_core'), '.2f'):>9} "
              f"{fmt(bb.get('prober_cpu_us_per_request'), ',.1f'):>10}")
    else:
        row("blackbox exporter", bb)
    if s and "error" not in s:
        lm = s["lateness_ms"]
        print(f"\nslamon: {s['completed']:,} probes in {s['window_seconds']:g} s "
              f"(offered {s['offered_per_second']:,.0f}/s); started {s['started_in_window']:,}; "
              f"skipped ticks {s['skipped_ticks_in_window']}; outcomes {outcomes}")
        print(f"        lateness ms p50 {lm['p50']} p90 {lm['p90']} p99 {lm['p99']} p99.9 {lm['p999']} "
              f"max {lm['max']} ({lm['samples']:,} starts); probe latency mean "
              f"{s['latency_seconds_histogram']['mean_ms']} ms")
        print(f"        CPU user {s['cpu_user_seconds']} s + sys {s['cpu_sys_seconds']} s; peak RSS "
              f"{s['peak_rss_mib']} MiB; closing {s['close_minutes']['cells']:,} cells blocks "
              f"the loop {s['close_minutes']['seconds_blocking_event_loop'] * 1e3:,.0f} ms, writes in a thread for "
              f"{s['close_minutes']['seconds_writing_in_thread'] * 1e3:,.0f} ms")
        g = s["gc_in_window"]
        print(f"        GC in window: {g['seconds_by_generation']} s by generation, "
              f"{g['collections_by_generation']} collections, {g['share_of_cpu']:.1%} of CPU; "
              f"{g['tracked_objects_after_setup']:,} tracked objects after setup")
        per_s = [t["completed_in_second"] for t in s["timeline"]]
        print(f"        completions per second: {per_s}")
    if base and "error" not in base and "skipped" not in base:
        print(f"baseline: failures {base['failures_total'] or 0}; latency ms {base['latency_ms']}")
    if bb and "error" not in bb and "skipped" not in bb:
        print(f"blackbox: {bb.get('version')}; failures {bb['failures_total'] or 0}; "
              f"latency ms {bb['latency_ms']}")
    r = results["ratios"]
    print(f"\nratios: slamon/baseline {fmt(r['slamon_per_s_over_baseline_per_s'], '.3f')}, "
          f"blackbox/baseline {fmt(r['blackbox_per_s_over_baseline_per_s'], '.3f')}, "
          f"slamon/blackbox {fmt(r['slamon_per_s_over_blackbox_per_s'], '.3f')} (probes/s); "
          f"CPU per probe slamon/baseline {fmt(r['slamon_cpu_per_probe_over_baseline_cpu_per_request'], '.2f')}, "
          f"slamon/blackbox {fmt(r['slamon_cpu_per_probe_over_blackbox_cpu_per_probe'], '.2f')}")
    print(f"target: >= {target_rate:,.0f} probes/s sustained (x{THROUGHPUT_TOLERANCE} for window edges) "
          f"-> {results['checks']['throughput']} ({fmt(rate, ',.1f')}/s); "
          f"p99 lateness < {TARGET_P99_LATENESS_S * 1e3:g} ms -> {results['checks']['p99_lateness']} "
          f"({fmt(p99, '.1f')} ms); no skipped ticks -> {results['checks']['no_skipped_ticks']}; "
          f"every probe ok -> {results['checks']['all_ok']}")

    if args.profile and s.get("profile"):
        print_profile(s["profile"])

    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out}")
    if failed or not checks["all_ok"]:
        return 1
    if args.fail_on_miss and not all(checks.values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
