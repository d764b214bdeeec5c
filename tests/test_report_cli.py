"""`slamon report --period YYYY-MM [--contract ID]... [--format json|md|csv] [--out DIR]`:
refusals (exit 2, nothing created or changed), the Markdown and CSV renderings, --out, the
report's warnings, and licence counts that change during the month. Through the real CLI.

Note: --out directories here are not called `reports/`. The `slamon` fixture runs
`python -m monitor` in the test's directory, and a `reports/` directory there shadows the
`reports` package (reported as a bug; the installed `slamon` script is not affected)."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

import pytest

from tests.support import aggregate_lines, local_month, minute_index, month_minutes, write_config, write_jsonl

# every test here runs on SQLite and on PostgreSQL
pytestmark = pytest.mark.usefixtures("each_backend")

UTC = UTC
MINUTE = timedelta(minutes=1)
TOKYO = ZoneInfo("Asia/Tokyo")
SEOUL = ZoneInfo("Asia/Seoul")

DOMAINS = """\
[monitor]
database = "slamon.db"

[[domain]]
name = "mail"

[[domain]]
name = "docs"
"""

LINEWORKS = """
[[contract]]
id = "acme-lw"
customer = "ACME K.K."
regime = "lineworks"
domains = ["mail"]
currency = "JPY"
unit_price = "540"
{licenses}
{extra}
"""

WORKPLACE = """
[[contract]]
id = "ws"
customer = "Example Corp."
regime = "ncloud-workplace"
domains = ["mail", "docs"]
currency = "KRW"
  [[contract.service]]
  domain = "mail"
  monthly_fee = "1234567"
  [[contract.service]]
  domain = "docs"
  monthly_fee = "500000"
"""


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def lineworks(licenses: str = "licenses = 100", extra: str = "") -> str:
    return LINEWORKS.format(licenses=licenses, extra=extra)


def window(kind: str, start: datetime, end: datetime | None, reason: str, *, domains=("mail",),
           announced: datetime | None = None) -> str:
    lines = ["", "[[window]]", f'kind = "{kind}"', f"domains = {json.dumps(list(domains))}",
             f"start = {start.isoformat()}"]
    if end:
        lines.append(f"end = {end.isoformat()}")
    if announced:
        lines.append(f"announced_at = {announced.isoformat()}")
    lines.append(f"reason = {json.dumps(reason)}")
    return "\n".join(lines) + "\n"


def runs(*spans: tuple[datetime, int]) -> set[int]:
    """Minute indexes of (start, minutes) runs."""
    return {minute_index(s) + i for s, n in spans for i in range(n)}


def write_samples(path: Path, tz: ZoneInfo, year: int, month: int, domains=("mail",), *,
                  down: dict[str, set[int]] | None = None, missing: dict[str, set[int]] | None = None,
                  thin: dict[str, set[int]] | None = None) -> Path:
    """One aggregate line per domain per minute of the local month: 20 requests, 0 errors;
    20 errors in `down` minutes, 10 requests (below min_samples) in `thin`, no line in `missing`.
    (Several domains, missing and thin minutes: more than the shared `month_lines` writes.)"""
    down, missing, thin = down or {}, missing or {}, thin or {}
    start, minutes = local_month(tz, year, month)
    first = minute_index(start)
    lines = []
    for d in domains:
        rows = month_minutes(start, minutes, down=[(m - first, m - first + 1) for m in down.get(d, ())])
        lines += aggregate_lines(d, [(m, 10, 10 if errors else 0) if m in thin.get(d, ()) else (m, requests, errors)
                                     for m, requests, errors in rows if m not in missing.get(d, ())])
    return write_jsonl(path, lines)


def run(slamon, cfg: Path, *args):
    res = slamon(*map(str, args), "--config", str(cfg), cwd=cfg.parent)
    assert "Traceback" not in res.stderr, res.stderr
    return res


def ok(res):
    assert res.returncode == 0, f"exit {res.returncode}\n{res.stderr}\n{res.stdout[:2000]}"
    return res


def ingest(slamon, cfg: Path, samples: Path) -> None:
    ok(run(slamon, cfg, "ingest", samples))


def report(slamon, cfg: Path, period: str, *args) -> dict:
    return ok(run(slamon, cfg, "report", "--period", period, *args)).json()


def contract(data: dict, cid: str) -> dict:
    [c] = [c for c in data["contracts"] if c["id"] == cid]
    return c


def scope(c: dict, name: str) -> dict:
    [s] = [s for s in c["scopes"] if s["scope"] == name]
    return s


def codes(c: dict) -> list[tuple[str, str | None]]:
    return sorted((w["code"], w["scope"]) for w in c["warnings"])


def tree(path: Path) -> dict[str, str]:
    """Every file under `path` with a digest of its bytes: "nothing created or changed"."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(path.rglob("*"))}


# --------------------------------------------------------------------------------------------
# a November with both contracts: outages, windows with short and missing notice
# --------------------------------------------------------------------------------------------

NOV_OUTAGE = datetime(2026, 11, 10, 10, 0, tzinfo=TOKYO)
NOV_MAINT = datetime(2026, 11, 15, 2, 0, tzinfo=TOKYO)
DOCS_OUTAGE = datetime(2026, 11, 20, 9, 0, tzinfo=SEOUL)
DOCS_MAINT = datetime(2026, 11, 21, 1, 0, tzinfo=SEOUL)


def november(slamon, tmp_path: Path) -> Path:
    cfg = write_config(
        tmp_path, DOMAINS + lineworks() + WORKPLACE
        + window("maintenance", NOV_MAINT, NOV_MAINT + 60 * MINUTE, "emergency kernel patch",
                 announced=NOV_MAINT - timedelta(days=3))
        + window("maintenance", DOCS_MAINT, DOCS_MAINT + 30 * MINUTE, "index rebuild", domains=("docs",)))
    samples = write_samples(tmp_path / "nov.jsonl", TOKYO, 2026, 11, ("mail", "docs"), down={
        "mail": runs((NOV_OUTAGE, 44), (NOV_MAINT, 60)),
        "docs": runs((DOCS_OUTAGE, 100), (DOCS_MAINT, 30))})
    ingest(slamon, cfg, samples)
    return cfg


def test_november_json_figures(slamon, tmp_path):
    """The scenario the rendering tests below rely on, checked once in JSON."""
    data = report(slamon, november(slamon, tmp_path), "2026-11")
    lw, ws = contract(data, "acme-lw"), contract(data, "ws")
    s = scope(lw, "acme-lw")
    assert (s["downtime_minutes"], s["excluded_minutes"]["maintenance"], s["availability"], s["credit_days"],
            s["credit_amount"]) == (44, 60, "99.898148", 3, "5400")
    assert codes(lw) == [("maintenance_short_notice", "acme-lw")]
    mail, docs = scope(ws, "mail"), scope(ws, "docs")
    assert (mail["downtime_minutes"], mail["excluded_minutes"]["maintenance"], mail["credit_percent"],
            mail["credit_amount"]) == (44, 60, "10", "123456")
    assert (docs["downtime_minutes"], docs["excluded_minutes"]["maintenance"], docs["availability"],
            docs["credit_percent"], docs["credit_amount"]) == (100, 30, "99.768518", "10", "50000")
    assert ws["credit_amount"] == "173456"
    assert codes(ws) == [("maintenance_no_notice", "docs"), ("maintenance_short_notice", "mail")]
    # short or missing notice is flagged, but the window stays excluded, with its evidence
    [w] = s["excluded_windows"]
    assert (w["kind"], w["reason"], w["excluded_minutes"]) == ("maintenance", "emergency kernel patch", 60)
    [w] = docs["excluded_windows"]
    assert (w["reason"], w["announced_at"], w["excluded_minutes"]) == ("index rebuild", None, 30)


# --------------------------------------------------------------------------------------------
# refusals: exit 2, a clear message, nothing created or changed
# --------------------------------------------------------------------------------------------

def test_unknown_contract_is_named(slamon, tmp_path):
    cfg = write_config(tmp_path, DOMAINS + lineworks())
    ingest(slamon, cfg, write_samples(tmp_path / "s.jsonl", TOKYO, 2026, 11))
    for args in (["--contract", "nope"], ["--contract", "acme-lw", "--contract", "nope"]):
        res = run(slamon, cfg, "report", "--period", "2026-11", *args)
        assert res.returncode == 2
        assert "nope" in res.stderr
        assert res.stdout == ""


def test_missing_database_is_refused_and_not_created(slamon, tmp_path):
    # a SQLite file by its nature: named explicitly, on either backend's run
    cfg = write_config(tmp_path, DOMAINS.replace('"slamon.db"', '"var/db/slamon.db"') + lineworks()
                       + '\n[storage]\nurl = "sqlite:///var/db/slamon.db"\n')
    before = tree(tmp_path)
    res = run(slamon, cfg, "report", "--period", "2026-11", "--out", tmp_path / "out")
    assert res.returncode == 2
    assert "var/db/slamon.db" in res.stderr and "database" in res.stderr
    assert tree(tmp_path) == before  # no database, no var/, no out/


def test_no_samples_for_the_period_is_refused_and_nothing_changes(slamon, tmp_path):
    cfg = write_config(tmp_path, DOMAINS + lineworks())
    ingest(slamon, cfg, write_samples(tmp_path / "oct.jsonl", TOKYO, 2026, 10))
    before = tree(tmp_path)
    for period in ("2026-12", "2025-11"):
        res = run(slamon, cfg, "report", "--period", period, "--format", "csv", "--out", tmp_path / "out")
        assert res.returncode == 2
        assert period in res.stderr and "no samples" in res.stderr
        assert res.stdout == ""
    assert tree(tmp_path) == before


@pytest.mark.parametrize("period", ["2026-13", "2026-00", "2026-1", "26-11", "2026/11", "november", ""])
def test_malformed_period(slamon, tmp_path, period):
    cfg = write_config(tmp_path, DOMAINS + lineworks())
    ingest(slamon, cfg, write_samples(tmp_path / "s.jsonl", TOKYO, 2026, 11))
    res = run(slamon, cfg, "report", "--period", period)
    assert res.returncode == 2
    assert "YYYY-MM" in res.stderr
    assert res.stdout == ""


def test_unknown_format_is_refused(slamon, tmp_path):
    cfg = write_config(tmp_path, DOMAINS + lineworks())
    res = run(slamon, cfg, "report", "--period", "2026-11", "--format", "pdf")
    assert res.returncode == 2
    assert "pdf" in res.stderr


def test_report_does_not_change_the_database(slamon, tmp_path):
    cfg = november(slamon, tmp_path)
    before = tree(tmp_path)
    for fmt in ("json", "md", "csv"):
        ok(run(slamon, cfg, "report", "--period", "2026-11", "--format", fmt))
    assert tree(tmp_path) == before


# --------------------------------------------------------------------------------------------
# Markdown, CSV, --out
# --------------------------------------------------------------------------------------------

def test_markdown_has_every_section(slamon, tmp_path):
    cfg = november(slamon, tmp_path)
    md = ok(run(slamon, cfg, "report", "--period", "2026-11", "--contract", "acme-lw", "--format", "md")).stdout
    for text in [
        "## Summary",
        "ACME K.K.",
        "5,400 JPY",                                            # the credit owed
        "2026-12-30",                                           # the claim deadline
        "(43,200 - 44) / 43,200",                               # the availability formula ...
        "99.898148%",                                           # ... and its value
        "540 JPY x 3 days / 30 x 100 IDs",                      # the amount's formula
        "### Outages",
        "| 2026-11-10 10:00 | 2026-11-10 10:44 | 44 | 44 | 0 |",
        "### Exclusion windows",
        "emergency kernel patch",                               # the window's reason
        "## Warnings",
        "maintenance_short_notice",
    ]:
        assert text in md, f"{text!r} not in the Markdown report:\n{md}"
    assert (md.index("## Summary") < md.index("### Outages") < md.index("### Exclusion windows")
            < md.index("## Warnings"))
    assert md.count("# SLA report") == 1 and "Example Corp." not in md  # only the named contract


def test_markdown_without_warnings_says_so(slamon, tmp_path):
    cfg = write_config(tmp_path, DOMAINS + lineworks())
    ingest(slamon, cfg, write_samples(tmp_path / "s.jsonl", TOKYO, 2026, 11))
    md = ok(run(slamon, cfg, "report", "--period", "2026-11", "--format", "md")).stdout
    warnings = md[md.index("## Warnings"):]
    assert "none" in warnings.split("##")[1]


CSV_REQUIRED = {"period", "contract", "scope", "timezone", "total_minutes", "downtime_minutes", "unknown_minutes",
                "availability", "worst_case_availability", "credit_days", "credit_percent", "currency",
                "credit_amount", "warnings"}


def test_csv_one_row_per_scope(slamon, tmp_path):
    cfg = november(slamon, tmp_path)
    data = report(slamon, cfg, "2026-11")
    text = ok(run(slamon, cfg, "report", "--period", "2026-11", "--format", "csv")).stdout
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    assert CSV_REQUIRED <= set(header), header
    assert len(set(header)) == len(header)
    records = [dict(zip(header, r, strict=True)) for r in body]
    assert all(len(r) == len(header) for r in body)
    assert [(r["contract"], r["scope"]) for r in records] == [("acme-lw", "acme-lw"), ("ws", "mail"), ("ws", "docs")]
    for r in records:
        c = contract(data, r["contract"])
        s = scope(c, r["scope"])
        assert r["period"] == "2026-11"
        assert (r["availability"], r["credit_amount"], int(r["downtime_minutes"]), int(r["total_minutes"]),
                r["currency"]) == (s["availability"], s["credit_amount"], s["downtime_minutes"], c["total_minutes"],
                                   c["currency"])
    by_scope = {r["scope"]: r for r in records}
    assert (by_scope["acme-lw"]["credit_days"], by_scope["acme-lw"]["credit_percent"]) == ("3", "")
    assert (by_scope["docs"]["credit_days"], by_scope["docs"]["credit_percent"]) == ("", "10")
    # each row carries its own scope's warnings
    assert by_scope["mail"]["warnings"] == "maintenance_short_notice"
    assert by_scope["docs"]["warnings"] == "maintenance_no_notice"


@pytest.mark.parametrize("fmt, names", [
    ("json", ["report-2026-11.json"]),
    ("md", ["acme-lw-2026-11.md", "ws-2026-11.md"]),
    ("csv", ["report-2026-11.csv"]),
])
def test_out_dir_writes_files(slamon, tmp_path, fmt, names):
    cfg = november(slamon, tmp_path)
    out = tmp_path / "out" / "2026-11"  # created, parents included (not "reports/": see the module note)
    res = ok(run(slamon, cfg, "report", "--period", "2026-11", "--format", fmt, "--out", out))
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    for name in names:
        assert str(out / name) in res.stdout
    stdout = ok(run(slamon, cfg, "report", "--period", "2026-11", "--format", fmt)).stdout
    if fmt == "json":
        assert json.loads((out / names[0]).read_text(encoding="utf-8")) == json.loads(stdout)
    elif fmt == "csv":
        assert (out / names[0]).read_text(encoding="utf-8") == stdout
    else:
        assert "# SLA report 2026-11" in (out / "ws-2026-11.md").read_text(encoding="utf-8")
        assert "acme-lw" not in (out / "ws-2026-11.md").read_text(encoding="utf-8").split("\n")[0]
        for name in names:
            assert (out / name).read_text(encoding="utf-8") in stdout


# --------------------------------------------------------------------------------------------
# warnings
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("announced_before, expected", [
    (None, "maintenance_no_notice"),
    (timedelta(days=3), "maintenance_short_notice"),
    (timedelta(days=7) - MINUTE, "maintenance_short_notice"),
    (timedelta(days=7), None),
    (timedelta(days=14), None),
], ids=["no-announcement", "3-days", "7-days-less-a-minute", "exactly-7-days", "14-days"])
def test_maintenance_notice_warnings(slamon, tmp_path, announced_before, expected):
    announced = NOV_MAINT - announced_before if announced_before is not None else None
    cfg = write_config(tmp_path, DOMAINS + lineworks()
                       + window("maintenance", NOV_MAINT, NOV_MAINT + 60 * MINUTE, "disk swap", announced=announced))
    ingest(slamon, cfg, write_samples(tmp_path / "s.jsonl", TOKYO, 2026, 11,
                                      down={"mail": runs((NOV_OUTAGE, 44), (NOV_MAINT, 60))}))
    c = contract(report(slamon, cfg, "2026-11"), "acme-lw")
    s = scope(c, "acme-lw")
    assert s["excluded_minutes"]["maintenance"] == 60  # excluded either way
    assert s["downtime_minutes"] == 44
    assert codes(c) == ([(expected, "acme-lw")] if expected else [])
    if expected:
        [w] = c["warnings"]
        assert "disk swap" in w["message"]


@pytest.mark.parametrize("missing, thin, warned", [
    (30, 20, True),     # 50 unknown: worst case 99.884259% -> 3 days, best case 100% -> none
    (5, 5, False),      # 10 unknown: worst case 99.976851%, the same tier
], ids=["50-unknown-minutes", "10-unknown-minutes"])
def test_coverage_too_low(slamon, tmp_path, missing, thin, warned):
    cfg = write_config(tmp_path, DOMAINS + lineworks())
    gap = datetime(2026, 11, 5, 3, 0, tzinfo=TOKYO)
    ingest(slamon, cfg, write_samples(tmp_path / "s.jsonl", TOKYO, 2026, 11,
                                      missing={"mail": runs((gap, missing))},
                                      thin={"mail": runs((gap + timedelta(hours=1), thin))}))
    c = contract(report(slamon, cfg, "2026-11"), "acme-lw")
    s = scope(c, "acme-lw")
    unknown = missing + thin
    assert (s["downtime_minutes"], s["unknown_minutes"]) == (0, unknown)
    assert s["availability"] == "100.000000"
    worst = math.floor((43200 - unknown) * 100 * 10**6 / 43200)
    assert s["worst_case_availability"] == f"{worst // 10**6}.{worst % 10**6:06d}"
    assert s["credit_amount"] == "0"  # the contract's formula counts unknown minutes as available
    assert codes(c) == ([("coverage_too_low", "acme-lw")] if warned else [])


def boundary_month() -> tuple[str, int, int]:
    """A (zone, year, month) whose month has a multiple of 1000 minutes, so that 99.9% is
    reachable with whole down minutes. No plain month is (40,320 ... 44,640 minutes, and the
    usual DST months have 44,580 or 44,700): search the tz database, likeliest zones first."""
    likely = ["America/Rankin_Inlet", "America/Resolute"]
    for name in likely + sorted(available_timezones() - set(likely)):
        try:
            tz = ZoneInfo(name)
        except Exception:  # pragma: no cover - odd entries in the system's list
            continue
        for year in range(1900, 2040):
            for month in range(1, 13):
                if local_month(tz, year, month)[1] % 1000 == 0:
                    return name, year, month
    pytest.fail("no month in the tz database has a multiple of 1000 minutes")


@pytest.mark.parametrize("extra_down, warned, credit_days", [
    (0, True, 3),       # exactly 99.9%: the lineworks-kr table gives 3 days, the report flags it
    (-1, False, 0),     # one minute less: above 99.9%, nothing owed, nothing to flag
], ids=["exactly-99.9", "just-above"])
def test_exact_tier_boundary_lineworks_kr(slamon, tmp_path, extra_down, warned, credit_days):
    zone, year, month = boundary_month()
    tz = ZoneInfo(zone)
    start, total = local_month(tz, year, month)
    down = total // 1000 + extra_down
    period = f"{year:04d}-{month:02d}"
    cfg = write_config(tmp_path, DOMAINS + f"""
[[contract]]
id = "kr"
customer = "Example Co."
regime = "lineworks-kr"
domains = ["mail"]
currency = "KRW"
unit_price = "6000"
licenses = 10
timezone = "{zone}"
""")
    outage = start + 10 * 1440 * MINUTE
    ingest(slamon, cfg, write_samples(tmp_path / "s.jsonl", tz, year, month, down={"mail": runs((outage, down))}))
    c = contract(report(slamon, cfg, period), "kr")
    assert (c["regime"], c["timezone"], c["total_minutes"]) == ("lineworks-kr", zone, total)
    s = scope(c, "kr")
    assert s["downtime_minutes"] == down
    assert (s["availability"] == "99.900000") == warned
    assert s["credit_days"] == credit_days
    days = (date(year + month // 12, month % 12 + 1, 1) - date(year, month, 1)).days
    assert s["credit_amount"] == str(6000 * credit_days * 10 // days)
    assert codes(c) == ([("exact_tier_boundary", "kr")] if warned else [])


@pytest.mark.parametrize("plan", ["free", "trial"])
def test_plan_not_eligible(slamon, tmp_path, plan):
    cfg = write_config(tmp_path, DOMAINS + lineworks(extra=f'plan = "{plan}"'))
    ingest(slamon, cfg, write_samples(tmp_path / "s.jsonl", TOKYO, 2026, 11, down={"mail": runs((NOV_OUTAGE, 44))}))
    c = contract(report(slamon, cfg, "2026-11"), "acme-lw")
    s = scope(c, "acme-lw")
    assert s["downtime_minutes"] == 44 and s["availability"] == "99.898148"  # measured all the same
    assert s["credit_amount"] == "0" and c["credit_amount"] == "0"
    assert s["credit_days"] == 0
    assert codes(c) == [("plan_not_eligible", "acme-lw")]
    assert plan in c["warnings"][0]["message"]


# --------------------------------------------------------------------------------------------
# licences that change during the month
# --------------------------------------------------------------------------------------------

LICENSE_STEPS = """\
  [[contract.licenses]]
  since = 2026-11-01
  count = 100
  [[contract.licenses]]
  since = 2026-11-10
  count = 200
  [[contract.licenses]]
  since = 2026-11-20
  count = 300
"""


@pytest.mark.parametrize("outages, excluded, resolution, licenses", [
    # 23:40-00:24 JST: the last counted minute is 00:23 on the 10th locally (still the 9th in UTC)
    ([(datetime(2026, 11, 9, 23, 40, tzinfo=TOKYO), 44)], None, "2026-11-10", 200),
    ([(datetime(2026, 11, 9, 22, 0, tzinfo=TOKYO), 44)], None, "2026-11-09", 100),
    # two outages: the later one resolves the month
    ([(datetime(2026, 11, 9, 10, 0, tzinfo=TOKYO), 30), (datetime(2026, 11, 25, 10, 0, tzinfo=TOKYO), 14)],
     None, "2026-11-25", 300),
    # a later down run inside a maintenance window is not counted, so it resolves nothing
    ([(datetime(2026, 11, 9, 10, 0, tzinfo=TOKYO), 44), (datetime(2026, 11, 25, 10, 0, tzinfo=TOKYO), 14)],
     datetime(2026, 11, 25, 10, 0, tzinfo=TOKYO), "2026-11-09", 100),
], ids=["crosses-local-midnight", "before-the-step", "latest-outage", "excluded-later-run"])
def test_licence_count_on_the_resolution_date(slamon, tmp_path, outages, excluded, resolution, licenses):
    parts = [lineworks(licenses=LICENSE_STEPS)]
    if excluded:
        parts.append(window("maintenance", excluded, excluded + 60 * MINUTE, "planned",
                            announced=excluded - timedelta(days=10)))
    cfg = write_config(tmp_path, DOMAINS + "".join(parts))
    ingest(slamon, cfg, write_samples(tmp_path / "s.jsonl", TOKYO, 2026, 11, down={"mail": runs(*outages)}))
    c = contract(report(slamon, cfg, "2026-11"), "acme-lw")
    s = scope(c, "acme-lw")
    assert s["downtime_minutes"] == 44 and s["credit_days"] == 3
    assert s["resolution_date"] == resolution
    assert s["licenses"] == licenses
    assert s["credit_amount"] == str(540 * 3 * licenses // 30)
