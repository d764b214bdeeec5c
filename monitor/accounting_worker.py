"""Where heavy accounting runs: month to date after minutes close, and the month-end reports.

In the daemon's own process (a worker thread) for small installations; in a separate process
for large ones, so that computing and rendering a thousand reports at a month end takes the
other core instead of the probe loop's time (one Python process shares one interpreter lock
between its threads). `[monitor] accounting_process` chooses: "auto" (a process from
AUTO_PROCESS_CONTRACTS contracts on), true or false.

The work functions take only what pickles: the config's file text and path (the other process
parses the same config), the storage target and the time. The daemon's one writer records what
they return (monitor/publisher.py: Work)."""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from monitor.accounting import build_reports
from monitor.config import Config, parse_config
from monitor.errors import InputError
from monitor.publisher import ReportPublisher, Work
from monitor.storage import Storage
from reports.accounting import ContractResult

log = logging.getLogger("slamon.accounting")
AUTO_PROCESS_CONTRACTS = 50
T = TypeVar("T")
ConfigRef = tuple[str, str]   # (file text, path)


def config_ref(config: Config) -> ConfigRef:
    return config.text, str(config.path)


@lru_cache(maxsize=4)
def config_of(ref: ConfigRef) -> Config:
    """The config a reference names, parsed once per process."""
    return parse_config(ref[0], Path(ref[1]))


def month_to_date(ref: ConfigRef, now: datetime) -> list[ContractResult]:
    """Every contract's month so far (the month `now` is in, in the contract's zone)."""
    config = config_of(ref)
    results: list[ContractResult] = []
    with Storage(config.monitor.storage_target) as storage:
        labels: dict[str, list[str]] = {}
        for contract in config.contracts.values():
            label = now.astimezone(ZoneInfo(config.timezone_of(contract))).strftime("%Y-%m")
            labels.setdefault(label, []).append(contract.id)
        for label, ids in labels.items():
            try:
                results += build_reports(config, storage, label, ids, as_of=now)
            except InputError:
                continue  # nothing stored yet this month
    return results


def month_end(ref: ConfigRef, now: datetime, max_timeout: float) -> Work:
    """The reports due and the revisions needed at `now`, their files written."""
    config = config_of(ref)
    publisher = ReportPublisher()
    with Storage(config.monitor.storage_target) as storage:
        return (publisher.due_work(storage, config, now, max_timeout)
                + publisher.revision_work(storage, config, now, max_timeout))


def uses_process(config: Config) -> bool:
    setting = config.monitor.accounting_process
    return setting if isinstance(setting, bool) else len(config.contracts) >= AUTO_PROCESS_CONTRACTS


class AccountingRunner:
    """Runs accounting work in a worker thread or in one separate process (started on first use,
    stopped with the daemon)."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    async def run(self, in_process: bool, work: Callable[..., T], *args: Any) -> T:
        if not in_process:
            return await asyncio.to_thread(work, *args)
        if self._pool is None:
            # spawn: the daemon has threads (database writer, probe workers' readers); a fork
            # would copy them mid-flight
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)

    async def stop(self) -> None:
        """Stop the process, also in the middle of a month end: its files are written whole or
        not at all (a temporary file renamed), and nothing it did is recorded until the daemon
        records it, so the next start does the work again."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
