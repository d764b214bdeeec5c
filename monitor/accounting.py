"""The monthly accounting over what is stored: the minutes a contract's month needs, read from
storage as cheaply as possible, handed to the pure accounting of reports/."""
from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

from monitor.config import Config
from monitor.errors import InputError
from monitor.storage import Storage
from reports.accounting import OUTAGE_LOOKBACK_MINUTES, ContractResult, account_contracts, contract_periods
from reports.minutes import Count, Thresholds


class StoredMinutes:
    """Reads a range of stored minutes for many scopes at once.

    For each (min_samples, threshold) it fetches only the minutes that are not up, and the
    ranges with no row at all; every other stored minute is up. So a scope's mapping holds just
    the minutes that matter, and the detector is told that absent minutes are up."""

    def __init__(self, storage: Storage, start: int, end: int):
        self.storage = storage
        self.start, self.end = start, end
        self._unhealthy: dict[Thresholds, dict[str, dict[int, tuple[int, int]]]] = {}
        self._hourly: dict[str, dict[int, int]] | None = None
        self._missing: dict[str, list[int]] = {}
        self._cut: dict[tuple[str, Thresholds, int, int, int], tuple[dict[int, tuple[int, int]], set[int]]] = {}

    def _unhealthy_for(self, thresholds: Thresholds) -> dict[str, dict[int, tuple[int, int]]]:
        if thresholds not in self._unhealthy:
            by_domain: dict[str, dict[int, tuple[int, int]]] = {}
            t = thresholds.error_threshold
            for domain, minute, requests, errors in self.storage.unhealthy_minutes(
                    self.start, self.end, thresholds.min_samples, t.numerator, t.denominator):
                by_domain.setdefault(domain, {})[minute] = (requests, errors)
            self._unhealthy[thresholds] = by_domain
        return self._unhealthy[thresholds]

    def _missing_minutes(self, domain: str) -> list[int]:
        """Gaps are rare: only the hours with fewer rows than minutes are read minute by minute."""
        if domain not in self._missing:
            if self._hourly is None:
                self._hourly = self.storage.hourly_counts(self.start, self.end)
            hours = self._hourly.get(domain, {})
            missing: list[int] = []
            for hour in range(self.start // 60, (self.end - 1) // 60 + 1):
                lo, hi = max(self.start, hour * 60), min(self.end, hour * 60 + 60)
                stored = hours.get(hour, 0)
                if stored == 0:
                    missing.extend(range(lo, hi))
                elif stored < hi - lo:
                    missing.extend(self.storage.missing_minutes(domain, lo, hi))
            self._missing[domain] = missing
        return self._missing[domain]

    def _domain_cut(self, domain: str, thresholds: Thresholds, start: int, end: int,
                    gaps_from: int) -> tuple[dict[int, tuple[int, int]], set[int]]:
        """(unhealthy rows in [start, end), missing minutes in [gaps_from, end)) of one domain;
        contracts in one zone share their periods, so this is computed once per domain and period."""
        key = (domain, thresholds, start, end, gaps_from)
        if key not in self._cut:
            rows = {m: v for m, v in self._unhealthy_for(thresholds).get(domain, {}).items() if start <= m < end}
            missing = self._missing_minutes(domain)
            lo, hi = bisect.bisect_left(missing, gaps_from), bisect.bisect_left(missing, end)
            self._cut[key] = (rows, set(missing[lo:hi]))
        return self._cut[key]

    def scope_minutes(self, domains: Sequence[str], thresholds: Thresholds, start: int, end: int,
                      gaps_from: int | None = None) -> dict[int, Count]:
        """The minutes of [start, end) that are not up, pooled over the domains. Minutes with no
        row are listed only from `gaps_from` on: before it (the look-back before a period) only
        down minutes matter, and an unlisted minute breaks a run of them just as a gap does."""
        gaps_from = start if gaps_from is None else gaps_from
        cuts = {d: self._domain_cut(d, thresholds, start, end, gaps_from) for d in domains}
        if len(domains) == 1:
            rows, missing = cuts[domains[0]]
            result = {m: Count(r, e) for m, (r, e) in rows.items()}
            result.update((m, Count(0, 0)) for m in missing)
            return result
        minutes: set[int] = set().union(*(rows.keys() | missing for rows, missing in cuts.values()))
        pooled = dict.fromkeys(minutes, (0, 0))
        for d, (rows, missing) in cuts.items():
            needed = [m for m in minutes if m not in rows and m not in missing]
            known = {**rows, **self.storage.counts_at(d, needed)}
            for m, (requests, errors) in known.items():
                r, e = pooled[m]
                pooled[m] = (r + requests, e + errors)
        return {m: Count(r, e) for m, (r, e) in pooled.items()}


def build_reports(config: Config, storage: Storage, period_label: str,
                  contract_ids: Iterable[str] = ()) -> list[ContractResult]:
    """Every named contract (all when none are named), each in its own zone's month, with the
    windows and notices of the config and of the database."""
    book = config.book(storage.windows(), storage.notices())
    periods = contract_periods(book, period_label, contract_ids)
    start = min(p.start_minute for p in periods.values())
    end = max(p.end_minute for p in periods.values())
    if not storage.has_minutes(start, end):
        raise InputError(f"no samples stored for {period_label} in {storage.path}: nothing to report "
                         f"(ingest samples with `slamon ingest` or run the daemon first)")
    return account_contracts(book, StoredMinutes(storage, start - OUTAGE_LOOKBACK_MINUTES, end), periods)
