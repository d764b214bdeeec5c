"""A contract's month: its scopes' minutes classified, availability, the tier, the money owed,
deadlines and warnings. Pure: minutes come in through a MinuteSource, time as a period label."""
from __future__ import annotations

import bisect
import contextlib
import dataclasses
import functools
import gc
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Protocol
from zoneinfo import ZoneInfo

from reports.claims import ClaimResult, DeadlineNote, deadline_note, evaluate_claims
from reports.compensation import (
    Amount,
    add_months,
    billing_month,
    claim_deadline,
    currency_unit,
    days_credit,
    percent_credit,
    truncated_percent,
)
from reports.contracts import Claim, Contract, ContractBook, Notice, Window
from reports.errors import InputError
from reports.fields import FIRST_YEAR, LAST_YEAR, epoch_seconds
from reports.minutes import (
    Count,
    ExclusionSpan,
    ScopeAccount,
    Thresholds,
    account_scope,
    exclusion_lookup,
    first_minute_starting_at_or_after,
    minute_columns,
    minute_of,
    pool_minutes,
    scope_exclusions,
)
from reports.regimes import Regime, Tier, format_percent

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
# An incident that began before the month is followed back however long ago it began: the
# history read before a period starts at one day and doubles until an up or excluded minute (or
# the first stored minute) is found.
HISTORY_STEP_MINUTES = 1440


@dataclass(frozen=True)
class Period:
    label: str
    timezone: str
    start_local: datetime
    end_local: datetime
    start_minute: int
    end_minute: int

    @property
    def total_minutes(self) -> int:
        return self.end_minute - self.start_minute

    @property
    def days(self) -> int:
        return (self.end_local.date() - self.start_local.date()).days

    @property
    def last_day(self) -> date:
        """The period's last local day."""
        return self.end_local.date() - timedelta(days=1)


def parse_period(text: str) -> tuple[int, int]:
    match = _PERIOD_RE.match(text or "")
    if not match:
        raise InputError(f"--period must be YYYY-MM, got {text[:40]!r}")
    year = int(match.group(1))
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InputError(f"--period must be a month of the years {FIRST_YEAR}-{LAST_YEAR}, got {text!r}")
    return year, int(match.group(2))


def month_period(label: str, tz_name: str) -> Period:
    """The calendar month in a zone: local midnight of the 1st to local midnight of the next 1st.
    Minutes are counted on the UTC timeline, so DST months have 44,580 or 44,700 minutes."""
    year, month = parse_period(label)
    tz = ZoneInfo(tz_name)
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
    return Period(label, tz_name, start, end, minute_to_index(start), minute_to_index(end))


def minute_to_index(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(minutes=1)


@functools.lru_cache(maxsize=1 << 16)
def minute_start(minute: int, tz: ZoneInfo | timezone = UTC) -> datetime:
    return (EPOCH + timedelta(minutes=minute)).astimezone(tz)


DomainMinutes = Mapping[int, Mapping[str, Count]]
"""minute -> each domain's counts, for the minutes at which some domain was not up on its own."""


class MinuteSource(Protocol):
    """Where a contract's minutes come from: the store (monitor.accounting.StoredMinutes) or a
    report's embedded evidence (reports.evidence.EvidenceSource)."""

    def domain_minutes(self, domains: Sequence[str], thresholds: Thresholds, start: int, end: int) -> DomainMinutes:
        """Every minute of [start, end) at which some of the domains was not up on its own under
        `thresholds` (too few samples, no data, too many errors), with every domain's counts
        there (Count(0, 0) where it had none). A minute not listed: every domain was up."""
        ...

    def earliest_minute(self, domains: Sequence[str]) -> int | None:
        """The first minute anything is known of for these domains (None: nothing is)."""
        ...


@dataclass(frozen=True)
class WindowUse:
    """A window that applies to a scope, and what the regime made of it."""

    window: Window
    minutes: int                         # down minutes it excluded in this scope
    excludes: bool = True                # False: the regime counts its minutes (why: `reason`)
    excluded_until: datetime | None = None   # where its exclusion stops, when before its end
    reason: str = ""                     # why it does not exclude, or stops before its end


@dataclass(frozen=True)
class ReportWarning:
    code: str
    message: str
    scope: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "scope": self.scope, "message": self.message}


@dataclass(frozen=True)
class ScopeResult:
    name: str
    domains: tuple[str, ...]
    account: ScopeAccount
    tier: Tier | None
    worst_case_tier: Tier | None
    credit: Fraction
    credit_capped: bool
    amount: Amount | None
    monthly_fee: Decimal | None
    licenses: int | None
    resolution_date: date | None
    windows: tuple[WindowUse, ...]
    notices: tuple[Notice, ...]
    # the classification's inputs, kept as evidence: each domain's counts at the minutes that
    # matter from `history_start` (every other minute was stored and up), the thresholds they
    # were judged by, and what the scope made of them (pooled counts, excluded spans)
    minutes: DomainMinutes = field(default_factory=dict, repr=False)
    thresholds: Thresholds = field(default_factory=Thresholds)
    history_start: int = 0
    pooled: Mapping[int, Count] = field(default_factory=dict, repr=False)
    spans: tuple[ExclusionSpan, ...] = ()

    @property
    def credit_amount(self) -> Decimal:
        return self.amount.rounded if self.amount else Decimal(0)


@dataclass(frozen=True)
class ContractResult:
    contract: Contract
    regime: Regime
    period: Period
    awareness: str
    scopes: tuple[ScopeResult, ...]
    claim_deadline: date | None
    credit_applies: date | None
    billing_month: tuple[date, date] | None
    warnings: tuple[ReportWarning, ...] = field(default_factory=tuple)
    coverage: Fraction = Fraction(1)      # observed minutes / total, the lowest of the scopes
    status: str = "final"                 # final | provisional | insufficient_evidence
    min_coverage: Fraction = Fraction(0)
    period_over: bool = True              # False: the month was not over when it was computed
    claims: tuple[ClaimResult, ...] = ()
    deadline_note: DeadlineNote | None = None

    @property
    def credit_amount(self) -> Decimal:
        return sum((s.credit_amount for s in self.scopes), Decimal(0))


def to_minute(moment: datetime) -> int:
    """The first minute that starts at or after an instant (a window covers the minutes whose
    start lies inside it)."""
    return first_minute_starting_at_or_after(epoch_seconds(moment))


def exclusion_span(window: Window, period: Period, until: datetime | None = None) -> ExclusionSpan:
    start = to_minute(window.start)
    end_at = until or window.end
    end = to_minute(end_at) if end_at else period.end_minute
    return ExclusionSpan(start, max(start, end), window.kind, window.reason, window.id)


def _overlaps(window: Window, period: Period) -> bool:
    return window.start < period.end_local and (window.end is None or window.end > period.start_local)


def window_policy(window: Window, regime: Regime) -> tuple[bool, datetime | None, str]:
    """(whether the window excludes under the regime, where its exclusion stops when before its
    end, why not / why earlier). Maintenance is excluded only when pre-scheduled (LINE WORKS
    Terms of Service, Art. 24 (2) 1): announced before it began, and only up to the end announced
    then; an emergency (not announced ahead, Art. 15 (3)) only where the regime says so."""
    if window.kind == "emergency" and not regime.emergency_excluded:
        return False, None, "emergency_counted"
    if window.kind != "maintenance" or not regime.maintenance_requires_announcement:
        return True, None, ""
    if window.announced_at is not None and window.announced_at >= window.start:
        return False, None, "maintenance_not_preannounced"
    if window.announced_end is not None and (window.end is None or window.announced_end < window.end):
        return True, window.announced_end, "maintenance_overrun"
    return True, None, ""


def scope_windows(contract: Contract, domains: tuple[str, ...], windows: Sequence[Window], period: Period,
                  regime: Regime) -> tuple[list[tuple[Window, bool, datetime | None, str]],
                                           dict[str, list[ExclusionSpan]]]:
    """The windows that apply to a scope with the regime's verdict on each, and each domain's
    exclusion spans (a window naming the contract covers all of the scope's domains)."""
    uses = []
    spans: dict[str, list[ExclusionSpan]] = {d: [] for d in domains}
    for window in windows:
        if not window.applies_to(contract.id, domains) or not _overlaps(window, period):
            continue
        excludes, until, why = window_policy(window, regime)
        uses.append((window, excludes, until, why))
        if not excludes:
            continue
        span = exclusion_span(window, period, until)
        for d in domains:
            if contract.id in window.contracts or d in window.domains:
                spans[d].append(span)
    return uses, spans


def find_history_start(source: MinuteSource, domains: Sequence[str], thresholds: Thresholds,
                       spans: Mapping[str, Sequence[ExclusionSpan]], period_start: int) -> int:
    """Where the history before a period must start so that an incident going on at the period's
    start is seen whole: at the latest up or excluded minute before it (an incident's start is
    found however long ago it began), or at the first minute anything is known of."""
    earliest = source.earliest_minute(domains)
    if earliest is None or earliest >= period_start:
        return period_start
    excluded = exclusion_lookup(scope_exclusions(domains, spans))
    step = HISTORY_STEP_MINUTES
    while True:
        lo = max(period_start - step, earliest)
        listed = source.domain_minutes(domains, thresholds, lo, period_start)
        ordered, requests, errors = minute_columns(pool_minutes(domains, listed, spans))
        # from the period's start backwards: the first minute not listed, or listed up or excluded
        minute = period_start - 1
        for k in range(bisect.bisect_left(ordered, period_start) - 1, bisect.bisect_left(ordered, lo) - 1, -1):
            if ordered[k] != minute:
                return minute  # absent: every domain was up
            state = thresholds.state(requests[k], errors[k])
            if state == "up" or (state == "down" and excluded(minute) is not None):
                return minute
            minute -= 1
        if minute >= lo:
            return minute  # absent
        if lo == earliest:
            return lo
        step *= 2


def contract_scopes(contract: Contract, regime: Regime, domain_thresholds: Mapping[str, Thresholds]
                    ) -> list[tuple[str, tuple[str, ...], Thresholds]]:
    """A contract's scopes as (name, domains, thresholds): the contract's domains pooled, or each
    domain on its own, as the regime says. A pooled scope decides on the strictest settings of
    its domains."""
    if regime.scope == "contract":
        scope_defs = [(contract.id, contract.domains)]
    else:
        scope_defs = [(d, (d,)) for d in contract.domains]
    return [(name, domains, Thresholds(max(domain_thresholds[d].min_samples for d in domains),
                                       min(domain_thresholds[d].error_threshold for d in domains)))
            for name, domains in scope_defs]


ScopeMinutes = tuple[int, DomainMinutes, Mapping[int, Count], list[ExclusionSpan], ScopeAccount]


def classify_scope(source: MinuteSource, domains: tuple[str, ...], thresholds: Thresholds,
                   domain_spans: Mapping[str, Sequence[ExclusionSpan]], period: Period, notice_minutes: Sequence[int],
                   awareness: str, notice_grace_minutes: int) -> ScopeMinutes:
    """A scope's minutes over its period classified: (history start, each domain's minutes,
    the pooled ones, the scope's exclusion spans, the account)."""
    history_start = find_history_start(source, domains, thresholds, domain_spans, period.start_minute)
    minutes = source.domain_minutes(domains, thresholds, history_start, period.end_minute)
    pooled = pool_minutes(domains, minutes, domain_spans)
    spans = scope_exclusions(domains, domain_spans)
    account = account_scope(
        period.start_minute, period.end_minute, pooled, thresholds, spans, notice_minutes, awareness, absent="up",
        notice_grace_minutes=notice_grace_minutes, history_start=history_start)
    return history_start, minutes, pooled, spans, account


def account_contract(contract: Contract, regime: Regime, period: Period, source: MinuteSource,
                     windows: Sequence[Window], notices: Sequence[Notice], domain_thresholds: Mapping[str, Thresholds],
                     *, claims: Sequence[Claim] = (), min_coverage: Fraction = Fraction(0),
                     period_over: bool = True, shared: dict[object, ScopeMinutes] | None = None) -> ContractResult:
    """One contract's month. Before the period is over the result is provisional; after it,
    final unless fewer than `min_coverage` of its minutes were observed. `shared` keeps the
    classified scopes for the next contracts of the same source: contracts that share a scope
    (its domains, thresholds, windows, notices and period) share its classification."""
    tz = ZoneInfo(period.timezone)
    awareness = contract.awareness or regime.awareness if regime.notice_based else "detection"
    warnings: list[ReportWarning] = []
    scopes = []
    for name, domains, thresholds in contract_scopes(contract, regime, domain_thresholds):
        uses, domain_spans = scope_windows(contract, domains, windows, period, regime)
        scope_notices = tuple(n for n in notices if n.contract == contract.id
                              and (n.domain is None or n.domain in domains))
        notice_minutes = tuple(minute_of(epoch_seconds(n.at)) for n in scope_notices)
        key = (domains, thresholds, tuple(tuple(domain_spans[d]) for d in domains), period.start_minute,
               period.end_minute, notice_minutes, awareness, regime.notice_grace_minutes)
        classified = shared.get(key) if shared is not None else None
        if classified is None:
            classified = classify_scope(source, domains, thresholds, domain_spans, period, notice_minutes, awareness,
                                        regime.notice_grace_minutes)
            if shared is not None:
                shared[key] = classified
        history_start, minutes, pooled, spans, account = classified
        window_uses = tuple(WindowUse(w, account.excluded_by_window.get(w.id, 0), excludes, until, why)
                            for w, excludes, until, why in uses)
        scope = _price_scope(contract, regime, period, tz, name, domains, account, window_uses,
                             scope_notices, warnings)
        _window_warnings(name, window_uses, regime, pooled, spans, thresholds, period, warnings)
        scopes.append(dataclasses.replace(scope, minutes=minutes, thresholds=thresholds, history_start=history_start,
                                          pooled=pooled, spans=tuple(spans)))

    deadline = claim_deadline(period.end_local.date(), regime.claim_window_days) if regime.claim_window_days else None
    applies = (add_months(period.start_local.date(), regime.credit_applies_after_months)
               if regime.credit_applies_after_months is not None else None)
    bmonth = billing_month(applies, contract.billing_day) if applies else None
    coverage = min(Fraction(s.account.total_minutes - s.account.unknown_minutes, s.account.total_minutes)
                   for s in scopes)
    if not period_over:
        status = "provisional"
    elif coverage < min_coverage:
        status = "insufficient_evidence"
        warnings.insert(0, ReportWarning(
            "insufficient_evidence", f"insufficient evidence: {truncated_percent(coverage)}% of the month was "
            f"observed, less than the {truncated_percent(min_coverage)}% a final report needs; the figures count "
            f"unobserved minutes as available and must not be read as the month's availability"))
    else:
        status = "final"

    def credit_on(price_day: date | None) -> Decimal:
        """The month's credit with the unit price of a day (None, or a day without a known price:
        the month's own)."""
        total = Decimal(0)
        for s in scopes:
            if s.amount is not None:
                day = s.resolution_date or period.last_day
                priced = scope_amount(contract, regime, period, s.name, s.credit, s.licenses, day,
                                      price_day or period.last_day)
                total += (priced or s.amount).rounded
        return total

    own_claims = [c for c in claims if c.contract == contract.id and c.period == period.label]
    claim_results = evaluate_claims(contract, regime, own_claims, deadline, credit_on, period.timezone)
    return ContractResult(contract, regime, period, awareness, tuple(scopes), deadline, applies, bmonth,
                          tuple(warnings), coverage=coverage, status=status, min_coverage=min_coverage,
                          period_over=period_over, claims=claim_results, deadline_note=deadline_note(deadline, regime))


def _counted_down_between(pooled: Mapping[int, Count], spans: Sequence[ExclusionSpan], thresholds: Thresholds,
                          start: int, end: int) -> int:
    """Down minutes of [start, end) that no window excludes."""
    excluded = exclusion_lookup(spans)
    ordered, requests, errors = minute_columns(pooled)
    lo, hi = bisect.bisect_left(ordered, start), bisect.bisect_left(ordered, end)
    return sum(1 for m, r, e in zip(ordered[lo:hi], requests[lo:hi], errors[lo:hi], strict=True)
               if thresholds.state(r, e) == "down" and excluded(m) is None)


def _window_warnings(scope: str, uses: Sequence[WindowUse], regime: Regime, pooled: Mapping[int, Count],
                     spans: Sequence[ExclusionSpan], thresholds: Thresholds, period: Period,
                     warnings: list[ReportWarning]) -> None:
    """What the report must say about each window: announcements missing, late or short,
    overruns, emergencies counted."""
    for use in uses:
        w = use.window
        where = f"{w.kind} window {w.id} ({w.start.isoformat()}, {w.reason})"
        if use.reason == "emergency_counted":
            counted = _counted_down_between(pooled, spans, thresholds, *_range(w, period))
            warnings.append(ReportWarning(
                "emergency_counted", f"{where} was not announced ahead: {regime.name} excludes only pre-scheduled "
                f"interruptions, so its {counted} down minutes count as downtime", scope))
        elif use.reason == "maintenance_not_preannounced":
            counted = _counted_down_between(pooled, spans, thresholds, *_range(w, period))
            warnings.append(ReportWarning(
                "maintenance_not_preannounced", f"{where} was announced {_iso(w.announced_at)}, not before it began: "
                f"it is no pre-scheduled interruption, so its {counted} down minutes count as downtime (record an "
                f"interruption that could not be announced ahead as kind \"emergency\" with its reason)", scope))
        elif use.reason == "maintenance_overrun" and use.excluded_until is not None:
            lo, hi = to_minute(use.excluded_until), _range(w, period)[1]
            counted = _counted_down_between(pooled, spans, thresholds, lo, hi)
            warnings.append(ReportWarning(
                "maintenance_overrun", f"{where} was announced to end {use.excluded_until.isoformat()} and ended "
                f"{_iso(w.end) or 'later (still open)'}: it excludes up to the announced end; the {counted} down "
                f"minutes after it count as downtime", scope))
        if w.kind != "maintenance" or not use.excludes:
            continue
        if w.announced_at is None:
            warnings.append(ReportWarning("maintenance_no_notice", f"maintenance window {w.id} ({w.start.isoformat()}, "
                                          f"{w.reason}) has no recorded announcement; it stays excluded "
                                          f"({use.minutes} minutes) but its notice must be evidenced", scope))
        elif w.start - w.announced_at < timedelta(days=regime.maintenance_notice_days):
            warnings.append(ReportWarning(
                "maintenance_short_notice", f"maintenance window {w.id} ({w.start.isoformat()}, "
                                            f"{w.reason}) was announced {w.announced_at.isoformat()}, less than "
                                            f"{regime.maintenance_notice_days} days ahead; it stays excluded "
                                            f"({use.minutes} minutes) as a short-notice window", scope))


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _range(window: Window, period: Period) -> tuple[int, int]:
    return to_minute(window.start), to_minute(window.end) if window.end else period.end_minute


def scope_amount(contract: Contract, regime: Regime, period: Period, scope: str, credit: Fraction,
                 licenses: int | None, fee_day: date, price_day: date) -> Amount | None:
    """The money of a scope's credit: unit price (on `price_day`) x 1/days x credit days x IDs
    (LINE WORKS Terms of Service, Art. 24 (4)), or a percentage of the service's monthly fee.
    None when the price, the licence count or the fee of that day is not known."""
    unit = regime.rounding_unit or currency_unit(contract.currency)
    if regime.credit_unit == "days":
        price = contract.unit_price_on(price_day)
        if price is None or licenses is None:
            return None
        setting = contract.day_divisor or regime.day_divisor
        divisor = setting if isinstance(setting, int) else period.days  # "month": the days of this one
        return days_credit(price, include_tax=regime.prices_include_tax, tax_rate=regime.tax_rate,
                           credit_days=credit, divisor=divisor, licenses=licenses, currency=contract.currency,
                           rounding=regime.rounding, unit=unit)
    fee = contract.fee_for(scope, fee_day)
    if fee is None:
        return None
    return percent_credit(fee, credit, currency=contract.currency, rounding=regime.rounding, unit=unit)


def _price_scope(contract: Contract, regime: Regime, period: Period, tz: ZoneInfo, name: str,
                 domains: tuple[str, ...], account: ScopeAccount, windows: tuple[WindowUse, ...],
                 notices: tuple[Notice, ...], warnings: list[ReportWarning]) -> ScopeResult:
    pct = account.availability * 100
    worst_pct = account.worst_case_availability * 100
    credit, tier, capped = regime.credit_for(pct)
    worst_credit, worst_tier, _ = regime.credit_for(worst_pct)
    resolution = (minute_start(account.last_counted_minute, tz).date()
                  if account.last_counted_minute is not None else None)
    day = resolution or period.last_day
    licenses = contract.licenses_on(day)
    fee = contract.fee_for(name, day) if regime.credit_unit == "percent" else None
    amount = None
    eligible = contract.plan in regime.eligible_plans
    if credit and eligible:
        if regime.credit_unit == "days" and licenses is None:
            warnings.append(ReportWarning("licenses_unknown", f"no licence count on {resolution}: the amount "
                                          f"cannot be computed; add [[contract.licenses]] since = ...", name))
        else:
            amount = scope_amount(contract, regime, period, name, credit, licenses, day, period.last_day)
            if amount is None:
                what = (f"unit price on {period.last_day}" if regime.credit_unit == "days"
                        else f"monthly fee for {name} on {day}")
                warnings.append(ReportWarning("price_unknown", f"no {what}: the amount cannot be computed; add "
                                              f"the contract's dated prices or fees covering that day", name))
    elif credit and not eligible:
        warnings.append(ReportWarning(
            "plan_not_eligible", f"plan {contract.plan!r} is not eligible for compensation under {regime.name} "
            f"(eligible: {', '.join(sorted(regime.eligible_plans))}): the tier would give {credit}"
            f"{' days' if regime.credit_unit == 'days' else '%'}, nothing is owed", name))

    if capped and tier is not None:
        warnings.append(ReportWarning("credit_capped", f"the tier gives {tier.credit} but {regime.name} caps the "
                                      f"credit at {regime.cap} a month", name))
    if worst_credit != credit:
        warnings.append(ReportWarning(
            "coverage_too_low", f"{account.unknown_minutes} unknown minutes: availability is "
            f"{truncated_percent(account.availability)}% but may be as low as "
            f"{truncated_percent(account.worst_case_availability)}%, which would give {worst_credit}"
            f"{' days' if regime.credit_unit == 'days' else '%'} instead of {credit}: coverage too low to decide "
            f"the tier", name))
    if pct in regime.bounds():
        ambiguous = pct in regime.ambiguous_bounds
        warnings.append(ReportWarning(
            "exact_tier_boundary",
            f"availability is exactly {format_percent(pct)}%, a tier boundary of {regime.name}"
            + (f": the clause's text and its table disagree here; this report follows the table "
               f"({tier.describe() if tier else 'no tier'})" if ambiguous else
               f" ({tier.describe() if tier else 'no credit tier'} applies)"), name))
    return ScopeResult(name, domains, account, tier, worst_tier, credit if eligible else Fraction(0), capped, amount,
                       fee, licenses, resolution, windows, notices)


def contract_periods(book: ContractBook, period_label: str, contract_ids: Iterable[str] = ()) -> dict[str, Period]:
    """The named contracts (all when none are named), each with its own zone's month."""
    ids = list(contract_ids) or list(book.contracts)
    unknown = [c for c in ids if c not in book.contracts]
    if unknown:
        raise InputError(f"unknown contract {', '.join(map(repr, unknown))} (known: "
                         f"{', '.join(book.contracts) or 'none'})")
    return {c: month_period(period_label, book.timezone_of(book.contracts[c])) for c in ids}


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Without the cyclic garbage collector for a while: the accounting of many contracts and
    their reports make millions of small lists, tuples and dicts, none of them in a cycle, and
    the collector would go through all of them again and again for nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def account_contracts(book: ContractBook, source: MinuteSource, periods: Mapping[str, Period],
                      as_of: datetime | None = None) -> list[ContractResult]:
    """Every contract of `periods` accounted over its period, in that order; `as_of` is now (None:
    every period is over)."""
    results = []
    notices: dict[str, list[Notice]] = {}
    for n in book.notices:
        notices.setdefault(n.contract, []).append(n)
    shared: dict[object, ScopeMinutes] = {}
    with gc_paused():
        for cid, period in periods.items():
            contract = book.contracts[cid]
            min_coverage = contract.min_coverage if contract.min_coverage is not None else book.min_coverage
            results.append(account_contract(contract, book.regime_of(contract), period, source, book.windows,
                                            notices.get(contract.id, []), book.thresholds, claims=book.claims,
                                            min_coverage=min_coverage,
                                            period_over=as_of is None or as_of >= period.end_local,
                                            shared=shared))
    return results
