"""Helpers every test file may use: the real CLI (in-process or as a subprocess), a clock moved by
hand, free ports, config files, months of samples and storage rows, a controllable HTTP target."""
from __future__ import annotations

import asyncio
import contextlib
import heapq
import io
import itertools
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from monitor import cli
from monitor.config import load_config
from monitor.storage import Storage
from probes import OUTCOMES

REPO = Path(__file__).resolve().parent.parent
UTC = UTC


# --- the command line --------------------------------------------------------------------------

@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


class _Stdin(io.TextIOWrapper):
    """Standard input for an in-process run: text and `.buffer` bytes, as a terminal's."""


def run_cli(*args: object, cwd: Path | None = None, input: str | None = None,
            env: dict[str, str] | None = None) -> CliResult:
    """`slamon ARGS...` in this process: the same `main()` the console script runs, with standard
    streams, working directory and environment set for the call and restored after it."""
    out, err = io.StringIO(), io.StringIO()
    stdin = _Stdin(io.BytesIO((input or "").encode("utf-8")), encoding="utf-8")
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    try:
        os.environ.update(env or {})
        os.chdir(cwd or REPO)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            old_stdin, sys.stdin = sys.stdin, stdin
            try:
                code = cli.main([str(a) for a in args])
            except SystemExit as exc:  # argparse: --help, --version, usage errors
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
            finally:
                sys.stdin = old_stdin
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return CliResult(code, out.getvalue(), err.getvalue())


def run_cli_process(*args: object, cwd: Path | None = None, input: str | None = None,
                    env: dict[str, str] | None = None, timeout: float = 120) -> CliResult:
    """`python -m monitor ARGS...` in a fresh interpreter, exactly as a user would run it."""
    proc = subprocess.run([sys.executable, "-m", "monitor", *map(str, args)], cwd=cwd or REPO, input=input,
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


# --- time ---------------------------------------------------------------------------------------

class FakeClock:
    """A Clock moved by hand. `sleep` parks the caller until `advance` passes its deadline;
    `advance` wakes the sleepers in deadline order, setting the time to each deadline in turn, and
    waits until each woken task has parked again or finished (its database work in threads and
    its loopback I/O included) before it goes on. Wall and monotonic time move together."""

    def __init__(self, wall: float | datetime) -> None:
        self._wall = wall.timestamp() if isinstance(wall, datetime) else float(wall)
        self._mono = 1_000_000.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None], asyncio.Task[Any] | None]] = []
        self._order = itertools.count()

    def wall(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._wall, UTC)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._order), future, asyncio.current_task()))
        await future

    def _move_to(self, mono: float) -> None:
        if mono > self._mono:
            self._wall += mono - self._mono
            self._mono = mono

    def _parked(self, task: asyncio.Task[Any]) -> bool:
        return any(t is task and not f.done() for _, _, f, t in self._sleepers)

    async def advance(self, seconds: float, *, settle_timeout: float = 30.0) -> None:
        for _ in range(5):  # tasks created just now get to their first sleep
            await asyncio.sleep(0)
        target = self._mono + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future, task = heapq.heappop(self._sleepers)
            if future.done():
                continue  # its sleeper was cancelled
            self._move_to(deadline)
            future.set_result(None)
            if task is None:
                continue
            waited = 0.0
            while not (task.done() or self._parked(task)):
                await asyncio.sleep(0.001)  # real time: threads and sockets make progress
                waited += 0.001
                if waited > settle_timeout:
                    raise AssertionError(f"{task.get_name()} neither parked nor finished after being woken")
        self._move_to(target)

    async def advance_to(self, wall: float | datetime) -> None:
        target = wall.timestamp() if isinstance(wall, datetime) else wall
        await self.advance(max(0.0, target - self._wall))


# --- network ------------------------------------------------------------------------------------

def free_port() -> int:
    """A port nothing listens on right now (bound and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Target:
    """A real aiohttp server on 127.0.0.1 in the test's loop. It answers 503 while `failing` is
    true (or to the paths in `failing_paths`) and 200 otherwise, counting what it answered."""

    failing: bool = False
    failing_paths: set[str] = field(default_factory=set)
    hits: dict[str, int] = field(default_factory=lambda: {"200": 0, "503": 0})
    port: int = 0
    _runner: web.AppRunner | None = None

    def url(self, path: str = "/health") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        if self.failing or request.path in self.failing_paths:
            self.hits["503"] += 1
            return web.Response(status=503, text="failing on purpose")
        self.hits["200"] += 1
        return web.Response(text="ok")

    async def start(self) -> Target:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


# --- configuration --------------------------------------------------------------------------------

@dataclass
class Backend:
    """The storage the configs written by `write_config` name: None, their own `database` (SQLite);
    else a PostgreSQL URL (set by the `each_backend` fixture for the tests that run on both)."""

    url: str | None = None


BACKEND = Backend()


def write_config(directory: Path, text: str, name: str = "config.toml") -> Path:
    """The config text as a file in `directory` (paths in it are relative to that directory),
    with a `[storage] url` when the test runs on PostgreSQL."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    if BACKEND.url is not None and "[storage]" not in text:
        text += f'\n[storage]\nurl = "{BACKEND.url}"\n'
    path.write_text(text, encoding="utf-8")
    return path


def domain_toml(name: str, *, url: str | None = None, every: str = "2s", timeout: str = "1s",
                min_samples: int = 20) -> str:
    """A [[domain]] table, with one probe when `url` is given."""
    text = f'\n[[domain]]\nname = "{name}"\nmin_samples = {min_samples}\n'
    if url:
        text += f'  [[domain.probe]]\n  url = "{url}"\n  every = "{every}"\n  timeout = "{timeout}"\n'
    return text


def lineworks_contract_toml(cid: str, domains: Iterable[str], *, timezone: str | None = None,
                            licenses: int = 100) -> str:
    """A lineworks contract at 540 JPY per ID."""
    text = (f'\n[[contract]]\nid = "{cid}"\ncustomer = "ACME K.K."\nregime = "lineworks"\n'
            f"domains = {json.dumps(list(domains))}\n"
            f'unit_price = "540"\nlicenses = {licenses}\n')
    if timezone:
        text += f'timezone = "{timezone}"\n'
    return text


def monitor_toml(*, listen: str = "127.0.0.1:0", extra: str = "") -> str:
    return (f'[monitor]\ndatabase = "slamon.db"\nlisten = "{listen}"\nreports_dir = "reports"\n'
            + (extra + "\n" if extra else ""))


# --- samples and stored minutes --------------------------------------------------------------------

def minute_index(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


def iso_minute(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).isoformat().replace("+00:00", "Z")


def minute_row(domain_id: int, minute: int, requests: int, errors: int = 0) -> tuple[int, ...]:
    """A storage row (domain id, minute, requests, errors, then one count per outcome): `errors`
    server errors, the rest ok."""
    outcomes = dict.fromkeys(OUTCOMES, 0)
    outcomes["ok"] = requests - errors
    outcomes["server_error"] = errors
    return (domain_id, minute, requests, errors, *outcomes.values())


def month_minutes(start: datetime, minutes: int, *, requests: int = 20,
                  down: Iterable[tuple[int, int]] = (), errors: int | None = None) -> Iterator[tuple[int, int, int]]:
    """(minute, requests, errors) for `minutes` minutes from `start`: every minute has `requests`
    samples; the minutes at the offsets of `down` ([first, end) pairs) have `errors` server errors
    (default: all of them)."""
    first = minute_index(start)
    down_offsets = {i for a, b in down for i in range(a, b)}
    for i in range(minutes):
        yield first + i, requests, (requests if errors is None else errors) if i in down_offsets else 0


def aggregate_lines(domain: str, minutes: Iterable[tuple[int, int, int]]) -> list[str]:
    """Ingest lines (per-minute aggregates) of (minute, requests, errors)."""
    return [json.dumps({"minute": iso_minute(m), "domain": domain, "requests": r, "errors": e}) for m, r, e in minutes]


def local_month(zone: str | ZoneInfo, year: int, month: int) -> tuple[datetime, int]:
    """The calendar month `year`-`month` in `zone`: its first instant (in UTC) and its length in
    minutes, daylight-saving changes included; the `start` and `minutes` of `month_minutes`."""
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(UTC), minute_index(end) - minute_index(start)


def month_lines(domain: str, zone: str | ZoneInfo, year: int, month: int,
                down: Iterable[tuple[datetime, int]] = ()) -> list[str]:
    """Ingest lines for every UTC minute of a local calendar month: 20 requests a minute, all of
    them server errors in the (first minute, minutes) runs of `down`."""
    start, minutes = local_month(zone, year, month)
    first = minute_index(start)
    runs = [(minute_index(m) - first, minute_index(m) - first + n) for m, n in down]
    return aggregate_lines(domain, month_minutes(start, minutes, down=runs))


def write_jsonl(path: Path, lines: Iterable[str | dict[str, Any]]) -> Path:
    """A JSON Lines file, one line per item: objects as JSON, strings as they are (lines made by
    `aggregate_lines`, or deliberately broken ones)."""
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines),
                    encoding="utf-8")
    return path


def open_storage(config_file: Path) -> Storage:
    """The storage a config file names (SQLite file or PostgreSQL), as the CLI would open it."""
    return Storage(load_config(config_file).monitor.storage_target)


def stored_minutes(db: Path, domain: str | None = None, start: int = 0, end: int = 2**40) -> list[dict[str, Any]]:
    """Every stored minute (of one domain, or of all in name order), minute by minute, through
    the storage API: `domain`, `minute`, the counts, `partial` and `probed`."""
    with Storage(db) as storage:
        names = [domain] if domain is not None else sorted(storage.known_domain_ids())
        return [{"domain": name, **row} for name in names for row in storage.minute_rows(name, start, end)]


def store_minutes(storage: Any, domain: str, minutes: Iterable[tuple[int, int, int]]) -> None:
    """Store (minute, requests, errors) of a domain as the daemon does when it closes minutes."""
    domain_id = storage.domain_ids([domain])[domain]
    storage.close_probe_minutes([minute_row(domain_id, m, r, e) for m, r, e in minutes])


MONTH_OF_NOVEMBER_TOKYO = datetime(2026, 10, 31, 15, 0, tzinfo=UTC)  # 2026-11-01 00:00 JST
AFTER_NOVEMBER_TOKYO = datetime(2026, 11, 30, 15, 5, tzinfo=UTC)   # a few minutes into December in Tokyo


def november_with_44_down(storage: Any, domain: str = "mail") -> None:
    """November 2026 in Tokyo at 20 samples a minute, 44 minutes down from 10:40 JST on the 1st:
    99.898148% under lineworks, 3 days, 5,400 JPY for 100 IDs at 540 JPY."""
    store_minutes(storage, domain, month_minutes(MONTH_OF_NOVEMBER_TOKYO, 43200, down=[(1000, 1044)]))


def publish_reports(daemon: Any, now: datetime) -> list[Path]:
    """The month-end job's work at `now`: due reports written, changed ones revised."""
    written: list[Path] = daemon.publisher.publish(daemon.storage, daemon.config, now, daemon.max_timeout())
    return written
