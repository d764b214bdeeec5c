"""Field parsers shared by config files, regime tables, evidence and API payloads: money,
percentages, durations, timestamps, and a reader for one table of such fields.

Every parser takes (value, key path, problems) and returns None after recording a problem, so
one pass reports every error instead of stopping at the first. Pure: no I/O, no clock."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, overload

KeyPath = tuple[str | int, ...]
"""Where a value sits in a nested document: ("contract", 0, "regime")."""


def path_str(path: KeyPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


# How deeply any input (JSON body, ingest line, TOML file) may nest lists and tables: far more
# than any legitimate document needs, far less than what exhausts the parser's recursion.
MAX_DEPTH = 16


def nesting_depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deeply parsed data nests lists and dicts, walked without recursion; stops counting
    past `limit`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


class Problems:
    """Collects (key path, message) pairs; line numbers are attached by the config loader."""

    def __init__(self) -> None:
        self.items: list[tuple[KeyPath, str]] = []

    def add(self, path: KeyPath, message: str) -> None:
        self.items.append((tuple(path), message))

    def __bool__(self) -> bool:
        return bool(self.items)


_DECIMAL_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def parse_decimal_text(text: str) -> Decimal | None:
    text = text.strip().replace(",", "").replace("_", "")
    if not _DECIMAL_RE.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - regex already guarantees the form
        return None


def money(value: Any, path: KeyPath, problems: Problems) -> Decimal | None:
    """Money is a string or an integer, never a float: 0.1 has no exact binary form."""
    if isinstance(value, bool):
        problems.add(path, "money must be a string or an integer, not a boolean")
        return None
    if isinstance(value, float):
        problems.add(path, f"money must be written as a string or an integer, not a float "
                           f"(write \"{value}\"): floats cannot hold decimal amounts exactly")
        return None
    amount: Decimal | None
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, str):
        amount = parse_decimal_text(value)
        if amount is None:
            problems.add(path, f"not an amount: {value!r}")
            return None
    else:
        problems.add(path, f"money must be a string or an integer, not {type(value).__name__}")
        return None
    if amount < 0:
        problems.add(path, "must not be negative")
        return None
    return amount


def percent(value: Any, path: KeyPath, problems: Problems, *, allow_suffix: bool = True) -> Fraction | None:
    """A percentage such as "99.95" or "5%" as an exact Fraction of 100 (99.95 -> 1999/20)."""
    if isinstance(value, float) or isinstance(value, bool):
        problems.add(path, "percentages must be strings (\"99.9\") or integers, not floats")
        return None
    if isinstance(value, int):
        return Fraction(value)
    if not isinstance(value, str):
        problems.add(path, f"expected a percentage string, got {type(value).__name__}")
        return None
    text = value.strip()
    if text.endswith("%"):
        if not allow_suffix:
            problems.add(path, "write the number without %")
            return None
        text = text[:-1]
    number = parse_decimal_text(text)
    if number is None:
        problems.add(path, f"not a percentage: {value!r}")
        return None
    return Fraction(number)


def ratio_from_percent(value: Any, path: KeyPath, problems: Problems) -> Fraction | None:
    """"5%" -> 1/20. Bare numbers are read as percentages too."""
    pct = percent(value, path, problems)
    if pct is None:
        return None
    if not 0 <= pct <= 100:
        problems.add(path, "must be between 0% and 100%")
        return None
    return pct / 100


_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_DURATION_UNITS = {"ms": Fraction(1, 1000), "s": Fraction(1), "m": Fraction(60), "h": Fraction(3600)}


def duration(value: Any, path: KeyPath, problems: Problems) -> float | None:
    """"2s", "500ms", "1m", "1h" -> seconds. Durations are scheduling data, not money: float is fine."""
    if isinstance(value, str):
        match = _DURATION_RE.match(value.strip())
        if match:
            seconds = Fraction(match.group(1)) * _DURATION_UNITS[match.group(2)]
            if seconds <= 0:
                problems.add(path, "must be longer than zero")
                return None
            return float(seconds)
    problems.add(path, f"not a duration: {value!r} (write e.g. \"2s\", \"500ms\", \"1m\")")
    return None


# The years any instant or month may fall in: wide for any contract, narrow enough that adding a
# month or a time zone never leaves what datetime can hold.
FIRST_YEAR, LAST_YEAR = 1900, 9000


def timestamp(value: Any, path: KeyPath, problems: Problems) -> datetime | None:
    """An instant with an explicit offset: a TOML offset date-time or an RFC 3339 string."""
    if isinstance(value, str):
        if len(value) > 64:
            problems.add(path, "not an RFC 3339 timestamp: longer than 64 characters")
            return None
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            problems.add(path, f"not an RFC 3339 timestamp: {value!r}")
            return None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            problems.add(path, "needs a UTC offset (e.g. 2026-11-15T02:00:00+09:00 or ...Z)")
            return None
        if not FIRST_YEAR <= value.year <= LAST_YEAR:
            problems.add(path, f"must be within the years {FIRST_YEAR}-{LAST_YEAR}, got {value.isoformat()}")
            return None
        return value
    if isinstance(value, date):
        problems.add(path, "needs a time and a UTC offset, not just a date")
        return None
    problems.add(path, f"expected a timestamp, got {type(value).__name__}")
    return None


def calendar_date(value: Any, path: KeyPath, problems: Problems) -> date | None:
    if isinstance(value, datetime):
        problems.add(path, "expected a date (YYYY-MM-DD), not a date-time")
        return None
    if isinstance(value, str) and len(value) <= 32:
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            pass
    if isinstance(value, date):
        if not FIRST_YEAR <= value.year <= LAST_YEAR:
            problems.add(path, f"must be within the years {FIRST_YEAR}-{LAST_YEAR}, got {value.isoformat()}")
            return None
        return value
    problems.add(path, f"expected a date (YYYY-MM-DD), got {value!r}")
    return None


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def epoch_seconds(moment: datetime) -> Fraction:
    """Exact seconds since the epoch (microseconds kept) for minute arithmetic."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return Fraction(delta.days * 86400 + delta.seconds) + Fraction(delta.microseconds, 1_000_000)


class TableReader:
    """Reads one TOML table, recording unknown keys and wrong types as problems."""

    def __init__(self, data: Any, path: KeyPath, problems: Problems, *, what: str = "table"):
        self.path = tuple(path)
        self.problems = problems
        if not isinstance(data, dict):
            problems.add(self.path, f"expected a {what}, got {type(data).__name__}")
            data = {}
        self.data: dict[str, Any] = data
        self.seen: set[str] = set()

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        return self.data.get(key, default)

    def key(self, key: str) -> KeyPath:
        return self.path + (key,)

    @overload
    def text(self, key: str, default: str, *, required: bool = False,
             choices: tuple[str, ...] | None = None) -> str: ...

    @overload
    def text(self, key: str, default: None = None, *, required: bool = False,
             choices: tuple[str, ...] | None = None) -> str | None: ...

    def text(self, key: str, default: str | None = None, *, required: bool = False,
             choices: tuple[str, ...] | None = None) -> str | None:
        """The string at `key`; `default` when it is absent or wrong (a problem is recorded
        when it is wrong, or absent and `required`)."""
        self.seen.add(key)
        if key not in self.data:
            if required:
                self.problems.add(self.key(key), "is required")
            return default
        value = self.data[key]
        if not isinstance(value, str) or (required and not value.strip()):
            self.problems.add(self.key(key), f"expected a non-empty string, got {value!r}")
            return default
        if choices is not None and value not in choices:
            self.problems.add(self.key(key), f"must be one of {', '.join(choices)}; got {value!r}")
            return default
        return value

    @overload
    def integer(self, key: str, default: int, *, required: bool = False,
                minimum: int | None = None, maximum: int | None = None) -> int: ...

    @overload
    def integer(self, key: str, default: None = None, *, required: bool = False,
                minimum: int | None = None, maximum: int | None = None) -> int | None: ...

    def integer(self, key: str, default: int | None = None, *, required: bool = False,
                minimum: int | None = None, maximum: int | None = None) -> int | None:
        self.seen.add(key)
        if key not in self.data:
            if required:
                self.problems.add(self.key(key), "is required")
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.add(self.key(key), f"expected an integer, got {value!r}")
            return default
        if minimum is not None and value < minimum:
            self.problems.add(self.key(key), f"must be at least {minimum}")
            return default
        if maximum is not None and value > maximum:
            self.problems.add(self.key(key), f"must be at most {maximum}")
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        self.seen.add(key)
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self.problems.add(self.key(key), f"expected true or false, got {value!r}")
            return default
        return value

    def texts(self, key: str, *, required: bool = False) -> tuple[str, ...]:
        self.seen.add(key)
        if key not in self.data:
            if required:
                self.problems.add(self.key(key), "is required")
            return ()
        value = self.data[key]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problems.add(self.key(key), "expected a list of non-empty strings")
            return ()
        return tuple(value)

    def tables(self, key: str) -> list[tuple[KeyPath, Any]]:
        self.seen.add(key)
        value = self.data.get(key, [])
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list):
            self.problems.add(self.key(key), "expected an array of tables")
            return []
        return [(self.key(key) + (i,), item) for i, item in enumerate(value)]

    def finish(self) -> None:
        """Unknown keys are errors: a misspelt key silently ignored is a wrong invoice later."""
        for key in self.data:
            if key not in self.seen:
                self.problems.add(self.key(key), "unknown key")
