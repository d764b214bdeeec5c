"""Samples: one customer-facing request and its outcome, from a probe, a collector's push or an
access-log line. Their three JSON forms (a per-request status, a per-request outcome, a
per-minute aggregate) are parsed here, and counted per (domain, minute) by MinuteAccumulator.
No storage: the daemon's open minutes and `slamon ingest` both build on this."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from probes import OUTCOME_FAMILY, OUTCOMES
from reports.fields import FIRST_YEAR, LAST_YEAR

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A count in one sample: far above any one minute of one domain (10^9 requests a minute is 16
# million a second) and far below what a SQLite integer holds after a month of adding.
MAX_MINUTE_COUNT = 10**9
MAX_TIMESTAMP_CHARS = 64
MINUTE = timedelta(minutes=1)
ERROR_OUTCOMES = frozenset(o for o in OUTCOMES if OUTCOME_FAMILY[o] == "server_error")
_OUTCOME_INDEX = {name: 2 + i for i, name in enumerate(OUTCOMES)}

def outcome_index(outcome: str) -> int:
    """Where an outcome's count is in a Cell."""
    return _OUTCOME_INDEX[outcome]


Cell = list[int]
"""Counts of one (domain, minute): [requests, errors, then one per outcome in OUTCOMES order]."""


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
    if len(text) > MAX_TIMESTAMP_CHARS:
        raise LineError(f"{key} is longer than {MAX_TIMESTAMP_CHARS} characters")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise LineError(f"{key} is not an RFC 3339 timestamp: {text!r}") from None
    if moment.tzinfo is None:
        raise LineError(f"{key} needs a UTC offset or Z: {text!r}")
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise LineError(f"{key} must be within the years {FIRST_YEAR}-{LAST_YEAR}: {text!r}")
    return moment


def minute_of_instant(moment: datetime) -> int:
    return (moment - EPOCH) // MINUTE


def parse_aggregate_minute(text: object) -> int:
    """A per-minute aggregate's "minute" (an RFC 3339 whole minute) -> its epoch minute."""
    moment = parse_instant(text, "minute")
    if moment.second or moment.microsecond:
        raise LineError(f"minute must be a whole minute: {text!r}")
    return minute_of_instant(moment)


class MinuteAccumulator:
    """Counts per (domain, minute): [requests, errors, ok, client_error, server_error, timeout,
    connect_error, tls_error, dns_error, monitor_error]. `requests` counts what the error rate's
    denominator counts: everything except the monitor's own failures."""

    def __init__(self) -> None:
        self.cells: dict[tuple[str, int], Cell] = {}

    def __len__(self) -> int:
        return len(self.cells)

    def _cell(self, domain: str, minute: int) -> Cell:
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
        """Every cell as a storage row (domain id, minute, *counts); the accumulator is emptied."""
        rows = [(domain_ids[d], m, *cell) for (d, m), cell in self.cells.items()]
        self.cells = {}
        return rows


def parse_sample(obj: object, known: Mapping[str, object], minute_cache: dict[str, int] | None = None
                 ) -> tuple[str, int, str | None, int, int]:
    """One sample in any of the three forms -> (domain, minute, outcome or None, requests, errors);
    a per-minute aggregate has outcome None. Raises LineError saying what is wrong."""
    if not isinstance(obj, dict):
        raise LineError("expected a JSON object")
    domain = obj.get("domain")
    if not isinstance(domain, str) or not domain:
        raise LineError("missing \"domain\" (a string)")
    if domain not in known:
        raise LineError(f"unknown domain {domain[:100]!r} (not in the config's [[domain]] list)")
    if "minute" in obj:
        text = obj["minute"]
        minute = minute_cache.get(text) if minute_cache is not None and isinstance(text, str) else None
        if minute is None:
            minute = parse_aggregate_minute(text)
            if minute_cache is not None:
                minute_cache[text] = minute
        requests, errors = obj.get("requests"), obj.get("errors")
        if type(requests) is not int or type(errors) is not int:
            raise LineError("a minute aggregate needs integer \"requests\" and \"errors\"")
        if not 0 <= requests <= MAX_MINUTE_COUNT or not 0 <= errors <= MAX_MINUTE_COUNT:
            raise LineError(f"requests and errors must be from 0 to {MAX_MINUTE_COUNT} for one minute of one "
                            f"domain")
        if errors > requests:
            raise LineError(f"need 0 <= errors <= requests, got {errors} errors of {requests}")
        return domain, minute, None, requests, errors
    minute = minute_of_instant(parse_instant(obj.get("ts"), "ts"))
    if "status" in obj:
        status = obj["status"]
        if type(status) is not int:
            raise LineError("status must be an integer")
        if not 100 <= status <= 599:
            raise LineError(f"status {status if abs(status) < 10**6 else '(huge)'} is not an HTTP status (100-599)")
        return domain, minute, status_outcome(status), 0, 0
    if "outcome" in obj:
        outcome = obj["outcome"]
        if not isinstance(outcome, str) or outcome not in _OUTCOME_INDEX:
            shown = repr(outcome[:40]) if isinstance(outcome, str) else f"of type {type(outcome).__name__}"
            raise LineError(f"unknown outcome {shown} (one of {', '.join(OUTCOMES)})")
        return domain, minute, outcome, 0, 0
    raise LineError("a sample needs \"status\" or \"outcome\" (with \"ts\"), or \"minute\" with requests/errors")
