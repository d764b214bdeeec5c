"""`slamon ingest FILE... [--config F]`: the three JSON Lines forms, bad lines reported with
their numbers and skipped, idempotence for the same input (file or standard input), and bad
input (config, missing file) refused with exit 2 and nothing changed. Through the real CLI;
what was stored is read back from the SQLite file with sqlite3."""
from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import aggregate_lines, month_minutes, stored_minutes, write_config, write_jsonl

UTC = UTC
OUTCOMES = ("ok", "client_error", "server_error", "timeout", "connect_error", "tls_error", "dns_error",
            "monitor_error")

CONFIG = """\
[monitor]
database = "slamon.db"

[[domain]]
name = "mail"

[[domain]]
name = "docs"

[[contract]]
id = "acme"
customer = "ACME K.K."
regime = "lineworks"
domains = ["mail", "docs"]
unit_price = "540"
licenses = 100
"""

SUMMARY_RE = re.compile(r"^(?P<name>.+): (?P<lines>\d+) lines, (?P<loaded>\d+) loaded, (?P<rejected>\d+) rejected, "
                        r"(?P<minutes>\d+) domain-minutes$", re.M)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def ingest(slamon, cfg: Path, *files, input: str | None = None):
    res = slamon("ingest", *map(str, files), "--config", str(cfg), cwd=cfg.parent, input=input)
    assert "Traceback" not in res.stderr, res.stderr
    return res


def ok(res):
    assert res.returncode == 0, f"exit {res.returncode}\n{res.stderr}\n{res.stdout}"
    return res


def summary(res) -> dict:
    m = SUMMARY_RE.search(res.stdout)
    assert m, res.stdout
    return {k: (v if k == "name" else int(v)) for k, v in m.groupdict().items()}


def minute_rows(db: Path) -> dict[tuple[str, str], dict]:
    """(domain, 'YYYY-MM-DDTHH:MMZ') -> the stored counts of that minute."""
    if not db.exists():
        return {}
    cols = ("requests", "errors") + OUTCOMES
    out = {}
    for row in stored_minutes(db):
        label = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(minutes=row["minute"])).strftime("%Y-%m-%dT%H:%MZ")
        out[(row["domain"], label)] = {c: row[c] for c in cols}
    return out


def sums(db: Path) -> tuple:
    rows = stored_minutes(db)
    return (len(rows), sum(r["requests"] for r in rows) if rows else None,
            sum(r["errors"] for r in rows) if rows else None, sum(r["monitor_error"] for r in rows) if rows else None)


def sources(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        n = conn.execute("SELECT COUNT(*) FROM ingested_sources").fetchone()[0]
    conn.close()
    return n


def file_state(db: Path) -> str:
    """The database's bytes, for "nothing changed at all"."""
    return hashlib.sha256(db.read_bytes()).hexdigest()


def cell(**counts) -> dict:
    """A stored minute: the given counts, every other column 0."""
    row = dict.fromkeys(("requests", "errors") + OUTCOMES, 0)
    row.update(counts)
    return row


T0 = datetime(2026, 11, 10, 1, 0, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# the three line forms
# --------------------------------------------------------------------------------------------

def test_three_line_forms(slamon, tmp_path):
    cfg = write_config(tmp_path, CONFIG)
    samples = write_jsonl(tmp_path / "s.jsonl", [
        # per-request status: 2xx/3xx ok, 4xx client_error, 5xx server_error
        {"ts": "2026-11-10T01:00:05.120Z", "domain": "mail", "status": 503},
        {"ts": "2026-11-10T01:00:06Z", "domain": "mail", "status": 200},
        {"ts": "2026-11-10T01:00:07Z", "domain": "mail", "status": 301},
        {"ts": "2026-11-10T01:00:08Z", "domain": "mail", "status": 404},
        # per-request outcome, every class once
        *({"ts": "2026-11-10T01:00:09Z", "domain": "mail", "outcome": o} for o in OUTCOMES),
        # an offset other than Z: 10:00:30 JST is 01:00:30 UTC, the same minute
        {"ts": "2026-11-10T10:00:30+09:00", "domain": "mail", "outcome": "timeout"},
        # per-minute aggregate, on its own minute and on another domain
        {"minute": "2026-11-10T01:01Z", "domain": "mail", "requests": 1200, "errors": 80},
        {"minute": "2026-11-10T10:00+09:00", "domain": "docs", "requests": 30, "errors": 2},
        # an aggregate added to a minute that also has per-request lines
        {"minute": "2026-11-10T01:00Z", "domain": "mail", "requests": 10, "errors": 1},
    ])
    res = ok(ingest(slamon, cfg, samples))
    assert res.stderr == ""
    assert summary(res) == {"name": str(samples), "lines": 16, "loaded": 16, "rejected": 0, "minutes": 3}

    assert minute_rows(tmp_path / "slamon.db") == {
        # 4 status lines + 8 outcomes (monitor_error not counted) + 1 timeout + aggregate 10/1
        ("mail", "2026-11-10T01:00Z"): cell(
            requests=4 + 7 + 1 + 10, errors=1 + 5 + 1 + 1, ok=2 + 1, client_error=1 + 1, server_error=1 + 1,
            timeout=1 + 1, connect_error=1, tls_error=1, dns_error=1, monitor_error=1),
        ("mail", "2026-11-10T01:01Z"): cell(requests=1200, errors=80),
        ("docs", "2026-11-10T01:00Z"): cell(requests=30, errors=2),
    }


def test_monitor_error_is_not_a_request(slamon, tmp_path):
    cfg = write_config(tmp_path, CONFIG)
    lines = [{"ts": f"2026-11-10T01:00:{i:02d}Z", "domain": "mail", "outcome": "ok"} for i in range(20)]
    lines += [{"ts": f"2026-11-10T01:00:{i:02d}.5Z", "domain": "mail", "outcome": "monitor_error"} for i in range(30)]
    # a minute with nothing but the monitor's own failures: no evidence about the service
    lines += [{"ts": f"2026-11-10T01:01:{i:02d}Z", "domain": "mail", "outcome": "monitor_error"} for i in range(25)]
    ok(ingest(slamon, cfg, write_jsonl(tmp_path / "s.jsonl", lines)))
    rows = minute_rows(tmp_path / "slamon.db")
    assert rows[("mail", "2026-11-10T01:00Z")] == cell(requests=20, errors=0, ok=20, monitor_error=30)
    assert rows[("mail", "2026-11-10T01:01Z")] == cell(requests=0, errors=0, monitor_error=25)


def test_status_404_is_a_request_but_not_an_error(slamon, tmp_path):
    cfg = write_config(tmp_path, CONFIG)
    lines = [{"ts": f"2026-11-10T01:00:{i:02d}Z", "domain": "mail", "status": 404} for i in range(19)]
    lines += [{"ts": "2026-11-10T01:00:59Z", "domain": "mail", "status": 503}]
    lines += [{"ts": "2026-11-10T01:01:00Z", "domain": "mail", "status": s} for s in (400, 401, 403, 429, 499)]
    ok(ingest(slamon, cfg, write_jsonl(tmp_path / "s.jsonl", lines)))
    rows = minute_rows(tmp_path / "slamon.db")
    assert rows[("mail", "2026-11-10T01:00Z")] == cell(requests=20, errors=1, client_error=19, server_error=1)
    assert rows[("mail", "2026-11-10T01:01Z")] == cell(requests=5, errors=0, client_error=5)


# --------------------------------------------------------------------------------------------
# bad lines
# --------------------------------------------------------------------------------------------

GOOD_AND_BAD = [
    ({"ts": "2026-11-10T01:00:05Z", "domain": "mail", "status": 503}, None),
    ("this is not json", "not JSON"),
    ({"ts": "2026-11-10T01:00:06Z", "domain": "ghost", "status": 200}, "unknown domain 'ghost'"),
    ({"ts": "2026-11-10T01:00:07Z", "domain": "mail"}, "status"),                      # neither status nor outcome
    ({"ts": "2026-11-10T01:00:07Z", "status": 200}, "domain"),                          # no domain
    ({"domain": "mail", "status": 200}, "ts"),                                          # no ts
    ({"minute": "2026-11-10T01:02Z", "domain": "mail", "requests": 10}, "errors"),     # no errors
    ({"minute": "2026-11-10T01:02Z", "domain": "mail", "requests": 10, "errors": 11}, "errors"),
    ({"ts": "2026-11-10T01:00:07", "domain": "mail", "status": 200}, "offset"),         # naive
    ({"minute": "2026-11-10T01:02:30Z", "domain": "mail", "requests": 20, "errors": 0}, "whole minute"),
    ({"ts": "2026-11-10T01:00:07Z", "domain": "mail", "outcome": "exploded"}, "unknown outcome"),
    ({"ts": "2026-11-10T01:00:07Z", "domain": "mail", "status": 700}, "700"),
    ({"ts": "2026-11-10T01:00:08Z", "domain": "mail", "status": 200}, None),
    ("", None),                                                                          # blank: skipped, not counted
    ("[1, 2]", "object"),
    ({"ts": "2026-11-10T01:00:07Z", "domain": "mail", "status": "503"}, "status"),
    ({"minute": "2026-11-10T01:02Z", "domain": "mail", "requests": 20.0, "errors": 0}, "integer"),
    ({"minute": "2026-11-10T01:02Z", "domain": "mail", "requests": -1, "errors": 0}, "requests"),
    ({"ts": "yesterday", "domain": "mail", "status": 200}, "RFC 3339"),
    ({"minute": "2026-11-10T01:01Z", "domain": "docs", "requests": 20, "errors": 3}, None),
    ('{"ts": "2026-11-10T01:00:09Z", "domain": "mail", "status": 200', "not JSON"),     # truncated
]


def test_bad_lines_are_reported_with_their_numbers_and_the_rest_loaded(slamon, tmp_path):
    cfg = write_config(tmp_path, CONFIG)
    write_jsonl(tmp_path / "samples.jsonl", [line for line, _ in GOOD_AND_BAD])
    res = ok(ingest(slamon, cfg, "samples.jsonl"))  # relative: reported as given

    bad = {n: word for n, (_, word) in enumerate(GOOD_AND_BAD, start=1) if word}
    reported = {}
    for line in res.stderr.splitlines():
        m = re.match(r"^samples\.jsonl:(\d+): (.+)$", line)
        assert m, f"not `FILE:LINENO: message`: {line!r}"
        reported[int(m.group(1))] = m.group(2)
    assert set(reported) == set(bad), res.stderr
    for number, word in bad.items():
        assert word in reported[number], (number, reported[number])

    good = [line for line, word in GOOD_AND_BAD if word is None and line != ""]
    assert summary(res) == {"name": "samples.jsonl", "lines": len(good) + len(bad), "loaded": len(good),
                            "rejected": len(bad), "minutes": 2}

    # what is stored is exactly what the good lines alone give
    other = tmp_path / "oracle"
    other.mkdir()
    ocfg = write_config(other, CONFIG)
    ok(ingest(slamon, ocfg, write_jsonl(other / "good.jsonl", good)))
    assert minute_rows(tmp_path / "slamon.db") == minute_rows(other / "slamon.db") == {
        ("mail", "2026-11-10T01:00Z"): cell(requests=2, errors=1, ok=1, server_error=1),
        ("docs", "2026-11-10T01:01Z"): cell(requests=20, errors=3),
    }


def test_many_bad_lines_do_not_flood_or_stop_the_ingest(slamon, tmp_path):
    cfg = write_config(tmp_path, CONFIG)
    lines = ["garbage"] * 500 + aggregate_lines("mail", month_minutes(T0, 10))
    res = ok(ingest(slamon, cfg, write_jsonl(tmp_path / "s.jsonl", lines)))
    assert summary(res)["loaded"] == 10 and summary(res)["rejected"] == 500
    assert len(res.stderr.splitlines()) < 500
    assert len(minute_rows(tmp_path / "slamon.db")) == 10


def test_several_files_each_summarised_and_totalled(slamon, tmp_path):
    cfg = write_config(tmp_path, CONFIG)
    a = write_jsonl(tmp_path / "a.jsonl", aggregate_lines("mail", month_minutes(T0, 5)))
    b = write_jsonl(tmp_path / "b.jsonl", aggregate_lines("docs", month_minutes(T0, 3)) + ["bad"])
    res = ok(ingest(slamon, cfg, a, b))
    found = {m["name"]: m for m in (
        {k: (v if k == "name" else int(v)) for k, v in x.groupdict().items()} for x in SUMMARY_RE.finditer(res.stdout))}
    assert found[str(a)]["loaded"] == 5 and found[str(b)]["loaded"] == 3 and found[str(b)]["rejected"] == 1
    assert re.search(r"^total: 8 loaded, 1 rejected, 2 of 2 inputs new$", res.stdout, re.M), res.stdout


# --------------------------------------------------------------------------------------------
# idempotence
# --------------------------------------------------------------------------------------------

def day_of_samples() -> list:
    """A day of aggregates on two domains plus some per-request lines on shared minutes."""
    lines = (aggregate_lines("mail", month_minutes(T0, 1440))
             + aggregate_lines("docs", month_minutes(T0, 1440, requests=30, down=[(0, 1440)], errors=2)))
    lines += [{"ts": f"2026-11-10T01:{m:02d}:3{i}Z", "domain": "mail", "status": 503}
              for m in range(5) for i in range(3)]
    lines += [{"ts": "2026-11-10T01:00:00Z", "domain": "mail", "outcome": "monitor_error"}, "not json"]
    return lines


def test_same_file_twice_changes_nothing(slamon, tmp_path):
    cfg = write_config(tmp_path, CONFIG)
    db = tmp_path / "slamon.db"
    samples = write_jsonl(tmp_path / "s.jsonl", day_of_samples())
    first = ok(ingest(slamon, cfg, samples))
    assert summary(first)["loaded"] == 2 * 1440 + 16
    rows, totals = minute_rows(db), sums(db)
    assert totals == (2880, 1440 * 20 + 15 + 1440 * 30, 15 + 1440 * 2, 1)

    second = ok(ingest(slamon, cfg, samples))
    assert "already ingested" in second.stdout
    assert minute_rows(db) == rows
    assert sums(db) == totals
    assert sources(db) == 1

    # the same bytes under another name are the same input
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(samples.read_bytes())
    third = ok(ingest(slamon, cfg, copy))
    assert "already ingested" in third.stdout
    assert minute_rows(db) == rows and sums(db) == totals


def test_a_different_file_adds_to_the_same_minutes(slamon, tmp_path):
    """Idempotence is per input, not per minute: another collector's file for the same minute adds up."""
    cfg = write_config(tmp_path, CONFIG)
    a = aggregate_lines("mail", month_minutes(T0, 2, down=[(0, 2)], errors=1))  # 20 requests, 1 error
    b = aggregate_lines("mail", month_minutes(T0, 1, requests=10, down=[(0, 1)], errors=3))
    ok(ingest(slamon, cfg, write_jsonl(tmp_path / "a.jsonl", a)))
    ok(ingest(slamon, cfg, write_jsonl(tmp_path / "b.jsonl", b)))
    rows = minute_rows(tmp_path / "slamon.db")
    assert rows[("mail", "2026-11-10T01:00Z")] == cell(requests=30, errors=4)
    assert rows[("mail", "2026-11-10T01:01Z")] == cell(requests=20, errors=1)


def test_standard_input_works_and_is_idempotent(slamon, tmp_path):
    cfg = write_config(tmp_path, CONFIG)
    db = tmp_path / "slamon.db"
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in day_of_samples())

    first = ok(ingest(slamon, cfg, "-", input=text))
    assert summary(first)["name"] == "<stdin>"
    assert summary(first)["loaded"] == 2 * 1440 + 16 and summary(first)["rejected"] == 1
    assert "<stdin>:" in first.stderr  # the bad line, numbered
    rows, totals = minute_rows(db), sums(db)
    assert totals[0] == 2880

    second = ok(ingest(slamon, cfg, "-", input=text))
    assert "already ingested" in second.stdout
    assert minute_rows(db) == rows and sums(db) == totals
    assert sources(db) == 1

    # the same bytes as a file afterwards are recognised as well
    samples = tmp_path / "s.jsonl"
    samples.write_text(text, encoding="utf-8")
    third = ok(ingest(slamon, cfg, samples))
    assert "already ingested" in third.stdout
    assert minute_rows(db) == rows and sums(db) == totals


def test_standard_input_with_a_file_in_one_call(slamon, tmp_path):
    cfg = write_config(tmp_path, CONFIG)
    a = write_jsonl(tmp_path / "a.jsonl", aggregate_lines("mail", month_minutes(T0, 4)))
    text = "".join(line + "\n" for line in aggregate_lines("docs", month_minutes(T0, 6)))
    res = ok(ingest(slamon, cfg, a, "-", input=text))
    assert re.search(r"^total: 10 loaded, 0 rejected, 2 of 2 inputs new$", res.stdout, re.M), res.stdout
    assert sums(tmp_path / "slamon.db")[0] == 10


# --------------------------------------------------------------------------------------------
# bad input: exit 2, nothing changed
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("breakage, where", [
    (lambda text: text.replace('unit_price = "540"', "unit_price = 540.0"), "contract[0].unit_price"),
    (lambda text: text + "\n[[window]\n", "(syntax)"),
    (lambda text: text.replace('name = "docs"', 'name = "docs"\ncolour = "red"'), "domain[1].colour"),
], ids=["float-money", "toml-syntax", "unknown-key"])
def test_broken_config_exits_2_and_loses_nothing(slamon, tmp_path, breakage, where):
    cfg = write_config(tmp_path, CONFIG)
    db = tmp_path / "slamon.db"
    ok(ingest(slamon, cfg, write_jsonl(tmp_path / "a.jsonl", aggregate_lines("mail", month_minutes(T0, 60)))))
    rows, state = minute_rows(db), file_state(db)

    cfg.write_text(breakage(CONFIG), encoding="utf-8")
    res = ingest(slamon, cfg, write_jsonl(tmp_path / "b.jsonl", aggregate_lines("docs", month_minutes(T0, 60))))
    assert res.returncode == 2
    assert re.search(rf"^{re.escape(str(cfg))}:\d+: {re.escape(where)}: ", res.stderr, re.M), res.stderr
    assert minute_rows(db) == rows
    assert file_state(db) == state
    assert sources(db) == 1

    # once the config is fixed, the refused file loads normally: nothing was half-recorded
    cfg.write_text(CONFIG, encoding="utf-8")
    res = ok(ingest(slamon, cfg, tmp_path / "b.jsonl"))
    assert summary(res)["loaded"] == 60
    assert len(minute_rows(db)) == 120


def test_broken_config_creates_no_database(slamon, tmp_path):
    cfg = write_config(tmp_path, CONFIG.replace('unit_price = "540"', "unit_price = 540.0"))
    res = ingest(slamon, cfg, write_jsonl(tmp_path / "a.jsonl", aggregate_lines("mail", month_minutes(T0, 5))))
    assert res.returncode == 2
    assert not (tmp_path / "slamon.db").exists()


def test_missing_input_file_exits_2(slamon, tmp_path):
    cfg = write_config(tmp_path, CONFIG)
    db = tmp_path / "slamon.db"
    ok(ingest(slamon, cfg, write_jsonl(tmp_path / "a.jsonl", aggregate_lines("mail", month_minutes(T0, 30)))))
    rows = minute_rows(db)

    res = ingest(slamon, cfg, "nope.jsonl")
    assert res.returncode == 2
    assert "nope.jsonl" in res.stderr
    assert minute_rows(db) == rows
    assert sources(db) == 1


def test_missing_config_file_exits_2(slamon, tmp_path):
    samples = write_jsonl(tmp_path / "a.jsonl", aggregate_lines("mail", month_minutes(T0, 5)))
    res = ingest(slamon, tmp_path / "nope.toml", samples)
    assert res.returncode == 2
    assert "nope.toml" in res.stderr
    assert not (tmp_path / "slamon.db").exists()
