"""End-to-end tests of `slamon run`: the real daemon as a subprocess, real sockets on 127.0.0.1,
a real SQLite database in tmp_path, real UTC minutes.

Timing model (monitor/daemon.py): the minute the daemon starts in is not recorded
(observed_since = next minute); minute m is closed by a cron job at second
ceil(max probe timeout) + 2 of minute m + 1, i.e. about 3 s into the next minute with the
"1s" timeouts used here; SIGTERM flushes the open minute."""
from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO, run_cli

UTC = timezone.utc


# --- helpers ---------------------------------------------------------------------------------

def free_port() -> int:
    """A port nothing listens on right now (bound and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def iso(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).isoformat()


def qiso(minute: int) -> str:
    """iso() for a query string ('+' would decode as a space)."""
    return urllib.parse.quote(iso(minute), safe="")


def minute_of_iso(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() // 60)


def sleep_until(wall: float) -> None:
    delay = wall - time.time()
    if delay > 0:
        time.sleep(delay)


def avoid_minute_end(margin: float = 12.0) -> None:
    """Start a daemon well inside a minute, so its first observed minute is the next one and the
    probes are running before it begins."""
    if time.time() % 60 > 60 - margin:
        sleep_until((time.time() // 60 + 1) * 60 + 0.5)


def poll(what: str, fn, deadline_seconds: float, interval: float = 0.25, explain=None):
    """fn() until it returns something truthy; fail naming `what` and the last value otherwise."""
    end = time.monotonic() + deadline_seconds
    last = None
    while True:
        try:
            last = fn()
        except (OSError, urllib.error.URLError, ValueError) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() > end:
            more = f"\n{explain()}" if explain else ""
            pytest.fail(f"timed out after {deadline_seconds:.0f}s waiting for {what}; last: {last!r}{more}")
        time.sleep(interval)


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample `name` whose labels include `labels`, or None."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None


def db_rows(db: Path, domain: str | None = None) -> list[dict]:
    """Every minute_counts row (optionally of one domain), read with a separate connection."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        conn.row_factory = sqlite3.Row
        sql = ("SELECT d.name AS domain, m.* FROM minute_counts m JOIN domains d ON d.id = m.domain_id")
        args: list = []
        if domain:
            sql += " WHERE d.name = ?"
            args.append(domain)
        return [dict(r) for r in conn.execute(sql + " ORDER BY m.minute", args)]
    finally:
        conn.close()


def db_row(db: Path, domain: str, minute: int) -> dict | None:
    if not db.exists():
        return None
    for row in db_rows(db, domain):
        if row["minute"] == minute:
            return row
    return None


def probe_minute_keys(db: Path) -> list[tuple[int, int]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("SELECT domain_id, minute FROM probe_minutes ORDER BY domain_id, minute").fetchall()
    finally:
        conn.close()


def write_config(path: Path, *, listen_port: int, domains: list[dict], canaries: list[str] = (),
                 contract: bool = True, extra_monitor: str = "") -> Path:
    """A config: domains are dicts(name, url, every, timeout, min_samples?)."""
    lines = ["[monitor]", 'database = "slamon.db"', f'listen = "127.0.0.1:{listen_port}"',
             'reports_dir = "reports"', f"canaries = {json.dumps(list(canaries))}"]
    if extra_monitor:
        lines.append(extra_monitor)
    for d in domains:
        lines += ["", "[[domain]]", f'name = "{d["name"]}"', f'min_samples = {d.get("min_samples", 20)}',
                  'error_threshold = "5%"', "  [[domain.probe]]", f'  url = "{d["url"]}"',
                  f'  every = "{d.get("every", "1s")}"', f'  timeout = "{d.get("timeout", "1s")}"']
    if contract:
        names = json.dumps([d["name"] for d in domains])
        lines += ["", "[[contract]]", 'id = "acme-lw"', 'customer = "ACME K.K."', 'regime = "lineworks"',
                  f"domains = {names}", 'plan = "paid"', 'currency = "JPY"', 'unit_price = "540"',
                  "licenses = 100", 'timezone = "UTC"']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Target:
    """A real aiohttp server on its own loop in a background thread. It answers 503 while
    time.time() < fail_until and 200 otherwise."""

    def __init__(self) -> None:
        self.port = free_port()
        self.fail_until = 0.0
        self.hits = {"200": 0, "503": 0}
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="target", daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    async def _handle(self, request: web.Request) -> web.Response:
        if time.time() < self.fail_until:
            self.hits["503"] += 1
            return web.Response(status=503, text="failing on purpose")
        self.hits["200"] += 1
        return web.Response(text="ok")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/health", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def start(self) -> "Target":
        self._thread.start()
        assert self._ready.wait(10), "target server did not start"
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


@pytest.fixture
def target():
    t = Target().start()
    yield t
    t.stop()


class DaemonProcess:
    """`python -m monitor run --config CFG` with stderr collected line by line in a thread."""

    def __init__(self, config: Path, port: int):
        self.config = config
        self.port = port
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config)],
                                     cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.stderr: list[str] = []
        self.stdout: list[str] = []
        self._threads = [threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr), daemon=True),
                         threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout), daemon=True)]
        for t in self._threads:
            t.start()

    @staticmethod
    def _pump(stream, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    # --- logs
    def logs(self) -> list[dict]:
        out = []
        for line in list(self.stderr):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def log_with(self, text: str) -> list[dict]:
        return [r for r in self.logs() if text in r.get("msg", "")]

    def explain(self) -> str:
        return f"rc={self.proc.poll()} stderr tail:\n" + "\n".join(self.stderr[-30:])

    # --- HTTP
    def get(self, path: str, timeout: float = 5) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def get_json(self, path: str):
        status, body = self.get(path)
        assert status == 200, (path, status, body)
        return json.loads(body)

    def metrics(self) -> str:
        status, body = self.get("/metrics")
        assert status == 200, body
        return body

    def status(self) -> dict:
        return self.get_json("/api/v1/status")

    # --- lifecycle
    def wait_running(self, deadline: float = 30) -> dict:
        """Until the 'slamon running' line (signal handlers are installed after the listener is
        up, so HTTP alone is not enough before sending signals) and /api/v1/status answers."""
        def ready():
            assert self.proc.poll() is None, f"daemon exited during start: {self.explain()}"
            return self.log_with("slamon running") and self.status()
        return poll("daemon start", ready, deadline)

    def observed_since(self) -> int:
        return minute_of_iso(self.status()["observed_since"])

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(10)
        finally:
            for t in self._threads:
                t.join(5)


@pytest.fixture
def daemon_factory():
    """start(config, port) -> DaemonProcess; every process is killed at teardown, whatever happened."""
    started: list[DaemonProcess] = []

    def start(config: Path, port: int) -> DaemonProcess:
        d = DaemonProcess(config, port)
        started.append(d)
        return d

    yield start
    for d in started:
        d.kill()


# --- 1 ---------------------------------------------------------------------------------------

def test_down_minute_end_to_end(tmp_path, target, daemon_factory):
    port = free_port()
    cfg = write_config(tmp_path / "slamon.toml", listen_port=port,
                       domains=[{"name": "mail", "url": target.url, "every": "1s", "timeout": "1s"}])
    db = tmp_path / "slamon.db"
    avoid_minute_end()
    target.fail_until = math.inf              # failing from the start ...
    daemon = daemon_factory(cfg, port)
    daemon.wait_running()
    m0 = daemon.observed_since()
    assert m0 == int(time.time() // 60) + 1, "the start minute is not recorded: observed_since is the next one"
    target.fail_until = (m0 + 1) * 60         # ... through the whole first observed minute, then recovers

    # the minute closes about 3 s after it ends (timeout 1s -> cron at second 3)
    sleep_until((m0 + 1) * 60 + 2)
    seen_down_state = False

    def closed():
        nonlocal seen_down_state
        text = daemon.metrics()
        if metric(text, "slamon_domain_state", domain="mail", state="down") == 1.0:
            seen_down_state = True
        counted = metric(text, "slamon_scope_downtime_seconds", contract="acme-lw", scope="acme-lw",
                         **{"class": "counted"})
        last_text[0] = text
        return seen_down_state and counted is not None and counted >= 60 and text
    last_text = [""]
    try:
        text = poll("minute m0 closed as down in /metrics", closed, 30)
    except BaseException:
        print("\n".join(l for l in last_text[0].splitlines() if "domain_state" in l or "downtime" in l))
        print(daemon.explain())
        print(db_rows(db))
        raise
    assert metric(text, "slamon_domain_error_ratio", domain="mail") > 0.05
    assert metric(text, "slamon_domain_last_closed_minute_timestamp_seconds", domain="mail") == m0 * 60
    assert metric(text, "slamon_probe_requests_total", domain="mail", outcome="server_error") >= 55
    closed_at = time.time()
    assert closed_at - (m0 + 1) * 60 < 10, f"minute closed {closed_at - (m0 + 1) * 60:.1f}s after its end"

    # (b) the database row
    row = db_row(db, "mail", m0)
    assert row is not None, db_rows(db)
    assert 55 <= row["requests"] <= 61, row     # every 1s: 60 samples in a minute
    assert row["errors"] * 20 > row["requests"], row
    assert row["server_error"] == row["errors"] == row["requests"], row
    assert probe_minute_keys(db) == [(row["domain_id"], m0)]

    # (c) the API
    listed = daemon.get_json(f"/api/v1/minutes?domain=mail&start={qiso(m0)}&end={qiso(m0 + 1)}")
    assert [(r["minute"], r["state"]) for r in listed] == [(m0, "down")], listed
    assert listed[0]["requests"] == row["requests"] and listed[0]["errors"] == row["errors"]
    status = daemon.status()
    assert status["closed_through"] == iso(m0)
    assert [(d["domain"], d["state"], d["minute"]) for d in status["domains"]] == [("mail", "down", iso(m0))]
    accounting = daemon.get_json("/api/v1/contracts/acme-lw/accounting")
    assert accounting["scopes"][0]["downtime_minutes"] >= 1, accounting

    # SIGTERM a few seconds into the healthy minute m0 + 1: it is flushed on the way out
    sleep_until((m0 + 1) * 60 + 8)
    assert int(time.time() // 60) == m0 + 1
    daemon.signal(signal.SIGTERM)
    started = time.monotonic()
    rc = daemon.wait(10)
    took = time.monotonic() - started
    assert rc == 0, daemon.explain()
    assert took < 5, f"SIGTERM took {took:.1f}s"
    stopped = daemon.log_with("stopped")
    assert stopped and stopped[-1]["minutes_flushed"] == 1, daemon.explain()
    flushed = db_row(db, "mail", m0 + 1)
    assert flushed is not None, f"the open minute was not flushed: {db_rows(db)}"
    assert 5 <= flushed["requests"] <= 10 and flushed["errors"] == 0, flushed
    assert not [r for r in daemon.logs() if r.get("level") in ("error", "critical")], daemon.explain()


# --- 2 ---------------------------------------------------------------------------------------

def test_restart_after_kill9(tmp_path, target, daemon_factory):
    port = free_port()
    cfg = write_config(tmp_path / "slamon.toml", listen_port=port,
                       domains=[{"name": "mail", "url": target.url, "every": "2s", "timeout": "1s"}])
    db = tmp_path / "slamon.db"
    per_minute = 30                            # every 2s
    avoid_minute_end()
    first = daemon_factory(cfg, port)
    first.wait_running()
    m0 = first.observed_since()
    poll("minute m0 stored by the first daemon", lambda: db_row(db, "mail", m0), (m0 + 1) * 60 + 30 - time.time(),
         explain=lambda: f"{first.explain()}\nrows: {db_rows(db) if db.exists() else None}")

    # kill -9 mid-minute m0 + 1: its samples so far are lost with the process
    sleep_until((m0 + 1) * 60 + 20)
    first.proc.send_signal(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    killed_at = time.time()

    # down for more than a full minute: the rest of m0 + 1 and (nearly) all of m0 + 2
    sleep_until((m0 + 2) * 60 + 45)
    assert time.time() - killed_at > 60
    second = daemon_factory(cfg, port)
    second.wait_running()
    r0 = second.observed_since()
    assert r0 == m0 + 3, (r0, m0)
    poll("minute r0 stored by the restarted daemon", lambda: db_row(db, "mail", r0), (r0 + 1) * 60 + 30 - time.time(),
         explain=lambda: f"{second.explain()}\nrows: {db_rows(db)}")
    second.signal(signal.SIGTERM)
    assert second.wait(10) == 0, second.explain()

    rows = db_rows(db, "mail")
    minutes = [r["minute"] for r in rows]
    assert len(minutes) == len(set(minutes))
    keys = probe_minute_keys(db)
    assert len(keys) == len(set(keys)) and [m for _, m in keys] == minutes, (keys, minutes)
    for r in rows:  # no double count: never more samples than the cadence allows
        assert r["requests"] + r["monitor_error"] <= per_minute + 1, r
        assert r["errors"] == 0, r
    full = {r["minute"]: r["requests"] for r in rows if r["minute"] in (m0, r0)}
    assert set(full) == {m0, r0} and all(v >= per_minute - 2 for v in full.values()), full
    # the minutes without a running (observing) daemon have no row: they are unknown, not up
    assert not [m for m in minutes if m0 < m < r0], minutes
    assert max(minutes) <= r0 + 1

    # `slamon report`: the stored full minutes are up, nothing is down, the gap is unknown
    period = datetime.fromtimestamp(m0 * 60, UTC).strftime("%Y-%m")
    result = run_cli("report", "--config", str(cfg), "--period", period)
    assert result.returncode == 0, result.stderr
    scope = result.json()["contracts"][0]["scopes"][0]
    up_rows = [r for r in rows if r["requests"] >= 20 and r["errors"] * 20 <= r["requests"]]
    assert scope["downtime_minutes"] == 0, scope
    assert scope["up_minutes"] == len(up_rows), (scope, rows)
    assert scope["unknown_minutes"] >= r0 - m0 - 1, scope


# --- 3 ---------------------------------------------------------------------------------------

def test_sighup_reload(tmp_path, target, daemon_factory):
    port = free_port()
    one = [{"name": "mail", "url": target.url, "every": "1s", "timeout": "1s"}]
    cfg = write_config(tmp_path / "slamon.toml", listen_port=port, domains=one)
    daemon = daemon_factory(cfg, port)
    daemon.wait_running()
    assert [d["domain"] for d in daemon.status()["domains"]] == ["mail"]
    poll("a first probe sample",
         lambda: metric(daemon.metrics(), "slamon_probe_requests_total", domain="mail", outcome="ok"), 10)

    def rejected_after(n: int):
        return len(daemon.log_with("config reload rejected")) > n and daemon.log_with("config reload rejected")

    # a TOML syntax error
    good_text = cfg.read_text()
    cfg.write_text(good_text + "\n[[domain]\nname = \n", encoding="utf-8")
    daemon.signal(signal.SIGHUP)
    logs = poll("a 'reload rejected' log line (syntax error)", lambda: rejected_after(0), 15)
    assert logs[-1]["level"] == "error" and logs[-1]["problems"], logs[-1]
    assert daemon.alive(), daemon.explain()
    assert metric(daemon.metrics(), "slamon_probe_requests_total", domain="mail", outcome="ok") is not None

    # an unknown key
    cfg.write_text(good_text.replace("[monitor]", "[monitor]\nbogus_key = 1"), encoding="utf-8")
    daemon.signal(signal.SIGHUP)
    logs = poll("a 'reload rejected' log line (unknown key)", lambda: rejected_after(1), 15)
    assert any("bogus_key" in p for p in logs[-1]["problems"]), logs[-1]
    assert daemon.alive(), daemon.explain()
    before = metric(daemon.metrics(), "slamon_probe_requests_total", domain="mail", outcome="ok")
    poll("probes still running on the old config",
         lambda: metric(daemon.metrics(), "slamon_probe_requests_total", domain="mail", outcome="ok") > before, 10)
    assert [d["domain"] for d in daemon.status()["domains"]] == ["mail"]

    # a valid config with a second domain
    two = one + [{"name": "drive", "url": target.url.replace("/health", "/health?d=drive"), "every": "1s",
                  "timeout": "1s"}]
    write_config(cfg, listen_port=port, domains=two)
    daemon.signal(signal.SIGHUP)
    poll("'config reloaded' log line", lambda: daemon.log_with("config reloaded"), 15)
    assert daemon.log_with("config reloaded")[-1]["domains"] == 2
    assert [d["domain"] for d in daemon.status()["domains"]] == ["mail", "drive"]
    poll("the new domain probed",
         lambda: (metric(daemon.metrics(), "slamon_probe_requests_total", domain="drive", outcome="ok") or 0) > 0,
         10)
    assert daemon.alive()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0, daemon.explain()


# --- 4 ---------------------------------------------------------------------------------------

def test_canaries_mark_monitor_errors(tmp_path, daemon_factory):
    port, canary_port, closed_port = free_port(), free_port(), free_port()
    cfg = write_config(tmp_path / "slamon.toml", listen_port=port, contract=False,
                       canaries=[f"tcp://127.0.0.1:{canary_port}"],
                       domains=[{"name": "mail", "url": f"tcp://127.0.0.1:{closed_port}", "every": "1s",
                                 "timeout": "1s"}])
    db = tmp_path / "slamon.db"
    avoid_minute_end(15)
    daemon = daemon_factory(cfg, port)
    daemon.wait_running()
    m0 = daemon.observed_since()

    def degraded():
        text = daemon.metrics()
        return (metric(text, "slamon_monitor_degraded") == 1.0
                and (metric(text, "slamon_samples_monitor_error_total") or 0) > 0 and text)
    text = poll("slamon_monitor_degraded 1 and monitor_error samples", degraded, 20)
    assert metric(text, "slamon_probe_requests_total", domain="mail", outcome="monitor_error") > 0
    logs = poll("a JSON log line about degraded", lambda: daemon.log_with("degraded"), 5)
    assert logs[0]["level"] == "warning" and logs[0]["canaries"] == 1, logs
    assert daemon.status()["degraded"] is True

    # let some samples land in the first observed minute, then SIGTERM flushes it
    sleep_until(m0 * 60 + 6)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0, daemon.explain()
    row = db_row(db, "mail", m0)
    assert row is not None, db_rows(db)
    assert row["monitor_error"] >= 4, row
    assert row["requests"] == 0 and row["errors"] == 0 and row["connect_error"] == 0, row


# --- 5 ---------------------------------------------------------------------------------------

def test_first_command_config_is_valid():
    result = run_cli("check-config", "--config", "config.toml")
    assert result.returncode == 0, result.stderr
    assert "config.toml: ok" in result.stdout
    data = tomllib.loads((REPO / "config.toml").read_text(encoding="utf-8"))
    demo = data["monitor"]["demo"]
    assert demo["listen"]
    # the demo target is what the shipped domains probe
    demo_port = demo["listen"].rsplit(":", 1)[1]
    urls = [p["url"] for d in data["domain"] for p in d["probe"]]
    assert urls and all(f":{demo_port}/" in u for u in urls), urls
