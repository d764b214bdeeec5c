"""`slamon ingest`: JSON Lines samples -> per-domain per-minute counts.

Three line forms (interfaces.md): a per-request status, a per-request outcome, a per-minute
aggregate. A bad line is reported with its number and skipped; the good ones are stored in one
transaction together with the source's digest, so the same input twice changes nothing and an
interrupted ingest leaves nothing half-written."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import BinaryIO, Callable, Iterable, Mapping

from monitor.storage import ERROR_OUTCOMES, OUTCOMES, Storage

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)
_OUTCOME_INDEX = {name: 2 + i for i, name in enumerate(OUTCOMES)}
_FLUSH_EVERY = 200_000  # domain-minutes held in memory before they are written


class LineError(ValueError):
    pass


def status_outcome(status: int) -> str:
    """HTTP status -> outcome class (regimes.md section 1)."""
    if 500 <= status <= 599:
        return "server_error"
    if 400 <= status <= 499:
        return "client_error"
    if 100 <= status <= 399:
        return "ok"
    raise LineError(f"status {status} is not an HTTP status (100-599)")


def parse_instant(text: object, key: str) -> datetime:
    if not isinstance(text, str):
        raise LineError(f"{key} must be an RFC 3339 string")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise LineError(f"{key} is not an RFC 3339 timestamp: {text!r}") from None
    if moment.tzinfo is None:
        raise LineError(f"{key} needs a UTC offset or Z: {text!r}")
    return moment


def minute_of_instant(moment: datetime) -> int:
    return (moment - EPOCH) // MINUTE


class MinuteAccumulator:
    """Counts per (domain, minute): [requests, errors, ok, client_error, server_error, timeout,
    connect_error, tls_error, dns_error, monitor_error]. `requests` counts what the error rate's
    denominator counts: everything except the monitor's own failures."""

    def __init__(self) -> None:
        self.cells: dict[tuple[str, int], list[int]] = {}

    def __len__(self) -> int:
        return len(self.cells)

    def _cell(self, domain: str, minute: int) -> list[int]:
        cell = self.cells.get((domain, minute))
        if cell is None:
            cell = self.cells[(domain, minute)] = [0] * (2 + len(OUTCOMES))
        return cell

    def add_outcome(self, domain: str, minute: int, outcome: str, count: int = 1) -> None:
        cell = self._cell(domain, minute)
        cell[_OUTCOME_INDEX[outcome]] += count
        if outcome != "monitor_error":
            cell[0] += count
            if outcome in ERROR_OUTCOMES:
                cell[1] += count

    def add_aggregate(self, domain: str, minute: int, requests: int, errors: int) -> None:
        cell = self._cell(domain, minute)
        cell[0] += requests
        cell[1] += errors

    def drain(self, domain_ids: Mapping[str, int]) -> list[tuple[int, ...]]:
        rows = [(domain_ids[d], m, *cell) for (d, m), cell in self.cells.items()]
        self.cells = {}
        return rows


@dataclass
class IngestSummary:
    name: str
    lines: int = 0
    loaded: int = 0
    rejected: int = 0
    domain_minutes: int = 0
    duplicate_of: dict | None = None
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        if self.duplicate_of:
            return (f"{self.name}: already ingested as {self.duplicate_of['name']} at "
                    f"{self.duplicate_of['ingested_at']}; nothing changed")
        return (f"{self.name}: {self.lines} lines, {self.loaded} loaded, {self.rejected} rejected, "
                f"{self.domain_minutes} domain-minutes")


def parse_sample(obj: object, known: Mapping[str, object], minute_cache: dict[str, int] | None = None
                 ) -> tuple[str, int, str | None, int, int]:
    """One sample in any of the three forms -> (domain, minute, outcome or None, requests, errors);
    a per-minute aggregate has outcome None. Raises LineError saying what is wrong."""
    if not isinstance(obj, dict):
        raise LineError("expected a JSON object")
    domain = obj.get("domain")
    if not isinstance(domain, str) or not domain:
        raise LineError("missing \"domain\"")
    if domain not in known:
        raise LineError(f"unknown domain {domain!r} (not in the config's [[domain]] list)")
    if "minute" in obj:
        text = obj["minute"]
        minute = minute_cache.get(text) if minute_cache is not None and isinstance(text, str) else None
        if minute is None:
            moment = parse_instant(text, "minute")
            if moment.second or moment.microsecond:
                raise LineError(f"minute must be a whole minute: {text!r}")
            minute = minute_of_instant(moment)
            if minute_cache is not None:
                minute_cache[text] = minute
        requests, errors = obj.get("requests"), obj.get("errors")
        if type(requests) is not int or type(errors) is not int:
            raise LineError("a minute aggregate needs integer \"requests\" and \"errors\"")
        if requests < 0 or errors < 0 or errors > requests:
            raise LineError(f"need 0 <= errors <= requests, got {errors} errors of {requests}")
        return domain, minute, None, requests, errors
    minute = minute_of_instant(parse_instant(obj.get("ts"), "ts"))
    if "status" in obj:
        status = obj["status"]
        if type(status) is not int:
            raise LineError("status must be an integer")
        return domain, minute, status_outcome(status), 0, 0
    if "outcome" in obj:
        outcome = obj["outcome"]
        if outcome not in _OUTCOME_INDEX:
            raise LineError(f"unknown outcome {outcome!r} (one of {', '.join(OUTCOMES)})")
        return domain, minute, outcome, 0, 0
    raise LineError("a sample needs \"status\" or \"outcome\" (with \"ts\"), or \"minute\" with requests/errors")


def _parse_line(raw: bytes, known: Mapping[str, object], minute_cache: dict[str, int], acc: MinuteAccumulator) -> None:
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        raise LineError(f"not JSON: {exc.args[0] if exc.args else exc}") from None
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
        final_digest = digest or running.hexdigest()
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
        return ingest_lines(storage, stream, name, known_domains, digest=digest, report=report)
    except _Duplicate as duplicate:
        return IngestSummary(name, duplicate_of=duplicate.args[0])
