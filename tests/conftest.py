"""Shared fixtures: the CLI, a fresh storage, a clock moved by hand, a controllable HTTP target,
an in-process daemon on that clock with an HTTP client for its listener."""
from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest

from monitor.clock import Clock
from monitor.config import load_config
from monitor.daemon import Daemon
from monitor.storage import Storage
from tests.postgres import PostgresCluster
from tests.support import BACKEND, REPO, CliResult, FakeClock, Target, free_port, run_cli, run_cli_process, write_config

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


# --- PostgreSQL: one throwaway cluster per run (tests/postgres.py), started by the first test that asks


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "postgres: uses the throwaway PostgreSQL cluster (added by conftest to every test that does; "
        "`-m postgres` runs only those, `-m 'not postgres'` leaves them out)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `postgres` each test that reaches the cluster: through postgres_cluster or postgres_url
    (directly or through another fixture), or as the `postgresql` case of storage_url."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        param = params.get("storage_url", params.get("each_backend"))
        if "postgres_cluster" in names or "postgres_url" in names or param == "postgresql":
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """The run's PostgreSQL cluster: initdb + start the first time a test asks (a run that never asks
    pays nothing), `pg_ctl stop -m fast` and its directory removed at the end of the run. Fails, never
    skips, when PostgreSQL cannot be started. Tests should not share data through it: take a database
    of your own from `postgres_url`."""
    cluster = PostgresCluster.start()
    yield cluster
    cluster.stop()


_database_numbers = itertools.count(1)


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database for this test alone, as a libpq URL over the cluster's Unix socket:
    postgresql://postgres@/t7_test_name?host=/tmp/slamon-pg-xxxx&port=NNNNN (superuser, trust auth,
    no password). Dropped WITH (FORCE) after the test: connections left open are ended."""
    name = f"t{next(_database_numbers)}_{request.node.name}"
    url = postgres_cluster.create_database(name)
    yield url
    postgres_cluster.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage backend in turn, as the `[storage] url` a config would name:
      sqlite      -> f"sqlite:///{tmp_path}/slamon.db" (an absolute path, so four slashes in all)
      postgresql  -> a fresh database from `postgres_url`
    A test that takes this fixture runs once per backend, with ids `test_x[sqlite]` and
    `test_x[postgresql]`; the PostgreSQL case is marked `postgres` (so `-m 'not postgres'` or
    `-k sqlite` narrows a run) and only it starts the cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/slamon.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def each_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs a test once per storage backend: on PostgreSQL every config `write_config` writes
    names a fresh database of the test's own. Use with `pytestmark = pytest.mark.usefixtures(...)`."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    url: str = request.getfixturevalue("postgres_url")
    BACKEND.url = url
    try:
        yield url
    finally:
        BACKEND.url = None
