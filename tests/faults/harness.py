"""What the fault tests share: a fastd daemon process (tests/faults/fastd.py) with its log lines,
a shared scaled clock, and read-only looks into the daemon's SQLite file."""
from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.faults.fastd import ScaledClock
from tests.support import REPO, stored_minutes

Figures = Callable[[str, str], None]          # the fault_figures fixture: (fault name, one line of figures)
StartDaemon = Callable[..., Awaitable[Any]]   # tests/conftest.py's start_daemon fixture

FASTD = Path(__file__).resolve().parent / "fastd.py"
ADMIN_TOKEN = "fault-suite-admin-token-0123456789"


def scaled_clock(start: datetime, speed: float) -> ScaledClock:
    """A clock at `start` now, running `speed` times faster: hand it to every fastd of a test."""
    return ScaledClock(speed, start.timestamp(), time.monotonic())


def parse_line(line: str) -> dict[str, Any]:
    """A JSON log line as a dict; anything else as {"level": "raw", "msg": line}."""
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    return record if isinstance(record, dict) else {"level": "raw", "msg": line}


class FastDaemon:
    """`python tests/faults/fastd.py --config CFG` on `clock`, optionally behind a command prefix
    (`ip netns exec NS`); its stderr (JSON lines) collected by a thread."""

    def __init__(self, config: Path, clock: ScaledClock, *, prefix: Sequence[str] = ()) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", SLAMON_ADMIN_TOKEN=ADMIN_TOKEN)
        env.pop("SLAMON_READ_TOKEN", None)
        self.proc = subprocess.Popen([*prefix, sys.executable, str(FASTD), "--config", str(config), *clock.args()],
                                     cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def logs(self) -> list[dict[str, Any]]:
        return [parse_line(line) for line in list(self.lines)]

    def problems(self) -> list[str]:
        """Log lines at error level or above, and anything that is not a JSON log line (a
        traceback printed by Python itself)."""
        return [line for line in list(self.lines)
                if (record := parse_line(line)).get("level") in ("error", "critical", "raw") or "exc" in record]

    def running(self) -> bool:
        return any(r.get("msg") == "slamon running" for r in self.logs())

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.lines[-n:])

    async def wait_for(self, text: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [r for r in self.logs() if r.get("msg") == text]
            if found:
                return found[-1]
            if self.proc.poll() is not None:
                raise AssertionError(f"fastd exited ({self.proc.returncode}) before {text!r}:\n{self.tail()}")
            await asyncio.sleep(0.02)
        raise AssertionError(f"no log line {text!r} within {timeout} s:\n{self.tail()}")

    def kill9(self) -> int:
        """SIGKILL, then the exit status (-9, or what it exited with before)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        code = self.proc.wait(10)
        self._pump.join(5)
        return code

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM (a clean stop: open minutes flushed), then the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"fastd did not stop within {timeout} s of SIGTERM:\n{self.tail()}") from None
        self._pump.join(5)
        return code

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._pump.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


async def sleep_until(clock: ScaledClock, wall: float) -> None:
    """Wait (real time) until the daemon clock reads `wall`."""
    while (delay := clock.real_seconds_until(wall)) > 0:
        await asyncio.sleep(delay)


def read_db(db: Path) -> sqlite3.Connection:
    """A read-only connection to the daemon's database (WAL: it may be written meanwhile)."""
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)


def minute_rows(db: Path, domain: str) -> dict[int, dict[str, Any]]:
    """minute -> the domain's minute_counts row (with `samples`: every outcome counted, and
    `partial` from its probe_minutes marker)."""
    result = {}
    for record in stored_minutes(db, domain):
        record["marker"] = int(record["partial"]) if record["probed"] else -1
        record["samples"] = sum(record[k] for k in ("ok", "client_error", "server_error", "timeout",
                                                     "connect_error", "tls_error", "dns_error", "monitor_error"))
        result[record["minute"]] = record
    return result


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db, timeout=10)
    try:
        return ",".join(str(r[0]) for r in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


def cadence_allows(every_seconds: float) -> int:
    """The most probe samples one minute of one domain can hold: one per tick of the cadence, and
    one tick more that ran late into the minute from the one before."""
    return math.ceil(60 / every_seconds) + 1


def metric_value(text: str, name: str) -> tuple[str, float]:
    """(name, value) of an exposition sample that must be present."""
    value = metric(text, name)
    assert value is not None, f"{name} is not in /metrics"
    return name, value


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of the exposition sample `name` whose labels include `labels`, or None."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None
