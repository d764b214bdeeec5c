"""Storage behaves the same on SQLite and PostgreSQL: minutes (additive writes, the daemon's
once-only closes, gaps, unhealthy minutes, retention), windows, notices, claims, the hash-chained
ledgers and their refusals, quarantine; and on PostgreSQL several writers at once lose nothing."""
from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime

import psycopg
import pytest

from monitor.minute_store import BLOCK_MINUTES
from monitor.storage import Storage
from reports.contracts import Claim, Notice, Window
from tests.support import (
    FakeClock,
    domain_toml,
    lineworks_contract_toml,
    minute_index,
    minute_row,
    monitor_toml,
    write_config,
)

DAY = 20_400
M0 = DAY * BLOCK_MINUTES - 5          # five minutes before a UTC midnight: two blocks
REFUSED = (sqlite3.DatabaseError, psycopg.Error)


@pytest.fixture
def store(storage_url):
    with Storage(storage_url) as storage:
        yield storage


def test_minutes_add_up_and_are_read_back(store):
    ids = store.domain_ids(["mail", "drive"])
    store.add_minute_counts([minute_row(ids["mail"], M0 + i, 20, 1 if i == 3 else 0) for i in range(10)])
    store.add_minute_counts([minute_row(ids["mail"], M0 + 3, 20, 19)])           # additive
    assert [(r["minute"], r["requests"], r["errors"]) for r in store.minute_rows("mail", M0, M0 + 10)][2:5] == [
        (M0 + 2, 20, 0), (M0 + 3, 40, 20), (M0 + 4, 20, 0)]
    assert store.has_minutes(M0, M0 + 1) and not store.has_minutes(M0 + 10, M0 + 20)
    assert store.first_minute("mail") == M0 and store.first_minute("drive") is None
    assert store.missing_minutes("mail", M0 - 2, M0 + 12) == [M0 - 2, M0 - 1, M0 + 10, M0 + 11]
    assert len(store.missing_minutes("drive", M0, M0 + 3000)) == 3000
    unhealthy = list(store.unhealthy_minutes(M0 - 100, M0 + 100, 20, 1, 20))
    assert unhealthy == [("mail", M0 + 3, 40, 20)]
    assert list(store.unhealthy_minutes(M0, M0 + 10, 21, 1, 20, domains=["mail"]))[0][:2] == ("mail", M0)
    assert store.counts_at("mail", [M0 + 3, M0 + 50]) == {M0 + 3: (40, 20)}


def test_the_daemon_closes_a_minute_once_and_a_partial_one_once_more(store):
    ids = store.domain_ids(["mail"])
    row = minute_row(ids["mail"], M0, 10)
    assert store.close_probe_minutes([row], partial=True) == (1, 0)
    assert store.partial_domains(M0) == {"mail"}
    assert store.close_probe_minutes([row]) == (1, 0)           # the rest of it, after a restart
    assert store.close_probe_minutes([row]) == (0, 1)           # and never again
    assert store.partial_domains(M0) == frozenset()
    [stored] = store.minute_rows("mail", M0, M0 + 1)
    assert (stored["requests"], stored["partial"], stored["probed"]) == (20, False, True)


def test_retention_drops_whole_and_cut_days(store):
    ids = store.domain_ids(["mail"])
    store.add_minute_counts([minute_row(ids["mail"], M0 + i, 20) for i in range(10)])
    assert store.drop_minutes_before(M0 + 2) == 2
    assert [r["minute"] for r in store.minute_rows("mail", M0, M0 + 10)] == list(range(M0 + 2, M0 + 10))
    assert store.drop_minutes_before(DAY * BLOCK_MINUTES + 1) == 4
    assert [r["minute"] for r in store.minute_rows("mail", M0, M0 + 10)] == list(range(M0 + 6, M0 + 10))


def test_changes_are_audited_in_a_chain_the_database_defends(store):
    start = datetime(2026, 11, 15, 2, 0, tzinfo=UTC)
    window_id = store.add_window(Window(kind="maintenance", start=start, end=None, reason="upgrade",
                                        domains=("mail",)), actor="alice")
    store.end_window(window_id, datetime(2026, 11, 15, 3, 0, tzinfo=UTC), actor="bob", reason="done")
    store.add_notice(Notice(contract="acme", at=start, kind="customer"), actor="carol")
    claim_id = store.add_claim(Claim(contract="acme", period="2026-11", filed_at=start), actor="dave")
    store.add_report_revision("acme", "2026-11", 1, evidence_digest="sha256:00", credit_amount="0", currency="JPY",
                              diff=[], evidence="{}", report="{}", files={})
    assert [w.end for w in store.windows()] == [datetime(2026, 11, 15, 3, 0, tzinfo=UTC)]
    assert [c.id for c in store.claims("acme")] == [f"db-{claim_id}"]
    assert [(r["actor"], r["action"]) for r in store.audit_rows()] == [
        ("alice", "add"), ("bob", "end"), ("carol", "add"), ("dave", "add")]
    assert [(r["rows"], r["broken"]) for r in store.verify_ledgers()] == [(4, None), (1, None)]
    for sql in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log",
                "UPDATE report_revisions SET credit_amount = '1'", "DELETE FROM report_revisions",
                "UPDATE claims SET filed_at = 'x'", "DELETE FROM claims",
                "INSERT INTO audit_log (id, at, actor, action, entity, entity_id, reason, prev_hash, row_hash) "
                "VALUES (1, 'x', 'm', 'add', 'window', '1', 'r', 'p', 'h')",
                "INSERT INTO audit_log (id, at, actor, action, entity, entity_id, reason, prev_hash, row_hash) "
                "VALUES (99, 'x', 'm', 'add', 'window', '1', 'r', 'not the last hash', 'h')"):
        with pytest.raises(REFUSED):
            with store.db.atomic():
                store.db.execute(sql)
    assert [(r["rows"], r["broken"]) for r in store.verify_ledgers()] == [(4, None), (1, None)]


def test_quarantined_minutes_are_replayed(store):
    store.domain_ids(["mail"])
    qid = store.quarantine_minute("mail", M0, minute_row(0, M0, 20)[2:], False, "a test")
    assert store.quarantine_count() == 1
    assert store.replay_quarantined(qid) == (1, 0)
    assert store.quarantine_count() == 0 and store.minute_rows("mail", M0, M0 + 1)[0]["requests"] == 20


def test_several_writers_into_one_postgresql_lose_nothing(postgres_url):
    """Four connections add to the same minutes (one day block) and append to the audit log at
    once: every count and every audit row arrives, and the chain holds."""
    with Storage(postgres_url) as first:
        mail = first.domain_ids(["mail"])["mail"]
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with Storage(postgres_url) as storage:
                for i in range(25):
                    storage.add_minute_counts([minute_row(mail, M0 + (i % 5), 1)])
                    storage.add_notice(Notice(contract="acme", at=datetime(2026, 11, 1, tzinfo=UTC), kind="customer",
                                              note=f"writer {n} #{i}"), actor=f"w{n}")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    with Storage(postgres_url) as storage:
        assert sum(r["requests"] for r in storage.minute_rows("mail", M0, M0 + 5)) == 100
        assert len(storage.audit_rows()) == 100
        assert storage.verify_ledgers()[0]["broken"] is None


async def test_the_daemon_records_into_either_backend(tmp_path, storage_url, start_daemon, target):
    """Probe minutes closed, a shutdown's partial minute completed by a restart within it, and
    the month-to-date accounting read back: the same on both backends."""
    clock = FakeClock(datetime(2026, 11, 10, 12, 0, 30, tzinfo=UTC))
    cfg = write_config(tmp_path, monitor_toml() + domain_toml("mail", url=target.url(), every="2s")
                       + lineworks_contract_toml("acme", ["mail"]) + f'\n[storage]\nurl = "{storage_url}"\n')
    m1 = minute_index(clock.now()) + 1
    first = await start_daemon(cfg, on=clock)
    await first.run_until((m1 + 1) * 60 + 20)
    await first.daemon.stop()
    await clock.advance(10)
    second = await start_daemon(cfg, on=clock)
    assert second.daemon.recorder.observed_since_minute == m1 + 1
    await second.run_until((m1 + 2) * 60 + 10)
    accounting = await (await second.get("/api/v1/contracts/acme/accounting")).json()
    await second.daemon.stop()
    with Storage(storage_url) as storage:
        rows = {r["minute"]: r for r in storage.minute_rows("mail", m1, m1 + 3)}
    assert rows[m1]["requests"] == 30 and not rows[m1]["partial"]
    assert rows[m1 + 1]["requests"] >= 25 and rows[m1 + 1]["probed"] and not rows[m1 + 1]["partial"]
    assert rows[m1 + 2]["partial"]                       # cut by the second stop
    assert accounting["id"] == "acme" and accounting["scopes"][0]["downtime_minutes"] == 0
