"""The money rules of the second round, each through the real command line, with the figures worked
out by hand from the contract texts in the comments:

- NAVER Cloud Platform WORKPLACE bundle terms, Art. 3 ⑤ ① 2: failure time counts from the
  customer's notice (or the provider's awareness, if earlier); the notice belongs to the failure
  (incident), not to a run of minutes;
- LINE WORKS Terms of Service, Art. 24 (2) 1: only pre-scheduled interruptions are excluded, and
  "Downtime ... across the domain of the Service being used": a window on one domain does not
  excuse another;
- Art. 24 (3)-(6), Art. 23 (3): the claim window, the unit price of the claim date, the invoice
  the credit is deducted from and its cap, the 12-month liability cap;
- Civil Code of Japan Art. 142, Civil Act of Korea Art. 161: a deadline on a rest day (a note);
- a month without evidence is never a 100% month.

November 2026 has 30 days: 43,200 minutes in Asia/Tokyo and Asia/Seoul (no daylight saving).
Tiers: ncloud-workplace 99.0 <= A < 99.95 -> 10%; lineworks 99.0 <= A < 99.9 -> 3 days,
A < 95.0 -> 15 days. Every domain is sampled 20 times a minute."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.sql import REFUSED
from tests.support import aggregate_lines, minute_index, open_storage, run_cli, write_config

# every test here runs on SQLite and on PostgreSQL
pytestmark = pytest.mark.usefixtures("each_backend")

SEOUL, TOKYO = ZoneInfo("Asia/Seoul"), ZoneInfo("Asia/Tokyo")


def at(zone: ZoneInfo, *fields: int) -> datetime:
    return datetime(*fields, tzinfo=zone)


def samples(domain: str, first: datetime, last: datetime, down: list[tuple[datetime, datetime]] = (),
            missing: list[datetime] = ()) -> list[str]:
    """Aggregates for every minute of [first, last): 20 requests, all errors inside a `down`
    [from, to) range, no line at all for the `missing` minutes."""
    gone = {minute_index(m) for m in missing}
    spans = [(minute_index(a), minute_index(b)) for a, b in down]
    rows = []
    for minute in range(minute_index(first), minute_index(last)):
        if minute in gone:
            continue
        errors = 20 if any(a <= minute < b for a, b in spans) else 0
        rows.append((minute, 20, errors))
    return aggregate_lines(domain, rows)


def ok(*args: object, cwd: Path) -> str:
    result = run_cli(*args, cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def ingest(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "samples.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ok("ingest", path, "--config", tmp_path / "config.toml", cwd=tmp_path)


def report(tmp_path: Path, period: str, contract: str) -> dict:
    data = json.loads(ok("report", "--period", period, "--contract", contract, "--config",
                         tmp_path / "config.toml", cwd=tmp_path))
    [c] = data["contracts"]
    return c


WORKPLACE = """
[monitor]
database = "slamon.db"

[[domain]]
name = "mail"

[[contract]]
id = "wp"
customer = "Example Corp."
regime = "ncloud-workplace"
domains = ["mail"]
currency = "KRW"
awareness = "notice"
  [[contract.service]]
  domain = "mail"
  monthly_fee = "1234567"
"""

NOV_SEOUL = (at(SEOUL, 2026, 11, 1), at(SEOUL, 2026, 12, 1))


# --- incidents and notices (WORKPLACE Art. 3 ⑤ ① 2) ------------------------------------------

def test_an_incident_that_began_days_before_the_month_counts_from_its_earlier_notice(tmp_path):
    # down from 2026-10-29 10:00 KST to 2026-11-01 00:49 KST; the customer told us on 10-29 at
    # 11:00. The notice belongs to the incident, however long before the month it began: all 49
    # down minutes of November count (the old rule followed a run back one day and counted none).
    # A = (43,200 - 49) / 43,200 = 99.886574% -> 10% of 1,234,567 = 123,456.7 -> 123,456 KRW
    write_config(tmp_path, WORKPLACE)
    ingest(tmp_path, samples("mail", at(SEOUL, 2026, 10, 28), NOV_SEOUL[1],
                             down=[(at(SEOUL, 2026, 10, 29, 10), at(SEOUL, 2026, 11, 1, 0, 49))]))
    ok("notices", "add", "--contract", "wp", "--domain", "mail", "--at", "2026-10-29T11:00:00+09:00",
       "--config", tmp_path / "config.toml", cwd=tmp_path)
    c = report(tmp_path, "2026-11", "wp")
    [scope] = c["scopes"]
    assert (scope["downtime_minutes"], scope["before_notice_minutes"]) == (49, 0)
    assert scope["availability"] == "99.886574" and scope["credit_percent"] == "10"
    assert c["credit_amount"] == "123456"
    [outage] = scope["outages"]
    assert outage["start"] == "2026-10-29T10:00:00+09:00" and outage["end"] == "2026-11-01T00:49:00+09:00"
    # the evidence reaches back to the incident's start, and --verify recomputes it from there
    [ev_scope] = c["evidence"]["scopes"]
    assert ev_scope["range"][0] <= minute_index(at(SEOUL, 2026, 10, 29, 10))
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"period": "2026-11", "contracts": [c]}), encoding="utf-8")
    assert "verified" in ok("report", "--verify", path, cwd=tmp_path)


def test_a_notice_just_before_the_first_down_minute_belongs_to_the_incident(tmp_path):
    # down 2026-11-10 10:00-10:49 KST (50 minutes); the customer's notice at 09:59:30, 30 s
    # before the first down minute, within the 5-minute grace: all 50 count.
    # A = 43,150 / 43,200 = 99.884259% -> 10% -> 123,456 KRW. Under a regime without a grace the
    # same notice belongs to no incident: nothing counts, A = 100%.
    text = WORKPLACE + """
[regime.no-grace]
extends = "ncloud-workplace"
notice_grace_minutes = 0

[[contract]]
id = "wp-strict"
customer = "Example Corp."
regime = "no-grace"
domains = ["mail"]
currency = "KRW"
awareness = "notice"
  [[contract.service]]
  domain = "mail"
  monthly_fee = "1234567"
"""
    write_config(tmp_path, text)
    ingest(tmp_path, samples("mail", *NOV_SEOUL, down=[(at(SEOUL, 2026, 11, 10, 10), at(SEOUL, 2026, 11, 10, 10, 50))]))
    for cid in ("wp", "wp-strict"):
        ok("notices", "add", "--contract", cid, "--at", "2026-11-10T09:59:30+09:00", "--config",
           tmp_path / "config.toml", cwd=tmp_path)
    c = report(tmp_path, "2026-11", "wp")
    assert (c["scopes"][0]["downtime_minutes"], c["scopes"][0]["availability"], c["credit_amount"]) == \
        (50, "99.884259", "123456")
    strict = report(tmp_path, "2026-11", "wp-strict")
    assert (strict["scopes"][0]["downtime_minutes"], strict["scopes"][0]["before_notice_minutes"]) == (0, 50)
    assert strict["credit_amount"] == "0"


def test_a_minute_without_data_inside_a_noticed_incident_does_not_split_it(tmp_path):
    # down 10:00-10:19, no data at 10:20, down 10:21-10:48 KST: one incident of 48 down minutes;
    # notice at 10:05. Counted: 10:05-10:19 (15) + 10:21-10:48 (28) = 43; before notice 5;
    # unknown 1. A = (43,200 - 43) / 43,200 = 99.900462% -> 10% -> 123,456 KRW.
    # (Split at the gap, only the 15 minutes before it would count: 99.965277%, no credit.)
    write_config(tmp_path, WORKPLACE)
    ingest(tmp_path, samples("mail", *NOV_SEOUL, down=[(at(SEOUL, 2026, 11, 10, 10), at(SEOUL, 2026, 11, 10, 10, 49))],
                             missing=[at(SEOUL, 2026, 11, 10, 10, 20)]))
    ok("notices", "add", "--contract", "wp", "--at", "2026-11-10T10:05:00+09:00", "--config",
       tmp_path / "config.toml", cwd=tmp_path)
    [scope] = report(tmp_path, "2026-11", "wp")["scopes"]
    assert (scope["downtime_minutes"], scope["before_notice_minutes"], scope["unknown_minutes"]) == (43, 5, 1)
    assert scope["availability"] == "99.900462" and scope["credit_amount"] == "123456"
    assert [(o["counted_minutes"], o["before_notice_minutes"]) for o in scope["outages"]] == [(43, 5)]


# --- windows (LINE WORKS Art. 24 (2) 1, Art. 15 (3)) -------------------------------------------

LINEWORKS = """
[monitor]
database = "slamon.db"

[[domain]]
name = "mail"

[[domain]]
name = "drive"

[[contract]]
id = "acme"
customer = "ACME K.K."
regime = "lineworks"
domains = {domains}
unit_price = "540"
licenses = 100
"""

NOV_TOKYO = (at(TOKYO, 2026, 11, 1), at(TOKYO, 2026, 12, 1))


def test_a_window_on_one_domain_of_a_pooled_scope_excuses_only_that_domain(tmp_path):
    # acme pools mail and drive. 11-15 02:00-03:00 JST: maintenance of drive only, both fail: the
    # drive's requests are left out, the mail's 20 of 20 errors decide: 60 down minutes count.
    # 11-25 02:00-02:30: maintenance of the whole contract, both fail: 30 minutes excluded.
    # 11-20 02:00-02:30: maintenance of drive, only drive fails: mail's requests decide: up.
    # A = (43,200 - 60) / 43,200 = 99.861111% -> 3 days -> 540 x 3/30 x 100 = 5,400 JPY
    # (read the old way, the window on drive excused mail too: 100%, nothing owed).
    write_config(tmp_path, LINEWORKS.format(domains='["mail", "drive"]'))
    both = [(at(TOKYO, 2026, 11, 15, 2), at(TOKYO, 2026, 11, 15, 3)),
            (at(TOKYO, 2026, 11, 25, 2), at(TOKYO, 2026, 11, 25, 2, 30))]
    ingest(tmp_path, samples("mail", *NOV_TOKYO, down=both)
           + samples("drive", *NOV_TOKYO, down=both + [(at(TOKYO, 2026, 11, 20, 2), at(TOKYO, 2026, 11, 20, 2, 30))]))
    cfg = tmp_path / "config.toml"
    for target, start, end in ((("--domain", "drive"), "2026-11-15T02:00:00+09:00", "2026-11-15T03:00:00+09:00"),
                               (("--domain", "drive"), "2026-11-20T02:00:00+09:00", "2026-11-20T02:30:00+09:00"),
                               (("--contract", "acme"), "2026-11-25T02:00:00+09:00", "2026-11-25T02:30:00+09:00")):
        ok("windows", "add", "--kind", "maintenance", *target, "--start", start, "--end", end,
           "--announced-at", "2026-11-01T10:00:00+09:00", "--reason", "storage upgrade", "--config", cfg, cwd=tmp_path)
    c = report(tmp_path, "2026-11", "acme")
    [scope] = c["scopes"]
    assert scope["downtime_minutes"] == 60 and scope["excluded_minutes"]["maintenance"] == 30
    assert scope["availability"] == "99.861111" and scope["credit_days"] == 3 and c["credit_amount"] == "5400"
    assert {w["id"]: w["excluded_minutes"] for w in scope["excluded_windows"]} == {"db-1": 0, "db-2": 0, "db-3": 30}


def test_maintenance_announced_late_short_or_extended_and_an_emergency(tmp_path):
    # mail only, November 2026 JST, 100% errors inside every window below:
    #  db-1 11-10 02:00-03:00, announced 02:30 (after it began): no pre-scheduled interruption,
    #       its 60 minutes count (Art. 24 (2) 1);
    #  db-2 11-20 02:00-02:30, announced 11-15 (less than 7 days ahead, Art. 15 (3)): excluded,
    #       warned as short notice: 30 excluded;
    #  db-3 11-25 02:00-02:30, announced 11-01, its end moved to 03:00 after it began: excluded up
    #       to the announced 02:30 (30), the overrun 02:30-03:00 counts (30);
    #  db-4 11-27 04:00-04:10, kind emergency (no announcement possible): counted (10).
    # Counted 60 + 30 + 10 = 100, excluded 30 + 30 = 60.
    # A = (43,200 - 100) / 43,200 = 99.768518% -> 3 days -> 5,400 JPY
    write_config(tmp_path, LINEWORKS.format(domains='["mail"]'))
    windows = [("maintenance", "2026-11-10T02:00:00+09:00", "2026-11-10T03:00:00+09:00", "2026-11-10T02:30:00+09:00"),
               ("maintenance", "2026-11-20T02:00:00+09:00", "2026-11-20T02:30:00+09:00", "2026-11-15T10:00:00+09:00"),
               ("maintenance", "2026-11-25T02:00:00+09:00", "2026-11-25T02:30:00+09:00", "2026-11-01T10:00:00+09:00"),
               ("emergency", "2026-11-27T04:00:00+09:00", "2026-11-27T04:10:00+09:00", None)]
    down = [(datetime.fromisoformat(s), datetime.fromisoformat(e)) for _, s, e, _ in windows]
    down[2] = (down[2][0], down[2][0] + timedelta(hours=1))   # db-3 actually ran an hour
    ingest(tmp_path, samples("mail", *NOV_TOKYO, down=down))
    cfg = tmp_path / "config.toml"
    for kind, start, end, announced in windows:
        ok("windows", "add", "--kind", kind, "--domain", "mail", "--start", start, "--end", end,
           *(("--announced-at", announced) if announced else ()), "--reason", f"{kind} work", "--config", cfg,
           cwd=tmp_path)
    ok("windows", "end", "db-3", "--at", "2026-11-25T03:00:00+09:00", "--reason", "took longer", "--config", cfg,
       cwd=tmp_path)
    c = report(tmp_path, "2026-11", "acme")
    [scope] = c["scopes"]
    assert scope["downtime_minutes"] == 100 and scope["excluded_minutes"]["maintenance"] == 60
    assert "emergency" not in scope["excluded_minutes"]  # the built-in regimes count emergencies
    assert scope["availability"] == "99.768518" and c["credit_amount"] == "5400"
    by_id = {w["id"]: w for w in scope["excluded_windows"]}
    assert (by_id["db-1"]["excludes"], by_id["db-1"]["excluded_minutes"]) == (False, 0)
    assert by_id["db-2"]["excluded_minutes"] == 30
    assert by_id["db-3"]["excluded_minutes"] == 30
    assert by_id["db-3"]["excluded_until"] == "2026-11-25T02:30:00+09:00"
    assert by_id["db-3"]["announced_end"] == "2026-11-25T02:30:00+09:00"
    assert (by_id["db-4"]["excludes"], by_id["db-4"]["counted_because"]) == (False, "emergency_counted")
    codes = {w["code"] for w in c["warnings"]}
    assert {"maintenance_not_preannounced", "maintenance_short_notice", "maintenance_overrun",
            "emergency_counted"} <= codes
    overrun = next(w for w in c["warnings"] if w["code"] == "maintenance_overrun")
    assert "30 down minutes after it" in overrun["message"]


# --- a month without evidence ---------------------------------------------------------------

def test_a_month_with_one_sample_is_insufficient_evidence_not_a_perfect_month(tmp_path):
    # one aggregate minute in November: 1 of 43,200 minutes observed = 0.002314% (truncated),
    # far below the 90% default: status insufficient_evidence, the warning first, nothing final
    write_config(tmp_path, LINEWORKS.format(domains='["mail"]'))
    ingest(tmp_path, samples("mail", at(TOKYO, 2026, 11, 10, 10), at(TOKYO, 2026, 11, 10, 10, 1)))
    c = report(tmp_path, "2026-11", "acme")
    assert (c["status"], c["coverage"]) == ("insufficient_evidence", "0.002314")
    assert c["warnings"][0]["code"] == "insufficient_evidence"
    assert "0.002314% of the month was observed" in c["warnings"][0]["message"]
    assert c["scopes"][0]["unknown_minutes"] == 43_199
    md = ok("report", "--period", "2026-11", "--format", "md", "--config", tmp_path / "config.toml", cwd=tmp_path)
    assert "| Status | insufficient evidence (0.002314% observed) |" in md
    csv_text = ok("report", "--period", "2026-11", "--format", "csv", "--config", tmp_path / "config.toml",
                  cwd=tmp_path)
    assert csv_text.splitlines()[1].endswith(",insufficient_evidence,0.002314")


# --- claims (LINE WORKS Art. 24 (3)-(6), Art. 23 (3)) ------------------------------------------

CLAIMS = """
[monitor]
database = "slamon.db"

[[domain]]
name = "mail"

[[contract]]
id = "acme"
customer = "ACME K.K."
regime = "lineworks"
domains = ["mail"]
licenses = 100
{top}
  [[contract.prices]]
  since = 2026-01-01
  unit_price = "540"
{extra}
"""


def claims_setup(tmp_path: Path, extra: str = "", down_minutes: int = 44, top: str = "") -> Path:
    write_config(tmp_path, CLAIMS.format(extra=extra, top=top))
    start = at(TOKYO, 2026, 11, 10, 10)
    ingest(tmp_path, samples("mail", *NOV_TOKYO, down=[(start, start + timedelta(minutes=down_minutes))]))
    return tmp_path / "config.toml"


def claim(cfg: Path, filed_at: str, reference: str = "") -> str:
    return ok("claims", "add", "acme", "--period", "2026-11", "--filed-at", filed_at,
              *(("--reference", reference) if reference else ()), "--config", cfg, cwd=cfg.parent)


def test_a_claim_on_time_and_a_late_one(tmp_path):
    # 44 down minutes: 99.898148% -> 3 days -> 540 x 3/30 x 100 = 5,400 JPY. The claim window is
    # 30 days from eligibility (the month's end), its first day counted: the last day is 12-30.
    # Filed 12-10: on time, deducted from the invoice issued after the last day of the second month
    # after December (2027-02-28): the invoice of 2027-03. Filed 12-31: late, the right is lost.
    cfg = claims_setup(tmp_path)
    assert "claim db-1 added" in claim(cfg, "2026-12-31T10:00:00+09:00", "letter 2")
    claim(cfg, "2026-12-10T10:00:00+09:00", "ticket 1")
    listed = json.loads(ok("claims", "list", "--contract", "acme", "--json", "--config", cfg, cwd=tmp_path))
    assert [(c["id"], c["reference"]) for c in listed] == [("db-1", "letter 2"), ("db-2", "ticket 1")]
    c = report(tmp_path, "2026-11", "acme")
    assert c["claim_deadline"] == "2026-12-30" and c["credit_amount"] == "5400"
    by_id = {k["id"]: k for k in c["claims"]}
    on_time = by_id["db-2"]
    assert (on_time["on_time"], on_time["billing_month"], on_time["amount"]) == (True, "2027-03", "5400")
    assert (by_id["db-1"]["on_time"], by_id["db-1"]["billing_month"], by_id["db-1"]["amount"]) == (False, None, "0")
    assert "after the deadline 2026-12-30" in by_id["db-1"]["steps"][0]["text"]
    assert by_id["db-1"]["steps"][0]["clause"] == "Art. 24 ③"
    # each claim is audited, and claims are records: never changed, never removed
    with open_storage(cfg) as storage:
        assert [(r["entity_id"], r["reason"]) for r in storage.audit_rows() if r["entity"] == "claim"] == [
            ("1", "claim for acme 2026-11 (letter 2)"), ("2", "claim for acme 2026-11 (ticket 1)")]
        for sql in ("UPDATE claims SET filed_at = '2026-12-01T00:00:00+09:00'", "DELETE FROM claims"):
            with pytest.raises(REFUSED), storage.db.atomic():
                storage.db.execute(sql)


def test_the_unit_price_is_the_one_on_the_claim_date(tmp_path):
    # the price per ID rises to 600 on 2026-11-15 (mid-month) and to 660 on 2026-12-05. The
    # month's own figure uses the price of its last day: 600 x 3/30 x 100 = 6,000 JPY. A claim
    # filed 2026-12-10 is paid at the price of its date (Art. 24 (4)): 660 x 3/30 x 100 = 6,600 JPY.
    cfg = claims_setup(tmp_path, extra="""  [[contract.prices]]
  since = 2026-11-15
  unit_price = "600"
  [[contract.prices]]
  since = 2026-12-05
  unit_price = "660"
""")
    claim(cfg, "2026-12-10T09:00:00+09:00")
    c = report(tmp_path, "2026-11", "acme")
    assert c["credit_amount"] == "6000"
    [k] = c["claims"]
    assert k["amount"] == "6600"
    price = next(s for s in k["steps"] if s["rule"] == "claim_price")
    assert "660 JPY" in price["text"] and price["clause"] == "Art. 24 ④"


def test_a_credit_larger_than_its_invoice_is_the_invoice(tmp_path):
    # 2,200 down minutes: (43,200 - 2,200) / 43,200 = 94.907407% -> 15 days ->
    # 540 x 15/30 x 100 = 27,000 JPY. Claimed 2026-12-10: deducted from the invoice of 2027-03,
    # which billing recorded at 8,000 JPY: the compensation is the invoice, 8,000 (Art. 24 (6)).
    cfg = claims_setup(tmp_path, down_minutes=2_200, extra="""  [[contract.invoices]]
  month = "2027-03"
  amount = "8000"
""")
    claim(cfg, "2026-12-10T09:00:00+09:00")
    c = report(tmp_path, "2026-11", "acme")
    assert (c["scopes"][0]["availability"], c["scopes"][0]["credit_days"], c["credit_amount"]) == \
        ("94.907407", 15, "27000")
    [k] = c["claims"]
    assert (k["billing_month"], k["amount"]) == ("2027-03", "8000")
    cap = next(s for s in k["steps"] if s["rule"] == "invoice_cap")
    assert "8000 JPY" in cap["text"] and "estimated" not in cap["text"] and cap["clause"] == "Art. 24 ⑥"


def test_no_invoice_within_365_days_pays_nothing(tmp_path):
    # the contract ended on 2027-01-31: the invoice of 2027-02 bills January, the last one; the
    # credit of a claim filed 2026-12-10 is due from the invoice after 2027-02-28, and none arises
    # within 365 days of it: nothing is paid (Art. 24 (5)).
    cfg = claims_setup(tmp_path, top="ends = 2027-01-31")
    claim(cfg, "2026-12-10T09:00:00+09:00")
    [k] = report(tmp_path, "2026-11", "acme")["claims"]
    assert k["amount"] == "0"
    assert any(s["rule"] == "no_invoice" and s["clause"] == "Art. 24 ⑤" for s in k["steps"])


def test_liability_is_capped_at_the_fees_of_the_past_twelve_months(tmp_path):
    # a customer since 2026-10-20: the only fee paid in the 12 months before the claim month is
    # the first invoice (2026-11, October's usage), which billing recorded at 18,000 JPY.
    # 15 days are 27,000 JPY (94.907407%); the 2027-03 invoice (an estimate: 540 x 100 = 54,000)
    # does not cap it; the 12-month fees do: 18,000 JPY (Art. 23 (3)).
    cfg = claims_setup(tmp_path, down_minutes=2_200, top="starts = 2026-10-20", extra="""  [[contract.invoices]]
  month = "2026-11"
  amount = "18000"
""")
    claim(cfg, "2026-12-10T09:00:00+09:00")
    [k] = report(tmp_path, "2026-11", "acme")["claims"]
    assert k["amount"] == "18000"
    assert [s["rule"] for s in k["steps"]] == ["claim_window", "claim_price", "deduction", "liability_cap"]
    assert "18000 JPY" in k["steps"][-1]["text"] and k["steps"][-1]["clause"] == "Art. 23 ③"


# --- deadlines on rest days -------------------------------------------------------------------

HOLIDAYS = """
[monitor]
database = "slamon.db"

[[domain]]
name = "mail"

[regime.jp-23]
extends = "lineworks"
claim_window_days = 23

[regime.kr-24]
extends = "ncloud-workplace"
claim_window_days = 24

[[contract]]
id = "jp-sunday"
customer = "ACME K.K."
regime = "lineworks"
domains = ["mail"]
unit_price = "540"
licenses = 100

[[contract]]
id = "jp-holiday"
customer = "ACME K.K."
regime = "jp-23"
domains = ["mail"]
unit_price = "540"
licenses = 100

[[contract]]
id = "kr-chuseok"
customer = "Example Corp."
regime = "kr-24"
domains = ["mail"]
currency = "KRW"
  [[contract.service]]
  domain = "mail"
  monthly_fee = "1234567"
"""


@pytest.mark.parametrize("contract,period,deadline,extended,because", [
    # July: 30 days from 08-01 end on Sunday 08-30 -> Monday 08-31 (Civil Code of Japan Art. 142)
    ("jp-sunday", "2026-07", "2026-08-30", "2026-08-31", "Sunday"),
    # October, 23 days: 11-23 is Labor Thanksgiving Day (a Monday) -> 11-24
    ("jp-holiday", "2026-10", "2026-11-23", "2026-11-24", "public holiday (Labor Thanksgiving Day)"),
    # August in Seoul, 24 days: 09-24 is the day before Chuseok; 09-25 Chuseok, 09-26 its second
    # day (and a Saturday), 09-27 a Sunday -> Monday 09-28 (Civil Act of Korea Art. 161)
    ("kr-chuseok", "2026-08", "2026-09-24", "2026-09-28", "public holiday (The day preceding Chuseok)"),
])
def test_a_deadline_on_a_rest_day_gets_the_civil_code_note(tmp_path, contract, period, deadline, extended, because):
    write_config(tmp_path, HOLIDAYS)
    first = datetime.fromisoformat(f"{period}-10T00:00:00+00:00")
    ingest(tmp_path, samples("mail", first, first + timedelta(minutes=5)))
    c = report(tmp_path, period, contract)
    assert c["claim_deadline"] == deadline  # the contractual date stays the deadline
    note = c["claim_deadline_note"]
    assert (note["deadline"], note["extended_to"], note["because"]) == (deadline, extended, because)
    assert ("142" in note["clause"]) == contract.startswith("jp")
    assert ("161" in note["clause"]) == contract.startswith("kr")


def test_a_deadline_on_a_working_day_has_no_note(tmp_path):
    # November: 30 days from 12-01 end on Wednesday 12-30
    write_config(tmp_path, HOLIDAYS)
    ingest(tmp_path, samples("mail", at(TOKYO, 2026, 11, 10), at(TOKYO, 2026, 11, 10, 0, 5)))
    c = report(tmp_path, "2026-11", "jp-sunday")
    assert c["claim_deadline"] == "2026-12-30" and c["claim_deadline_note"] is None


def test_a_claim_recorded_by_mistake_is_replaced_by_the_claim_that_corrects_it(tmp_path):
    # db-1 was recorded with the wrong date (after the deadline 2026-12-30). db-2 corrects it with the
    # date the letter really arrived: only db-2 counts, on time, 5,400 JPY; db-1 is shown corrected.
    cfg = claims_setup(tmp_path)
    claim(cfg, "2027-01-05T10:00:00+09:00", "letter, wrong date")
    added = ok("claims", "add", "acme", "--period", "2026-11", "--filed-at", "2026-12-05T10:00:00+09:00",
               "--reference", "letter", "--corrects", "db-1", "--config", cfg, cwd=tmp_path)
    assert "claim db-2 added" in added
    by_id = {k["id"]: k for k in report(tmp_path, "2026-11", "acme")["claims"]}
    assert (by_id["db-2"]["on_time"], by_id["db-2"]["amount"]) == (True, "5400")
    assert by_id["db-1"]["amount"] == "0" and by_id["db-1"]["steps"][0]["rule"] == "corrected"
    assert "corrected by db-2" in by_id["db-1"]["steps"][0]["text"]
    for wrong, why in (("db-1", "corrected already"), ("db-9", "not a recorded claim"), ("7", "expected the id")):
        refused = run_cli("claims", "add", "acme", "--period", "2026-11", "--filed-at", "2026-12-06T10:00:00+09:00",
                          "--corrects", wrong, "--config", cfg, cwd=tmp_path)
        assert refused.returncode == 2 and why in refused.stderr, refused.stderr


def test_a_month_without_a_price_warns_instead_of_failing(tmp_path):
    # the first price starts in 2027: November 2026 has a credit of 3 days but no price to apply
    write_config(tmp_path, CLAIMS.format(top="", extra="").replace("since = 2026-01-01", "since = 2027-01-01"))
    start = at(TOKYO, 2026, 11, 10, 10)
    ingest(tmp_path, samples("mail", *NOV_TOKYO, down=[(start, start + timedelta(minutes=44))]))
    c = report(tmp_path, "2026-11", "acme")
    assert c["credit_amount"] == "0"
    assert "price_unknown" in [w["code"] for w in c["warnings"]]


def test_a_database_window_keeps_the_end_it_was_announced_with(tmp_path):
    # maintenance 10:00-10:44 JST recorded with its real end but announced to end 10:20: the 24
    # down minutes after the announced end count (they were an overrun), the 20 before are excluded
    cfg = claims_setup(tmp_path)
    ok("windows", "add", "--kind", "maintenance", "--domain", "mail", "--start", "2026-11-10T10:00:00+09:00",
       "--end", "2026-11-10T10:44:00+09:00", "--announced-at", "2026-11-01T10:00:00+09:00",
       "--announced-end", "2026-11-10T10:20:00+09:00", "--reason", "db upgrade", "--config", cfg, cwd=tmp_path)
    [w] = json.loads(ok("windows", "list", "--json", "--config", cfg, cwd=tmp_path))
    assert w["announced_end"] == "2026-11-10T10:20:00+09:00"
    c = report(tmp_path, "2026-11", "acme")
    [scope] = c["scopes"]
    assert scope["downtime_minutes"] == 24
    assert "maintenance_overrun" in [x["code"] for x in c["warnings"]]
