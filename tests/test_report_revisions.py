"""Month-end reports are frozen: a restart leaves every byte as it was, and a later change of
their inputs is a new revision (CONTRACT.rN.EXT) listing what changed, never a rewrite."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitor.accounting import build_reports
from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.storage import MIGRATIONS
from reports.contracts import Window
from reports.revisions import describe_changes, snapshot, unchanged
from tests.support import (
    AFTER_NOVEMBER_TOKYO,
    MONTH_OF_NOVEMBER_TOKYO,
    minute_index,
    minute_row,
    month_minutes,
    november_with_44_down,
    publish_reports,
    store_minutes,
)

UTC = UTC
JST = timezone(timedelta(hours=9))

CONFIG = """
[monitor]
database = "slamon.db"
listen = "127.0.0.1:0"
reports_dir = "reports"

[[domain]]
name = "mail"

[[contract]]
id = "acme"
customer = "ACME"
regime = "lineworks"
domains = ["mail"]
unit_price = "540"
licenses = 100
"""

AFTER_END = AFTER_NOVEMBER_TOKYO  # 2026-12-01 00:05 JST
FORMATS = ("json", "md", "csv", "html")


def stored_month(tmp_path: Path, without: int | None = None) -> Daemon:
    """November 2026 for acme: 44 minutes down from 2026-11-01 16:40 JST (5,400 JPY credit),
    every minute stored but `without`."""
    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text(CONFIG)
    daemon = Daemon(parse_config(CONFIG, cfg_path))
    if without is None:
        november_with_44_down(daemon.storage)
    else:
        store_minutes(daemon.storage, "mail", (m for m in month_minutes(MONTH_OF_NOVEMBER_TOKYO, 43200,
                                                                        down=[(1000, 1044)]) if m[0] != without))
    return daemon


def restart(daemon: Daemon, tmp_path: Path) -> Daemon:
    daemon.storage.close()
    return Daemon(parse_config(CONFIG, tmp_path / "config.toml"))


def folder_bytes(tmp_path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((tmp_path / "reports" / "2026-11").iterdir())}


MAINTENANCE = Window(kind="maintenance", start=datetime(2026, 11, 1, 16, 40, tzinfo=JST),
                     end=datetime(2026, 11, 1, 16, 50, tzinfo=JST), reason="storage upgrade",
                     domains=("mail",), announced_at=datetime(2026, 10, 20, 10, 0, tzinfo=JST))


def test_revision_1_has_every_format_and_is_recorded(tmp_path: Path):
    daemon = stored_month(tmp_path)
    written = publish_reports(daemon, AFTER_END)
    assert sorted(p.name for p in written) == sorted(f"acme.{f}" for f in FORMATS)
    (rev,) = daemon.storage.report_revisions("acme", "2026-11")
    assert (rev["revision"], rev["credit_amount"], rev["currency"], rev["diff"]) == (1, "5400", "JPY", [])
    assert rev["evidence_digest"].startswith("sha256:")
    report = json.loads((tmp_path / "reports" / "2026-11" / "acme.json").read_text())
    assert "revision" not in report and report["contracts"][0]["credit_amount"] == "5400"
    daemon.storage.close()


def test_frozen_report_stays_byte_identical_across_restarts(tmp_path: Path):
    daemon = stored_month(tmp_path)
    publish_reports(daemon, AFTER_END)
    first = folder_bytes(tmp_path)
    assert set(first) == {f"acme.{f}" for f in FORMATS}
    for minutes in (5, 10, 60 * 24 * 3):
        daemon = restart(daemon, tmp_path)
        assert publish_reports(daemon, AFTER_END + timedelta(minutes=minutes)) == []
        assert folder_bytes(tmp_path) == first
    assert [r["revision"] for r in daemon.storage.report_revisions()] == [1]
    assert len(daemon.storage.written_report_files()) == len(FORMATS)
    daemon.storage.close()


def test_a_window_added_later_makes_revision_2_with_a_diff(tmp_path: Path):
    daemon = stored_month(tmp_path)
    publish_reports(daemon, AFTER_END)
    first = folder_bytes(tmp_path)
    window_id = daemon.storage.add_window(MAINTENANCE, actor="test")

    written = publish_reports(daemon, AFTER_END + timedelta(minutes=5))
    assert sorted(p.name for p in written) == sorted(f"acme.r2.{f}" for f in FORMATS)
    after = folder_bytes(tmp_path)
    assert {k: after[k] for k in first} == first  # revision 1 untouched

    latest = daemon.storage.latest_report_revision("acme", "2026-11")
    assert (latest["revision"], latest["credit_amount"]) == (2, "0")
    diff = latest["diff"]
    assert f"window db-{window_id} added: maintenance 2026-11-01T16:40+09:00..16:50 (storage upgrade)" in diff
    assert any(d.endswith("downtime_minutes 44 -> 34") for d in diff), diff
    assert "credit_amount 5400 -> 0 JPY" in diff

    report = json.loads((tmp_path / "reports" / "2026-11" / "acme.r2.json").read_text())
    assert report["revision"] == 2 and report["diff"] == diff
    assert report["contracts"][0]["credit_amount"] == "0"
    md = (tmp_path / "reports" / "2026-11" / "acme.r2.md").read_text()
    assert "Revision 2" in md and "credit_amount 5400 -> 0 JPY" in md
    assert f"db-{window_id}" in (tmp_path / "reports" / "2026-11" / "acme.r2.html").read_text()

    # nothing changed since: no revision 3, across a restart too, and no byte moves
    assert publish_reports(daemon, AFTER_END + timedelta(minutes=10)) == []
    daemon = restart(daemon, tmp_path)
    assert publish_reports(daemon, AFTER_END + timedelta(minutes=15)) == []
    assert folder_bytes(tmp_path) == after
    assert [r["revision"] for r in daemon.storage.report_revisions("acme", "2026-11")] == [1, 2]
    daemon.storage.close()


def test_ending_the_window_early_makes_revision_3_relative_to_revision_2(tmp_path: Path):
    daemon = stored_month(tmp_path)
    publish_reports(daemon, AFTER_END)
    window_id = daemon.storage.add_window(MAINTENANCE, actor="test")
    publish_reports(daemon, AFTER_END + timedelta(minutes=5))
    daemon.storage.end_window(window_id, datetime(2026, 11, 1, 16, 45, tzinfo=JST), actor="test", reason="shorter")
    written = publish_reports(daemon, AFTER_END + timedelta(minutes=10))
    assert sorted(p.name for p in written) == sorted(f"acme.r3.{f}" for f in FORMATS)
    diff = daemon.storage.latest_report_revision("acme", "2026-11")["diff"]
    assert f"window db-{window_id} changed: maintenance 2026-11-01T16:40+09:00..16:50 (storage upgrade) -> " \
           f"maintenance 2026-11-01T16:40+09:00..16:45 (storage upgrade)" in diff
    assert any(d.endswith("downtime_minutes 34 -> 39") for d in diff), diff
    assert not any("credit_amount" in d for d in diff)  # 39 minutes: still no credit
    daemon.storage.close()


def test_late_data_makes_a_revision(tmp_path: Path):
    minute = minute_index(MONTH_OF_NOVEMBER_TOKYO) + 5000
    daemon = stored_month(tmp_path, without=minute)    # the month is stored without it; it arrives late
    publish_reports(daemon, AFTER_END)
    rev1 = daemon.storage.latest_report_revision("acme", "2026-11")
    assert rev1["report"]["scopes"][0]["unknown_minutes"] == 1
    ids = daemon.storage.domain_ids(["mail"])
    daemon.storage.add_minute_counts([minute_row(ids["mail"], minute, 20)])
    publish_reports(daemon, AFTER_END + timedelta(minutes=5))
    diff = daemon.storage.latest_report_revision("acme", "2026-11")["diff"]
    assert any("stored minutes changed" in d for d in diff)
    assert any(d.endswith("unknown_minutes 1 -> 0") for d in diff), diff
    daemon.storage.close()


def test_a_window_in_another_month_changes_nothing(tmp_path: Path):
    daemon = stored_month(tmp_path)
    publish_reports(daemon, AFTER_END)
    daemon.storage.add_window(Window(kind="maintenance", start=datetime(2026, 12, 3, 2, 0, tzinfo=JST),
                                     end=datetime(2026, 12, 3, 3, 0, tzinfo=JST), reason="next month",
                                     domains=("mail",)), actor="test")
    assert publish_reports(daemon, AFTER_END + timedelta(minutes=5)) == []
    daemon.storage.close()


def test_reports_older_than_three_months_are_not_recomputed(tmp_path: Path):
    daemon = stored_month(tmp_path)
    publish_reports(daemon, AFTER_END)
    daemon.storage.add_window(MAINTENANCE, actor="test")
    assert daemon.publisher.revise(daemon.storage, daemon.config, datetime(2027, 3, 1, 0, 0, tzinfo=UTC),
                                   daemon.max_timeout()) == []  # 2026-11 < 2026-12
    assert len(daemon.publisher.revise(daemon.storage, daemon.config, datetime(2027, 2, 28, 0, 0, tzinfo=UTC),
                                       daemon.max_timeout())) == len(FORMATS)
    daemon.storage.close()


def test_revisions_are_frozen_in_the_database(tmp_path: Path):
    import sqlite3
    daemon = stored_month(tmp_path)
    publish_reports(daemon, AFTER_END)
    with pytest.raises(sqlite3.DatabaseError):
        daemon.storage.db.execute("UPDATE report_revisions SET credit_amount = '0'")
    with pytest.raises(sqlite3.DatabaseError):
        daemon.storage.db.execute("DELETE FROM report_revisions")
    assert daemon.storage.schema_version() == MIGRATIONS[-1].version >= 3
    daemon.storage.close()


def test_reports_written_before_revisions_existed_are_adopted_without_a_rewrite(tmp_path: Path):
    """A database from before migration 3: revision 1's files exist, no revision row. The current
    figures become revision 1's record; the files stay; the missing HTML is added."""
    daemon = stored_month(tmp_path)
    daemon.publisher.write_due(daemon.storage, daemon.config, AFTER_END, daemon.max_timeout())
    first = folder_bytes(tmp_path)
    (tmp_path / "reports" / "2026-11" / "acme.html").unlink()
    daemon.storage.db.execute("DELETE FROM written_reports WHERE format = 'html'")
    daemon.storage.db.execute("DROP TRIGGER report_revisions_no_delete")
    daemon.storage.db.execute("DELETE FROM report_revisions")
    daemon.storage.db.conn.commit()
    written = publish_reports(daemon, AFTER_END + timedelta(minutes=5))
    assert [p.name for p in written] == ["acme.html"]
    assert folder_bytes(tmp_path) == first
    assert [r["revision"] for r in daemon.storage.report_revisions()] == [1]
    daemon.storage.close()


def test_describe_changes_names_notices_and_contract_terms():
    old_ev = {"timezone": "Asia/Tokyo", "windows": [], "notices": [], "scopes": [],
              "contract": {"unit_price": "540"}}
    new_ev = {"timezone": "Asia/Tokyo", "windows": [], "scopes": [], "contract": {"unit_price": "600"},
              "notices": [{"id": "db-1", "kind": "customer", "at": "2026-11-02T01:00:00+00:00", "domain": None,
                           "note": "ticket 12"}]}
    changes = describe_changes(old_ev, {"credit_amount": "5400", "currency": "JPY"}, new_ev,
                               {"credit_amount": "6000", "currency": "JPY"})
    assert changes == ["notice db-1 added: customer at 2026-11-02T10:00+09:00 (ticket 12)",
                       "contract unit_price 540 -> 600", "credit_amount 5400 -> 6000 JPY"]


def test_an_upgrade_alone_is_not_a_revision(tmp_path: Path):
    """Another software version, or a report JSON with more keys, and the same inputs and figures:
    unchanged. A changed figure is a change whatever the evidence says."""
    daemon = stored_month(tmp_path)
    snap = snapshot(build_reports(daemon.config, daemon.storage, "2026-11", ["acme"])[0])
    older = {"evidence_digest": "sha256:older", "evidence": {**snap.evidence, "software": {"version": "0.0.1"}},
             "report": {**snap.report, "key_from_another_version": 1}}
    assert unchanged(older, snap)
    moved = {**older, "report": {**snap.report, "credit_amount": "1"}}
    assert not unchanged(moved, snap)
    other_input = {**older, "evidence": {**snap.evidence, "windows": [{"id": "x"}]}}
    assert not unchanged(other_input, snap)
    daemon.storage.close()


def test_a_month_without_evidence_is_written_as_insufficient_and_revised_when_the_data_arrives(tmp_path: Path):
    """One sample in November: the month-end report says insufficient evidence (never a final
    100% month); when the month's data arrives late, revision 2 is final and owes the credit."""
    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text(CONFIG)
    daemon = Daemon(parse_config(CONFIG, cfg_path))
    store_minutes(daemon.storage, "mail", [(minute_index(MONTH_OF_NOVEMBER_TOKYO) + 10, 20, 0)])
    publish_reports(daemon, AFTER_END)
    first = json.loads((tmp_path / "reports" / "2026-11" / "acme.json").read_text())["contracts"][0]
    assert (first["status"], first["coverage"], first["credit_amount"]) == ("insufficient_evidence", "0.002314", "0")
    november_with_44_down(daemon.storage)  # the minute already stored is not written twice
    publish_reports(daemon, AFTER_END + timedelta(minutes=5))
    second = json.loads((tmp_path / "reports" / "2026-11" / "acme.r2.json").read_text())
    assert second["contracts"][0]["status"] == "final" and second["contracts"][0]["credit_amount"] == "5400"
    assert "status insufficient_evidence -> final" in second["diff"]
    daemon.storage.close()
