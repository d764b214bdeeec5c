"""`slamon ingest`: JSON Lines samples -> per-domain per-minute counts.

Three line forms (interfaces.md): a per-request status, a per-request outcome, a per-minute
aggregate. A bad line is reported with its number and skipped; the good ones are stored in one
transaction together with the source's digest, so the same input twice changes nothing and an
interrupted ingest leaves nothing half-written.

Speed: the common line, a plain per-minute aggregate, takes a fast path (orjson, cached minutes,
counts added straight into per-(domain, day) columns stored a whole day at a time); every other
line is judged by the reference path (json + parse_sample), exactly as before."""
from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

import orjson

from monitor.minute_store import BLOCK_MINUTES, COUNT_COLUMNS
from monitor.samples import MAX_MINUTE_COUNT, LineError, MinuteAccumulator, parse_aggregate_minute, parse_sample
from monitor.storage import Storage
from reports.fields import MAX_DEPTH, nesting_depth

_FLUSH_EVERY = 200_000  # domain-minutes held in memory before they are written (reference path)
# (domain, day) columns held before they are written (fast path), 17 KB each: enough for every
# domain's day and half the next (so a file in time order writes each day once), within these bounds
_OPEN_DAYS_MIN, _OPEN_DAYS_MAX = 1024, 16_384
_MINUTE_CACHE = 1 << 20  # distinct minute strings remembered (a month has 44,640)
MAX_LINE_BYTES = 64 << 10  # a sample is a few hundred bytes; anything this long is not one
_CHUNK = 1 << 20


class LongLine(bytes):
    """The start of a line longer than MAX_LINE_BYTES (the rest was read and thrown away)."""


def bounded_lines(stream: BinaryIO, limit: int = MAX_LINE_BYTES, *, chunk_size: int = _CHUNK) -> Iterator[bytes]:
    """The stream's lines, reading at most `limit` bytes of any one line into memory: a longer
    line comes out as a LongLine holding its first bytes only."""
    for batch in _line_batches(stream, limit, chunk_size):
        yield from batch


def _line_batches(stream: BinaryIO, limit: int, chunk_size: int) -> Iterator[list[bytes]]:
    """bounded_lines a chunk at a time: the whole lines of each chunk are split off in C (a line
    that began in an earlier chunk, or runs over `limit`, is the only one handled in Python)."""
    pending = b""      # the start of a line that an earlier chunk did not finish
    skipping = False   # inside a long line already reported: drop everything up to its newline
    while chunk := stream.read(chunk_size):
        batch: list[bytes] = []
        start = 0
        if pending or skipping:
            end = chunk.find(b"\n")
            if end < 0:
                if not skipping:
                    pending += chunk
                    if len(pending) > limit:
                        batch.append(LongLine(pending[:limit]))
                        pending, skipping = b"", True
                    yield batch
                continue
            if skipping:
                skipping = False
            elif len(pending) + end > limit:
                batch.append(LongLine((pending + chunk[:limit])[:limit]))
            else:
                batch.append(pending + chunk[:end + 1])
            pending, start = b"", end + 1
        whole = chunk.rfind(b"\n") + 1   # chunk[start:whole] holds whole lines, chunk[whole:] begins the next
        if whole > start:
            body = chunk[start:whole] if start or whole < len(chunk) else chunk
            # bytes.splitlines also splits at a lone CR, which is no line break here
            lines = ([line + b"\n" for line in body.split(b"\n")[:-1]] if b"\r" in body
                     else body.splitlines(keepends=True))
            if max(map(len, lines)) > limit + 1:   # + 1: the newline
                lines = [line if len(line) <= limit + 1 else LongLine(line[:limit]) for line in lines]
            batch += lines
        tail = chunk[max(start, whole):]
        if len(tail) > limit:
            batch.append(LongLine(tail[:limit]))
            skipping = True
        else:
            pending = tail
        yield batch
    if pending and not skipping:
        yield [pending]


@dataclass
class IngestSummary:
    name: str
    lines: int = 0
    loaded: int = 0
    rejected: int = 0
    domain_minutes: int = 0
    duplicate_of: dict[str, str] | None = None
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        if self.duplicate_of:
            return (f"{self.name}: already ingested as {self.duplicate_of['name']} at "
                    f"{self.duplicate_of['ingested_at']}; nothing changed")
        return (f"{self.name}: {self.lines} lines, {self.loaded} loaded, {self.rejected} rejected, "
                f"{self.domain_minutes} domain-minutes")


def _parse_line(raw: bytes, known: Mapping[str, object], minute_cache: dict[str, int], acc: MinuteAccumulator) -> None:
    if isinstance(raw, LongLine):
        raise LineError(f"line longer than {MAX_LINE_BYTES} bytes: not a sample")
    try:
        obj = json.loads(raw)
    except RecursionError:
        raise LineError(f"nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise LineError(f"not JSON: {str(exc.args[0] if exc.args else exc)[:200]}") from None
    if nesting_depth(obj) > MAX_DEPTH:
        raise LineError(f"nests deeper than {MAX_DEPTH} levels")
    domain, minute, outcome, requests, errors = parse_sample(obj, known, minute_cache)
    if outcome is None:
        acc.add_aggregate(domain, minute, requests, errors)
    else:
        acc.add_outcome(domain, minute, outcome)


def file_digest(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


_REQ, _ERR, _SEEN = 0, BLOCK_MINUTES, 2 * BLOCK_MINUTES   # where a day's columns start in its array
_ZERO_DAY = [0] * BLOCK_MINUTES   # a list: storage reads columns minute by minute, and a list item is not re-boxed


_Day = tuple[list[int], list[list[int] | None]]
"""A day on its way to storage: minute seen flags, and one column per count column (None: all zero)."""


def _empty_day() -> _Day:
    return [0] * BLOCK_MINUTES, [None] * len(COUNT_COLUMNS)


class _DayColumns:
    """Fast-path counts not yet stored, per (domain, UTC day): one array of 32-bit counts per day
    holding the requests, the errors and a "line seen" flag of each of its 1,440 minutes, under an
    int key day * n + i (i the domain's position among the n known ones), so the fast path builds
    no tuple per line. A count that would pass 32 bits is refused (OverflowError) and that line
    goes to the cell accumulator instead, which holds Python ints."""

    def __init__(self, domain_ids: Mapping[str, int]) -> None:
        self.names = list(domain_ids)
        self.ids = [domain_ids[name] for name in self.names]
        self.position = {name: i for i, name in enumerate(self.names) if name}
        self.open: dict[int, array[int]] = {}
        self.slots: dict[str, tuple[int, int]] = {}   # minute text -> (day * n, offset in the day)
        self.limit = min(_OPEN_DAYS_MAX, max(_OPEN_DAYS_MIN, len(self.names) * 3 // 2))
        self._no_room_before: int | None = None   # no room can be made for a day up to this one

    def slot(self, text: str) -> tuple[int, int] | None:
        """The slot of a minute string, cached; None if it is not a valid one (the reference path
        then says why)."""
        try:
            day, offset = divmod(parse_aggregate_minute(text), BLOCK_MINUTES)
        except LineError:
            return None
        if len(self.slots) >= _MINUTE_CACHE:
            self.slots.clear()
        slot = self.slots[text] = (day * len(self.names), offset)
        return slot

    def minute(self, key: int, offset: int) -> int:
        return key // len(self.names) * BLOCK_MINUTES + offset

    def open_day(self, key: int, storage: Storage) -> tuple[array[int] | None, int]:
        """The columns of a day not yet open, opened, and the domain-minutes written to make room
        for them; None when there is no room. With `limit` days open, the days before the newest
        one (this one included) are stored if they are at least half of them - a file in time
        order then writes each day once. Otherwise (more domains than fit, in minute order) no
        room is made: that day's lines go to the cell accumulator until a later day comes."""
        written = 0
        if len(self.open) >= self.limit:
            n = len(self.names)
            day = key // n
            if self._no_room_before is not None and day <= self._no_room_before:
                return None, 0
            newest = max(day, max(self.open) // n)
            older = [k for k in self.open if k // n < newest]
            if not older or len(older) < self.limit // 2:
                self._no_room_before = newest
                return None, 0
            self._no_room_before = None
            written = self.store(storage, older)
        cols = self.open[key] = array("i", bytes(4 * 3 * BLOCK_MINUTES))
        return cols, written

    def store(self, storage: Storage, keys: Iterable[int], acc: MinuteAccumulator | None = None) -> int:
        """Write the open days of `keys`, and the cells of `acc` (folded into the same day's
        columns, then emptied), and forget them; returns the domain-minutes written."""
        n = len(self.names)
        folded: dict[int, _Day] = {}
        if acc is not None:
            for (domain, minute), cell in acc.cells.items():
                day, offset = divmod(minute, BLOCK_MINUTES)
                key = day * n + self.position[domain]
                seen, columns = folded.get(key) or folded.setdefault(key, _empty_day())
                seen[offset] = 1
                for c, count in enumerate(cell):
                    if count:
                        col = columns[c]
                        if col is None:
                            col = columns[c] = [0] * BLOCK_MINUTES
                        col[offset] += count
            acc.cells = {}
        written = 0
        for key in sorted(set(keys) | set(folded), key=lambda k: (k % n, k)):   # domain by domain, day by day
            cols = self.open.pop(key, None)
            if cols is None:
                seen, columns = folded.pop(key)
            else:
                seen = cols[_SEEN:].tolist()
                columns = [cols[_REQ:_ERR].tolist(), cols[_ERR:_SEEN].tolist()] + [None] * (len(COUNT_COLUMNS) - 2)
                if key in folded:   # the same day had lines on both paths
                    other_seen, other = folded.pop(key)
                    seen = [x | y for x, y in zip(seen, other_seen, strict=True)]
                    columns = [x if y is None else y if x is None else [a + b for a, b in zip(x, y, strict=True)]
                               for x, y in zip(columns, other, strict=True)]
            present = [offset for offset, flag in enumerate(seen) if flag]
            day, i = divmod(key, n)
            storage.add_day_columns(self.ids[i], day, present, [col or _ZERO_DAY for col in columns])
            written += len(present)
        return written


def ingest_lines(storage: Storage, lines: Iterable[bytes], name: str, known_domains: Mapping[str, object],
                 *, digest: str | None = None, report: Callable[[str], None] = lambda _: None,
                 max_reported: int = 100) -> IngestSummary:
    """Load lines in one transaction. With `digest` None the input's digest is computed while
    reading (standard input) and the transaction is rolled back if it was loaded before."""
    summary = IngestSummary(name)
    if digest is not None and (seen := storage.source_ingested(digest)):
        summary.duplicate_of = seen
        return summary
    running = hashlib.sha256() if digest is None else None
    days = _DayColumns(storage.domain_ids(known_domains))
    acc = MinuteAccumulator()   # the reference path's cells, folded into the days when they are stored
    minute_cache: dict[str, int] = {}
    stored_minutes = fast = 0
    position, slots, open_days, loads = days.position, days.slots, days.open, orjson.loads
    with storage.db.atomic():
        for number, raw in enumerate(lines, start=1):
            if running is not None:
                running.update(raw)
            # Fast path: a per-minute aggregate with exactly the keys domain, minute, requests and
            # errors - a known domain, a valid minute string, integer counts 0 <= errors <=
            # requests <= MAX_MINUTE_COUNT (so nothing nests) - is what parse_sample accepts with
            # no question asked, and is added straight into its day's columns. orjson's reading is
            # trusted for that alone: on anything else it can differ from json (integers beyond
            # 64 bits become floats; lone surrogates, NaN and a BOM are refused), so every other
            # line falls through to the reference path, which reads it again with json.
            if type(raw) is not LongLine:
                try:
                    obj = loads(raw)
                except orjson.JSONDecodeError:
                    obj = None
                if type(obj) is dict and len(obj) == 4:
                    domain, text = obj.get("domain"), obj.get("minute")
                    requests, errors = obj.get("requests"), obj.get("errors")
                    if (type(domain) is str and type(text) is str and type(requests) is int
                            and type(errors) is int and 0 <= errors <= requests <= MAX_MINUTE_COUNT
                            and (i := position.get(domain)) is not None
                            and (slot := slots.get(text) or days.slot(text)) is not None):
                        key, offset = slot[0] + i, slot[1]
                        cols = open_days.get(key)
                        if cols is None:
                            cols, written = days.open_day(key, storage)
                            stored_minutes += written
                        if cols is not None:
                            try:
                                cols[offset] += requests   # _REQ is 0; errors <= requests: only this can pass 32 bits
                            except OverflowError:
                                cols = None
                        if cols is None:   # no room for another day, or a count past 32 bits: count it in cells
                            acc.add_aggregate(domain, days.minute(key, offset), requests, errors)
                        else:
                            cols[_ERR + offset] += errors
                            cols[_SEEN + offset] = 1
                        fast += 1
                        continue
            # Reference path: every other line, judged exactly as parse_sample says.
            if not raw.strip():
                continue
            summary.lines += 1
            try:
                _parse_line(raw, known_domains, minute_cache, acc)
                summary.loaded += 1
            except LineError as exc:
                summary.rejected += 1
                if summary.rejected <= max_reported:
                    report(f"{name}:{number}: {exc}")
                elif summary.rejected == max_reported + 1:
                    report(f"{name}: more rejected lines not shown (see the summary)")
            if len(acc) >= _FLUSH_EVERY:
                stored_minutes += days.store(storage, (), acc)
            if len(minute_cache) >= _MINUTE_CACHE:
                minute_cache.clear()
        stored_minutes += days.store(storage, list(open_days), acc)
        summary.lines += fast
        summary.loaded += fast
        summary.domain_minutes = stored_minutes
        final_digest = running.hexdigest() if running is not None else digest
        assert final_digest is not None  # either given or computed while reading
        seen = storage.source_ingested(final_digest)
        if seen:
            raise _Duplicate(seen)
        storage.record_source(final_digest, name, summary.lines, summary.loaded, summary.rejected,
                              summary.domain_minutes)
    return summary


class _Duplicate(Exception):
    """Raised inside the transaction to roll back a repeated standard-input ingest."""


def ingest_source(storage: Storage, stream: BinaryIO, name: str, known_domains: Mapping[str, object], *,
                  seekable: bool, report: Callable[[str], None]) -> IngestSummary:
    digest = None
    if seekable:
        digest = file_digest(stream)
        stream.seek(0)
    try:
        return ingest_lines(storage, bounded_lines(stream), name, known_domains, digest=digest, report=report)
    except _Duplicate as duplicate:
        return IngestSummary(name, duplicate_of=duplicate.args[0])
