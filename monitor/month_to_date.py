"""Month to date: every contract's current month accounted over what is stored so far, for
/metrics, the status page and /api/v1/contracts/ID/accounting. Recomputed after minutes close
and after windows or notices change; the computation reads through its own connection in a
worker thread, so it never holds the writer."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from monitor.accounting import build_reports
from monitor.clock import Clock, current_minute, now_utc
from monitor.config import Config
from monitor.errors import InputError
from monitor.storage import Storage
from reports.accounting import ContractResult

log = logging.getLogger("slamon.month_to_date")


class MonthToDate:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.results: list[ContractResult] = []
        self.computed_at: str | None = None
        self._lock = asyncio.Lock()

    def elapsed_minutes(self, result: ContractResult) -> int:
        """Minutes of the result's month that have begun."""
        return min(current_minute(self.clock), result.period.end_minute) - result.period.start_minute

    def result_for(self, contract_id: str) -> ContractResult | None:
        for result in self.results:
            if result.contract.id == contract_id:
                return result
        return None

    def _compute(self, config: Config, database: Path | str, now: datetime) -> list[ContractResult]:
        results: list[ContractResult] = []
        with Storage(database, clock=self.clock) as storage:  # its own connection: a worker thread
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

    async def refresh(self, config: Config) -> None:
        async with self._lock:
            try:
                now = now_utc(self.clock)
                self.results = await asyncio.to_thread(self._compute, config, config.monitor.storage_target, now)
                self.computed_at = now.isoformat()
            except Exception:
                log.exception("month-to-date accounting failed")
