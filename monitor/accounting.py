"""The monthly accounting over what is stored: the minutes a contract's month needs, read from
storage as cheaply as possible, handed to the pure accounting of reports/."""
from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime

from monitor.config import Config
from monitor.errors import InputError
from monitor.minute_store import BLOCK_MINUTES, BlockSummary, DayBlock, day_of
from monitor.storage import Storage
from reports.accounting import (
    HISTORY_STEP_MINUTES,
    ContractResult,
    DomainMinutes,
    account_contracts,
    contract_periods,
    contract_scopes,
    gc_paused,
)
from reports.minutes import Count, MinuteTable, Thresholds

Rows = dict[int, tuple[int, int]]  # minute -> (requests, errors)


class _Series:
    """One domain over the range of a StoredMinutes: its blocks' summaries, the blocks opened so
    far, and what was read from them."""

    __slots__ = ("summaries", "opened", "missing", "listed", "requests", "errors")

    def __init__(self) -> None:
        self.summaries: dict[int, BlockSummary] = {}
        self.opened: dict[int, DayBlock] = {}
        self.missing: list[int] | None = None          # the minutes with nothing stored, in order
        self.listed: dict[Thresholds, list[int]] = {}   # the minutes not up under thresholds, in order
        # the counts of every minute read so far (0, 0 where nothing is stored)
        self.requests: dict[int, int] = {}
        self.errors: dict[int, int] = {}

    def first_stored(self) -> int | None:
        return min((s.first_minute for s in self.summaries.values() if s.first_minute is not None), default=None)

    def read(self, block: DayBlock, minutes: list[int]) -> None:
        """The counts of some minutes of an opened block (a minute not stored has none: every
        count of it is 0 in the block's columns)."""
        first = block.day * BLOCK_MINUTES
        offsets = [m - first for m in minutes]
        for counts, column in ((self.requests, block.column(0)), (self.errors, block.column(1))):
            if column is None:
                counts.update(dict.fromkeys(minutes, 0))
            else:
                counts.update(zip(minutes, map(column.__getitem__, offsets), strict=True))


class StoredMinutes:
    """Reads stored minutes for many scopes at once.

    Over the range given at construction (the report periods and the first day before them) it
    reads each domain's blocks once: the days whose summary says every minute was up under a
    scope's thresholds are not opened, the others give the domain's minutes that are not up
    and its gaps. A pooled scope also needs each domain's counts at the minutes where another
    of its domains was not up: `prepare(scopes)` reads them all in one pass, opening each block
    at most once (without it, they are read on demand). So a scope's table holds just the
    minutes that matter, and absent minutes are up. Ranges outside it (the history before a
    period, when an incident began more than a day before) are read from storage on demand.

    The tables returned are shared between the scopes that ask for the same minutes."""

    def __init__(self, storage: Storage, start: int, end: int):
        self.storage = storage
        self.start, self.end = start, end
        self._series: dict[str, _Series] = {}
        self._earliest: dict[str, int | None] = {}
        self._answers: dict[tuple[tuple[str, ...], Thresholds, int, int], DomainMinutes] = {}

    def earliest_minute(self, domains: Sequence[str]) -> int | None:
        for d in domains:
            if d not in self._earliest:
                self._earliest[d] = self.storage.first_minute(d)
        known = [m for d in domains if (m := self._earliest[d]) is not None]
        return min(known) if known else None

    # --- reading the range ------------------------------------------------------------------

    def _load(self, domains: Iterable[str], thresholds: Mapping[str, Iterable[Thresholds]] | None = None) -> None:
        """Read the summaries of the domains not read yet, and open the blocks that their
        listings under `thresholds` (domain -> the thresholds it is judged by) will need."""
        new = [d for d in dict.fromkeys(domains) if d not in self._series]
        for d in new:
            self._series[d] = _Series()
        if not new:
            return
        judged = thresholds or {}
        for name, day, summary, blob in self.storage.day_blocks(new, self.start, self.end):
            series = self._series[name]
            series.summaries[day] = summary
            if summary.present < BLOCK_MINUTES or any(not summary.all_up(t.min_samples, t.error_threshold)
                                                      for t in judged.get(name, ())):
                series.opened[day] = DayBlock.decode(day, blob)

    def _get(self, domain: str) -> _Series:
        if domain not in self._series:
            self._load([domain])
        return self._series[domain]

    def _block(self, domain: str, series: _Series, day: int) -> DayBlock | None:
        """A day's block (None: nothing stored that day), opened if need be."""
        block = series.opened.get(day)
        if block is None and day in series.summaries:
            for name, d, _, blob in self.storage.day_blocks([domain], day * BLOCK_MINUTES, (day + 1) * BLOCK_MINUTES):
                if name == domain and d == day:
                    block = series.opened[day] = DayBlock.decode(day, blob)
        return block

    def _days(self) -> Iterator[tuple[int, int, int]]:
        """(day, lo, hi): the days of the range with their offsets [lo, hi) inside it."""
        for day in range(day_of(self.start), day_of(self.end - 1) + 1):
            first = day * BLOCK_MINUTES
            yield day, max(0, self.start - first), min(BLOCK_MINUTES, self.end - first)

    def _missing(self, domain: str, series: _Series) -> list[int]:
        """The minutes of the range with nothing stored: days without a block, gaps in the others."""
        if series.missing is None:
            missing: list[int] = []
            for day, lo, hi in self._days():
                first = day * BLOCK_MINUTES
                summary = series.summaries.get(day)
                if summary is None:
                    missing.extend(range(first + lo, first + hi))
                elif summary.present < BLOCK_MINUTES:
                    block = self._block(domain, series, day)
                    assert block is not None
                    missing.extend([first + i for i in block.missing_offsets(lo, hi)])
            series.missing = missing
            nothing = dict.fromkeys(missing, 0)
            series.requests.update(nothing)
            series.errors.update(nothing)
        return series.missing

    def _listing(self, domain: str, series: _Series, thresholds: Thresholds) -> list[int]:
        """The minutes of the range that are not up under `thresholds`, in order: the stored
        ones that are not (days whose summary says every minute was up are not opened), and
        those with nothing stored."""
        listed = series.listed.get(thresholds)
        if listed is None:
            unhealthy: list[int] = []
            ms, threshold = thresholds.min_samples, thresholds.error_threshold
            for day, lo, hi in self._days():
                summary = series.summaries.get(day)
                if summary is None or summary.all_up(ms, threshold):
                    continue
                block = self._block(domain, series, day)
                assert block is not None
                first = day * BLOCK_MINUTES
                for i, requests, errors in block.unhealthy(lo, hi, ms, threshold):
                    unhealthy.append(first + i)
                    series.requests[first + i] = requests
                    series.errors[first + i] = errors
            listed = series.listed[thresholds] = sorted(unhealthy + self._missing(domain, series))
        return listed

    def _listed(self, domain: str, thresholds: Thresholds, start: int, end: int) -> tuple[_Series, list[int]]:
        """The domain's minutes of [start, end) that are not up under `thresholds`."""
        series = self._get(domain)
        listed = self._listing(domain, series, thresholds)
        return series, listed[bisect.bisect_left(listed, start):bisect.bisect_left(listed, end)]

    def prepare(self, scopes: Iterable[tuple[Sequence[str], Thresholds]]) -> None:
        """Read at once, opening each block at most once, what the scopes (domains, thresholds)
        will ask for over the whole range: each domain's listings, and each pooled scope's
        domains' counts at the minutes where another of its domains was not up."""
        distinct = dict.fromkeys((tuple(dict.fromkeys(domains)), thresholds) for domains, thresholds in scopes)
        judged: dict[str, set[Thresholds]] = {}
        for domains, thresholds in distinct:
            for d in domains:
                judged.setdefault(d, set()).add(thresholds)
        self._load(judged, judged)
        needed: dict[str, set[int]] = {d: set() for d in judged}
        for domains, thresholds in distinct:
            if len(domains) < 2:
                continue
            # before the first minute stored for any of them, every domain has nothing: no counts
            known = [m for d in domains if (m := self._series[d].first_stored()) is not None]
            if not known:
                continue
            cuts = [self._listed(d, thresholds, min(known), self.end) for d in domains]
            union = set().union(*(listed for _, listed in cuts))
            for d, (series, _) in zip(domains, cuts, strict=True):
                needed[d].update(union.difference(series.requests))
        # the counts at the needed minutes: from the blocks open, then the others in one pass
        unopened: dict[str, dict[int, list[int]]] = {}
        for d, minutes in needed.items():
            series = self._series[d]
            ordered = sorted(minutes)
            while ordered:
                day = day_of(ordered[0])
                cut = bisect.bisect_left(ordered, (day + 1) * BLOCK_MINUTES)
                wanted, ordered = ordered[:cut], ordered[cut:]
                block = series.opened.get(day)
                if block is not None:
                    series.read(block, wanted)
                elif day in series.summaries:
                    unopened.setdefault(d, {})[day] = wanted
                else:   # no block: nothing stored (not reached: such minutes are gaps, read already)
                    series.requests.update(dict.fromkeys(wanted, 0))
                    series.errors.update(dict.fromkeys(wanted, 0))
        if unopened:
            for name, day, _, blob in self.storage.day_blocks(list(unopened), self.start, self.end):
                day_wanted = unopened[name].get(day)
                if day_wanted:
                    self._series[name].read(DayBlock.decode(day, blob), day_wanted)
        for series in self._series.values():
            series.opened.clear()   # what the scopes need is read: the blocks are not kept

    def _counts(self, domain: str, series: _Series, minutes: Sequence[int]) -> tuple[list[int], list[int]]:
        """The domain's requests and errors at minutes of the range, read if not yet."""
        try:
            return list(map(series.requests.__getitem__, minutes)), list(map(series.errors.__getitem__, minutes))
        except KeyError:
            unread: dict[int, list[int]] = {}
            for m in minutes:
                if m not in series.requests:
                    unread.setdefault(day_of(m), []).append(m)
            for day, wanted in unread.items():
                block = self._block(domain, series, day)
                if block is None:
                    series.requests.update(dict.fromkeys(wanted, 0))
                    series.errors.update(dict.fromkeys(wanted, 0))
                else:
                    series.read(block, wanted)
            return list(map(series.requests.__getitem__, minutes)), list(map(series.errors.__getitem__, minutes))

    # --- the MinuteSource ---------------------------------------------------------------------

    def domain_minutes(self, domains: Sequence[str], thresholds: Thresholds, start: int,
                       end: int) -> DomainMinutes:
        key = (tuple(domains), thresholds, start, end)
        answer = self._answers.get(key)
        if answer is None:
            if self.start <= start and end <= self.end:
                answer = self._in_range(key[0], thresholds, start, end)
            else:
                answer = self._outside(domains, thresholds, start, end)
            self._answers[key] = answer
        return answer

    def _in_range(self, domains: tuple[str, ...], thresholds: Thresholds, start: int, end: int) -> MinuteTable:
        cuts = {d: self._listed(d, thresholds, start, end) for d in domains}
        if len(cuts) == 1:
            minutes = next(iter(cuts.values()))[1]
        else:
            minutes = sorted(set().union(*(listed for _, listed in cuts.values())))
        requests, errors = [], []
        for d, (series, _) in cuts.items():
            r, e = self._counts(d, series, minutes)
            requests.append(r)
            errors.append(e)
        return MinuteTable(list(cuts), minutes, requests, errors)

    def _outside(self, domains: Sequence[str], thresholds: Thresholds, start: int, end: int
                 ) -> dict[int, dict[str, Count]]:
        """A range not read at construction, straight from storage."""
        t = thresholds.error_threshold
        cuts: dict[str, tuple[Rows, set[int]]] = {}
        for d in domains:
            rows = {m: (r, e) for _, m, r, e in self.storage.unhealthy_minutes(
                start, end, thresholds.min_samples, t.numerator, t.denominator, domains=[d])}
            cuts[d] = rows, set(self.storage.missing_minutes(d, start, end))
        minutes: set[int] = set().union(*(rows.keys() | missing for rows, missing in cuts.values()))
        result: dict[int, dict[str, Count]] = {m: {} for m in sorted(minutes)}
        for d, (rows, missing) in cuts.items():
            # the other minutes of this domain were up: their counts still go into a pooled minute
            needed = [m for m in minutes if m not in rows and m not in missing] if len(domains) > 1 else []
            known = {**rows, **self.storage.counts_at(d, needed)}
            for m in result:
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
    source = StoredMinutes(storage, start - HISTORY_STEP_MINUTES, end)
    with gc_paused():
        contracts = [book.contracts[cid] for cid in periods]
        source.prepare((domains, thresholds) for contract in contracts
                       for _, domains, thresholds in contract_scopes(contract, book.regime_of(contract),
                                                                     book.thresholds))
        return account_contracts(book, source, periods, as_of)
