"""`slamon windows add|list|end` and `slamon notices add|list`: exclusion windows and notices
kept in the database, every change in the append-only audit log, bad input refused with exit 2
and nothing written, and the next report changed by what was added."""
from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.support import month_lines, write_config, write_jsonl

UTC = UTC
TOKYO = ZoneInfo("Asia/Tokyo")
SEOUL = ZoneInfo("Asia/Seoul")

CONFIG = """\
[monitor]
database = "slamon.db"

[[domain]]
name = "mail"

[[domain]]
name = "docs"

[[contract]]
id = "acme-lw"
customer = "ACME K.K."
regime = "lineworks"
domains = ["mail"]
unit_price = "540"
licenses = 100

[[contract]]
id = "ws"
customer = "Example Corp."
regime = "ncloud-workplace"
domains = ["docs"]
currency = "KRW"
awareness = "notice"
  [[contract.service]]
  domain = "docs"
  monthly_fee = "1234567"

[[window]]
kind = "force_majeure"
domains = ["docs"]
start = 2026-10-01T00:00:00Z
end = 2026-10-01T01:00:00Z
reason = "regional network outage"
"""

MAINT = ["--kind", "maintenance", "--domain", "mail", "--start", "2026-11-15T02:00:00+09:00",
         "--end", "2026-11-15T03:00:00+09:00", "--announced-at", "2026-11-01T10:00:00+09:00",
         "--reason", "storage firmware upgrade"]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

@pytest.fixture
def cli(slamon, tmp_path):
    """`cli(*args, env=...)` runs slamon with this test's config and asserts no traceback."""
    cfg = write_config(tmp_path, CONFIG)

    def run(*args, env=None, input=None):
        res = slamon(*args, "--config", str(cfg), cwd=tmp_path, env=env, input=input)
        assert "Traceback" not in res.stderr, res.stderr
        return res
    run.cfg = cfg
    run.db = tmp_path / "slamon.db"
    return run


def ok(res):
    assert res.returncode == 0, f"exit {res.returncode}\n{res.stderr}\n{res.stdout}"
    return res


def query(db: Path, sql: str, *params) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def audit(db: Path) -> list[dict]:
    keys = ("id", "at", "actor", "action", "entity", "entity_id", "before", "after", "reason")
    rows = [dict(zip(keys, r, strict=True)) for r in query(db, f"SELECT {', '.join(keys)} FROM audit_log ORDER BY id")]
    for r in rows:
        r["before"] = json.loads(r["before"]) if r["before"] is not None else None
        r["after"] = json.loads(r["after"]) if r["after"] is not None else None
    return rows


def snapshot(db: Path) -> dict:
    return {t: query(db, f"SELECT * FROM {t} ORDER BY id") for t in ("windows", "notices", "audit_log")}


def recent(iso: str, started: datetime) -> bool:
    at = datetime.fromisoformat(iso)
    return at.tzinfo is not None and started - timedelta(seconds=5) <= at <= datetime.now(UTC) + timedelta(seconds=5)


def report_scope(cli, period: str, contract: str) -> dict:
    res = ok(cli("report", "--period", period, "--contract", contract))
    [c] = res.json()["contracts"]
    [scope] = c["scopes"]
    return {**scope, "_contract": c}


# --------------------------------------------------------------------------------------------
# windows
# --------------------------------------------------------------------------------------------

def test_windows_add_list_end_and_their_audit_rows(cli):
    started = datetime.now(UTC)
    res = ok(cli("windows", "add", *MAINT, "--actor", "alice"))
    assert "db-1" in res.stdout
    res = ok(cli("windows", "add", "--kind", "customer", "--contract", "acme-lw",
                 "--start", "2026-11-20T00:00:00Z", "--reason", "customer SSO broken",
                 env={"SLAMON_ACTOR": "bob"}))
    assert "db-2" in res.stdout

    # list: the config's window first, then the database's, the open one marked as such
    text = ok(cli("windows", "list")).stdout.splitlines()
    assert [line.split("\t")[0] for line in text] == ["config-1", "db-1", "db-2"]
    db1 = text[1].split("\t")
    assert db1[1:] == ["maintenance", "mail", "2026-11-15T02:00:00+09:00", "2026-11-15T03:00:00+09:00",
                       "storage firmware upgrade"]
    assert text[2].split("\t")[4] == "open"

    listed = json.loads(ok(cli("windows", "list", "--json")).stdout)
    assert [(w["id"], w["source"]) for w in listed] == [("config-1", "config"), ("db-1", "database"),
                                                        ("db-2", "database")]
    assert listed[1] == {"id": "db-1", "source": "database", "kind": "maintenance", "domains": ["mail"],
                         "contracts": [], "start": "2026-11-15T02:00:00+09:00", "end": "2026-11-15T03:00:00+09:00",
                         "announced_at": "2026-11-01T10:00:00+09:00", "announced_end": None,
                         "reason": "storage firmware upgrade"}
    assert listed[2]["end"] is None and listed[2]["contracts"] == ["acme-lw"] and listed[2]["announced_at"] is None

    res = ok(cli("windows", "end", "db-2", "--at", "2026-11-20T03:00:00Z", "--reason", "customer fixed SSO",
                 "--actor", "carol"))
    listed = json.loads(ok(cli("windows", "list", "--json")).stdout)
    assert datetime.fromisoformat(listed[2]["end"]) == datetime(2026, 11, 20, 3, 0, tzinfo=UTC)

    # bringing an end forward is allowed (a bare number works as the id too)
    ok(cli("windows", "end", "2", "--at", "2026-11-20T02:00:00Z", "--reason", "it was fixed earlier",
           "--actor", "carol"))

    rows = audit(cli.db)
    assert [(r["actor"], r["action"], r["entity"], r["entity_id"]) for r in rows] == [
        ("alice", "add", "window", "1"), ("bob", "add", "window", "2"),
        ("carol", "end", "window", "2"), ("carol", "end", "window", "2")]
    assert [r["reason"] for r in rows] == ["storage firmware upgrade", "customer SSO broken",
                                           "customer fixed SSO", "it was fixed earlier"]
    assert all(recent(r["at"], started) for r in rows)
    add1, add2, end1, end2 = rows
    assert add1["before"] is None
    fields = ("kind", "domains", "contracts", "start", "end", "announced_at", "reason")
    assert {k: add1["after"][k] for k in fields} == {
        "kind": "maintenance", "domains": ["mail"], "contracts": [], "start": "2026-11-15T02:00:00+09:00",
        "end": "2026-11-15T03:00:00+09:00", "announced_at": "2026-11-01T10:00:00+09:00",
        "reason": "storage firmware upgrade"}
    assert add2["before"] is None and add2["after"]["end"] is None
    assert end1["before"]["end"] is None
    assert datetime.fromisoformat(end1["after"]["end"]) == datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    assert end2["before"] == end1["after"]
    assert datetime.fromisoformat(end2["after"]["end"]) == datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    # the other fields are untouched by an end
    assert ({k: v for k, v in end2["after"].items() if k != "end"}
            == {k: v for k, v in add2["after"].items() if k != "end"})


def test_default_actor_is_not_empty(cli):
    ok(cli("windows", "add", *MAINT, env={"SLAMON_ACTOR": ""}))
    [row] = audit(cli.db)
    assert row["actor"].strip()


# --------------------------------------------------------------------------------------------
# notices
# --------------------------------------------------------------------------------------------

def test_notices_add_list_and_audit(cli):
    started = datetime.now(UTC)
    res = ok(cli("notices", "add", "--contract", "ws", "--domain", "docs", "--at", "2026-12-03T15:00:00+09:00",
                 "--kind", "customer", "--note", "ticket 4711", "--actor", "dora"))
    assert "db-1" in res.stdout
    ok(cli("notices", "add", "--contract", "acme-lw", "--at", "2026-12-04T01:00:00Z", "--kind", "provider",
           env={"SLAMON_ACTOR": "ops-bot"}))

    listed = json.loads(ok(cli("notices", "list", "--json")).stdout)
    assert listed == [
        {"id": "db-1", "source": "database", "contract": "ws", "domain": "docs", "at": "2026-12-03T15:00:00+09:00",
         "kind": "customer", "note": "ticket 4711"},
        {"id": "db-2", "source": "database", "contract": "acme-lw", "domain": None, "at": "2026-12-04T01:00:00+00:00",
         "kind": "provider", "note": ""},
    ]
    text = ok(cli("notices", "list")).stdout.splitlines()
    assert [line.split("\t")[0] for line in text] == ["db-1", "db-2"]

    rows = audit(cli.db)
    assert [(r["actor"], r["action"], r["entity"], r["entity_id"]) for r in rows] == [
        ("dora", "add", "notice", "1"), ("ops-bot", "add", "notice", "2")]
    assert all(r["before"] is None and recent(r["at"], started) and r["reason"] for r in rows)
    assert {k: rows[0]["after"][k] for k in ("contract", "domain", "at", "kind", "note")} == {
        "contract": "ws", "domain": "docs", "at": "2026-12-03T15:00:00+09:00", "kind": "customer",
        "note": "ticket 4711"}


# --------------------------------------------------------------------------------------------
# the audit log is append-only
# --------------------------------------------------------------------------------------------

def test_audit_log_is_append_only(cli):
    ok(cli("windows", "add", *MAINT))
    ok(cli("notices", "add", "--contract", "ws", "--at", "2026-12-03T15:00:00+09:00"))
    before = query(cli.db, "SELECT * FROM audit_log ORDER BY id")
    assert len(before) == 2

    for sql in ("UPDATE audit_log SET actor = 'mallory'", "UPDATE audit_log SET reason = '' WHERE id = 1",
                "DELETE FROM audit_log", "DELETE FROM audit_log WHERE id = 2"):
        conn = sqlite3.connect(cli.db)
        try:
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(sql)
                conn.commit()
        finally:
            conn.close()
    assert query(cli.db, "SELECT * FROM audit_log ORDER BY id") == before


# --------------------------------------------------------------------------------------------
# bad input: exit 2, a message, nothing written
# --------------------------------------------------------------------------------------------

BAD = {
    "window-end-before-start": (["windows", "add", "--kind", "maintenance", "--domain", "mail",
                                 "--start", "2026-11-15T03:00:00+09:00", "--end", "2026-11-15T02:00:00+09:00",
                                 "--reason", "r"], "after start"),
    "window-end-equals-start": (["windows", "add", "--kind", "maintenance", "--domain", "mail",
                                 "--start", "2026-11-15T03:00:00+09:00", "--end", "2026-11-14T18:00:00Z",
                                 "--reason", "r"], "after start"),
    "window-unknown-domain": (["windows", "add", "--kind", "maintenance", "--domain", "ghost",
                               "--start", "2026-11-15T02:00:00+09:00", "--reason", "r"], "ghost"),
    "window-unknown-contract": (["windows", "add", "--kind", "customer", "--contract", "nope",
                                 "--start", "2026-11-15T02:00:00+09:00", "--reason", "r"], "nope"),
    "window-start-without-offset": (["windows", "add", "--kind", "maintenance", "--domain", "mail",
                                     "--start", "2026-11-15T02:00:00", "--reason", "r"], "offset"),
    "window-announced-without-offset": (["windows", "add", *MAINT[:-4], "--announced-at", "2026-11-01T10:00:00",
                                         "--reason", "r"], "offset"),
    "window-start-not-a-timestamp": (["windows", "add", "--kind", "maintenance", "--domain", "mail",
                                      "--start", "next tuesday", "--reason", "r"], "next tuesday"),
    "window-without-target": (["windows", "add", "--kind", "maintenance", "--start", "2026-11-15T02:00:00Z",
                               "--reason", "r"], "domain"),
    "window-unknown-kind": (["windows", "add", "--kind", "holiday", "--domain", "mail",
                             "--start", "2026-11-15T02:00:00Z", "--reason", "r"], "holiday"),
    "end-nonexistent-window": (["windows", "end", "db-99", "--at", "2026-11-20T03:00:00Z", "--reason", "r"], "99"),
    "end-config-window": (["windows", "end", "config-1", "--at", "2026-10-01T00:30:00Z", "--reason", "r"],
                          "config-1"),
    "end-without-offset": (["windows", "end", "db-1", "--at", "2026-11-15T02:30:00", "--reason", "r"], "offset"),
    "end-before-window-start": (["windows", "end", "db-1", "--at", "2026-11-15T01:00:00+09:00", "--reason", "r"],
                                "start"),
    "notice-unknown-contract": (["notices", "add", "--contract", "nope", "--at", "2026-12-03T15:00:00+09:00"], "nope"),
    "notice-domain-not-of-contract": (["notices", "add", "--contract", "ws", "--domain", "mail",
                                       "--at", "2026-12-03T15:00:00+09:00"], "mail"),
    "notice-without-offset": (["notices", "add", "--contract", "ws", "--at", "2026-12-03T15:00:00"], "offset"),
    "notice-unknown-kind": (["notices", "add", "--contract", "ws", "--at", "2026-12-03T15:00:00Z",
                             "--kind", "rumour"], "rumour"),
}


@pytest.mark.parametrize("args, word", BAD.values(), ids=BAD.keys())
def test_bad_input_exits_2_and_writes_nothing(cli, args, word):
    ok(cli("windows", "add", *MAINT))
    ok(cli("notices", "add", "--contract", "ws", "--at", "2026-12-03T15:00:00+09:00"))
    before = snapshot(cli.db)

    res = cli(*args)
    assert res.returncode == 2, res.stdout
    assert word in res.stderr, res.stderr
    assert "added" not in res.stdout and "ends at" not in res.stdout
    assert snapshot(cli.db) == before


# --------------------------------------------------------------------------------------------
# the next report changes
# --------------------------------------------------------------------------------------------

def test_window_added_through_the_cli_changes_the_report(cli, tmp_path):
    outage = datetime(2026, 11, 10, 10, 0, tzinfo=TOKYO)
    maintenance = datetime(2026, 11, 15, 2, 0, tzinfo=TOKYO)
    samples = write_jsonl(tmp_path / "nov.jsonl",
                          month_lines("mail", TOKYO, 2026, 11, [(outage, 44), (maintenance, 30)]))
    ok(cli("ingest", samples))

    s = report_scope(cli, "2026-11", "acme-lw")
    assert (s["downtime_minutes"], s["excluded_minutes"]["maintenance"], s["credit_days"]) == (74, 0, 3)
    assert s["excluded_windows"] == []

    ok(cli("windows", "add", *MAINT))
    s = report_scope(cli, "2026-11", "acme-lw")
    assert s["downtime_minutes"] == 44
    assert s["excluded_minutes"] == {"maintenance": 30, "customer": 0, "force_majeure": 0, "free": 0}
    assert s["availability"] == "99.898148"
    assert s["credit_amount"] == "5400"
    assert [(o["start"], o["counted_minutes"]) for o in s["outages"]] == [("2026-11-10T10:00:00+09:00", 44)]
    [w] = s["excluded_windows"]
    assert (w["id"], w["kind"], w["reason"], w["excluded_minutes"]) == ("db-1", "maintenance",
                                                                         "storage firmware upgrade", 30)
    assert datetime.fromisoformat(w["start"]) == maintenance
    assert datetime.fromisoformat(w["announced_at"]) == datetime(2026, 11, 1, 10, 0, tzinfo=TOKYO)
    assert s["_contract"]["warnings"] == []  # announced 14 days ahead

    # ending it early puts the rest of the down run back into the count
    ok(cli("windows", "end", "db-1", "--at", "2026-11-15T02:10:00+09:00", "--reason", "work finished early"))
    s = report_scope(cli, "2026-11", "acme-lw")
    assert s["excluded_minutes"]["maintenance"] == 10
    assert s["downtime_minutes"] == 44 + 20
    # the second outage counts the 20 minutes after the window's new end (whether the outage is
    # shown from 02:00, with its excluded minutes, or from 02:10 is the renderer's choice)
    first, second = s["outages"]
    assert (first["start"], first["counted_minutes"]) == ("2026-11-10T10:00:00+09:00", 44)
    assert (second["end"], second["counted_minutes"]) == ("2026-11-15T02:30:00+09:00", 20)
    assert second["start"] in ("2026-11-15T02:00:00+09:00", "2026-11-15T02:10:00+09:00")


def test_open_window_excludes_until_the_end_of_the_period(cli, tmp_path):
    start = datetime(2026, 11, 30, 20, 0, tzinfo=TOKYO)
    samples = write_jsonl(tmp_path / "nov.jsonl", month_lines("mail", TOKYO, 2026, 11, [(start, 240)]))  # to month end
    ok(cli("ingest", samples))
    ok(cli("windows", "add", "--kind", "force_majeure", "--contract", "acme-lw", "--start", start.isoformat(),
           "--reason", "carrier fibre cut"))
    s = report_scope(cli, "2026-11", "acme-lw")
    assert s["downtime_minutes"] == 0
    assert s["excluded_minutes"]["force_majeure"] == 240
    [w] = s["excluded_windows"]
    assert w["end"] is None and w["excluded_minutes"] == 240


def test_notice_added_through_the_cli_changes_a_notice_based_report(cli, tmp_path):
    outage = datetime(2026, 12, 3, 14, 0, tzinfo=SEOUL)
    samples = write_jsonl(tmp_path / "dec.jsonl", month_lines("docs", SEOUL, 2026, 12, [(outage, 500)]))
    ok(cli("ingest", samples))

    # awareness = "notice" and no notice yet: the outage counts nothing
    s = report_scope(cli, "2026-12", "ws")
    assert s["_contract"]["awareness"] == "notice"
    assert (s["downtime_minutes"], s["before_notice_minutes"], s["credit_amount"]) == (0, 500, "0")

    ok(cli("notices", "add", "--contract", "ws", "--domain", "docs", "--at", "2026-12-03T15:00:00+09:00",
           "--kind", "customer"))
    s = report_scope(cli, "2026-12", "ws")
    assert (s["downtime_minutes"], s["before_notice_minutes"]) == (440, 60)
    assert s["availability"] == "99.014336"
    assert s["credit_percent"] == "10"
    assert s["credit_amount"] == "123456"
    [o] = s["outages"]
    assert (o["start"], o["counted_minutes"], o["before_notice_minutes"]) == ("2026-12-03T14:00:00+09:00", 440, 60)
    assert [n["id"] for n in s["notices"]] == ["db-1"]

    # an earlier provider notice (contract-wide, no domain) moves the counting start forward
    ok(cli("notices", "add", "--contract", "ws", "--at", "2026-12-03T05:30:00Z", "--kind", "provider"))
    s = report_scope(cli, "2026-12", "ws")
    assert (s["downtime_minutes"], s["before_notice_minutes"]) == (470, 30)
