"""`slamon ingest`: JSON Lines samples -> per-domain per-minute counts.

Three line forms (interfaces.md): a per-request status, a per-request outcome, a per-minute
aggregate. A bad line is reported with its number and skipped; the good ones are stored in one
transaction together with the source's digest, so the same input twice changes nothing and an
interrupted ingest leaves nothing half-written."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

from monitor.samples import LineError, MinuteAccumulator, parse_sample
from monitor.storage import Storage
from reports.fields import MAX_DEPTH, nesting_depth

_FLUSH_EVERY = 200_000  # domain-minutes held in memory before they are written
MAX_LINE_BYTES = 64 << 10  # a sample is a few hundred bytes; anything this long is not one
_CHUNK = 1 << 20


class LongLine(bytes):
    """The start of a line longer than MAX_LINE_BYTES (the rest was read and thrown away)."""


def bounded_lines(stream: BinaryIO, limit: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """The stream's lines, reading at most `limit` bytes of any one line into memory: a longer
    line comes out as a LongLine holding its first bytes only."""
    pending = b""
    skipping = False
    while chunk := stream.read(_CHUNK):
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
    domain_ids = storage.domain_ids(known_domains)
    acc = MinuteAccumulator()
    minute_cache: dict[str, int] = {}
    stored_minutes = 0
    with storage.db.atomic():
        for number, raw in enumerate(lines, start=1):
            if running is not None:
                running.update(raw)
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
                stored_minutes += len(acc)
                storage.add_minute_counts(acc.drain(domain_ids))
        stored_minutes += len(acc)
        storage.add_minute_counts(acc.drain(domain_ids))
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
