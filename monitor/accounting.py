"""The monthly accounting over what is stored: the minutes a contract's month needs, read from
storage as cheaply as possible, handed to the pure accounting of reports/."""
from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from datetime import datetime

from monitor.config import Config
from monitor.errors import InputError
from monitor.storage import Storage
from reports.accounting import HISTORY_STEP_MINUTES, ContractResult, account_contracts, contract_periods
from reports.minutes import Count, Thresholds

Rows = dict[int, tuple[int, int]]  # minute -> (requests, errors)


class StoredMinutes:
    """Reads stored minutes for many scopes at once.

    Over the range given at construction (the report periods and the first day before them) it
    reads, once per (min_samples, threshold), only the minutes that are not up, and the gaps of
    the days that have some; every other stored minute is up. Ranges outside it (the
    history before a period, when an incident began more than a day before) are read on demand.
    So a scope's mapping holds just the minutes that matter, and absent minutes are up."""

    def __init__(self, storage: Storage, start: int, end: int):
        self.storage = storage
        self.start, self.end = start, end
        self._unhealthy: dict[Thresholds, dict[str, Rows]] = {}
        self._missing: dict[str, list[int]] = {}
        self._earliest: dict[str, int | None] = {}

    def earliest_minute(self, domains: Sequence[str]) -> int | None:
        for d in domains:
            if d not in self._earliest:
                self._earliest[d] = self.storage.first_minute(d)
        known = [m for d in domains if (m := self._earliest[d]) is not None]
        return min(known) if known else None

    def _unhealthy_for(self, thresholds: Thresholds) -> dict[str, Rows]:
        if thresholds not in self._unhealthy:
            by_domain: dict[str, Rows] = {}
            t = thresholds.error_threshold
            for domain, minute, requests, errors in self.storage.unhealthy_minutes(
                    self.start, self.end, thresholds.min_samples, t.numerator, t.denominator):
                by_domain.setdefault(domain, {})[minute] = (requests, errors)
            self._unhealthy[thresholds] = by_domain
        return self._unhealthy[thresholds]

    def _missing_minutes(self, domain: str) -> list[int]:
        """Gaps are rare: storage opens only the days with fewer minutes than a day has."""
        if domain not in self._missing:
            self._missing[domain] = self.storage.missing_minutes(domain, self.start, self.end)
        return self._missing[domain]

    def _domain_cut(self, domain: str, thresholds: Thresholds, start: int, end: int) -> tuple[Rows, set[int]]:
        """(minutes that are not up, minutes with no row) of one domain in [start, end)."""
        if self.start <= start and end <= self.end:
            rows = {m: v for m, v in self._unhealthy_for(thresholds).get(domain, {}).items() if start <= m < end}
            missing = self._missing_minutes(domain)
            lo, hi = bisect.bisect_left(missing, start), bisect.bisect_left(missing, end)
            return rows, set(missing[lo:hi])
        t = thresholds.error_threshold
        rows = {m: (r, e) for _, m, r, e in self.storage.unhealthy_minutes(
            start, end, thresholds.min_samples, t.numerator, t.denominator, domains=[domain])}
        return rows, set(self.storage.missing_minutes(domain, start, end))

    def domain_minutes(self, domains: Sequence[str], thresholds: Thresholds, start: int,
                       end: int) -> dict[int, dict[str, Count]]:
        cuts = {d: self._domain_cut(d, thresholds, start, end) for d in domains}
        minutes: set[int] = set().union(*(rows.keys() | missing for rows, missing in cuts.values()))
        result: dict[int, dict[str, Count]] = {m: {} for m in minutes}
        for d, (rows, missing) in cuts.items():
            # the other minutes of this domain were up: their counts still go into a pooled minute
            needed = [m for m in minutes if m not in rows and m not in missing] if len(domains) > 1 else []
            known = {**rows, **self.storage.counts_at(d, needed)}
            for m in minutes:
                requests, errors = known.get(m, (0, 0))
                result[m][d] = Count(requests, errors)
        return result


def build_reports(config: Config, storage: Storage, period_label: str, contract_ids: Iterable[str] = (),
                  as_of: datetime | None = None) -> list[ContractResult]:
    """Every named contract (all when none are named), each in its own zone's month, with the
    windows and notices of the config and of the database, and the claims; `as_of` is now (a
    month not over yet is provisional)."""
    book = config.book(storage.windows(), storage.notices(), storage.claims())
    periods = contract_periods(book, period_label, contract_ids)
    start = min(p.start_minute for p in periods.values())
    end = max(p.end_minute for p in periods.values())
    if not storage.has_minutes(start, end):
        raise InputError(f"no samples stored for {period_label} in {storage.where}: nothing to report "
                         f"(ingest samples with `slamon ingest` or run the daemon first)")
    return account_contracts(book, StoredMinutes(storage, start - HISTORY_STEP_MINUTES, end), periods, as_of)
