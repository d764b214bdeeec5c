"""The compact minute store: a day block holds exactly what was added, its summary decides "every
minute up" exactly as minute-by-minute evaluation does, and a database from before the store
migrates to the same minutes."""
from __future__ import annotations

import sqlite3
from fractions import Fraction

import pytest
import sqlite_utils
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.minute_store import BLOCK_MINUTES, COUNT_COLUMNS, DayBlock
from monitor.storage import MIGRATIONS, Storage
from reports.minutes import Thresholds

DAY = 20_400   # 2025-11-08
counts = st.lists(st.integers(0, 10**9), min_size=len(COUNT_COLUMNS), max_size=len(COUNT_COLUMNS))
minutes = st.dictionaries(st.integers(0, BLOCK_MINUTES - 1), counts, max_size=60)


@settings(max_examples=200, deadline=None)
@given(minutes, st.sets(st.integers(0, BLOCK_MINUTES - 1), max_size=20), st.booleans())
def test_a_block_gives_back_what_was_added(added, probed, partial):
    block = DayBlock(DAY)
    for i, row in added.items():
        block.add(i, row)
        block.add(i, row)           # adding is additive
    for i in probed:
        block.mark_probed(i, partial)
    again = DayBlock.decode(DAY, block.encode())
    assert sorted(again.present_offsets()) == sorted(added)
    for i in range(BLOCK_MINUTES):
        expected = tuple(2 * v for v in added[i]) if i in added else (0,) * len(COUNT_COLUMNS)
        assert again.counts(i) == expected
        assert again.is_probed(i) == (i in probed)
        assert again.is_partial(i) == (i in probed and partial)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.integers(0, BLOCK_MINUTES - 1), st.tuples(st.integers(0, 60), st.integers(0, 60)),
                       max_size=40),
       st.booleans(), st.integers(1, 40), st.fractions(Fraction(0), Fraction(99, 100)))
def test_the_summary_skips_a_day_only_when_every_minute_is_up(sparse, fill, min_samples, threshold):
    """`all_up` is true exactly when minute-by-minute evaluation finds every minute of the day up."""
    block = DayBlock(DAY)
    for i in range(BLOCK_MINUTES):
        if i in sparse:
            requests, errors = sparse[i]
            block.add(i, (requests, min(errors, requests)) + (0,) * (len(COUNT_COLUMNS) - 2))
        elif fill:
            block.add(i, (min_samples + 1, 0) + (0,) * (len(COUNT_COLUMNS) - 2))
    thresholds = Thresholds(min_samples=min_samples, error_threshold=threshold)
    every_minute_up = all(
        block.has(i) and thresholds.state(*block.requests_errors(i)) == "up" for i in range(BLOCK_MINUTES))
    assert block.summary().all_up(min_samples, threshold) == every_minute_up
    unhealthy = {i for i, _, _ in block.unhealthy(0, BLOCK_MINUTES, min_samples, threshold)}
    assert unhealthy == {i for i in block.present_offsets() if thresholds.state(*block.requests_errors(i)) != "up"}


def test_counts_beyond_64_bits_raise_and_change_nothing():
    block = DayBlock(DAY)
    block.add(5, (2**62, 0) + (0,) * 8)
    with pytest.raises(OverflowError):
        block.add(5, (2**62, 0) + (0,) * 8)
    assert block.counts(5)[0] == 2**62


def test_a_clean_day_is_small():
    """Probed every 2 s, all answered: a day costs a few hundred bytes, not 1,440 rows."""
    block = DayBlock(DAY)
    ok = COUNT_COLUMNS.index("ok")
    for i in range(BLOCK_MINUTES):
        row = [0] * len(COUNT_COLUMNS)
        row[0] = row[ok] = 30
        block.add(i, row)
        block.mark_probed(i, False)
    assert len(block.encode()) < 600


def version_5_database(path) -> None:
    db = sqlite_utils.Database(sqlite3.connect(path))
    db.execute("CREATE TABLE _migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
    for migration in MIGRATIONS[:5]:
        migration.apply(db)
        db.execute("INSERT INTO _migrations VALUES (?, ?, '2026-11-01T00:00:00+00:00')",
                   [migration.version, migration.name])
    db.execute("INSERT INTO domains (name) VALUES ('mail'), ('drive')")
    columns = ", ".join(COUNT_COLUMNS)
    marks = ", ".join("?" for _ in COUNT_COLUMNS)
    rows = []
    for minute in range(DAY * BLOCK_MINUTES - 30, DAY * BLOCK_MINUTES + 1500):   # across three days
        if minute % 97 == 0:
            continue                                    # a gap now and then
        counts = [20 + minute % 7, minute % 3] + [0] * 8
        counts[2] = counts[0] - counts[1]
        rows.append([1 + minute % 2, minute, *counts])
    db.conn.executemany(f"INSERT INTO minute_counts (domain_id, minute, {columns}) VALUES (?, ?, {marks})", rows)
    db.execute("INSERT INTO probe_minutes (domain_id, minute, partial) VALUES (1, ?, 1), (2, ?, 0)",
               [DAY * BLOCK_MINUTES + 10, DAY * BLOCK_MINUTES + 11])
    db.conn.commit()
    db.close()


def test_a_database_of_minute_rows_migrates_to_the_same_minutes(tmp_path):
    path = tmp_path / "slamon.db"
    version_5_database(path)
    with sqlite3.connect(path) as conn:
        before = {(d, m): tuple(rest) for d, m, *rest in conn.execute(
            f"SELECT d.name, m.minute, {', '.join('m.' + c for c in COUNT_COLUMNS)} FROM minute_counts m "
            f"JOIN domains d ON d.id = m.domain_id")}
    conn.close()
    with Storage(path) as storage:
        assert storage.schema_version() == MIGRATIONS[-1].version
        lo, hi = DAY * BLOCK_MINUTES - 30, DAY * BLOCK_MINUTES + 1500
        after = {(name, row["minute"]): tuple(row[c] for c in COUNT_COLUMNS)
                 for name in ("mail", "drive") for row in storage.minute_rows(name, lo, hi)}
        assert after == before
        mail = {r["minute"]: r for r in storage.minute_rows("mail", lo, hi)}
        drive = {r["minute"]: r for r in storage.minute_rows("drive", lo, hi)}
        assert mail[DAY * BLOCK_MINUTES + 10]["partial"] and mail[DAY * BLOCK_MINUTES + 10]["probed"]
        assert drive[DAY * BLOCK_MINUTES + 11]["probed"] and not drive[DAY * BLOCK_MINUTES + 11]["partial"]
        assert storage.missing_minutes("mail", lo, hi) == [m for m in range(lo, hi)
                                                           if ("mail", m) not in before]
        assert storage.first_minute("drive") == min(m for d, m in before if d == "drive")
        tables = {name for (name,) in storage.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "minute_counts" not in tables and "probe_minutes" not in tables
