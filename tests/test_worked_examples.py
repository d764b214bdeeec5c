"""Acceptance tests: the worked examples of regimes.md section 4, through the real command line.

Every test writes a config.toml and a JSON Lines sample file into its own tmp_path, runs
`slamon ingest FILE --config CFG` and `slamon report --period YYYY-MM --format json --config CFG`,
and checks the figures the spec states. The sample data covers every UTC minute of the contract's
local month (20 requests a minute), so that no minute is "unknown" unless a test makes it so.
"""
from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests import support  # support.write_config: this module's write_config builds the text it writes
from tests.support import aggregate_lines, iso_minute, local_month, minute_index, month_minutes, write_jsonl

# every test here runs on SQLite and on PostgreSQL
pytestmark = pytest.mark.usefixtures("each_backend")

UTC = UTC
TOKYO = "Asia/Tokyo"
SEOUL = "Asia/Seoul"
BERLIN = "Europe/Berlin"

SAMPLES_PER_MINUTE = 20

# Per-request outcomes that regimes.md classes as `server_error` (5xx, timeout, connection
# refused/reset, TLS handshake failure), cycled through for the down minutes of per-request data.
SERVER_ERRORS = [
    {"status": 503},
    {"outcome": "timeout"},
    {"status": 500},
    {"outcome": "connect_error"},
    {"status": 502},
    {"outcome": "tls_error"},
    {"status": 504},
    {"outcome": "server_error"},
]
OK = {"status": 200}
NOT_FOUND = {"status": 404}
UNAVAILABLE = {"status": 503}


# --------------------------------------------------------------------------------------------
# time helpers
# --------------------------------------------------------------------------------------------

def local(tz: str, *fields: int) -> datetime:
    """An aware local datetime, e.g. local(TOKYO, 2026, 11, 10, 10, 0)."""
    return datetime(*fields, tzinfo=ZoneInfo(tz))


def month_bounds(tz: str, period: str) -> tuple[datetime, datetime]:
    """[start, end) of the calendar month `period` (YYYY-MM) in zone `tz`, as UTC datetimes."""
    start, minutes = local_month(tz, *map(int, period.split("-")))
    return start, start + timedelta(minutes=minutes)


def span_bounds(tz: str, *periods: str) -> tuple[datetime, datetime]:
    """The smallest UTC range covering all the given local months."""
    bounds = [month_bounds(tz, p) for p in periods]
    return min(b[0] for b in bounds), max(b[1] for b in bounds)


def run_of(start: datetime, minutes: int) -> list[datetime]:
    """`minutes` consecutive UTC minute starts from `start` (any zone)."""
    s = start.astimezone(UTC)
    return [s + timedelta(minutes=i) for i in range(minutes)]


def iso_local(start: datetime, plus_minutes: int = 0) -> str:
    """RFC 3339 in the datetime's own zone, e.g. '2026-11-10T10:44:00+09:00'."""
    return (start + timedelta(minutes=plus_minutes)).isoformat()


# --------------------------------------------------------------------------------------------
# sample-file helpers
# --------------------------------------------------------------------------------------------

def request_lines(domain: str, minute: datetime, results: list[dict]) -> list[dict]:
    """One per-request line per result, spread evenly across the minute (with milliseconds)."""
    step = 60_000 // max(len(results), 1)
    lines = []
    for i, result in enumerate(results):
        t = minute + timedelta(milliseconds=i * step + 120)
        ts = t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
        lines.append({"ts": ts, "domain": domain, **result})
    return lines


def down_minute_lines(domain: str, minute: int, form: str) -> list:
    """A minute where every one of the 20 requests failed on the server side."""
    if form == "aggregate":
        return aggregate_lines(domain, [(minute, SAMPLES_PER_MINUTE, SAMPLES_PER_MINUTE)])
    if form == "requests":
        errors = [SERVER_ERRORS[i % len(SERVER_ERRORS)] for i in range(SAMPLES_PER_MINUTE)]
        return request_lines(domain, datetime.fromtimestamp(minute * 60, UTC), errors)
    raise ValueError(form)


def write_samples(path: Path, domain: str, start: datetime, end: datetime, *,
                  down=(), form: str = "aggregate", special: dict | None = None) -> Path:
    """JSON Lines for every UTC minute of [start, end) of one domain.

    Healthy minutes are aggregates of 20 requests / 0 errors; minutes in `down` are 100% errors
    (as aggregates or as 20 per-request lines, per `form`); `special` maps a minute to the exact
    lines to write for it instead. (The shared generators write aggregates only: the per-request
    form and the special minutes are these examples' own.)
    """
    first, end_minute = minute_index(start), minute_index(end)
    down = {minute_index(m) for m in down}
    special = {minute_index(m): lines for m, lines in (special or {}).items()}
    for m in down | set(special):
        assert first <= m < end_minute, f"minute {iso_minute(m)} outside the generated range"
    lines: list = []
    for minute, requests, errors in month_minutes(start, end_minute - first, requests=SAMPLES_PER_MINUTE,
                                                  down=[(m - first, m - first + 1) for m in down]):
        if minute in special:
            lines += special[minute]
        elif errors:
            lines += down_minute_lines(domain, minute, form)
        else:
            lines += aggregate_lines(domain, [(minute, requests, errors)])
    return write_jsonl(path, lines)


# --------------------------------------------------------------------------------------------
# config helpers
# --------------------------------------------------------------------------------------------

# keys whose list-of-tables values are written as [[parent.key]] sections (the others inline)
SUBTABLE_ARRAYS = {"service"}


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, datetime):
        assert v.tzinfo is not None
        return v.isoformat()  # TOML offset date-time
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def toml_table(header: str, table: dict, *, array: bool) -> list[str]:
    out = [f"[[{header}]]" if array else f"[{header}]"]
    subs = []
    for key, value in table.items():
        if key in SUBTABLE_ARRAYS:
            subs.append((key, value))
        else:
            out.append(f"{key} = {toml_value(value)}")
    for key, rows in subs:
        for row in rows:
            out += ["  " + line for line in toml_table(f"{header}.{key}", row, array=True)]
    out.append("")
    return out


def write_config(dirpath: Path, *, domains: list[dict], contracts: list[dict],
                 windows: list[dict] = (), notices: list[dict] = (),
                 regimes: dict[str, dict] | None = None) -> Path:
    lines = toml_table("monitor", {"database": "slamon.db"}, array=False)
    for d in domains:
        lines += toml_table("domain", d, array=True)
    for c in contracts:
        lines += toml_table("contract", c, array=True)
    for w in windows:
        lines += toml_table("window", w, array=True)
    for n in notices:
        lines += toml_table("notice", n, array=True)
    for name, regime in (regimes or {}).items():
        lines += toml_table(f"regime.{name}", regime, array=False)
    text = "\n".join(lines)
    tomllib.loads(text)  # the test's own emitter must produce valid TOML
    return support.write_config(dirpath, text)


def contract_for(regime: str, cid: str, domain: str, **extra) -> dict:
    """A paid contract of a built-in regime with the money fields that regime needs."""
    c = {"id": cid, "customer": f"{cid} customer", "regime": regime, "domains": [domain],
         "plan": "paid"}
    if regime in ("lineworks", "kddi"):
        c.update(currency="JPY", unit_price="540", licenses=100)
    elif regime == "lineworks-kr":
        c.update(currency="KRW", unit_price="6000", licenses=100)
    elif regime == "ncloud-workplace":
        c.update(currency="KRW", service=[{"domain": domain, "monthly_fee": "1000000"}])
    else:
        raise ValueError(regime)
    c.update(extra)
    return c


REGIME_ZONES = {"lineworks": TOKYO, "kddi": TOKYO, "lineworks-kr": SEOUL, "ncloud-workplace": SEOUL}


def utc_regime(**extra) -> dict:
    """A custom contract-scoped regime on UTC months: below 99.9% -> 10% of the monthly fee."""
    r = {"timezone": "UTC", "scope": "contract", "target": "99.9", "credit_unit": "percent",
         "tiers": [{"upper": "99.9", "bounds": "[)", "credit": "10"}]}
    r.update(extra)
    return r


# --------------------------------------------------------------------------------------------
# CLI helpers
# --------------------------------------------------------------------------------------------

def _explain(res) -> str:
    return f"exit {res.returncode}\n--- stderr ---\n{res.stderr}\n--- stdout ---\n{res.stdout[:2000]}"


def ingest(slamon, cfg: Path, samples: Path) -> None:
    res = slamon("ingest", str(samples), "--config", str(cfg), cwd=cfg.parent)
    assert res.returncode == 0, _explain(res)


def report(slamon, cfg: Path, period: str) -> dict:
    res = slamon("report", "--period", period, "--format", "json", "--config", str(cfg),
                 cwd=cfg.parent)
    assert res.returncode == 0, _explain(res)
    try:
        data = res.json()
    except json.JSONDecodeError as exc:  # pragma: no cover - diagnostic only
        pytest.fail(f"report stdout is not JSON ({exc}):\n{_explain(res)}")
    assert data["period"] == period
    return data


def contract_of(data: dict, cid: str) -> dict:
    found = [c for c in data["contracts"] if c["id"] == cid]
    assert len(found) == 1, f"contract {cid!r} not exactly once in {[c.get('id') for c in data['contracts']]}"
    return found[0]


def only_scope(contract: dict) -> dict:
    scopes = contract["scopes"]
    assert len(scopes) == 1, f"expected one scope, got {[s.get('scope') for s in scopes]}"
    return scopes[0]


def pick(d: dict, expected: dict) -> dict:
    """The subset of `d` with `expected`'s keys, so one assert shows every mismatch.
    Lists of objects (outages) are narrowed the same way: the schema may grow new keys."""
    out = {}
    for k, want in expected.items():
        got = d.get(k)
        if isinstance(want, list) and isinstance(got, list) and want and isinstance(want[0], dict):
            got = [pick(g, w) if isinstance(g, dict) else g for g, w in zip(got, want, strict=False)] + got[len(want):]
        out[k] = got
    return out


def same_instant(actual: str, expected: datetime) -> bool:
    got = datetime.fromisoformat(actual)
    return got == expected and got.utcoffset() == expected.utcoffset()


NO_EXCLUSIONS = {"maintenance": 0, "customer": 0, "force_majeure": 0, "free": 0}


# --------------------------------------------------------------------------------------------
# Example 1: lineworks, November 2026, 540 JPY x 100 IDs, maintenance window
# --------------------------------------------------------------------------------------------

EX1_OUTAGE_START = local(TOKYO, 2026, 11, 10, 10, 0)
EX1_MAINTENANCE_START = local(TOKYO, 2026, 11, 15, 2, 0)


@pytest.mark.parametrize("form", ["aggregate", "requests"])
@pytest.mark.parametrize(
    "down, availability, credit_days, amount",
    [
        (44, "99.898148", 3, "5400"),
        (43, "99.900462", 0, "0"),
    ],
    ids=["44-down-3-days", "43-down-no-credit"],
)
def test_example1_lineworks_november(slamon, tmp_path, form, down, availability, credit_days,
                                     amount):
    period = "2026-11"
    cfg = write_config(
        tmp_path,
        domains=[{"name": "works-mail"}],
        contracts=[{"id": "acme-lw", "customer": "ACME K.K.", "regime": "lineworks",
                    "domains": ["works-mail"], "plan": "paid", "currency": "JPY",
                    "unit_price": "540", "licenses": 100}],
        windows=[{"kind": "maintenance", "domains": ["works-mail"],
                  "start": EX1_MAINTENANCE_START,
                  "end": local(TOKYO, 2026, 11, 15, 3, 0),
                  "announced_at": local(TOKYO, 2026, 11, 1, 10, 0),
                  "reason": "storage firmware upgrade"}],
    )
    start, end = month_bounds(TOKYO, period)
    # the outage and the maintenance window both have 100% errors
    down_minutes = run_of(EX1_OUTAGE_START, down) + run_of(EX1_MAINTENANCE_START, 60)
    samples = write_samples(tmp_path / "samples.jsonl", "works-mail", start, end,
                            down=down_minutes, form=form)

    ingest(slamon, cfg, samples)
    c = contract_of(report(slamon, cfg, period), "acme-lw")

    expected_contract = {
        "regime": "lineworks", "timezone": TOKYO,
        "period_start": "2026-11-01T00:00:00+09:00", "period_end": "2026-12-01T00:00:00+09:00",
        "total_minutes": 43200, "currency": "JPY", "credit_amount": amount,
        "claim_deadline": "2026-12-30",  # within 30 days of the end of November, day 1 counting
    }
    assert pick(c, expected_contract) == expected_contract
    assert isinstance(c["warnings"], list)
    s = only_scope(c)
    expected = {
        "scope": "acme-lw",
        "downtime_minutes": down,
        "excluded_minutes": {"maintenance": 60, "customer": 0, "force_majeure": 0, "free": 0},
        "before_notice_minutes": 0,
        "unknown_minutes": 0,
        "availability": availability,
        "worst_case_availability": availability,
        "credit_days": credit_days,
        "credit_percent": None,
        "credit_amount": amount,
        "outages": [{"start": "2026-11-10T10:00:00+09:00",
                     "end": iso_local(EX1_OUTAGE_START, down),
                     "counted_minutes": down}],
    }
    assert pick(s, expected) == expected


# --------------------------------------------------------------------------------------------
# Example 2: tier boundaries in a 30-day month (November 2026, Tokyo and Seoul alike +09:00)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "regime, down, availability, credit_days, credit_percent",
    [
        # exactly 99.0%
        pytest.param("lineworks", 432, "99.000000", 3, None, id="99.0-lineworks-3-days"),
        pytest.param("lineworks-kr", 432, "99.000000", 7, None, id="99.0-lineworks-kr-7-days"),
        # not stated in section 4, read off the ncloud-workplace table: 99.0% <= A < 99.95%
        pytest.param("ncloud-workplace", 432, "99.000000", None, "10",
                     id="99.0-ncloud-workplace-10-percent"),
        # exactly 95.0%
        pytest.param("lineworks", 2160, "95.000000", 7, None, id="95.0-lineworks-7-days"),
        pytest.param("lineworks-kr", 2160, "95.000000", 15, None, id="95.0-lineworks-kr-15-days"),
        pytest.param("ncloud-workplace", 2160, "95.000000", None, "25",
                     id="95.0-ncloud-workplace-25-percent"),
    ],
)
def test_example2_tier_boundaries(slamon, tmp_path, regime, down, availability, credit_days,
                                  credit_percent):
    period = "2026-11"
    tz = REGIME_ZONES[regime]
    domain = "svc"
    cfg = write_config(tmp_path, domains=[{"name": domain}],
                       contracts=[contract_for(regime, "c1", domain)])
    outage_start = local(tz, 2026, 11, 10, 10, 0)
    start, end = month_bounds(tz, period)
    samples = write_samples(tmp_path / "samples.jsonl", domain, start, end,
                            down=run_of(outage_start, down))

    ingest(slamon, cfg, samples)
    c = contract_of(report(slamon, cfg, period), "c1")

    assert pick(c, {"regime": regime, "timezone": tz, "total_minutes": 43200}) == {
        "regime": regime, "timezone": tz, "total_minutes": 43200}
    s = only_scope(c)
    expected = {
        "scope": domain if regime == "ncloud-workplace" else "c1",
        "downtime_minutes": down,
        "excluded_minutes": NO_EXCLUSIONS,
        "before_notice_minutes": 0,
        "unknown_minutes": 0,
        "availability": availability,
        "worst_case_availability": availability,
        "credit_days": credit_days,
        "credit_percent": credit_percent,
        "outages": [{"start": iso_local(outage_start), "end": iso_local(outage_start, down),
                     "counted_minutes": down}],
    }
    assert pick(s, expected) == expected


# --------------------------------------------------------------------------------------------
# Example 3: ncloud-workplace, December 2026, service "mail", 1,234,567 KRW, customer notice
# --------------------------------------------------------------------------------------------

EX3_OUTAGE_START = local(SEOUL, 2026, 12, 3, 14, 0)


@pytest.mark.parametrize(
    "awareness, downtime, before_notice, availability, credit_percent, amount",
    [
        ("detection", 500, 0, "98.879928", "25", "308641"),
        ("notice", 440, 60, "99.014336", "10", "123456"),
    ],
    ids=["detection", "notice"],
)
def test_example3_ncloud_workplace_december(slamon, tmp_path, awareness, downtime,
                                            before_notice, availability, credit_percent, amount):
    period = "2026-12"
    cfg = write_config(
        tmp_path,
        domains=[{"name": "mail"}],
        contracts=[{"id": "ws-mail", "customer": "Example Corp.", "regime": "ncloud-workplace",
                    "domains": ["mail"], "plan": "paid", "currency": "KRW",
                    "awareness": awareness,
                    "service": [{"domain": "mail", "monthly_fee": "1234567"}]}],
        notices=[{"contract": "ws-mail", "domain": "mail",
                  "at": local(SEOUL, 2026, 12, 3, 15, 0), "kind": "customer"}],
    )
    start, end = month_bounds(SEOUL, period)
    samples = write_samples(tmp_path / "samples.jsonl", "mail", start, end,
                            down=run_of(EX3_OUTAGE_START, 500))

    ingest(slamon, cfg, samples)
    c = contract_of(report(slamon, cfg, period), "ws-mail")

    expected_contract = {
        "regime": "ncloud-workplace", "timezone": SEOUL,
        "period_start": "2026-12-01T00:00:00+09:00", "period_end": "2027-01-01T00:00:00+09:00",
        "total_minutes": 44640, "currency": "KRW", "credit_amount": amount,
    }
    assert pick(c, expected_contract) == expected_contract
    s = only_scope(c)
    expected = {
        "scope": "mail",
        "downtime_minutes": downtime,
        "excluded_minutes": NO_EXCLUSIONS,
        "before_notice_minutes": before_notice,
        "unknown_minutes": 0,
        "availability": availability,
        "worst_case_availability": availability,
        "credit_days": None,
        "credit_percent": credit_percent,
        "credit_amount": amount,
        "outages": [{"start": "2026-12-03T14:00:00+09:00", "end": "2026-12-03T22:20:00+09:00",
                     "counted_minutes": downtime}],
    }
    assert pick(s, expected) == expected


# --------------------------------------------------------------------------------------------
# Example 4: kddi, October 2026, 594 yen incl. tax (540 excl.), 80 accounts, 500 down minutes
# --------------------------------------------------------------------------------------------

def test_example4_kddi_october(slamon, tmp_path):
    period = "2026-10"
    outage_start = local(TOKYO, 2026, 10, 10, 10, 0)
    cfg = write_config(
        tmp_path,
        domains=[{"name": "works"}],
        contracts=[{"id": "kddi-std", "customer": "Example K.K.", "regime": "kddi",
                    "domains": ["works"], "plan": "paid", "currency": "JPY",
                    "unit_price": "594", "licenses": 80}],
    )
    start, end = month_bounds(TOKYO, period)
    samples = write_samples(tmp_path / "samples.jsonl", "works", start, end,
                            down=run_of(outage_start, 500))

    ingest(slamon, cfg, samples)
    c = contract_of(report(slamon, cfg, period), "kddi-std")

    expected_contract = {
        "regime": "kddi", "timezone": TOKYO,
        "period_start": "2026-10-01T00:00:00+09:00", "period_end": "2026-11-01T00:00:00+09:00",
        "total_minutes": 44640, "currency": "JPY", "credit_amount": "9754",
    }
    assert pick(c, expected_contract) == expected_contract
    s = only_scope(c)
    expected = {
        "scope": "kddi-std",
        "downtime_minutes": 500,
        "excluded_minutes": NO_EXCLUSIONS,
        "before_notice_minutes": 0,
        "unknown_minutes": 0,
        "availability": "98.879928",
        "worst_case_availability": "98.879928",
        "credit_days": 7,
        "credit_percent": None,
        "credit_amount": "9754",  # 540 x 7/31 x 80 = 9,754.83... truncated below 1 yen
        "outages": [{"start": "2026-10-10T10:00:00+09:00", "end": "2026-10-10T18:20:00+09:00",
                     "counted_minutes": 500}],
    }
    assert pick(s, expected) == expected


# --------------------------------------------------------------------------------------------
# Example 5: the 5% rule, one special minute in an otherwise healthy November (lineworks)
# --------------------------------------------------------------------------------------------

EX5_DOMAIN = "works-mail"
EX5_MINUTE = datetime(2026, 11, 10, 1, 0, tzinfo=UTC)  # 10:00 JST


def _agg(requests, errors):
    return aggregate_lines(EX5_DOMAIN, [(minute_index(EX5_MINUTE), requests, errors)])


def _reqs(*results):
    return request_lines(EX5_DOMAIN, EX5_MINUTE, list(results))


@pytest.mark.parametrize(
    "lines, state",
    [
        pytest.param(_agg(20, 1), "up", id="20-requests-1-error-aggregate-up"),
        pytest.param(_reqs(*[OK] * 19, UNAVAILABLE), "up", id="20-requests-1-error-per-request-up"),
        pytest.param(_agg(20, 2), "down", id="20-requests-2-errors-aggregate-down"),
        pytest.param(_reqs(*[OK] * 18, UNAVAILABLE, {"outcome": "timeout"}), "down",
                     id="20-requests-2-errors-per-request-down"),
        pytest.param(_reqs(*[NOT_FOUND] * 19, UNAVAILABLE), "up", id="19-404s-1-503-up"),
        pytest.param(_agg(19, 19), "unknown", id="19-samples-all-errors-aggregate-unknown"),
        pytest.param(_reqs(*[UNAVAILABLE] * 19), "unknown",
                     id="19-samples-all-errors-per-request-unknown"),
    ],
)
def test_example5_five_percent_rule(slamon, tmp_path, lines, state):
    period = "2026-11"
    cfg = write_config(
        tmp_path,
        domains=[{"name": EX5_DOMAIN, "min_samples": 20, "error_threshold": "5%"}],
        contracts=[contract_for("lineworks", "acme-lw", EX5_DOMAIN)],
    )
    start, end = month_bounds(TOKYO, period)
    samples = write_samples(tmp_path / "samples.jsonl", EX5_DOMAIN, start, end,
                            special={EX5_MINUTE: lines})

    ingest(slamon, cfg, samples)
    c = contract_of(report(slamon, cfg, period), "acme-lw")
    assert c["total_minutes"] == 43200
    s = only_scope(c)

    got = {k: s.get(k) for k in
           ("downtime_minutes", "unknown_minutes", "excluded_minutes", "before_notice_minutes")}
    if state == "up":
        assert got == {"downtime_minutes": 0, "unknown_minutes": 0,
                       "excluded_minutes": NO_EXCLUSIONS, "before_notice_minutes": 0}
        assert Decimal(s["availability"]) == Decimal(100)
        assert Decimal(s["worst_case_availability"]) == Decimal(100)
        assert s["outages"] == []
    elif state == "down":
        assert got == {"downtime_minutes": 1, "unknown_minutes": 0,
                       "excluded_minutes": NO_EXCLUSIONS, "before_notice_minutes": 0}
        assert s["availability"] == "99.997685"  # 43,199 / 43,200
        assert s["worst_case_availability"] == "99.997685"
        want = [{"start": "2026-11-10T10:00:00+09:00", "end": "2026-11-10T10:01:00+09:00", "counted_minutes": 1}]
        assert pick(s, {"outages": want})["outages"] == want
    else:  # unknown: not downtime, but lowers the worst case
        assert got == {"downtime_minutes": 0, "unknown_minutes": 1,
                       "excluded_minutes": NO_EXCLUSIONS, "before_notice_minutes": 0}
        assert Decimal(s["availability"]) == Decimal(100)
        assert s["worst_case_availability"] == "99.997685"  # (43,200 - 0 - 1) / 43,200
        assert s["outages"] == []


# --------------------------------------------------------------------------------------------
# Example 6: time zones
# --------------------------------------------------------------------------------------------

EX6_DOWN_MINUTE = datetime(2026, 10, 31, 15, 30, tzinfo=UTC)  # 2026-11-01 00:30 JST


@pytest.mark.parametrize(
    "case",
    ["lineworks", "custom-regime-utc", "lineworks-contract-timezone-utc"],
)
def test_example6_minute_belongs_to_the_contracts_local_month(slamon, tmp_path, case):
    domain = "works-mail"
    regimes = None
    if case == "lineworks":
        contract = contract_for("lineworks", "c1", domain)
        tz = TOKYO
    elif case == "custom-regime-utc":
        contract = {"id": "c1", "customer": "UTC Ltd.", "regime": "utc", "domains": [domain],
                    "plan": "paid", "currency": "USD", "monthly_fee": "1000"}
        regimes = {"utc": utc_regime()}
        tz = "UTC"
    else:  # interfaces.md: a contract's `timezone` overrides the regime's zone for its months
        contract = contract_for("lineworks", "c1", domain, timezone="UTC")
        tz = "UTC"
    cfg = write_config(tmp_path, domains=[{"name": domain}], contracts=[contract],
                       regimes=regimes)
    start, end = span_bounds(tz, "2026-10", "2026-11")
    samples = write_samples(tmp_path / "samples.jsonl", domain, start, end,
                            down=[EX6_DOWN_MINUTE])
    ingest(slamon, cfg, samples)

    owning_month = "2026-11" if tz == TOKYO else "2026-10"
    for period in ("2026-10", "2026-11"):
        c = contract_of(report(slamon, cfg, period), "c1")
        p_start, p_end = month_bounds(tz, period)
        assert same_instant(c["period_start"], p_start.astimezone(ZoneInfo(tz))), c["period_start"]
        assert same_instant(c["period_end"], p_end.astimezone(ZoneInfo(tz))), c["period_end"]
        assert c["total_minutes"] == (44640 if period == "2026-10" else 43200)
        s = only_scope(c)
        assert s["unknown_minutes"] == 0, period
        if period == owning_month:
            assert s["downtime_minutes"] == 1, period
            [outage] = s["outages"]
            assert outage["counted_minutes"] == 1
            assert same_instant(outage["start"], EX6_DOWN_MINUTE.astimezone(ZoneInfo(tz))), outage
            assert same_instant(outage["end"],
                                (EX6_DOWN_MINUTE + timedelta(minutes=1)).astimezone(ZoneInfo(tz))), outage
            if tz == TOKYO:
                assert outage["start"] == "2026-11-01T00:30:00+09:00"
        else:
            assert s["downtime_minutes"] == 0, period
            assert s["outages"] == [], period


BERLIN_REGIME = {
    "timezone": BERLIN, "scope": "contract", "target": "99.9", "credit_unit": "percent",
    "tiers": [{"upper": "99.9", "bounds": "[)", "credit": "10"}],
}


@pytest.mark.parametrize(
    "period, total, period_start, period_end, availability",
    [
        # spring forward on 2027-03-28: 31 days less one hour; 45 down -> 44,535 / 44,580
        ("2027-03", 44580, "2027-03-01T00:00:00+01:00", "2027-04-01T00:00:00+02:00", "99.899057"),
        # fall back on 2027-10-31: 31 days plus one hour; 45 down -> 44,655 / 44,700
        ("2027-10", 44700, "2027-10-01T00:00:00+02:00", "2027-11-01T00:00:00+01:00", "99.899328"),
    ],
    ids=["march-2027", "october-2027"],
)
def test_example6_berlin_dst_month_lengths(slamon, tmp_path, period, total, period_start,
                                           period_end, availability):
    domain = "de-mail"
    cfg = write_config(
        tmp_path,
        domains=[{"name": domain}],
        contracts=[{"id": "berlin-co", "customer": "Beispiel GmbH", "regime": "berlin",
                    "domains": [domain], "plan": "paid", "currency": "EUR",
                    "monthly_fee": "1000"}],
        regimes={"berlin": BERLIN_REGIME},
    )
    year, month = map(int, period.split("-"))
    outage_start = local(BERLIN, year, month, 10, 10, 0)
    start, end = month_bounds(BERLIN, period)
    samples = write_samples(tmp_path / "samples.jsonl", domain, start, end,
                            down=run_of(outage_start, 45))

    ingest(slamon, cfg, samples)
    c = contract_of(report(slamon, cfg, period), "berlin-co")

    expected_contract = {"regime": "berlin", "timezone": BERLIN, "total_minutes": total,
                         "period_start": period_start, "period_end": period_end}
    assert pick(c, expected_contract) == expected_contract
    s = only_scope(c)
    expected = {
        "scope": "berlin-co",
        "downtime_minutes": 45,
        "unknown_minutes": 0,
        "availability": availability,
        "worst_case_availability": availability,
        "credit_days": None,
        "outages": [{"start": iso_local(outage_start), "end": iso_local(outage_start, 45),
                     "counted_minutes": 45}],
    }
    assert pick(s, expected) == expected
    # below 99.9% -> 10% of 1000 EUR; compared as numbers (the minor-unit format is not fixed)
    assert Decimal(s["credit_percent"]) == Decimal(10)
    assert Decimal(s["credit_amount"]) == Decimal(100)
    assert Decimal(c["credit_amount"]) == Decimal(100)
