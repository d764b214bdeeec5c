"""Test harness, not production code: `slamon run` on a scaled clock, so the fault tests see
daemon minutes pass in 2-3 real seconds without waiting out real minutes.

    python tests/faults/fastd.py --config CFG --speed 30 --start-wall W --start-mono M [--offset S]

It builds `monitor.daemon.Daemon(load_config(CFG), clock=ScaledClock(...))` and runs it as
`monitor.daemon.run_daemon` does: JSON log lines on stderr, SIGTERM/SIGINT stop it and flush the
open minutes, SIGHUP reloads (Daemon.run installs the handlers).

The clock's origin (start_wall, start_mono) is handed in by the test, not taken at start-up:
CLOCK_MONOTONIC is one clock for every process of the machine (and every network namespace), so
the test, each daemon it restarts and each daemon after a kill -9 all read the same daemon time,
which moves on while no daemon runs, as real time does. Probe timeouts stay real aiohttp time:
keep them small against a minute of `60 / speed` real seconds."""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from datetime import UTC, datetime

from monitor.config import load_config
from monitor.daemon import Daemon
from monitor.runtime import loop_factory, setup_logging

log = logging.getLogger("slamon")


class ScaledClock:
    """The Clock protocol (monitor/clock.py) running `speed` times faster than the machine's:
    wall = start_wall + offset + (monotonic - start_mono) * speed, monotonic scaled alike, and
    sleep(s) waits s / speed real seconds."""

    def __init__(self, speed: float, start_wall: float, start_mono: float | None = None,
                 offset: float = 0.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self.start_wall = start_wall
        self.start_mono = time.monotonic() if start_mono is None else start_mono
        self.offset = offset

    def _elapsed(self) -> float:
        return (time.monotonic() - self.start_mono) * self.speed

    def wall(self) -> float:
        return self.start_wall + self.offset + self._elapsed()

    def monotonic(self) -> float:
        return self.start_mono + self._elapsed()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.wall(), UTC)

    def real_seconds_until(self, wall: float) -> float:
        """How long in real seconds until this clock's wall time reaches `wall` (0 if it has)."""
        return max(0.0, (wall - self.wall()) / self.speed)

    def args(self) -> list[str]:
        """The command-line options that give a fastd process this same clock."""
        return ["--speed", repr(self.speed), "--start-wall", repr(self.start_wall),
                "--start-mono", repr(self.start_mono), "--offset", repr(self.offset)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--config", required=True)
    parser.add_argument("--speed", type=float, default=30.0)
    parser.add_argument("--start-wall", type=float, required=True, help="daemon wall time at --start-mono")
    parser.add_argument("--start-mono", type=float, required=True, help="a time.monotonic() reading")
    parser.add_argument("--offset", type=float, default=0.0, help="seconds added to the daemon's wall time")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    setup_logging(args.log_level, "json")
    clock = ScaledClock(args.speed, args.start_wall, args.start_mono, args.offset)
    daemon = Daemon(load_config(args.config), clock=clock)
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(daemon.run())
    except OSError as exc:
        log.error("cannot start", extra={"why": str(exc)})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
