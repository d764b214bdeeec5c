"""`slamon ingest`'s fast path (orjson, per-day columns) against its reference path (json +
parse_sample, one line at a time): every line gets the same verdict, the same message and the
same counts, whichever path read it; and the chunked line reader splits lines exactly as the
line-by-line one did."""
from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import monitor.ingest as ingest
from monitor.ingest import LongLine, bounded_lines, ingest_lines
from monitor.samples import LineError, MinuteAccumulator
from monitor.storage import Storage

KNOWN = {"mail": None, "docs": None}
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.function_scoped_fixture])


def reference(lines: list[bytes]) -> tuple[tuple[int, int, int], list[str], dict]:
    """What the reference path alone makes of the lines: (lines, loaded, rejected), the messages,
    and {(domain, minute): counts}."""
    acc = MinuteAccumulator()
    counted = loaded = 0
    messages = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        counted += 1
        try:
            ingest._parse_line(raw, KNOWN, {}, acc)
            loaded += 1
        except LineError as exc:
            messages.append(f"x:{number}: {exc}")
    cells = {key: tuple(cell) for key, cell in acc.cells.items()}
    return (counted, loaded, counted - loaded), messages, cells


def ingested(tmp_path: Path, lines: list[bytes]) -> tuple[tuple[int, int, int], list[str], dict]:
    """What ingest_lines (both paths) stores for the lines, read back through the storage API."""
    path = tmp_path / "s.db"
    for leftover in tmp_path.glob("s.db*"):
        leftover.unlink()
    messages: list[str] = []
    with Storage(path) as storage:
        summary = ingest_lines(storage, lines, "x", KNOWN, digest="0" * 64, report=messages.append,
                               max_reported=10**6)
        cells = {(name, row["minute"]): tuple(row[c] for c in ("requests", "errors", "ok", "client_error",
                                                               "server_error", "timeout", "connect_error",
                                                               "tls_error", "dns_error", "monitor_error"))
                 for name in KNOWN for row in storage.minute_rows(name, -(2**40), 2**40)}
    return (summary.lines, summary.loaded, summary.rejected), messages, cells


def same_as_reference(tmp_path: Path, lines: list[bytes]) -> None:
    assert ingested(tmp_path, lines) == reference(lines)



# Lines where orjson and json disagree, or where only the reference path knows the message.
TRICKY = [
    b'{"domain": "mail", "minute": "2026-11-10T01:00Z", "requests": 30, "errors": 1}',       # the fast path
    b'{"domain": "mail", "minute": "2026-11-10T01:00Z", "requests": 18446744073709551616, "errors": 0}',
    b'{"domain": "mail", "minute": "2026-11-10T01:00Z", "requests": 18446744073709551615, "errors": 0}',
    b'{"domain": "mail", "minute": "2026-11-10T01:00Z", "requests": 100000000000000000000, "errors": 0}',
    b'{"domain": "mail", "minute": "2026-11-10T01:00Z", "requests": 1e20, "errors": 0}',
    b'{"domain": "mail", "minute": "2026-11-10T01:00Z", "requests": 1E400, "errors": 0}',
    b'{"domain": "mail", "minute": "2026-11-10T01:00Z", "requests": NaN, "errors": 0}',
    b'{"domain": "mail", "minute": "2026-11-10T01:00Z", "requests": -1, "errors": 0}',
    b'{"domain": "mail", "minute": "2026-11-10T01:00Z", "requests": 1000000001, "errors": 0}',
    b'{"domain": "mail", "minute": "2026-11-10T01:00Z", "requests": 1000000000, "errors": 1000000000}',
    b'{"domain": "mail", "minute": "2026-11-10T01:00Z", "requests": 3, "errors": 4}',
    b'{"domain": "mail", "minute": "2026-11-10T01:00Z", "requests": true, "errors": 0}',
    b'{"domain": "mail", "minute": "2026-11-10T01:00Z", "requests": 3, "errors": null}',
    b'{"domain": "mail", "minute": "2026-11-10T01:00Z", "requests": 3.0, "errors": 0}',
    b'{"domain": "ma\\ud800il", "minute": "2026-11-10T01:00Z", "requests": 3, "errors": 0}',  # lone surrogate
    b'{"domain": "\\u006dail", "minute": "2026-11-10T01:01Z", "requests": 3, "errors": 0}',   # an escape: fine
    b'\xef\xbb\xbf{"domain": "mail", "minute": "2026-11-10T01:00Z", "requests": 3, "errors": 0}',  # BOM
    b'{"domain": "mail", "domain": "ghost", "minute": "2026-11-10T01:00Z", "requests": 3, "errors": 0}',
    b'{"domain": "ghost", "domain": "mail", "minute": "2026-11-10T01:00Z", "requests": 3, "errors": 0}',
    b'{"domain": "ghost", "minute": "2026-11-10T01:00Z", "requests": 3, "errors": 0}',
    b'{"domain": "", "minute": "2026-11-10T01:00Z", "requests": 3, "errors": 0}',
    b'{"domain": ["mail"], "minute": "2026-11-10T01:00Z", "requests": 3, "errors": 0}',
    b'{"domain": "mail", "minute": ["2026-11-10T01:00Z"], "requests": 3, "errors": 0}',
    b'{"domain": "mail", "minute": "2026-11-10T01:00:30Z", "requests": 3, "errors": 0}',
    b'{"domain": "mail", "minute": "2026-11-10T01:00", "requests": 3, "errors": 0}',
    b'{"domain": "mail", "minute": "0001-01-01T00:00+14:00", "requests": 3, "errors": 0}',
    b'{"domain": "mail", "minute": "1900-01-01T00:00Z", "requests": 3, "errors": 0}',           # day < 0
    b'{"domain": "mail", "minute": "' + b"x" * 100 + b'", "requests": 3, "errors": 0}',
    b'{"domain": "mail", "minute": "2026-11-10T10:00+09:00", "requests": 5, "errors": 5}',
    b'{"domain": "mail", "minute": "2026-11-10T01:00Z", "requests": 3, "errors": 0, "x": 1}',
    b'{"domain": "mail", "minute": "2026-11-10T01:00Z", "requests": 3, "errors": 0, "x": ' + b"[" * 20 + b"]" * 20
    + b"}",
    b'{"domain": "mail", "minute": "2026-11-10T01:00Z", "requests": 3}',
    b'{"domain": "mail", "ts": "2026-11-10T01:00:05Z", "status": 503}',
    b'{"domain": "mail", "ts": "2026-11-10T01:00:05Z", "status": 18446744073709551616}',
    b'{"domain": "mail", "ts": "2026-11-10T01:00:05Z", "outcome": "monitor_error"}',
    b'{"domain": "docs", "ts": "2026-11-10T01:02:05Z", "outcome": "tls_error"}',
    b"[" * 2000 + b"]" * 2000,
    b"[1, 2]",
    b"not json",
    b"",
    b"   \r",
    b'{"domain": "mail", "minute": "2026-11-10T01:00Z", "requests": 3, "errors": 0',
    b'{"domain": "mail", "minute": "2026-11-10T01:00Z", "requests": 3, "errors": 0}\r',
    b'\xff{"domain": "mail"}',
    LongLine(b'{"domain": "mail", "minute": "2026-11-10T01:03Z", "requests": 3, "errors": 0}   '),
]


@pytest.mark.parametrize("line", TRICKY, ids=range(len(TRICKY)))
def test_each_tricky_line_alone_is_judged_as_the_reference_path_judges_it(tmp_path, line):
    same_as_reference(tmp_path, [line])


def test_the_tricky_lines_together(tmp_path):
    lines = TRICKY * 3
    same_as_reference(tmp_path, lines)
    (counted, loaded, rejected), messages, cells = ingested(tmp_path, lines)
    assert loaded > 0 and rejected > 0 and len(messages) == rejected


def test_a_long_line_is_rejected_even_when_its_start_is_a_good_sample(tmp_path):
    line = b'{"domain": "mail", "minute": "2026-11-10T01:00Z", "requests": 3, "errors": 0}' + b" " * 70_000 + b"x\n"
    lines = list(bounded_lines(io.BytesIO(line)))
    assert [type(x) for x in lines] == [LongLine]
    assert ingested(tmp_path, lines)[:2] == ((1, 0, 1), ["x:1: line longer than 65536 bytes: not a sample"])


# --- random lines ------------------------------------------------------------------------------

def _number() -> st.SearchStrategy[str]:
    return st.one_of(st.integers(-5, 2**70).map(str), st.sampled_from(["1e3", "3.0", "-0", "NaN", "true", "null",
                                                                      "1E400", "1000000000", "1000000001",
                                                                      "18446744073709551616"]))


_minutes = st.one_of(st.builds(lambda d, h, m: f'"2026-11-{d:02d}T{h:02d}:{m:02d}Z"', st.integers(9, 12),
                               st.integers(0, 23), st.integers(0, 59)),
                     st.sampled_from(['"2026-11-10T10:00+09:00"', '"2026-11-10T01:00:30Z"', '"2026-11-10T01:00"',
                                      '"1899-12-31T23:59Z"', '"9000-12-31T23:59Z"', "3", '["2026-11-10T01:00Z"]']))
_domains = st.sampled_from(['"mail"', '"docs"', '"ghost"', '""', '"ma\\ud800il"', '"\\u006dail"', "null", "[]"])
_aggregate = st.builds(
    lambda d, m, r, e, extra, order: "{" + ", ".join(
        [f'"domain": {d}', f'"minute": {m}', f'"requests": {r}', f'"errors": {e}'][i] for i in order) + extra + "}",
    _domains, _minutes, st.one_of(st.integers(0, 2000).map(str), _number()),
    st.one_of(st.integers(0, 50).map(str), _number()),
    st.sampled_from(["", ', "x": 1', ', "domain": "docs"', ', "deep": ' + "[" * 20 + "]" * 20]),
    st.permutations(range(4)))
_request = st.builds(lambda d, s, kind: f'{{"domain": {d}, "ts": "2026-11-10T01:0{s % 10}:{s % 60:02d}Z", {kind}}}',
                     _domains, st.integers(0, 600),
                     st.sampled_from(['"status": 200', '"status": 503', '"status": 18446744073709551616',
                                      '"outcome": "timeout"', '"outcome": "monitor_error"', '"outcome": []']))
_line = st.one_of(_aggregate, _aggregate, _aggregate, _request, st.text(max_size=20)).map(
    lambda s: s.encode("utf-8", "surrogatepass"))


@PROPS
@given(st.lists(_line, max_size=40))
def test_random_lines_get_the_reference_verdicts_messages_and_counts(tmp_path, lines):
    same_as_reference(tmp_path, lines)


@PROPS
@given(st.lists(st.tuples(st.sampled_from(["mail", "docs"]), st.integers(0, 4 * 1440 - 1),
                          st.sampled_from([0, 7, 10**9]), st.booleans()), max_size=60),
       st.integers(1, 3))
def test_little_room_for_days_changes_no_count(tmp_path, monkeypatch, rows, room):
    """With room for one to three open days, days are stored early (and some twice), lines for a
    day with no room, and counts past 32 bits, are counted in cells: the same counts all the same."""
    monkeypatch.setattr(ingest, "_OPEN_DAYS_MIN", room)
    monkeypatch.setattr(ingest, "_OPEN_DAYS_MAX", room)
    start = 29_400_000 - 29_400_000 % 1440
    lines = []
    for domain, minute, requests, per_request in rows:
        moment = _iso(start + minute)
        lines.append((f'{{"domain": "{domain}", "ts": "{moment[:-1]}:07Z", "status": 503}}' if per_request else
                      f'{{"domain": "{domain}", "minute": "{moment}", "requests": {requests}, "errors": 0}}'
                      ).encode())
    (counted, loaded, rejected), messages, cells = ingested(tmp_path, lines)
    assert (counted, loaded, rejected, messages) == (len(lines), len(lines), 0, [])
    assert cells == reference(lines)[2]


def test_counts_past_32_bits_in_one_minute(tmp_path):
    line = b'{"domain": "mail", "minute": "2026-11-10T01:00Z", "requests": 1000000000, "errors": 999999999}'
    lines = [line] * 7 + [line.replace(b"01:00Z", b"01:01Z")]
    same_as_reference(tmp_path, lines)
    assert ingested(tmp_path, lines)[2][("mail", 29_904_540)][:2] == (7 * 10**9, 7 * 999_999_999)


def test_more_domains_than_room_in_minute_order(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "_OPEN_DAYS_MIN", 1)
    monkeypatch.setattr(ingest, "_OPEN_DAYS_MAX", 1)
    lines = [f'{{"domain": "{d}", "minute": "{_iso(29_400_000 + m)}", "requests": {m + 1}, "errors": 0}}'.encode()
             for m in range(0, 3000, 7) for d in ("mail", "docs")]
    same_as_reference(tmp_path, lines)


def _iso(minute: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%MZ")


# --- the line reader ---------------------------------------------------------------------------------

def line_by_line(stream: io.BytesIO, limit: int, chunk_size: int) -> Iterator[bytes]:
    """bounded_lines as it was before lines were split a chunk at a time."""
    pending = b""
    skipping = False
    while chunk := stream.read(chunk_size):
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                break
            if skipping:
                skipping = False
            elif len(pending) + end - start > limit:
                yield LongLine((pending + chunk[start:start + limit])[:limit])
            else:
                yield pending + chunk[start:end + 1]
            pending = b""
            start = end + 1
        if not skipping:
            pending += chunk[start:]
            if len(pending) > limit:
                yield LongLine(pending[:limit])
                pending, skipping = b"", True
    if pending and not skipping:
        yield pending


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=80).map(lambda b: bytes(b"ab\n\r"[x % 4] for x in b)), st.integers(1, 10),
       st.integers(1, 16))
def test_the_chunked_reader_splits_as_the_line_by_line_one(data, limit, chunk_size):
    want = [(type(x), x) for x in line_by_line(io.BytesIO(data), limit, chunk_size)]
    got = [(type(x), x) for x in bounded_lines(io.BytesIO(data), limit, chunk_size=chunk_size)]
    assert got == want
