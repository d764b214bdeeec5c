"""Minute classification: from per-minute request counts to up / down / excluded / before-notice /
unknown minutes and the outages they form. Pure: no I/O, no clock.

Minutes are integers (UTC epoch seconds // 60). A period is the half-open range
[period_start, period_end) of such minutes. Every minute of a period lands in exactly one class:

    up + down (counted) + excluded[kind] + before_notice + unknown == period_end - period_start
"""
from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

EXCLUSION_KINDS = ("maintenance", "customer", "force_majeure", "free")
# When windows of several kinds cover one minute, the minute carries the first kind in this
# order: a free period voids compensation outright, force majeure and customer causes are
# not the provider's fault at all, maintenance is the provider's own planned work.
KIND_PRIORITY = {"free": 0, "force_majeure": 1, "customer": 2, "maintenance": 3}


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
    """A maximal run of consecutive down minutes [start_minute, end_minute) with at least one
    minute in the period that is not excluded. It may begin before the period; only minutes in
    the period are counted or `before_notice`."""

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
    """minute -> the span that excludes it (the highest-precedence kind where spans overlap)."""
    ordered = sorted(spans, key=lambda s: (s.start_minute, KIND_PRIORITY[s.kind]))
    starts = [s.start_minute for s in ordered]

    def find(minute: int) -> ExclusionSpan | None:
        best = None
        for span in ordered[: bisect.bisect_right(starts, minute)]:
            if span.start_minute <= minute < span.end_minute:
                if best is None or KIND_PRIORITY[span.kind] < KIND_PRIORITY[best.kind]:
                    best = span
        return best

    return find


def account_scope(
    period_start: int,
    period_end: int,
    minutes: Mapping[int, Count],
    thresholds: Thresholds,
    exclusions: Sequence[ExclusionSpan] = (),
    notice_minutes: Iterable[int] = (),
    awareness: str = "detection",
    absent: str = "unknown",
) -> ScopeAccount:
    """Classify every minute of [period_start, period_end) for one scope.

    `minutes` maps minute -> pooled Count; minutes absent from it are `absent`: "unknown" (no
    evidence, the honest default) or "up" (the caller has checked that every absent minute had
    enough healthy samples, which lets storage hand over only the minutes that matter).
    `notice_minutes` are the minutes in which customer or provider notices were recorded;
    with awareness="notice" an outage counts from the earliest notice inside it.
    """
    if period_end <= period_start:
        raise ValueError("empty period")
    if absent not in ("unknown", "up"):
        raise ValueError("absent must be 'unknown' or 'up'")
    if awareness not in ("detection", "notice"):
        raise ValueError("awareness must be 'detection' or 'notice'")
    total = period_end - period_start
    find_exclusion = exclusion_lookup(exclusions)
    excluded = dict.fromkeys(EXCLUSION_KINDS, 0)
    excluded_by_window: dict[str, int] = {}
    up = unknown = present = 0
    # An outage is a maximal run of consecutive down minutes, excluded ones included, so that a
    # notice given during a maintenance overrun, or before the month began, still starts the
    # count. Down minutes just before the period only extend runs; they are never classified.
    runs: list[list[int]] = []                 # [start, end) of consecutive down minutes
    run_excluded: list[set[int]] = []          # the excluded minutes of each run
    for minute in sorted(minutes):
        if minute >= period_end:
            break  # what follows the period cannot change it
        inside = period_start <= minute
        count = minutes[minute]
        state = thresholds.state(count.requests, count.errors)
        if inside:
            present += 1
            if state == "up":
                up += 1
            elif state == "unknown":
                unknown += 1
        if state != "down":
            continue
        if runs and runs[-1][1] == minute:
            runs[-1][1] = minute + 1
        else:
            runs.append([minute, minute + 1])
            run_excluded.append(set())
        if inside and (span := find_exclusion(minute)) is not None:
            excluded[span.kind] += 1
            excluded_by_window[span.window_id] = excluded_by_window.get(span.window_id, 0) + 1
            run_excluded[-1].add(minute)

    if absent == "up":
        up += total - present
    else:
        unknown += total - present

    notices = sorted(set(notice_minutes))
    outages = []
    downtime = before_notice = 0
    last_counted = None
    for (start, end), excluded_in_run in zip(runs, run_excluded, strict=True):
        if awareness == "detection":
            first_counted = start
        else:
            i = bisect.bisect_left(notices, start)
            first_counted = notices[i] if i < len(notices) and notices[i] < end else end
        in_period = [m for m in range(max(start, period_start), min(end, period_end)) if m not in excluded_in_run]
        if not in_period:
            continue  # wholly excluded, or wholly outside the period
        counted = [m for m in in_period if m >= first_counted]
        outages.append(Outage(start, end, len(counted), len(in_period) - len(counted),
                              counted[0] if counted else None))
        downtime += len(counted)
        before_notice += len(in_period) - len(counted)
        if counted:
            last_counted = max(last_counted or counted[-1], counted[-1])

    return ScopeAccount(
        total_minutes=total, up_minutes=up, downtime_minutes=downtime, excluded_minutes=excluded,
        before_notice_minutes=before_notice, unknown_minutes=unknown, outages=tuple(outages),
        excluded_by_window=excluded_by_window, last_counted_minute=last_counted,
    )
