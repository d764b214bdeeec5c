"""Month to date: every contract's current month accounted over what is stored so far, for
/metrics, the status page and /api/v1/contracts/ID/accounting. Recomputed after minutes close
and after windows or notices change; the computation reads through its own connection, in a
worker thread or the accounting process (monitor/accounting_worker.py), never holding the writer."""
from __future__ import annotations

import asyncio
import logging

from monitor.accounting_worker import AccountingRunner, config_ref, month_to_date, uses_process
from monitor.clock import Clock, current_minute, now_utc
from monitor.config import Config
from reports.accounting import ContractResult

log = logging.getLogger("slamon.month_to_date")


class MonthToDate:
    def __init__(self, clock: Clock, runner: AccountingRunner) -> None:
        self.clock = clock
        self.runner = runner
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

    async def refresh(self, config: Config) -> None:
        async with self._lock:
            try:
                now = now_utc(self.clock)
                self.results = await self.runner.run(uses_process(config), month_to_date, config_ref(config), now)
                self.computed_at = now.isoformat()
            except Exception:
                log.exception("month-to-date accounting failed")
