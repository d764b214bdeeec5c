"""Minute classification: from per-minute request counts to up / down / excluded / before-notice /
unknown minutes and the incidents (outages) they form. Pure: no I/O, no clock.

Minutes are integers (UTC epoch seconds // 60). A period is the half-open range
[period_start, period_end) of such minutes. Every minute of a period lands in exactly one class:

    up + down (counted) + excluded[kind] + before_notice + unknown == period_end - period_start

An incident is a stretch of down minutes that unknown minutes inside it do not end; an observed
up minute or an excluded minute does. A notice belongs to the incident going on in its minute,
or else to the incident whose first down minute begins at most `notice_grace_minutes` after it.

A pooled scope (several domains measured as one) leaves out of each minute the requests of the
domains that are inside an exclusion window then; the minute is excluded only when every domain
of the scope is inside one (it then takes the kind of highest precedence)."""
from __future__ import annotations

import bisect
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

EXCLUSION_KINDS = ("maintenance", "customer", "force_majeure", "free", "emergency")
# When windows of several kinds cover one minute, the minute carries the first kind in this
# order: a free period voids compensation outright, force majeure and customer causes are
# not the provider's fault at all, maintenance is the provider's own planned work, and an
# emergency is the provider's own unplanned work (excluded only where a regime says so).
KIND_PRIORITY = {"free": 0, "force_majeure": 1, "customer": 2, "maintenance": 3, "emergency": 4}


@dataclass(frozen=True, slots=True)
class Count:
    """Counted requests (ok + client + server errors; monitor errors excluded) and server-side errors."""

    requests: int
    errors: int

    def __post_init__(self) -> None:
        if self.requests < 0 or self.errors < 0 or self.errors > self.requests:
            raise ValueError(f"invalid minute count: {self.requests} requests, {self.errors} errors")


@dataclass(frozen=True)
class Thresholds:
    min_samples: int = 20
    error_threshold: Fraction = Fraction(5, 100)

    def __post_init__(self) -> None:
        if self.min_samples < 1:
            raise ValueError("min_samples must be at least 1")
        if not 0 <= self.error_threshold < 1:
            raise ValueError("error_threshold must be in [0, 1)")

    def state(self, requests: int, errors: int) -> str:
        """'up' | 'down' | 'unknown'. Down iff the error rate strictly exceeds the threshold,
        compared in integers: e/n > p/q  <=>  e*q > p*n."""
        if requests < self.min_samples:
            return "unknown"
        t = self.error_threshold
        if errors * t.denominator > t.numerator * requests:
            return "down"
        return "up"

    def healthy(self, requests: int, errors: int) -> bool:
        return self.state(requests, errors) == "up"


@dataclass(frozen=True)
class ExclusionSpan:
    """Down minutes whose start lies in [start_minute, end_minute) are excluded."""

    start_minute: int
    end_minute: int
    kind: str
    reason: str = ""
    window_id: str = ""

    def __post_init__(self) -> None:
        if self.kind not in EXCLUSION_KINDS:
            raise ValueError(f"unknown exclusion kind {self.kind!r}")
        if self.end_minute < self.start_minute:
            raise ValueError("exclusion span ends before it starts")


@dataclass(frozen=True)
class Outage:
    """An incident [start_minute, end_minute): from its first down minute to the minute after its
    last one (unknown minutes inside it included), with at least one down minute in the period.
    It may begin before the period, however long before; it stops at the period's end. Only
    minutes in the period are counted or `before_notice`."""

    start_minute: int
    end_minute: int
    counted_minutes: int
    before_notice_minutes: int
    first_counted_minute: int | None = None


@dataclass(frozen=True)
class ScopeAccount:
    total_minutes: int
    up_minutes: int
    downtime_minutes: int
    excluded_minutes: Mapping[str, int]
    before_notice_minutes: int
    unknown_minutes: int
    outages: tuple[Outage, ...]
    excluded_by_window: Mapping[str, int] = field(default_factory=dict)
    last_counted_minute: int | None = None

    def __post_init__(self) -> None:
        classified = (self.up_minutes + self.downtime_minutes + sum(self.excluded_minutes.values())
                      + self.before_notice_minutes + self.unknown_minutes)
        if classified != self.total_minutes:
            raise AssertionError(f"minute classes sum to {classified}, period has {self.total_minutes}")

    @property
    def availability(self) -> Fraction:
        return Fraction(self.total_minutes - self.downtime_minutes, self.total_minutes)

    @property
    def worst_case_availability(self) -> Fraction:
        return Fraction(self.total_minutes - self.downtime_minutes - self.unknown_minutes, self.total_minutes)


def minute_of(epoch_seconds: Fraction | int | float) -> int:
    """The minute containing an instant."""
    return int(epoch_seconds // 60)


def first_minute_starting_at_or_after(epoch_seconds: Fraction | int) -> int:
    """The first minute m with m*60 >= t: the first minute whose start lies in [t, ...)."""
    return int(-((-epoch_seconds) // 60))


def exclusion_lookup(spans: Sequence[ExclusionSpan]) -> Callable[[int], ExclusionSpan | None]:
    """minute -> the span that excludes it (the highest-precedence kind where spans overlap; of
    spans of one kind, the one that starts first)."""
    if not spans:
        return _no_span
    ordered = sorted(spans, key=lambda s: (s.start_minute, KIND_PRIORITY[s.kind]))
    # the spans covering a minute change only at a bound: one answer per stretch between bounds
    bounds = sorted({b for s in ordered for b in (s.start_minute, s.end_minute)})
    answers: list[ExclusionSpan | None] = []
    for lo in bounds[:-1]:
        best = None
        for span in ordered:
            if span.start_minute > lo:
                break
            if lo < span.end_minute and (best is None or KIND_PRIORITY[span.kind] < KIND_PRIORITY[best.kind]):
                best = span
        answers.append(best)
    last = len(answers)
    bisect_right = bisect.bisect_right

    def find(minute: int) -> ExclusionSpan | None:
        k = bisect_right(bounds, minute) - 1
        return answers[k] if 0 <= k < last else None

    return find


def _no_span(minute: int) -> ExclusionSpan | None:
    return None


def _better(a: ExclusionSpan | None, b: ExclusionSpan | None) -> ExclusionSpan | None:
    if a is None or (b is not None and KIND_PRIORITY[b.kind] < KIND_PRIORITY[a.kind]):
        return b
    return a


def scope_exclusions(domains: Sequence[str], spans: Mapping[str, Sequence[ExclusionSpan]]) -> list[ExclusionSpan]:
    """The spans in which every domain of the scope is inside a window, each with the window of
    highest precedence among those covering the domains (the pooled minute is excluded there)."""
    bounds = sorted({b for d in domains for s in spans.get(d, ()) for b in (s.start_minute, s.end_minute)})
    finders = {d: exclusion_lookup(spans.get(d, ())) for d in domains}
    result: list[ExclusionSpan] = []
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        best: ExclusionSpan | None = None
        for d in domains:
            covering = finders[d](lo)  # constant over [lo, hi): no bound of any span inside
            if covering is None:
                break
            best = _better(best, covering)
        else:
            if best is not None:
                if result and result[-1].end_minute == lo and result[-1].window_id == best.window_id \
                        and result[-1].kind == best.kind:
                    result[-1] = ExclusionSpan(result[-1].start_minute, hi, best.kind, best.reason, best.window_id)
                else:
                    result.append(ExclusionSpan(lo, hi, best.kind, best.reason, best.window_id))
    return result


class MinuteTable(Mapping[int, Mapping[str, Count]]):
    """Domain minutes column-wise, as a MinuteSource may hand them over: the listed `minutes` in
    order and, for the i-th of `domains`, its requests and errors at each of them in
    `requests[i]` and `errors[i]`. As a mapping it reads minute -> {domain: Count}; the
    classification and the evidence read the columns instead, without a Count per domain and
    minute. The counts are checked as Count checks them."""

    __slots__ = ("domains", "minutes", "requests", "errors")

    def __init__(self, domains: Sequence[str], minutes: Sequence[int], requests: Sequence[Sequence[int]],
                 errors: Sequence[Sequence[int]]) -> None:
        if not len(domains) == len(requests) == len(errors):
            raise ValueError("a minute table needs one requests and one errors column per domain")
        for req, err in zip(requests, errors, strict=True):
            if not len(req) == len(err) == len(minutes):
                raise ValueError("a minute table's columns must have one count per minute")
            if minutes and (min(req) < 0 or min(err) < 0 or any(map(operator.gt, err, req))):
                for r, e in zip(req, err, strict=True):
                    Count(r, e)   # raises for the first invalid one
        self.domains = tuple(domains)
        self.minutes = minutes
        self.requests = tuple(requests)
        self.errors = tuple(errors)

    def _index(self, minute: object) -> int:
        if isinstance(minute, int):
            k = bisect.bisect_left(self.minutes, minute)
            if k < len(self.minutes) and self.minutes[k] == minute:
                return k
        raise KeyError(minute)

    def __getitem__(self, minute: int) -> dict[str, Count]:
        k = self._index(minute)
        return {d: Count(req[k], err[k]) for d, req, err in zip(self.domains, self.requests, self.errors,
                                                                 strict=True)}

    def __contains__(self, minute: object) -> bool:
        try:
            self._index(minute)
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[int]:
        return iter(self.minutes)

    def __len__(self) -> int:
        return len(self.minutes)


class PooledTable(Mapping[int, Count]):
    """A scope's pooled counts column-wise: `minutes` in order, `requests` and `errors` at each.
    As a mapping it reads minute -> Count."""

    __slots__ = ("minutes", "requests", "errors")

    def __init__(self, minutes: Sequence[int], requests: Sequence[int], errors: Sequence[int]) -> None:
        self.minutes, self.requests, self.errors = minutes, requests, errors

    def __getitem__(self, minute: int) -> Count:
        k = bisect.bisect_left(self.minutes, minute) if isinstance(minute, int) else len(self.minutes)
        if k < len(self.minutes) and self.minutes[k] == minute:
            return Count(self.requests[k], self.errors[k])
        raise KeyError(minute)

    def __iter__(self) -> Iterator[int]:
        return iter(self.minutes)

    def __len__(self) -> int:
        return len(self.minutes)


def minute_columns(minutes: Mapping[int, Count]) -> tuple[Sequence[int], Sequence[int], Sequence[int]]:
    """(minutes in order, requests, errors) of a scope's counts."""
    if isinstance(minutes, PooledTable):
        return minutes.minutes, minutes.requests, minutes.errors
    ordered = sorted(minutes)
    counts = [minutes[m] for m in ordered]
    return ordered, [c.requests for c in counts], [c.errors for c in counts]


def pool_minutes(domains: Sequence[str], minutes: Mapping[int, Mapping[str, Count]],
                 spans: Mapping[str, Sequence[ExclusionSpan]]) -> Mapping[int, Count]:
    """One Count per listed minute for the scope: the requests of the domains that are not inside
    a window in that minute, or of all of them when every domain is (scope_exclusions then
    decides whether the minute is excluded). Domains without counts at a minute add nothing."""
    if isinstance(minutes, MinuteTable) and minutes.domains == tuple(domains):
        return _pool_table(minutes, [spans.get(d, ()) for d in domains])
    finders = {d: exclusion_lookup(spans.get(d, ())) for d in domains}
    pooled: dict[int, Count] = {}
    for minute, by_domain in minutes.items():
        outside = [d for d in domains if finders[d](minute) is None] or list(domains)
        requests = errors = 0
        for d in outside:
            count = by_domain.get(d)
            if count is not None:
                requests += count.requests
                errors += count.errors
        pooled[minute] = Count(requests, errors)
    return pooled


def _pool_table(table: MinuteTable, spans: Sequence[Sequence[ExclusionSpan]]) -> PooledTable:
    requests, errors = table.requests, table.errors
    if len(requests) == 1:
        pooled_requests, pooled_errors = requests[0], errors[0]
    else:
        pooled_requests = [sum(column) for column in zip(*requests, strict=True)]
        pooled_errors = [sum(column) for column in zip(*errors, strict=True)]
    if any(spans):
        # the minutes where some but not all of the domains are inside a window: only the others count
        minutes = table.minutes
        inside = [bytearray(len(minutes)) for _ in spans]
        for mask, domain_spans in zip(inside, spans, strict=True):
            for span in domain_spans:
                lo = bisect.bisect_left(minutes, span.start_minute)
                hi = bisect.bisect_left(minutes, span.end_minute)
                mask[lo:hi] = b"\x01" * (hi - lo)
        if len(spans) > 1:
            pooled_requests, pooled_errors = list(pooled_requests), list(pooled_errors)
            for k in {k for mask in inside for k in itertools.compress(range(len(minutes)), mask)}:
                skip = [mask[k] for mask in inside]
                if not all(skip):
                    pooled_requests[k] = sum(req[k] for req, s in zip(requests, skip, strict=True) if not s)
                    pooled_errors[k] = sum(err[k] for err, s in zip(errors, skip, strict=True) if not s)
    return PooledTable(table.minutes, pooled_requests, pooled_errors)


@dataclass
class _Incident:
    start: int
    last_down: int
    down: list[int] = field(default_factory=list)   # its down minutes in the period


def _incidents(minutes: Sequence[int], requests: Sequence[int], errors: Sequence[int], history_start: int,
               period_start: int, thresholds: Thresholds,
               find_exclusion: Callable[[int], ExclusionSpan | None], absent: str) -> list[_Incident]:
    """The incidents of the given minutes (in order, from `history_start` to the period's end)."""
    incidents: list[_Incident] = []
    current: _Incident | None = None
    previous = history_start - 1
    min_samples, num, den = thresholds.min_samples, thresholds.error_threshold.numerator, \
        thresholds.error_threshold.denominator
    absent_up = absent == "up"
    no_exclusion = find_exclusion is _no_span
    for minute, r, e in zip(minutes, requests, errors, strict=True):
        if minute > previous + 1 and absent_up:
            current = None  # an absent minute in between was up: it ended the incident
        previous = minute
        if r < min_samples:
            continue  # unknown: neither begins nor ends an incident
        if e * den > num * r and (no_exclusion or find_exclusion(minute) is None):
            if current is None:
                current = _Incident(minute, minute)
                incidents.append(current)
            current.last_down = minute
            if minute >= period_start:
                current.down.append(minute)
        else:
            current = None  # up or excluded
    return incidents


def _first_counted(incident: _Incident, notices: Sequence[int], grace: int, previous: _Incident | None) -> int | None:
    """The earliest notice minute belonging to the incident: given while it went on, or at most
    `grace` minutes before its first down minute but not while the incident before it went on
    (such a notice is that one's)."""
    earliest = incident.start - grace
    if previous is not None:
        earliest = max(earliest, previous.last_down + 1)
    i = bisect.bisect_left(notices, earliest)
    if i < len(notices) and notices[i] <= incident.last_down:
        return notices[i]
    return None


def account_scope(
    period_start: int,
    period_end: int,
    minutes: Mapping[int, Count],
    thresholds: Thresholds,
    exclusions: Sequence[ExclusionSpan] = (),
    notice_minutes: Iterable[int] = (),
    awareness: str = "detection",
    absent: str = "unknown",
    *,
    notice_grace_minutes: int = 0,
    history_start: int | None = None,
) -> ScopeAccount:
    """Classify every minute of [period_start, period_end) for one scope.

    `minutes` maps minute -> the scope's Count (pooled_minutes for several domains); minutes absent
    from it are `absent`: "unknown" (no evidence, the honest default) or "up" (the caller has
    checked that every absent minute had enough healthy samples, which lets storage hand over
    only the minutes that matter). Minutes from `history_start` (default: the earliest given)
    to the period's start only find the incidents that began before the period.
    `notice_minutes` are the minutes in which customer or provider notices were recorded; with
    awareness="notice" an incident counts from the earliest notice that belongs to it.
    """
    if period_end <= period_start:
        raise ValueError("empty period")
    if absent not in ("unknown", "up"):
        raise ValueError("absent must be 'unknown' or 'up'")
    if awareness not in ("detection", "notice"):
        raise ValueError("awareness must be 'detection' or 'notice'")
    if notice_grace_minutes < 0:
        raise ValueError("notice_grace_minutes must not be negative")
    ordered, requests, errors = minute_columns(minutes)
    if history_start is None:
        history_start = min(period_start, ordered[0]) if ordered else period_start
    total = period_end - period_start
    find_exclusion = exclusion_lookup(exclusions)
    excluded = dict.fromkeys(EXCLUSION_KINDS, 0)
    excluded_by_window: dict[str, int] = {}
    first, stop = bisect.bisect_left(ordered, period_start), bisect.bisect_left(ordered, period_end)
    present = stop - first
    up = unknown = 0
    min_samples, num, den = thresholds.min_samples, thresholds.error_threshold.numerator, \
        thresholds.error_threshold.denominator
    for minute, r, e in zip(ordered[first:stop], requests[first:stop], errors[first:stop], strict=True):
        if r < min_samples:
            unknown += 1
        elif e * den <= num * r:
            up += 1
        elif find_exclusion is not _no_span and (span := find_exclusion(minute)) is not None:
            excluded[span.kind] += 1
            excluded_by_window[span.window_id] = excluded_by_window.get(span.window_id, 0) + 1
    if absent == "up":
        up += total - present
    else:
        unknown += total - present

    notices = sorted(set(notice_minutes))
    since = bisect.bisect_left(ordered, history_start)
    incidents = _incidents(ordered[since:stop], requests[since:stop], errors[since:stop], history_start,
                           period_start, thresholds, find_exclusion, absent)
    outages = []
    downtime = before_notice = 0
    last_counted = None
    for index, incident in enumerate(incidents):
        if not incident.down:
            continue  # no down minute in the period
        if awareness == "detection":
            first_counted: int | None = incident.start
        else:
            previous = incidents[index - 1] if index else None
            first_counted = _first_counted(incident, notices, notice_grace_minutes, previous)
        counted = [m for m in incident.down if first_counted is not None and m >= first_counted]
        outages.append(Outage(incident.start, incident.last_down + 1, len(counted),
                              len(incident.down) - len(counted), counted[0] if counted else None))
        downtime += len(counted)
        before_notice += len(incident.down) - len(counted)
        if counted:
            last_counted = max(last_counted or counted[-1], counted[-1])

    return ScopeAccount(
        total_minutes=total, up_minutes=up, downtime_minutes=downtime, excluded_minutes=excluded,
        before_notice_minutes=before_notice, unknown_minutes=unknown, outages=tuple(outages),
        excluded_by_window=excluded_by_window, last_counted_minute=last_counted,
    )
