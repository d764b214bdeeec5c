"""Property tests of the pure minute classification (reports/minutes.py): every minute in one class,
incidents and the notices that belong to them, exclusions, monotone credit.

Random minute series (inside and slightly outside the period, some minutes absent), random
exclusion windows of every kind, random notices, both awareness settings and random thresholds.
Every property runs at most ~150-200 examples so the file stays fast.
"""
from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reports.accounting import month_period
from reports.minutes import EXCLUSION_KINDS, Count, ExclusionSpan, Thresholds, account_scope
from reports.regimes import builtin_regimes

UTC = UTC
REGIMES = builtin_regimes()
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

BASE = 1_000_000  # period start minute of the generated scenarios
MARGIN = 5  # generated minutes, windows and notices reach this far outside the period


# --------------------------------------------------------------------------------------------
# strategies
# --------------------------------------------------------------------------------------------

@st.composite
def thresholds(draw):
    min_samples = draw(st.integers(1, 30))
    q = draw(st.integers(1, 100))
    p = draw(st.integers(0, q - 1))
    return Thresholds(min_samples, Fraction(p, q))


@st.composite
def counts(draw, max_requests: int = 60):
    n = draw(st.integers(0, max_requests))
    # bias towards the extremes so that all three states show up often
    e = draw(st.one_of(st.just(0), st.just(n), st.integers(0, n)))
    return Count(n, e)


@st.composite
def scenarios(draw):
    length = draw(st.integers(1, 90))
    start, end = BASE, BASE + length
    th = draw(thresholds())
    keys = draw(st.sets(st.integers(start - MARGIN, end + MARGIN - 1), max_size=length + 2 * MARGIN))
    minutes = {k: draw(counts()) for k in sorted(keys)}
    exclusions = draw(st.lists(exclusion_spans(start, end), max_size=4))
    notices = draw(st.lists(st.integers(start - MARGIN, end + MARGIN), max_size=5))
    awareness = draw(st.sampled_from(["detection", "notice"]))
    absent = draw(st.sampled_from(["unknown", "up"]))
    grace = draw(st.integers(0, 4))
    return dict(period_start=start, period_end=end, minutes=minutes, thresholds=th,
                exclusions=exclusions, notice_minutes=notices, awareness=awareness, absent=absent,
                notice_grace_minutes=grace)


@st.composite
def exclusion_spans(draw, start: int, end: int):
    a = draw(st.integers(start - MARGIN, end + MARGIN))
    b = draw(st.integers(a, end + MARGIN))
    kind = draw(st.sampled_from(EXCLUSION_KINDS))
    window_id = draw(st.sampled_from(["w1", "w2", "w3", "w4"]))
    return ExclusionSpan(a, b, kind, f"reason for {window_id}", window_id)


def run(sc: dict, **override):
    return account_scope(**{**sc, **override})


def state_of(sc: dict, minute: int) -> str:
    count = sc["minutes"].get(minute)
    if count is None:
        return sc["absent"]
    return sc["thresholds"].state(count.requests, count.errors)


def credits(account) -> dict[str, Fraction]:
    pct = account.availability * 100
    return {name: regime.credit_for(pct)[0] for name, regime in REGIMES.items()}


# --------------------------------------------------------------------------------------------
# (a) every minute is accounted for
# --------------------------------------------------------------------------------------------

@PROPS
@given(scenarios())
def test_classes_sum_to_period_minutes(sc):
    acc = run(sc)
    total = sc["period_end"] - sc["period_start"]
    assert acc.total_minutes == total
    assert (acc.up_minutes + acc.downtime_minutes + sum(acc.excluded_minutes.values())
            + acc.before_notice_minutes + acc.unknown_minutes) == total
    assert set(acc.excluded_minutes) == set(EXCLUSION_KINDS)
    assert all(v >= 0 for v in acc.excluded_minutes.values())
    assert min(acc.up_minutes, acc.downtime_minutes, acc.before_notice_minutes, acc.unknown_minutes) >= 0


@PROPS
@given(scenarios())
def test_each_class_matches_the_minutes_states(sc):
    """Only in-period minutes count; down minutes split into counted, excluded and before_notice."""
    acc = run(sc)
    states = [state_of(sc, m) for m in range(sc["period_start"], sc["period_end"])]
    assert acc.up_minutes == states.count("up")
    assert acc.unknown_minutes == states.count("unknown")
    assert (acc.downtime_minutes + sum(acc.excluded_minutes.values())
            + acc.before_notice_minutes) == states.count("down")
    assert sum(acc.excluded_by_window.values()) == sum(acc.excluded_minutes.values())
    assert sum(o.counted_minutes for o in acc.outages) == acc.downtime_minutes
    assert sum(o.before_notice_minutes for o in acc.outages) == acc.before_notice_minutes
    if sc["awareness"] == "detection":
        assert acc.before_notice_minutes == 0
    # an excluded down minute is exactly one whose start lies in some window
    down = [m for m in range(sc["period_start"], sc["period_end"]) if state_of(sc, m) == "down"]
    covered = [m for m in down if any(s.start_minute <= m < s.end_minute for s in sc["exclusions"])]
    assert sum(acc.excluded_minutes.values()) == len(covered)


# --------------------------------------------------------------------------------------------
# (b) more downtime never lowers downtime or the credit
# --------------------------------------------------------------------------------------------

@PROPS
@given(scenarios(), st.data())
def test_turning_a_minute_down_never_lowers_downtime_or_credit(sc, data):
    start, end = sc["period_start"], sc["period_end"]
    candidates = [m for m in range(start, end) if state_of(sc, m) != "down"]
    if not candidates:
        return
    minute = data.draw(st.sampled_from(candidates), label="minute")
    before = run(sc)
    old = sc["minutes"].get(minute, Count(0, 0))
    n = max(old.requests, sc["thresholds"].min_samples)
    worse = {**sc["minutes"], minute: Count(n, n)}  # more requests seen, every one an error
    assert sc["thresholds"].state(n, n) == "down"
    after = run(sc, minutes=worse)
    assert after.downtime_minutes >= before.downtime_minutes
    assert after.availability <= before.availability
    before_credit, after_credit = credits(before), credits(after)
    for name in REGIMES:
        assert after_credit[name] >= before_credit[name], name


@PROPS
@given(scenarios(), st.data())
def test_more_errors_in_a_minute_never_lowers_downtime(sc, data):
    """Raising the error count of one observed minute (same requests) is monotone too."""
    start, end = sc["period_start"], sc["period_end"]
    observed = [m for m in range(start, end) if m in sc["minutes"]]
    if not observed:
        return
    minute = data.draw(st.sampled_from(observed), label="minute")
    old = sc["minutes"][minute]
    errors = data.draw(st.integers(old.errors, old.requests), label="errors")
    before = run(sc)
    after = run(sc, minutes={**sc["minutes"], minute: Count(old.requests, errors)})
    assert after.downtime_minutes >= before.downtime_minutes
    for name in REGIMES:
        assert credits(after)[name] >= credits(before)[name], name


# --------------------------------------------------------------------------------------------
# (c) availability bounds
# --------------------------------------------------------------------------------------------

@PROPS
@given(scenarios())
def test_availability_and_worst_case_in_unit_interval(sc):
    acc = run(sc)
    assert isinstance(acc.availability, Fraction)
    assert 0 <= acc.worst_case_availability <= acc.availability <= 1
    total = acc.total_minutes
    assert acc.availability == Fraction(total - acc.downtime_minutes, total)
    assert acc.worst_case_availability == Fraction(total - acc.downtime_minutes - acc.unknown_minutes, total)


# --------------------------------------------------------------------------------------------
# (d) exclusions never add downtime
# --------------------------------------------------------------------------------------------

@PROPS
@given(scenarios(), st.data())
def test_adding_an_exclusion_never_increases_downtime(sc, data):
    extra = data.draw(exclusion_spans(sc["period_start"], sc["period_end"]), label="extra window")
    before = run(sc)
    after = run(sc, exclusions=[*sc["exclusions"], extra])
    assert after.downtime_minutes <= before.downtime_minutes
    assert sum(after.excluded_minutes.values()) >= sum(before.excluded_minutes.values())
    # the other classes are untouched by exclusions
    assert after.up_minutes == before.up_minutes
    assert after.unknown_minutes == before.unknown_minutes
    for name in REGIMES:
        assert credits(after)[name] <= credits(before)[name], name


@PROPS
@given(scenarios(), st.data())
def test_under_detection_an_exclusion_removes_at_most_the_minutes_it_excludes(sc, data):
    """With awareness='detection' an exclusion only reclassifies the down minutes it covers."""
    sc = {**sc, "awareness": "detection"}
    extra = data.draw(exclusion_spans(sc["period_start"], sc["period_end"]), label="extra window")
    before = run(sc)
    after = run(sc, exclusions=[*sc["exclusions"], extra])
    newly_excluded = sum(after.excluded_minutes.values()) - sum(before.excluded_minutes.values())
    assert before.downtime_minutes - after.downtime_minutes == newly_excluded


# --------------------------------------------------------------------------------------------
# (e) notice-based counting never counts more than detection
# --------------------------------------------------------------------------------------------

@PROPS
@given(scenarios())
def test_notice_awareness_never_counts_more_than_detection(sc):
    detection = run(sc, awareness="detection")
    notice = run(sc, awareness="notice")
    assert notice.downtime_minutes <= detection.downtime_minutes
    assert detection.before_notice_minutes == 0
    # the minutes notice does not count are before_notice, nothing else moves
    assert notice.downtime_minutes + notice.before_notice_minutes == detection.downtime_minutes
    assert notice.excluded_minutes == detection.excluded_minutes
    assert notice.up_minutes == detection.up_minutes
    assert notice.unknown_minutes == detection.unknown_minutes
    assert notice.availability >= detection.availability


@PROPS
@given(scenarios(), st.data())
def test_an_extra_notice_never_lowers_notice_based_downtime(sc, data):
    sc = {**sc, "awareness": "notice"}
    extra = data.draw(st.integers(sc["period_start"] - MARGIN, sc["period_end"] + MARGIN), label="notice")
    before = run(sc)
    after = run(sc, notice_minutes=[*sc["notice_minutes"], extra])
    assert after.downtime_minutes >= before.downtime_minutes


def reference_incidents(sc: dict) -> list[tuple[int, int]]:
    """(first down minute, last down minute) of every incident, walked minute by minute: down
    minutes joined by unknown ones; an up or excluded minute ends one."""
    def excluded(minute):
        return any(x.start_minute <= minute < x.end_minute for x in sc["exclusions"])

    found: list[list[int]] = []
    current: list[int] | None = None
    for minute in range(min([sc["period_start"], *sc["minutes"]]), sc["period_end"]):
        state = state_of(sc, minute)
        if state == "down" and not excluded(minute):
            if current is None:
                current = [minute, minute]
                found.append(current)
            current[1] = minute
        elif state in ("up", "down"):  # up, or a down minute a window excludes
            current = None
    return [(a, b) for a, b in found]


@PROPS
@given(scenarios())
def test_incidents_and_the_notices_that_belong_to_them(sc):
    """Under awareness='notice' an incident counts from the earliest notice given while it went
    on, or at most the grace before its first down minute (and not during the incident before)."""
    sc = {**sc, "awareness": "notice"}
    acc = run(sc)
    notices = sorted(set(sc["notice_minutes"]))
    incidents = reference_incidents(sc)

    def down_in_period(a: int, b: int) -> list[int]:
        return [m for m in range(max(a, sc["period_start"]), b + 1) if state_of(sc, m) == "down"
                and not any(x.start_minute <= m < x.end_minute for x in sc["exclusions"])]

    assert [(o.start_minute, o.end_minute - 1) for o in acc.outages] == \
        [(a, b) for a, b in incidents if down_in_period(a, b)]
    for outage in acc.outages:
        index = incidents.index((outage.start_minute, outage.end_minute - 1))
        earliest = outage.start_minute - sc["notice_grace_minutes"]
        if index:
            earliest = max(earliest, incidents[index - 1][1] + 1)
        belonging = [n for n in notices if earliest <= n <= outage.end_minute - 1]
        downs = down_in_period(outage.start_minute, outage.end_minute - 1)
        counted = [m for m in downs if belonging and m >= belonging[0]]
        assert outage.counted_minutes == len(counted)
        assert outage.before_notice_minutes == len(downs) - len(counted)
        assert outage.first_counted_minute == (counted[0] if counted else None)


# --------------------------------------------------------------------------------------------
# (f) absent="up" on a sparse mapping == a dense mapping filled with healthy minutes
# --------------------------------------------------------------------------------------------

@PROPS
@given(scenarios())
def test_absent_up_equals_dense_healthy_mapping(sc):
    start, end = sc["period_start"], sc["period_end"]
    healthy = Count(max(20, sc["thresholds"].min_samples), 0)
    assert sc["thresholds"].state(healthy.requests, healthy.errors) == "up"
    dense = dict(sc["minutes"])
    # from the first minute given (the history before the period counts for incidents) to the end
    for m in range(min([start, *sc["minutes"]]), end):
        dense.setdefault(m, healthy)
    sparse_acc = run(sc, absent="up")
    dense_acc = run(sc, minutes=dense, absent="up")
    assert sparse_acc == dense_acc
    assert run(sc, minutes=dense, absent="unknown") == dense_acc  # dense: the setting is moot


def test_absent_up_equals_dense_default_thresholds():
    """The brief's literal case: default thresholds, absent minutes filled with Count(20, 0)."""
    start, end = BASE, BASE + 60
    sparse = {BASE + 3: Count(20, 20), BASE + 4: Count(20, 2), BASE + 10: Count(5, 5), BASE + 59: Count(20, 1)}
    dense = {m: sparse.get(m, Count(20, 0)) for m in range(start, end)}
    a = account_scope(start, end, sparse, Thresholds(), absent="up")
    b = account_scope(start, end, dense, Thresholds(), absent="unknown")
    assert a == b
    assert (a.up_minutes, a.downtime_minutes, a.unknown_minutes) == (57, 2, 1)


# --------------------------------------------------------------------------------------------
# (g) real months in real zones
# --------------------------------------------------------------------------------------------

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Tokyo", "Asia/Seoul", "UTC"]


def independent_month_minutes(year: int, month: int, zone: str) -> int:
    """days x 1440, corrected by the change of UTC offset between the two local midnights."""
    tz = ZoneInfo(zone)
    days = calendar.monthrange(year, month)[1]
    first = datetime(year, month, 1)
    nxt = first + timedelta(days=days)
    shift = tz.utcoffset(first) - tz.utcoffset(nxt)  # naive local times, fold=0
    return days * 1440 + int(shift.total_seconds()) // 60


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ZONES), st.integers(1971, 2037), st.integers(1, 12), st.data())
def test_month_period_has_the_real_number_of_minutes(zone, year, month, data):
    label = f"{year:04d}-{month:02d}"
    period = month_period(label, zone)
    expected = independent_month_minutes(year, month, zone)
    assert period.total_minutes == expected
    # the same figure straight from the UTC instants of the two local midnights
    tz = ZoneInfo(zone)
    start_utc = datetime(year, month, 1, tzinfo=tz).astimezone(UTC)
    end_utc = (datetime(year, month, 1) + timedelta(days=calendar.monthrange(year, month)[1])
               ).replace(tzinfo=tz).astimezone(UTC)
    assert period.start_minute * 60 == int(start_utc.timestamp())
    assert period.end_minute * 60 == int(end_utc.timestamp())
    assert period.days == calendar.monthrange(year, month)[1]
    if zone in ("Asia/Tokyo", "UTC"):  # fixed offsets (Tokyo since 1952): days x 1440
        assert period.total_minutes == period.days * 1440
    # the classes of a sparse month sum to it as well
    down = data.draw(st.sets(st.integers(period.start_minute - 3, period.end_minute + 2), max_size=30), label="down")
    minutes = {m: Count(20, 20) for m in down}
    window_start = data.draw(st.integers(period.start_minute, period.end_minute), label="window")
    spans = [ExclusionSpan(window_start, window_start + 60, "maintenance", "planned", "m1")]
    for absent in ("up", "unknown"):
        for awareness in ("detection", "notice"):
            acc = account_scope(period.start_minute, period.end_minute, minutes, Thresholds(), spans,
                                notice_minutes=sorted(down)[:1], awareness=awareness, absent=absent)
            assert acc.total_minutes == expected
            assert (acc.up_minutes + acc.downtime_minutes + sum(acc.excluded_minutes.values())
                    + acc.before_notice_minutes + acc.unknown_minutes) == expected


@pytest.mark.parametrize("zone, label, minutes", [
    ("Europe/Berlin", "2027-03", 44_580),
    ("Europe/Berlin", "2027-10", 44_700),
    ("Europe/Berlin", "2027-02", 40_320),
    ("America/New_York", "2027-03", 44_580),
    ("America/New_York", "2027-11", 43_260),
    ("Australia/Lord_Howe", "2027-04", 43_230),  # half-hour DST: ends the first Sunday of April
    ("Australia/Lord_Howe", "2027-10", 44_610),
    ("Asia/Tokyo", "2026-11", 43_200),
    ("Asia/Tokyo", "2028-02", 41_760),
    ("Asia/Seoul", "2026-12", 44_640),
    ("UTC", "2026-10", 44_640),
])
def test_month_lengths_known_values(zone, label, minutes):
    assert month_period(label, zone).total_minutes == minutes


# --------------------------------------------------------------------------------------------
# Thresholds.state: the 5% rule (regimes.md section 1, example 5)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("requests, errors, expected", [
    (20, 0, "up"),
    (20, 1, "up"),         # exactly 5% does not exceed 5%
    (20, 2, "down"),
    (19, 19, "unknown"),   # below min_samples: no evidence
    (0, 0, "unknown"),
    (40, 2, "up"),
    (40, 3, "down"),
    (100, 5, "up"),
    (100, 6, "down"),
    (60, 3, "up"),
    (60, 4, "down"),
])
def test_default_thresholds_state(requests, errors, expected):
    assert Thresholds().state(requests, errors) == expected


def test_example_5_client_errors_are_not_errors():
    # 20 requests: 19 `404`s (client errors: in the denominator, not errors) and one `503`
    assert Thresholds().state(20, 1) == "up"


@pytest.mark.parametrize("min_samples, threshold, requests, errors, expected", [
    (3, Fraction(1, 3), 3, 1, "up"),      # exactly one third: not above
    (3, Fraction(1, 3), 3, 2, "down"),
    (3, Fraction(1, 3), 30, 10, "up"),
    (3, Fraction(1, 3), 30, 11, "down"),
    (3, Fraction(1, 3), 2, 2, "unknown"),
    (1, Fraction(0), 1, 0, "up"),         # threshold 0: any error is down
    (1, Fraction(0), 1, 1, "down"),
    (1, Fraction(0), 10**6, 1, "down"),
    (20, Fraction(99, 100), 100, 99, "up"),
    (20, Fraction(99, 100), 100, 100, "down"),
    (20, Fraction(1, 7), 700, 100, "up"),
    (20, Fraction(1, 7), 700, 101, "down"),
])
def test_threshold_state_integer_comparison(min_samples, threshold, requests, errors, expected):
    assert Thresholds(min_samples, threshold).state(requests, errors) == expected


@PROPS
@given(thresholds(), st.integers(0, 10**6), st.data())
def test_state_agrees_with_exact_rational_comparison(th, n, data):
    e = data.draw(st.integers(0, n), label="errors")
    expected = "unknown" if n < th.min_samples else ("down" if Fraction(e, n) > th.error_threshold else "up")
    assert th.state(n, e) == expected


def test_invalid_thresholds_and_counts_rejected():
    with pytest.raises(ValueError):
        Thresholds(min_samples=0)
    with pytest.raises(ValueError):
        Thresholds(error_threshold=Fraction(1))
    with pytest.raises(ValueError):
        Count(5, 6)
    with pytest.raises(ValueError):
        ExclusionSpan(10, 9, "maintenance")
    with pytest.raises(ValueError):
        ExclusionSpan(1, 9, "holiday")


# --------------------------------------------------------------------------------------------
# Counting start across exclusions and month boundaries (regimes.md section 1, "Counting start")
#
# A notice is about an incident: a stretch of down minutes that unknown minutes inside do not
# end, but an observed up or excluded minute does. It belongs to the incident going on in its
# minute, or to the one starting at most the grace after it; an incident is followed back however
# long before the period it began.
# --------------------------------------------------------------------------------------------


def test_a_maintenance_window_ends_an_incident_and_its_overrun_is_a_new_one():
    # down minutes 0..29; maintenance covers 0..19; the customer notifies at minute 10 (during
    # the window, when no incident went on): the overrun 20..29 is an incident of its own, and the
    # notice belongs to it only when it starts within the grace after the notice
    minutes = {m: Count(20, 20) for m in range(30)}
    spans = [ExclusionSpan(0, 20, "maintenance", "planned", "w")]
    for grace, counted in ((5, 0), (10, 10)):
        acc = account_scope(0, 100, minutes, Thresholds(), spans, notice_minutes=[10], awareness="notice",
                            absent="up", notice_grace_minutes=grace)
        assert acc.excluded_minutes["maintenance"] == 20
        assert [(o.start_minute, o.end_minute) for o in acc.outages] == [(20, 30)]
        assert (acc.downtime_minutes, acc.before_notice_minutes) == (counted, 10 - counted)


def test_unknown_minutes_inside_an_incident_do_not_split_it():
    # down 0..19, one minute without data (20), down 21..48: one incident; the notice at minute 5
    # counts it from there on (43 of its 48 down minutes), not only the part before the gap
    minutes = {m: Count(20, 20) for m in range(49)}
    minutes[20] = Count(0, 0)
    acc = account_scope(0, 100, minutes, Thresholds(), notice_minutes=[5], awareness="notice", absent="up")
    assert [(o.start_minute, o.end_minute) for o in acc.outages] == [(0, 49)]
    assert (acc.downtime_minutes, acc.before_notice_minutes, acc.unknown_minutes) == (43, 5, 1)


def test_a_notice_just_before_the_first_down_minute_belongs_within_the_grace():
    minutes = {m: Count(20, 20) for m in range(100, 130)}
    for grace, downtime in ((0, 0), (1, 30), (5, 30)):
        acc = account_scope(0, 200, minutes, Thresholds(), notice_minutes=[99], awareness="notice",
                            absent="up", notice_grace_minutes=grace)
        assert acc.downtime_minutes == downtime, grace
    # a notice given during an earlier incident belongs to that one, not to the next
    minutes.update({m: Count(20, 20) for m in range(90, 98)})
    acc = account_scope(0, 200, minutes, Thresholds(), notice_minutes=[97], awareness="notice", absent="up",
                        notice_grace_minutes=5)
    assert [(o.start_minute, o.counted_minutes) for o in acc.outages] == [(90, 1), (100, 0)]


def test_an_incident_is_followed_back_however_long_before_the_period_it_began():
    # down since minute 10, three days before the period [5000, 6000), with unknown hours in it;
    # noticed at minute 12: every down minute of the period counts
    minutes = {m: Count(20, 20) for m in range(10, 5100)}
    for m in range(1000, 1300):
        minutes[m] = Count(0, 0)
    acc = account_scope(5000, 6000, minutes, Thresholds(), notice_minutes=[12], awareness="notice", absent="up",
                        history_start=0)
    assert [(o.start_minute, o.end_minute) for o in acc.outages] == [(10, 5100)]
    assert (acc.downtime_minutes, acc.before_notice_minutes) == (100, 0)


def test_notice_before_period_start_counts_outage_continuing_into_period():
    # down minutes 90..109 around a period starting at 100; notice at minute 95. The outage
    # 90..109 counts from 95, so all 10 down minutes of the period are counted.
    minutes = {m: Count(20, 20) for m in range(90, 110)}
    acc = account_scope(100, 200, minutes, Thresholds(), notice_minutes=[95],
                        awareness="notice", absent="up")
    assert acc.downtime_minutes == 10
    assert acc.before_notice_minutes == 0


def test_notice_awareness_example_3_shape():
    # regimes.md example 3 in miniature: a 500-minute outage, notice 60 minutes in
    minutes = {m: Count(20, 20) for m in range(1000, 1500)}
    det = account_scope(0, 44_640, minutes, Thresholds(), awareness="detection", absent="up")
    note = account_scope(0, 44_640, minutes, Thresholds(), notice_minutes=[1060], awareness="notice", absent="up")
    assert (det.downtime_minutes, det.before_notice_minutes) == (500, 0)
    assert (note.downtime_minutes, note.before_notice_minutes) == (440, 60)
    assert note.outages[0].first_counted_minute == 1060
    # no notice at all: an outage counts nothing under "notice"
    silent = account_scope(0, 44_640, minutes, Thresholds(), awareness="notice", absent="up")
    assert (silent.downtime_minutes, silent.before_notice_minutes) == (0, 500)
