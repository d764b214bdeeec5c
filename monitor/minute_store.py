"""The compact minute store's unit: one UTC day of one domain (and vantage) as a block.

A block holds, for each of the day's 1,440 minutes, whether anything is stored, whether the
daemon has closed it (and whether only in part), and the counts (requests, errors, one per
outcome class) as columns. It is stored as one compressed blob beside a summary that answers
"was every minute of this day up under (min_samples, error threshold)?" without opening it:

    every minute present, min_requests >= min_samples, max_errors/max_requests <= threshold

so a report opens only the days that have something to say (an error, a thin minute, a gap),
and its cost follows the interesting minutes rather than all of them. Clean days cost a few
hundred bytes; a day of varying traffic a few kilobytes.

Pure: bytes in, bytes out, no database (monitor/storage.py stores the blobs)."""
from __future__ import annotations

import zlib
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

from probes import OUTCOMES

BLOCK_MINUTES = 1440
COUNT_COLUMNS: tuple[str, ...] = ("requests", "errors") + tuple(OUTCOMES)
_BITMAP_BYTES = BLOCK_MINUTES // 8
_FORMAT = 1
_ZERO = bytes(BLOCK_MINUTES * 8)


def day_of(minute: int) -> int:
    return minute // BLOCK_MINUTES


def _bit(bitmap: bytearray, i: int) -> bool:
    return bool(bitmap[i >> 3] & (1 << (i & 7)))


def _set(bitmap: bytearray, i: int, on: bool) -> None:
    if on:
        bitmap[i >> 3] |= 1 << (i & 7)
    else:
        bitmap[i >> 3] &= ~(1 << (i & 7)) & 0xFF


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
    integers hold): adding past that raises OverflowError, which storage quarantines."""

    __slots__ = ("day", "present", "probed", "partial", "columns")

    def __init__(self, day: int) -> None:
        self.day = day
        self.present = bytearray(_BITMAP_BYTES)
        self.probed = bytearray(_BITMAP_BYTES)    # closed by a daemon (at most once, unless partial)
        self.partial = bytearray(_BITMAP_BYTES)   # closed in part (cut by shutdown)
        self.columns: list[array[int] | None] = [None] * len(COUNT_COLUMNS)   # None: all zero

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
        req, err = self.columns[0], self.columns[1]
        return (req[i] if req is not None else 0, err[i] if err is not None else 0)

    def add(self, i: int, counts: Sequence[int]) -> None:
        """Add a minute's counts (requests, errors, then one per outcome) to what is stored."""
        _set(self.present, i, True)
        for c, value in enumerate(counts):
            if value:
                col = self.columns[c]
                if col is None:
                    col = self.columns[c] = array("q", _ZERO)
                col[i] += value  # OverflowError beyond signed 64 bits: nothing was changed

    def clear_before(self, i: int) -> None:
        """Forget the minutes before offset i (retention)."""
        for j in range(i):
            _set(self.present, j, False)
            _set(self.probed, j, False)
            _set(self.partial, j, False)
        for col in self.columns:
            if col is not None:
                col[:i] = array("q", bytes(8 * i))

    def present_offsets(self) -> Iterator[int]:
        for byte_index, byte in enumerate(self.present):
            if byte:
                for bit in range(8):
                    if byte & (1 << bit):
                        yield byte_index * 8 + bit

    def missing_offsets(self, lo: int = 0, hi: int = BLOCK_MINUTES) -> list[int]:
        present = self.present
        return [i for i in range(lo, hi) if not present[i >> 3] & (1 << (i & 7))]

    def unhealthy(self, lo: int, hi: int, min_samples: int, threshold: Fraction) -> Iterator[tuple[int, int, int]]:
        """(offset, requests, errors) of the stored minutes in [lo, hi) that are not up."""
        num, den = threshold.numerator, threshold.denominator
        req = self.columns[0] or array("q", _ZERO)
        err = self.columns[1] or array("q", _ZERO)
        present = self.present
        for i in range(lo, hi):
            if present[i >> 3] & (1 << (i & 7)):
                r, e = req[i], err[i]
                if r < min_samples or e * den > num * r:
                    yield i, r, e

    # --- summary and bytes ---------------------------------------------------------------------

    def summary(self) -> BlockSummary:
        offsets = list(self.present_offsets())
        if not offsets:
            return BlockSummary(0, None, 0, 0, 1)
        req = self.columns[0]
        err = self.columns[1]
        min_requests = min(req[i] for i in offsets) if req is not None else 0
        worst_num, worst_den = 0, 1
        if err is not None and req is not None:
            for i in offsets:
                e = err[i]
                if e and e * worst_den > worst_num * req[i]:
                    worst_num, worst_den = e, req[i]
        return BlockSummary(len(offsets), self.day * BLOCK_MINUTES + offsets[0], min_requests, worst_num, worst_den)

    def encode(self) -> bytes:
        mask = sum(1 << c for c, col in enumerate(self.columns) if col is not None)
        parts = [bytes([_FORMAT]), mask.to_bytes(2, "little"), bytes(self.present), bytes(self.probed),
                 bytes(self.partial)]
        parts += [col.tobytes() for col in self.columns if col is not None]
        return zlib.compress(b"".join(parts), 1)

    @classmethod
    def decode(cls, day: int, blob: bytes) -> DayBlock:
        raw = zlib.decompress(blob)
        if raw[0] != _FORMAT:
            raise ValueError(f"minute block of day {day}: unknown format {raw[0]}")
        block = cls(day)
        mask = int.from_bytes(raw[1:3], "little")
        at = 3
        block.present = bytearray(raw[at:at + _BITMAP_BYTES])
        block.probed = bytearray(raw[at + _BITMAP_BYTES:at + 2 * _BITMAP_BYTES])
        block.partial = bytearray(raw[at + 2 * _BITMAP_BYTES:at + 3 * _BITMAP_BYTES])
        at += 3 * _BITMAP_BYTES
        for c in range(len(COUNT_COLUMNS)):
            if mask & (1 << c):
                col = array("q")
                col.frombytes(raw[at:at + BLOCK_MINUTES * 8])
                block.columns[c] = col
                at += BLOCK_MINUTES * 8
        return block
