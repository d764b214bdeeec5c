"""The compact minute store's unit: one UTC day of one domain (and vantage) as a block.

A block holds, for each of the day's 1,440 minutes, whether anything is stored, whether the
daemon has closed it (and whether only in part), and the counts (requests, errors, one per
outcome class) as columns. It is stored as one compressed blob beside a summary that answers
"was every minute of this day up under (min_samples, error threshold)?" without opening it:

    every minute present, min_requests >= min_samples, max_errors/max_requests <= threshold

so a report opens only the days that have something to say (an error, a thin minute, a gap),
and its cost follows the interesting minutes rather than all of them. Clean days cost a few
hundred bytes; a day of varying traffic a few kilobytes.

Inside an opened day, a report looks only at the hours that can hold something: each block
carries per hour the fewest requests and the most errors of a minute, and an hour whose fewest
requests are enough and whose most errors are within the threshold even against those fewest
requests has every minute up (the hours are computed from the columns when a block of the first
format, which did not store them, is opened).

Blob formats (zlib-compressed; the first byte says which; both are read):

    1   format, column mask (2 bytes LE), present / probed / partial bitmaps (180 bytes each),
        then each column of the mask as 1,440 native signed 64-bit integers
    2   format, column mask, the three bitmaps, then the hours and each column of the mask as
        packed integers: a width byte (1, 2, 4: unsigned; 8: signed) and the values' bytes
        little-endian in byte planes (every value's lowest byte, then every value's next one...).
        The hours are 48 packed integers: each hour's fewest requests, then each hour's most
        errors. Small counts thus take one or two bytes a minute, and the planes compress well.

Pure: bytes in, bytes out, no database (monitor/storage.py stores the blobs)."""
from __future__ import annotations

import sys
import zlib
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

from probes import OUTCOMES

BLOCK_MINUTES = 1440
HOUR_MINUTES = 60
DAY_HOURS = BLOCK_MINUTES // HOUR_MINUTES
COUNT_COLUMNS: tuple[str, ...] = ("requests", "errors") + tuple(OUTCOMES)
_BITMAP_BYTES = BLOCK_MINUTES // 8
_FORMAT = 2
_FORMAT_1 = 1
_ZERO = bytes(BLOCK_MINUTES * 8)
_FULL = b"\xff" * _BITMAP_BYTES
# packed integers: width in bytes -> array typecode (unsigned below 8 bytes, signed at 8)
_TYPECODES = {1: "B", 2: "H", 4: next(t for t in "IL" if array(t).itemsize == 4), 8: "q"}
_LITTLE = sys.byteorder == "little"


def day_of(minute: int) -> int:
    return minute // BLOCK_MINUTES


def _bit(bitmap: bytearray, i: int) -> bool:
    return bool(bitmap[i >> 3] & (1 << (i & 7)))


def _set(bitmap: bytearray, i: int, on: bool) -> None:
    if on:
        bitmap[i >> 3] |= 1 << (i & 7)
    else:
        bitmap[i >> 3] &= ~(1 << (i & 7)) & 0xFF


def _width(values: array[int]) -> int:
    lo, hi = min(values), max(values)
    if lo >= 0:
        for width in (1, 2, 4):
            if hi < 1 << (8 * width):
                return width
    return 8


def _pack(values: array[int]) -> bytes:
    """A width byte and the values' little-endian bytes as planes."""
    width = _width(values)
    packed = array(_TYPECODES[width], values) if values.typecode != _TYPECODES[width] else values
    if not _LITTLE and width > 1:
        packed = array(packed.typecode, packed)
        packed.byteswap()
    raw = packed.tobytes()
    return bytes([width]) + b"".join(raw[k::width] for k in range(width))


def _unpack(raw: bytes, at: int, count: int) -> tuple[array[int], int]:
    """The `count` packed integers at `at`, and where the next thing starts."""
    width = raw[at]
    at += 1
    end = at + count * width
    if width == 1:
        planes: bytes | bytearray = raw[at:end]
    else:
        planes = bytearray(count * width)
        for k in range(width):
            planes[k::width] = raw[at + k * count:at + (k + 1) * count]
    values = array(_TYPECODES[width])
    values.frombytes(planes)
    if not _LITTLE and width > 1:
        values.byteswap()
    return values, end


@dataclass(frozen=True)
class BlockSummary:
    """What a report needs to know to skip a block: stored minutes, the fewest requests of a
    stored minute, and the worst error ratio of one (as max_err_num / max_err_den, 0/1 if none)."""

    present: int
    first_minute: int | None
    min_requests: int
    max_err_num: int
    max_err_den: int

    def all_up(self, min_samples: int, threshold: Fraction) -> bool:
        """Every minute of the day stored and up under these thresholds."""
        return (self.present == BLOCK_MINUTES and self.min_requests >= min_samples
                and self.max_err_num * threshold.denominator <= threshold.numerator * self.max_err_den)


class DayBlock:
    """One day of one series, decoded. Counts are signed 64-bit (what SQLite and PostgreSQL
    integers hold): adding past that raises OverflowError, which storage quarantines. A decoded
    column may be held in a narrower array; it is widened before anything is added to it."""

    __slots__ = ("day", "present", "probed", "partial", "_columns", "_raw", "_hours")

    def __init__(self, day: int) -> None:
        self.day = day
        self.present = bytearray(_BITMAP_BYTES)
        self.probed = bytearray(_BITMAP_BYTES)    # closed by a daemon (at most once, unless partial)
        self.partial = bytearray(_BITMAP_BYTES)   # closed in part (cut by shutdown)
        self._columns: list[array[int] | None] = [None] * len(COUNT_COLUMNS)   # None: all zero
        # decoded lazily: (raw bytes, format, where each column of the mask starts)
        self._raw: tuple[bytes, int, dict[int, int]] | None = None
        self._hours: tuple[array[int], array[int]] | None = None   # per hour: fewest requests, most errors

    # --- columns --------------------------------------------------------------------------------

    def column(self, c: int) -> array[int] | None:
        """Column c (None: all zero), decoded on first use."""
        if self._raw is not None and c in self._raw[2]:
            raw, fmt, starts = self._raw
            if fmt == _FORMAT_1:
                col = array("q")
                col.frombytes(raw[starts[c]:starts[c] + BLOCK_MINUTES * 8])
            else:
                col = _unpack(raw, starts[c], BLOCK_MINUTES)[0]
            self._columns[c] = col
            del starts[c]
            if not starts:
                self._raw = None
        return self._columns[c]

    @property
    def columns(self) -> list[array[int] | None]:
        for c in range(len(COUNT_COLUMNS)):
            self.column(c)
        return self._columns

    def _writable(self, c: int) -> array[int]:
        """Column c as signed 64-bit integers, created (all zero) if need be."""
        col = self.column(c)
        if col is None:
            col = self._columns[c] = array("q", _ZERO)
        elif col.typecode != "q":
            col = self._columns[c] = array("q", col)
        self._hours = None
        return col

    def hours(self) -> tuple[array[int], array[int]]:
        """Per hour of the day: the fewest requests and the most errors of a minute (an absent
        minute counts as 0 requests, 0 errors)."""
        if self._hours is None:
            req, err = self.column(0), self.column(1)
            zero = array("q", bytes(8 * DAY_HOURS))
            self._hours = (
                array("q", (min(req[h:h + HOUR_MINUTES]) for h in range(0, BLOCK_MINUTES, HOUR_MINUTES)))
                if req is not None else zero,
                array("q", (max(err[h:h + HOUR_MINUTES]) for h in range(0, BLOCK_MINUTES, HOUR_MINUTES)))
                if err is not None else zero)
        return self._hours

    # --- minutes ------------------------------------------------------------------------------

    def offset(self, minute: int) -> int:
        i = minute - self.day * BLOCK_MINUTES
        if not 0 <= i < BLOCK_MINUTES:
            raise ValueError(f"minute {minute} is not in day {self.day}")
        return i

    def has(self, i: int) -> bool:
        return _bit(self.present, i)

    def is_probed(self, i: int) -> bool:
        return _bit(self.probed, i)

    def is_partial(self, i: int) -> bool:
        return _bit(self.partial, i)

    def mark_probed(self, i: int, partial: bool) -> None:
        _set(self.probed, i, True)
        _set(self.partial, i, partial)

    def counts(self, i: int) -> tuple[int, ...]:
        return tuple(col[i] if col is not None else 0 for col in self.columns)

    def requests_errors(self, i: int) -> tuple[int, int]:
        req, err = self.column(0), self.column(1)
        return (req[i] if req is not None else 0, err[i] if err is not None else 0)

    def add(self, i: int, counts: Sequence[int]) -> None:
        """Add a minute's counts (requests, errors, then one per outcome) to what is stored."""
        _set(self.present, i, True)
        for c, value in enumerate(counts):
            if value:
                col = self._writable(c)
                col[i] += value  # OverflowError beyond signed 64 bits: nothing was changed

    def add_columns(self, present: Sequence[int], columns: Sequence[Sequence[int]]) -> None:
        """Add a whole day's counts at once: `present` lists the offsets stored, `columns` one
        sequence of 1,440 counts per count column (counts at other offsets are ignored). The
        same as adding minute by minute; on OverflowError nothing was changed."""
        if not present:
            return
        full = len(present) == BLOCK_MINUTES and len(set(present)) == BLOCK_MINUTES
        merged: list[tuple[int, array[int]]] = []
        for c, values in enumerate(columns):
            if full:
                given = array("q", values)
            else:
                given = array("q", _ZERO)
                for i in present:
                    given[i] += values[i]
            if not any(given):
                continue
            col = self.column(c)
            if col is not None:
                given = array("q", map(int.__add__, col, given))
            merged.append((c, given))
        for c, col in merged:
            self._columns[c] = col
        if merged:
            self._hours = None
        if full:
            self.present[:] = _FULL
        else:
            for i in present:
                _set(self.present, i, True)

    def clear_before(self, i: int) -> None:
        """Forget the minutes before offset i (retention)."""
        for j in range(i):
            _set(self.present, j, False)
            _set(self.probed, j, False)
            _set(self.partial, j, False)
        for c, col in enumerate(self.columns):
            if col is not None:
                self._writable(c)[:i] = array("q", bytes(8 * i))

    def present_count(self) -> int:
        return int.from_bytes(self.present, "little").bit_count()

    def present_offsets(self) -> Iterator[int]:
        for byte_index, byte in enumerate(self.present):
            if byte:
                for bit in range(8):
                    if byte & (1 << bit):
                        yield byte_index * 8 + bit

    def missing_offsets(self, lo: int = 0, hi: int = BLOCK_MINUTES) -> list[int]:
        present = self.present
        missing: list[int] = []
        for b in range(lo >> 3, (hi + 7) >> 3):
            byte = present[b]
            if byte == 0xFF:
                continue
            first, last = max(lo, b << 3), min(hi, (b << 3) + 8)
            if not byte:
                missing.extend(range(first, last))
            else:
                missing.extend(i for i in range(first, last) if not byte & (1 << (i & 7)))
        return missing

    def unhealthy(self, lo: int, hi: int, min_samples: int, threshold: Fraction) -> Iterator[tuple[int, int, int]]:
        """(offset, requests, errors) of the stored minutes in [lo, hi) that are not up. Hours
        whose fewest requests and most errors say every minute is up are not looked into."""
        num, den = threshold.numerator, threshold.denominator
        req = self.column(0) or array("q", _ZERO)
        err = self.column(1) or array("q", _ZERO)
        fewest, most = self.hours()
        present = self.present
        for h in range(lo // HOUR_MINUTES, (hi + HOUR_MINUTES - 1) // HOUR_MINUTES):
            least = fewest[h]
            if least >= min_samples and most[h] * den <= num * least:
                continue  # every minute of the hour has enough requests and few enough errors
            for i in range(max(lo, h * HOUR_MINUTES), min(hi, (h + 1) * HOUR_MINUTES)):
                if present[i >> 3] & (1 << (i & 7)):
                    r, e = req[i], err[i]
                    if r < min_samples or e * den > num * r:
                        yield i, r, e

    # --- summary and bytes ---------------------------------------------------------------------

    def summary(self) -> BlockSummary:
        count = self.present_count()
        if not count:
            return BlockSummary(0, None, 0, 0, 1)
        full = count == BLOCK_MINUTES
        first = next(self.present_offsets())
        req, err = self.column(0), self.column(1)
        if req is None:
            min_requests = 0
        elif full:
            min_requests = min(req)
        else:
            min_requests = min(req[i] for i in self.present_offsets())
        worst_num, worst_den = 0, 1
        if err is not None and req is not None:
            present = self.present
            most = self.hours()[1]
            for h in range(DAY_HOURS):
                if not most[h]:
                    continue  # no error in this hour
                for i in range(h * HOUR_MINUTES, (h + 1) * HOUR_MINUTES):
                    e = err[i]
                    if e and e * worst_den > worst_num * req[i] and (full or present[i >> 3] & (1 << (i & 7))):
                        worst_num, worst_den = e, req[i]
        return BlockSummary(count, self.day * BLOCK_MINUTES + first, min_requests, worst_num, worst_den)

    def encode(self) -> bytes:
        columns = self.columns
        mask = sum(1 << c for c, col in enumerate(columns) if col is not None)
        fewest, most = self.hours()
        parts = [bytes([_FORMAT]), mask.to_bytes(2, "little"), bytes(self.present), bytes(self.probed),
                 bytes(self.partial), _pack(fewest + most)]
        parts += [_pack(col) for col in columns if col is not None]
        return zlib.compress(b"".join(parts), 1)

    @classmethod
    def decode(cls, day: int, blob: bytes) -> DayBlock:
        raw = zlib.decompress(blob)
        fmt = raw[0]
        if fmt not in (_FORMAT, _FORMAT_1):
            raise ValueError(f"minute block of day {day}: unknown format {fmt}")
        block = cls(day)
        mask = int.from_bytes(raw[1:3], "little")
        at = 3
        block.present = bytearray(raw[at:at + _BITMAP_BYTES])
        block.probed = bytearray(raw[at + _BITMAP_BYTES:at + 2 * _BITMAP_BYTES])
        block.partial = bytearray(raw[at + 2 * _BITMAP_BYTES:at + 3 * _BITMAP_BYTES])
        at += 3 * _BITMAP_BYTES
        if fmt == _FORMAT:
            hours, at = _unpack(raw, at, 2 * DAY_HOURS)
            block._hours = (hours[:DAY_HOURS], hours[DAY_HOURS:])
        starts = {}
        for c in range(len(COUNT_COLUMNS)):
            if mask & (1 << c):
                starts[c] = at
                at += BLOCK_MINUTES * 8 if fmt == _FORMAT_1 else 1 + BLOCK_MINUTES * raw[at]
        if starts:
            block._raw = (raw, fmt, starts)
        return block
