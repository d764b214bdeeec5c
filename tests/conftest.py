"""Shared fixtures: the CLI, a fresh storage, a clock moved by hand, a controllable HTTP target,
an in-process daemon on that clock with an HTTP client for its listener."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest

from monitor.clock import Clock
from monitor.config import load_config
from monitor.daemon import Daemon
from monitor.storage import Storage
from tests.support import REPO, CliResult, FakeClock, Target, free_port, run_cli, run_cli_process, write_config

__all__ = ["REPO", "CliResult", "run_cli", "run_cli_process", "free_port"]


@pytest.fixture
def slamon() -> Callable[..., CliResult]:
    """`slamon(*args, input=..., cwd=..., env=...)` -> CliResult of the real command line, in-process."""
    return run_cli


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    """A fresh SQLite database with every migration applied."""
    with Storage(tmp_path / "slamon.db") as db:
        yield db


@pytest.fixture
def clock() -> FakeClock:
    """A clock at 2026-11-10 12:00:30 UTC, moved only by the test."""
    return FakeClock(datetime.fromisoformat("2026-11-10T12:00:30+00:00"))


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    """A real HTTP server on 127.0.0.1 that fails (503) when told to."""
    server = await Target().start()
    yield server
    await server.stop()


class RunningDaemon:
    """A daemon started in this test's event loop, and a client for its HTTP listener."""

    def __init__(self, daemon: Daemon, clock: FakeClock, client: aiohttp.ClientSession) -> None:
        self.daemon = daemon
        self.clock = clock
        self.client = client

    @property
    def base(self) -> str:
        host, port = self.daemon.addresses[0]
        return f"http://{host}:{port}"

    async def get(self, path: str) -> aiohttp.ClientResponse:
        return await self.client.get(self.base + path)

    async def run_for(self, seconds: float, step: float = 1.0) -> None:
        """Let `seconds` pass on the daemon's clock, `step` at a time, each probe finished before
        the next step, so a minute's samples are all in before it closes."""
        passed = 0.0
        while passed < seconds:
            await self.clock.advance(min(step, seconds - passed))
            await self.daemon.probes.idle()
            passed += step

    async def run_until(self, wall: float | datetime, step: float = 1.0) -> None:
        target = wall.timestamp() if isinstance(wall, datetime) else wall
        await self.run_for(max(0.0, target - self.clock.wall()), step)


@pytest.fixture
async def start_daemon(clock: FakeClock) -> AsyncIterator[Callable[..., object]]:
    """`await start_daemon(config_path)` -> RunningDaemon on the fake clock; stopped at teardown."""
    running: list[RunningDaemon] = []

    async def start(config_path: Path, *, on: Clock | None = None) -> RunningDaemon:
        daemon = Daemon(load_config(config_path), on or clock)
        await daemon.start()
        session = aiohttp.ClientSession()
        r = RunningDaemon(daemon, on or clock, session)
        running.append(r)
        return r

    yield start
    for r in running:
        await r.client.close()
        if r.daemon.addresses:  # not stopped by the test itself
            await r.daemon.stop()


@pytest.fixture
def config_file(tmp_path: Path) -> Callable[[str], Path]:
    """`config_file(text)` -> tmp_path/config.toml with that text."""
    return lambda text: write_config(tmp_path, text)
