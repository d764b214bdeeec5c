"""Tier boundaries, exact months and money of the built-in regimes (regimes.md sections 2-4).

The expected credits are written out from the tables of regimes.md section 3, row by row, not
derived from regimes.toml, so a wrong bound or inclusivity in the shipped data shows up here.
"""
from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.accounting import minute_to_index, month_period
from reports.compensation import (
    billing_month,
    claim_deadline,
    currency_unit,
    days_credit,
    percent_credit,
    round_money,
    tax_excluded,
    truncated_percent,
)
from reports.fields import Problems
from reports.minutes import Count, ExclusionSpan, Thresholds, account_scope
from reports.regimes import builtin_regime_tables, builtin_regimes, parse_regime

REGIMES = builtin_regimes()
TABLES = builtin_regime_tables()
UTC = UTC
EPS = Fraction(1, 10**9)
DOWN = Count(20, 20)

P9995 = Fraction(9995, 100)
P999 = Fraction(999, 10)
P99 = Fraction(99)
P95 = Fraction(95)


# --------------------------------------------------------------------------------------------
# 1. boundary tables: every built-in regime at, just above and just below each bound
# --------------------------------------------------------------------------------------------

#                                 lineworks / kddi   lineworks-kr      ncloud-workplace
#                                 [99,99.9) 3        (99,99.9] 3       [99,99.95) 10
#                                 [95,99)   7        (95,99]   7       [95,99)    25
#                                 <95      15        <=95     15       <95        50
BOUNDARY_ROWS = [
    # (availability %,  lineworks, lineworks-kr, ncloud-workplace, kddi)
    (Fraction(100),        0,  0,  0,  0),
    (P9995 + EPS,          0,  0,  0,  0),
    (P9995,                0,  0,  0,  0),   # ncloud: exactly the target earns nothing
    (P9995 - EPS,          0,  0, 10,  0),
    (P999 + EPS,           0,  0, 10,  0),
    (P999,                 0,  3, 10,  0),   # lineworks: exactly 99.9% earns nothing; kr table: 3 days
    (P999 - EPS,           3,  3, 10,  3),
    (P99 + EPS,            3,  3, 10,  3),
    (P99,                  3,  7, 10,  3),   # example 2: lineworks 3, lineworks-kr 7
    (P99 - EPS,            7,  7, 25,  7),
    (P95 + EPS,            7,  7, 25,  7),
    (P95,                  7, 15, 25,  7),   # example 2: lineworks 7, lineworks-kr 15, ncloud 25%
    (P95 - EPS,           15, 15, 50, 15),
    (Fraction(50),        15, 15, 50, 15),
    (Fraction(0),         15, 15, 50, 15),   # a month that is down throughout
]
REGIME_COLUMNS = ("lineworks", "lineworks-kr", "ncloud-workplace", "kddi")


def _boundary_params():
    for pct, *credits in BOUNDARY_ROWS:
        for name, credit in zip(REGIME_COLUMNS, credits, strict=True):
            yield pytest.param(name, pct, credit, id=f"{name}-{float(pct):.9f}")


def test_every_builtin_regime_is_tabled():
    assert set(REGIMES) == set(REGIME_COLUMNS)


@pytest.mark.parametrize("name, pct, expected", list(_boundary_params()))
def test_credit_at_boundaries(name, pct, expected):
    regime = REGIMES[name]
    credit, tier, capped = regime.credit_for(pct)
    assert credit == expected
    assert capped is False  # no built-in tier exceeds its cap
    if expected:
        assert tier is not None and tier.contains(pct) and tier.credit == expected
    else:
        assert tier is None or tier.credit == 0
    assert regime.tier_for(pct) is tier


def test_builtin_settings_from_the_spec():
    lw, kr, nc, kd = (REGIMES[n] for n in REGIME_COLUMNS)
    assert (lw.timezone, kr.timezone, nc.timezone, kd.timezone) == (
        "Asia/Tokyo", "Asia/Seoul", "Asia/Seoul", "Asia/Tokyo")
    assert (lw.scope, kr.scope, nc.scope, kd.scope) == ("contract", "contract", "service", "contract")
    assert (lw.target, kr.target, nc.target, kd.target) == (P999, P999, P9995, P999)
    assert (lw.credit_unit, nc.credit_unit) == ("days", "percent")
    assert lw.cap == kr.cap == kd.cap == 15
    assert nc.notice_based and not lw.notice_based
    assert kd.prices_include_tax and kd.tax_rate == Fraction(1, 10) and not lw.prices_include_tax
    assert lw.rounding == kd.rounding == nc.rounding == "down"
    assert lw.claim_window_days == kd.claim_window_days == 30
    assert P999 in kr.ambiguous_bounds


def test_cap_cuts_credit_of_custom_regime():
    data = dict(TABLES["lineworks"], cap="10")
    problems = Problems()
    regime = parse_regime("capped", data, ("regime", "capped"), problems, TABLES)
    assert not problems.items
    assert regime.credit_for(P95 - EPS) == (Fraction(10), regime.tier_for(P95 - EPS), True)
    assert regime.credit_for(P99)[0] == 3 and regime.credit_for(P99)[2] is False


# --------------------------------------------------------------------------------------------
# 2. real months where the bounds are reached exactly through account_scope
# --------------------------------------------------------------------------------------------

def down_month(period_start: int, period_end: int, down: int, first: int | None = None):
    """A month of healthy minutes (absent = up) with `down` consecutive down minutes."""
    first = period_start + 600 if first is None else first
    minutes = {m: DOWN for m in range(first, first + down)}
    return account_scope(period_start, period_end, minutes, Thresholds(), absent="up")


def expected_credit(name: str, pct: Fraction) -> int:
    """regimes.md section 3, written independently of regimes.toml."""
    if name in ("lineworks", "kddi"):
        return 0 if pct >= P999 else 3 if pct >= P99 else 7 if pct >= P95 else 15
    if name == "lineworks-kr":
        return 0 if pct > P999 else 3 if pct > P99 else 7 if pct > P95 else 15
    assert name == "ncloud-workplace"
    return 0 if pct >= P9995 else 10 if pct >= P99 else 25 if pct >= P95 else 50


# (zone, month) pairs covering every month length a calendar month can have in these zones
REAL_MONTHS = [
    ("Asia/Tokyo", "2027-02"),           # 28 days, 40,320
    ("Asia/Tokyo", "2028-02"),           # 29 days, 41,760
    ("Asia/Tokyo", "2026-11"),           # 30 days, 43,200
    ("Asia/Seoul", "2026-12"),           # 31 days, 44,640
    ("Europe/Berlin", "2027-03"),        # 44,580
    ("Europe/Berlin", "2027-10"),        # 44,700
    ("America/New_York", "2027-11"),     # 43,260
    ("Australia/Lord_Howe", "2027-04"),  # 43,230
    ("Australia/Lord_Howe", "2027-10"),  # 44,610
    ("America/Santiago", "2027-09"),     # 43,140 (spring forward in a 30-day month)
]
BOUNDS = (P9995, P999, P99, P95)


def _exact_downtime(total: int, bound: Fraction) -> Fraction:
    return total * (100 - bound) / 100


def test_which_bounds_real_months_reach_exactly():
    """Programmatic search: only 99.0% and 95.0% are reachable with integer down minutes in
    these months; 99.9% needs a month length divisible by 1,000 and 99.95% one divisible by
    2,000, and no month of 28-31 days +/- a DST shift has that."""
    reach = {}
    for zone, label in REAL_MONTHS:
        total = month_period(label, zone).total_minutes
        reach[(zone, label)] = {b for b in BOUNDS if _exact_downtime(total, b).denominator == 1}
    assert reach == {
        ("Asia/Tokyo", "2027-02"): {P95},                # 1% of 40,320 = 403.2; 5% = 2,016
        ("Asia/Tokyo", "2028-02"): {P95},                # 417.6; 2,088
        ("Asia/Tokyo", "2026-11"): {P99, P95},           # 432 and 2,160 (example 2)
        ("Asia/Seoul", "2026-12"): {P95},                # 446.4; 2,232
        ("Europe/Berlin", "2027-03"): {P95},             # 1% of 44,580 = 445.8; 5% = 2,229
        ("Europe/Berlin", "2027-10"): {P99, P95},        # 447 and 2,235
        ("America/New_York", "2027-11"): {P95},          # 432.6; 2,163
        ("Australia/Lord_Howe", "2027-04"): set(),       # 432.3; 2,161.5
        ("Australia/Lord_Howe", "2027-10"): set(),       # 446.1; 2,230.5
        ("America/Santiago", "2027-09"): {P95},          # 431.4; 2,157
    }


def test_no_modern_month_reaches_99_9_or_99_95_exactly():
    """Over 1971-2037 in the zones the regimes and tests use, no month length is a multiple of
    1,000 minutes, so no integer downtime gives exactly 99.9% (nor 99.95%)."""
    zones = ["Asia/Tokyo", "Asia/Seoul", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
             "America/Santiago", "UTC"]
    lengths = {month_period(f"{y:04d}-{m:02d}", z).total_minutes
               for z in zones for y in range(1971, 2038) for m in range(1, 13)}
    assert {40_320, 41_760, 43_200, 44_640, 44_580, 44_700} <= lengths
    assert [t for t in lengths if t % 1000 == 0] == []


def _month_cases():
    for zone, label in REAL_MONTHS:
        for bound in BOUNDS:
            yield pytest.param(zone, label, bound, id=f"{zone}-{label}-{float(bound)}")


@pytest.mark.parametrize("zone, label, bound", list(_month_cases()))
def test_real_month_around_each_bound(zone, label, bound):
    """The integer downtimes nearest each bound land on the right side of it, with the credit of
    that side; where the bound is reachable exactly it gives the credit of the bound itself."""
    period = month_period(label, zone)
    total = period.total_minutes
    exact = _exact_downtime(total, bound)
    lo, hi = exact.numerator // exact.denominator, -(-exact.numerator // exact.denominator)
    for down in {lo, hi}:
        acc = down_month(period.start_minute, period.end_minute, down)
        pct = acc.availability * 100
        assert acc.downtime_minutes == down
        assert pct == Fraction(total - down, total) * 100
        if down == exact:
            assert pct == bound
        elif down < exact:
            assert pct > bound
        else:
            assert pct < bound
        for name in REGIME_COLUMNS:
            assert REGIMES[name].credit_for(pct)[0] == expected_credit(name, pct), (name, down)


@pytest.mark.parametrize("zone, label, down, pct, credits", [
    # example 2: a 30-day month, 432 and 2,160 down minutes
    ("Asia/Tokyo", "2026-11", 432, P99, {"lineworks": 3, "lineworks-kr": 7, "ncloud-workplace": 10, "kddi": 3}),
    ("Asia/Tokyo", "2026-11", 2160, P95, {"lineworks": 7, "lineworks-kr": 15, "ncloud-workplace": 25, "kddi": 7}),
    ("Asia/Seoul", "2026-12", 446, Fraction(44194, 44640) * 100,   # 99.000896%: 446.4 would be 99.0%
     {"lineworks": 3, "lineworks-kr": 3, "ncloud-workplace": 10, "kddi": 3}),
    ("Asia/Seoul", "2026-12", 447, Fraction(44193, 44640) * 100,   # 98.998655%
     {"lineworks": 7, "lineworks-kr": 7, "ncloud-workplace": 25, "kddi": 7}),
    ("Asia/Seoul", "2026-12", 2232, P95, {"lineworks": 7, "lineworks-kr": 15, "ncloud-workplace": 25, "kddi": 7}),
    ("Asia/Tokyo", "2027-02", 403, Fraction(39917, 40320) * 100,   # 403.2 would be 99.0%
     {"lineworks": 3, "lineworks-kr": 3, "ncloud-workplace": 10, "kddi": 3}),
    ("Asia/Tokyo", "2027-02", 2016, P95, {"lineworks": 7, "lineworks-kr": 15, "ncloud-workplace": 25, "kddi": 7}),
    ("Asia/Tokyo", "2028-02", 2088, P95, {"lineworks": 7, "lineworks-kr": 15, "ncloud-workplace": 25, "kddi": 7}),
    ("Asia/Tokyo", "2026-11", 21, Fraction(43179, 43200) * 100,    # 99.9514%: ncloud's target met
     {"lineworks": 0, "lineworks-kr": 0, "ncloud-workplace": 0, "kddi": 0}),
    ("Asia/Tokyo", "2026-11", 22, Fraction(43178, 43200) * 100,    # 99.9490%: just below 99.95
     {"lineworks": 0, "lineworks-kr": 0, "ncloud-workplace": 10, "kddi": 0}),
])
def test_real_month_examples(zone, label, down, pct, credits):
    period = month_period(label, zone)
    acc = down_month(period.start_minute, period.end_minute, down)
    assert acc.availability * 100 == pct
    assert {n: REGIMES[n].credit_for(pct)[0] for n in REGIME_COLUMNS} == credits


def test_99_9_reached_exactly_only_in_a_tzdata_oddity():
    """America/Resolute, August 1947: the zone's first month in tzdata (from "-00" to CST) has
    45,000 minutes, so 45 down minutes give exactly 99.9%: lineworks 0, lineworks-kr 3."""
    period = month_period("1947-08", "America/Resolute")
    assert period.total_minutes == 45_000, "tzdata changed this zone's history: pick another exact month"
    acc = down_month(period.start_minute, period.end_minute, 45)
    pct = acc.availability * 100
    assert pct == P999
    assert REGIMES["lineworks"].credit_for(pct)[0] == 0
    assert REGIMES["lineworks-kr"].credit_for(pct)[0] == 3
    assert REGIMES["ncloud-workplace"].credit_for(pct)[0] == 10


@pytest.mark.parametrize("total, down, pct, credits", [
    # 99.95% needs a period length divisible by 2,000 minutes: no calendar month has one, so
    # these use plain account_scope periods (e.g. a 28-day billing cycle of 40,000 minutes).
    (40_000, 20, P9995, {"lineworks": 0, "lineworks-kr": 0, "ncloud-workplace": 0, "kddi": 0}),
    (40_000, 21, Fraction(39979, 40000) * 100, {"lineworks": 0, "lineworks-kr": 0, "ncloud-workplace": 10, "kddi": 0}),
    (40_000, 40, P999, {"lineworks": 0, "lineworks-kr": 3, "ncloud-workplace": 10, "kddi": 0}),
    (40_000, 41, Fraction(39959, 40000) * 100, {"lineworks": 3, "lineworks-kr": 3, "ncloud-workplace": 10, "kddi": 3}),
    (44_000, 22, P9995, {"lineworks": 0, "lineworks-kr": 0, "ncloud-workplace": 0, "kddi": 0}),
    (44_000, 44, P999, {"lineworks": 0, "lineworks-kr": 3, "ncloud-workplace": 10, "kddi": 0}),
])
def test_99_95_and_99_9_exactly_on_synthetic_periods(total, down, pct, credits):
    acc = down_month(0, total, down, first=100)
    assert acc.availability * 100 == pct
    assert {n: REGIMES[n].credit_for(pct)[0] for n in REGIME_COLUMNS} == credits


# --- DST months with a custom regime --------------------------------------------------------

def custom(name: str, **keys):
    problems = Problems()
    regime = parse_regime(name, keys, ("regime", name), problems, TABLES)
    assert not problems.items, problems.items
    return regime


BERLIN_LW = custom("berlin", extends="lineworks", timezone="Europe/Berlin")
BERLIN_KR = custom("berlin-kr", extends="lineworks-kr", timezone="Europe/Berlin")


@pytest.mark.parametrize("label, total, down, pct, lw, kr", [
    ("2027-03", 44_580, 445, Fraction(44135, 44580) * 100, 3, 3),   # 99.0018%
    ("2027-03", 44_580, 446, Fraction(44134, 44580) * 100, 7, 7),   # 98.9995%
    ("2027-03", 44_580, 2229, P95, 7, 15),                          # exactly 95.0%
    ("2027-03", 44_580, 2230, Fraction(42350, 44580) * 100, 15, 15),
    ("2027-03", 44_580, 44, Fraction(44536, 44580) * 100, 0, 0),    # 99.9013%: 44.58 would be 99.9%
    ("2027-03", 44_580, 45, Fraction(44535, 44580) * 100, 3, 3),    # 99.8990%
    ("2027-10", 44_700, 447, P99, 3, 7),                            # exactly 99.0%
    ("2027-10", 44_700, 446, Fraction(44254, 44700) * 100, 3, 3),
    ("2027-10", 44_700, 448, Fraction(44252, 44700) * 100, 7, 7),
    ("2027-10", 44_700, 2235, P95, 7, 15),                          # exactly 95.0%
    ("2027-10", 44_700, 2236, Fraction(42464, 44700) * 100, 15, 15),
    ("2027-10", 44_700, 44, Fraction(44656, 44700) * 100, 0, 0),    # 99.9015%
    ("2027-10", 44_700, 45, Fraction(44655, 44700) * 100, 3, 3),    # 99.8993%
])
def test_berlin_dst_months_with_custom_regime(label, total, down, pct, lw, kr):
    period = month_period(label, BERLIN_LW.timezone)
    assert period.total_minutes == total
    # the outage runs across the DST switch (01:00 UTC on the last Sunday of the month)
    switch = minute_to_index(datetime(2027, int(label[-2:]), 28 if label.endswith("03") else 31, 1, 0, tzinfo=UTC))
    acc = down_month(period.start_minute, period.end_minute, down, first=switch - down // 2)
    assert acc.downtime_minutes == down
    assert acc.availability * 100 == pct
    assert BERLIN_LW.credit_for(pct)[0] == lw
    assert BERLIN_KR.credit_for(pct)[0] == kr


def test_berlin_dst_month_minutes_are_not_days_times_1440():
    march, october = month_period("2027-03", "Europe/Berlin"), month_period("2027-10", "Europe/Berlin")
    assert (march.days, october.days) == (31, 31)
    assert (march.total_minutes, october.total_minutes) == (31 * 1440 - 60, 31 * 1440 + 60)
    # with days x 1440 (44,640) 447 minutes would be 98.9986% -> 7 days; really it is 99.0% -> 3
    assert BERLIN_LW.credit_for(Fraction(44640 - 447, 44640) * 100)[0] == 7
    assert BERLIN_LW.credit_for(down_month(october.start_minute, october.end_minute, 447).availability * 100)[0] == 3


# --------------------------------------------------------------------------------------------
# 3. worked examples (regimes.md section 4) down to the money
# --------------------------------------------------------------------------------------------

def local_minute(zone: str, *fields: int) -> int:
    return minute_to_index(datetime(*fields, tzinfo=ZoneInfo(zone)))


@pytest.mark.parametrize("down, pct_text, credit, amount", [(44, "99.898148", 3, "5400"), (43, "99.900462", 0, None)])
def test_example_1_lineworks_november(down, pct_text, credit, amount):
    regime = REGIMES["lineworks"]
    period = month_period("2026-11", regime.timezone)
    assert (period.total_minutes, period.days) == (43_200, 30)
    first = local_minute("Asia/Tokyo", 2026, 11, 10, 10, 0)
    maint = local_minute("Asia/Tokyo", 2026, 11, 15, 2, 0)
    minutes = {m: DOWN for m in range(first, first + down)}
    minutes.update({m: DOWN for m in range(maint, maint + 60)})
    acc = account_scope(period.start_minute, period.end_minute, minutes, Thresholds(),
                        [ExclusionSpan(maint, maint + 60, "maintenance", "planned", "m1")], absent="up")
    assert acc.excluded_minutes["maintenance"] == 60
    assert acc.downtime_minutes == down
    assert truncated_percent(acc.availability) == pct_text
    got, _, _ = regime.credit_for(acc.availability * 100)
    assert got == credit
    if amount:
        money = days_credit(Decimal(540), include_tax=regime.prices_include_tax, tax_rate=regime.tax_rate,
                            credit_days=got, divisor=period.days, licenses=100, currency="JPY",
                            rounding=regime.rounding, unit=currency_unit("JPY"))
        assert str(money.rounded) == amount


@pytest.mark.parametrize("awareness, downtime, pct_text, credit, amount", [
    ("detection", 500, "98.879928", 25, "308641"),
    ("notice", 440, "99.014336", 10, "123456"),
])
def test_example_3_ncloud_december(awareness, downtime, pct_text, credit, amount):
    regime = REGIMES["ncloud-workplace"]
    period = month_period("2026-12", regime.timezone)
    assert period.total_minutes == 44_640
    first = local_minute("Asia/Seoul", 2026, 12, 3, 14, 0)
    notice = local_minute("Asia/Seoul", 2026, 12, 3, 15, 0)
    acc = account_scope(period.start_minute, period.end_minute, {m: DOWN for m in range(first, first + 500)},
                        Thresholds(), notice_minutes=[notice], awareness=awareness, absent="up")
    assert acc.downtime_minutes == downtime
    assert acc.before_notice_minutes == 500 - downtime
    assert truncated_percent(acc.availability) == pct_text
    got, _, _ = regime.credit_for(acc.availability * 100)
    assert got == credit
    money = percent_credit(Decimal(1_234_567), got, currency="KRW", rounding=regime.rounding,
                           unit=currency_unit("KRW"))
    assert str(money.rounded) == amount


def test_example_4_kddi_october():
    regime = REGIMES["kddi"]
    period = month_period("2026-10", regime.timezone)
    assert period.days == 31
    acc = down_month(period.start_minute, period.end_minute, 500)
    assert truncated_percent(acc.availability) == "98.879928"
    credit, _, _ = regime.credit_for(acc.availability * 100)
    assert credit == 7
    money = days_credit(Decimal(594), include_tax=regime.prices_include_tax, tax_rate=regime.tax_rate,
                        credit_days=credit, divisor=period.days, licenses=80, currency="JPY",
                        rounding=regime.rounding, unit=currency_unit("JPY"))
    assert money.exact == Fraction(540 * 7 * 80, 31)  # 9,754.83...
    assert money.rounded == Decimal(9754)
    assert str(money.rounded) == "9754"


def test_example_6_down_minute_month_depends_on_zone():
    minute = minute_to_index(datetime(2026, 10, 31, 15, 30, tzinfo=UTC))  # 2026-11-01 00:30 JST
    tokyo_nov = month_period("2026-11", "Asia/Tokyo")
    utc_oct = month_period("2026-10", "UTC")
    assert tokyo_nov.start_minute <= minute < tokyo_nov.end_minute
    assert utc_oct.start_minute <= minute < utc_oct.end_minute
    tokyo_oct = month_period("2026-10", "Asia/Tokyo")
    assert not tokyo_oct.start_minute <= minute < tokyo_oct.end_minute
    acc = account_scope(tokyo_nov.start_minute, tokyo_nov.end_minute, {minute: DOWN}, Thresholds(), absent="up")
    assert acc.downtime_minutes == 1


# --------------------------------------------------------------------------------------------
# 4. money: tax, rounding, display truncation, deadlines
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("incl, excl", [(594, 540), (495, 450), (1056, 960), (880, 800)])
def test_kddi_tax_excluded_prices(incl, excl):
    assert tax_excluded(Decimal(incl), REGIMES["kddi"].tax_rate) == excl


@pytest.mark.parametrize("value, down, up, half_up, half_even", [
    (Fraction(5, 2), 2, 3, 3, 2),
    (Fraction(7, 2), 3, 4, 4, 4),
    (Fraction(1, 2), 0, 1, 1, 0),
    (Fraction(9754, 1) + Fraction(1, 2), 9754, 9755, 9755, 9754),
    (Fraction(12, 5), 2, 3, 2, 2),                # 2.4
    (Fraction(13, 5), 2, 3, 3, 3),                # 2.6
    (Fraction(302400, 31), 9754, 9755, 9755, 9755),  # 9,754.83...
    (Fraction(4), 4, 4, 4, 4),
    (Fraction(0), 0, 0, 0, 0),
])
def test_rounding_modes_jpy(value, down, up, half_up, half_even):
    unit = currency_unit("JPY")
    assert unit == 1
    for mode, expected in (("down", down), ("up", up), ("half_up", half_up), ("half_even", half_even)):
        assert round_money(value, unit, mode) == Decimal(expected), mode


@pytest.mark.parametrize("value, down, up, half_up, half_even", [
    (Fraction(12345, 1000), "12.34", "12.35", "12.35", "12.34"),    # 12.345: exact half cent
    (Fraction(12355, 1000), "12.35", "12.36", "12.36", "12.36"),    # 12.355
    (Fraction(1, 3), "0.33", "0.34", "0.33", "0.33"),
    (Fraction(9999, 1000), "9.99", "10.00", "10.00", "10.00"),
    (Fraction(5), "5.00", "5.00", "5.00", "5.00"),
    (Fraction(0), "0.00", "0.00", "0.00", "0.00"),
])
def test_rounding_modes_usd_two_decimals(value, down, up, half_up, half_even):
    unit = currency_unit("USD")
    assert unit == Fraction(1, 100)
    for mode, expected in (("down", down), ("up", up), ("half_up", half_up), ("half_even", half_even)):
        assert str(round_money(value, unit, mode)) == expected, mode


def test_usd_percent_credit_truncates_to_cents():
    money = percent_credit(Decimal("99.99"), Fraction(10), currency="USD", rounding="down", unit=currency_unit("USD"))
    assert money.exact == Fraction(9999, 1000)
    assert str(money.rounded) == "9.99"


def test_unknown_rounding_mode_rejected():
    with pytest.raises(ValueError):
        round_money(Fraction(1), Fraction(1), "bankers")


@settings(max_examples=200, deadline=None)
@given(st.fractions(min_value=0, max_value=10**7), st.sampled_from(["JPY", "USD"]))
def test_rounding_brackets_the_exact_value(value, currency):
    unit = currency_unit(currency)
    down = Fraction(round_money(value, unit, "down"))
    up = Fraction(round_money(value, unit, "up"))
    assert down <= value <= up and up - down <= unit
    for mode in ("half_up", "half_even"):
        r = Fraction(round_money(value, unit, mode))
        assert r in (down, up) and abs(r - value) <= unit / 2


@pytest.mark.parametrize("ratio, text", [
    (Fraction(43156, 43200), "99.898148"),
    (Fraction(43157, 43200), "99.900462"),
    (Fraction(9999999999, 10**10), "99.999999"),  # 99.99999999%: never shown as 100
    (Fraction(999, 1000), "99.900000"),
    (Fraction(999, 1000) - Fraction(1, 10**12), "99.899999"),
    (Fraction(44194, 44640), "99.000896"),
    (Fraction(1), "100.000000"),
    (Fraction(0), "0.000000"),
    (Fraction(2, 3), "66.666666"),
])
def test_truncated_percent_never_rounds_up(ratio, text):
    assert truncated_percent(ratio) == text


@settings(max_examples=200, deadline=None)
@given(st.fractions(min_value=0, max_value=1))
def test_truncated_percent_is_a_lower_bound(ratio):
    text = truncated_percent(ratio)
    assert len(text.split(".")[1]) == 6
    shown = Fraction(Decimal(text))
    assert shown <= ratio * 100 < shown + Fraction(1, 10**6)


@pytest.mark.parametrize("label, deadline", [
    ("2026-11", date(2026, 12, 30)),   # spec: for November the last day to claim is December 30
    ("2026-12", date(2027, 1, 30)),
    ("2027-02", date(2027, 3, 30)),
    ("2026-10", date(2026, 11, 30)),
])
def test_claim_deadline(label, deadline):
    regime = REGIMES["lineworks"]
    period = month_period(label, regime.timezone)
    assert claim_deadline(period.end_local.date(), regime.claim_window_days) == deadline


@pytest.mark.parametrize("day, billing_day, start, end", [
    (date(2027, 3, 15), 1, date(2027, 3, 1), date(2027, 3, 31)),
    (date(2027, 3, 15), 20, date(2027, 2, 20), date(2027, 3, 19)),
    (date(2027, 3, 20), 20, date(2027, 3, 20), date(2027, 4, 19)),
    (date(2027, 1, 5), 28, date(2026, 12, 28), date(2027, 1, 27)),
    (date(2028, 2, 29), 28, date(2028, 2, 28), date(2028, 3, 27)),
])
def test_billing_month(day, billing_day, start, end):
    assert billing_month(day, billing_day) == (start, end)


@settings(max_examples=200, deadline=None)
@given(st.dates(date(2000, 1, 1), date(2099, 12, 31)), st.integers(1, 28))
def test_billing_month_contains_its_day(day, billing_day):
    start, end = billing_month(day, billing_day)
    assert start <= day <= end
    assert start.day == billing_day
    assert 28 <= (end - start).days + 1 <= 31


# --------------------------------------------------------------------------------------------
# 5. tier table validation through parse_regime
# --------------------------------------------------------------------------------------------

def with_tiers(tiers, **keys):
    data = {k: v for k, v in TABLES["lineworks"].items() if k != "tiers"}
    data.update(keys, tiers=tiers)
    problems = Problems()
    regime = parse_regime("custom", data, ("regime", "custom"), problems, TABLES)
    return regime, problems


def tier(lower=None, upper=None, bounds="[)", credit="0"):
    t = {"bounds": bounds, "credit": credit}
    if lower is not None:
        t["lower"] = lower
    if upper is not None:
        t["upper"] = upper
    return t


@pytest.mark.parametrize("tiers, fragment", [
    pytest.param([tier("99.0", "99.9", "[)", "3"), tier("95.0", "99.5", "[)", "7"), tier(None, "95.0", "[)", "15")],
                 "do not meet", id="overlap"),
    pytest.param([tier("99.0", "99.9", "[)", "3"), tier("95.0", "98.5", "[)", "7"), tier(None, "95.0", "[)", "15")],
                 "do not meet", id="gap"),
    pytest.param([tier("99.0", "99.9", "[)", "3"), tier("95.0", "99.0", "[]", "7"), tier(None, "95.0", "[)", "15")],
                 "both include", id="both-inclusive-shared-bound"),
    pytest.param([tier("99.0", "99.9", "()", "3"), tier("95.0", "99.0", "[)", "7"), tier(None, "95.0", "[)", "15")],
                 "neither includes", id="neither-includes-shared-bound"),
    pytest.param([tier("99.0", "99.9", "[)", "7"), tier("95.0", "99.0", "[)", "3"), tier(None, "95.0", "[)", "15")],
                 "gives less credit", id="lower-availability-less-credit"),
    pytest.param([tier("99.0", "99.9", "[)", "3"), tier("95.0", "99.0", "[)", "7")],
                 "reach down to 0%", id="no-bottom-tier"),
    pytest.param([tier(None, "99.9", "[)", "3"), tier(None, "99.0", "[)", "7")],
                 "do not meet", id="two-unbounded-lower"),
    pytest.param([tier("99.0", "99.9", "[)", "3"), tier(None, "99.0", "[)", "7"), tier("99.9", None, "[)", "1"),
                  tier("99.95", None, "[)", "1")],
                 "do not meet", id="two-unbounded-upper"),
    pytest.param([tier("99.9", "99.0", "[)", "3"), tier(None, "99.0", "[)", "7")],
                 "empty", id="inverted-tier"),
    pytest.param([], "at least one tier", id="empty-table"),
])
def test_invalid_tier_tables_rejected(tiers, fragment):
    regime, problems = with_tiers(tiers)
    assert regime is None
    assert problems.items
    assert any(fragment in message for _, message in problems.items), problems.items


@pytest.mark.parametrize("tiers, fragment", [
    ([tier("99.0", "99.9", "[]x", "3")], "must be one of"),
    ([tier("99.0", "99.9", "[)", "-3"), tier(None, "99.0", "[)", "7")], "negative"),
    ([tier("99.0", "99.9", "[)", "3%")], "without %"),
    ([{"lower": "99.0", "upper": "99.9", "bounds": "[)"}], "is required"),
    ([{"lower": 99.0, "upper": "99.9", "bounds": "[)", "credit": "3"}], "not floats"),
])
def test_malformed_tiers_rejected(tiers, fragment):
    regime, problems = with_tiers(tiers)
    assert regime is None
    assert any(fragment in message for _, message in problems.items), problems.items


def test_valid_custom_table_accepted_and_monotone():
    # a cloud provider's table: "less than 99.99% -> 10%, less than 99.0% -> 25%"
    regime, problems = with_tiers([tier("99.0", "99.99", "[)", "10"), tier(None, "99.0", "[)", "25")],
                                  credit_unit="percent", cap="100", target="99.99")
    assert not problems.items and regime is not None
    assert regime.credit_for(Fraction(9999, 100))[0] == 0
    assert regime.credit_for(Fraction(9999, 100) - EPS)[0] == 10
    assert regime.credit_for(P99)[0] == 10
    assert regime.credit_for(P99 - EPS)[0] == 25
    assert regime.credit_for(Fraction(0))[0] == 25


def test_tier_problem_is_reported_under_the_tiers_key():
    _, problems = with_tiers([tier("99.0", "99.9", "[)", "7"), tier(None, "99.0", "[)", "3")])
    assert [path for path, _ in problems.items] == [("regime", "custom", "tiers")]


def test_bottom_tier_excluding_zero_is_rejected():
    regime, problems = with_tiers([tier("0", "95.0", "(]", "15"), tier("95.0", "99.9", "(]", "3")])
    # accepted, credit_for(0) would be 0 < credit_for(1) == 15: more downtime lowering the credit
    assert regime is None
    assert any("0%" in message for _, message in problems.items), problems.items


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(1, 999), min_size=1, max_size=4, unique=True),
       st.lists(st.booleans(), min_size=4, max_size=4),
       st.lists(st.integers(0, 30), min_size=4, max_size=4),
       st.sampled_from(["unbounded", "zero-inclusive"]),
       st.booleans(), st.booleans(), st.booleans())
def test_accepted_random_tables_are_monotone(cuts, upper_inclusive, credits, bottom, top_tier,
                                             sort_credits, break_bracket):
    """Random tables (bounds in tenths of a percent; inclusivity and credits usually consistent,
    sometimes not, so that some are rejected): whenever parse_regime accepts one, every
    availability in [0%, 100%] is in at most one tier and credit never rises with availability,
    every bound and its neighbours included. (A bottom tier "(0, x]" is left out:
    test_bottom_tier_excluding_zero_is_rejected covers that bug.)"""
    bounds = sorted(Fraction(c, 10) for c in cuts)
    text = lambda f: f"{f.numerator * 10 // f.denominator / 10:.1f}" if f is not None else None  # noqa: E731
    if sort_credits:
        credits = sorted(credits, reverse=True)
    rows = []
    for i, upper in enumerate(bounds):
        lower = bounds[i - 1] if i else (Fraction(0) if bottom == "zero-inclusive" else None)
        lo = "[" if i == 0 else ("(" if upper_inclusive[i - 1] != (break_bracket and i == 1) else "[")
        hi = "]" if upper_inclusive[i] else ")"
        rows.append(tier(text(lower), text(upper), lo + hi, str(credits[i])))
    if top_tier:
        rows.append(tier(text(bounds[-1]), None, ("(" if upper_inclusive[len(bounds) - 1] else "[") + ")", "0"))
    regime, problems = with_tiers(rows)
    if regime is None:
        assert problems.items
        return
    points = sorted({Fraction(0), Fraction(100)} | {b + d for b in bounds for d in (-EPS, 0, EPS) if 0 <= b + d <= 100})
    got = [regime.credit_for(p)[0] for p in points]
    assert all(a >= b for a, b in pairwise(got)), list(zip(points, got, strict=True))
    assert all(len([t for t in regime.tiers if t.contains(p)]) <= 1 for p in points)
