"""Helpers shared by the probe kinds (not public API)."""
from __future__ import annotations

import errno
import time
from datetime import datetime, timezone

from .base import ProbeResult

MAX_REASON_CHARS = 300

# errno values that mean the *monitor's* host ran out of something, not that the target failed.
LOCAL_RESOURCE_ERRNOS = frozenset(
    code
    for code in (
        getattr(errno, "EMFILE", None),  # too many open files (this process)
        getattr(errno, "ENFILE", None),  # too many open files (system)
        getattr(errno, "ENOBUFS", None),  # no buffer space
        getattr(errno, "ENOMEM", None),
        getattr(errno, "EADDRNOTAVAIL", None),  # local ephemeral ports exhausted
    )
    if code is not None
)


def shorten(text: str, limit: int = MAX_REASON_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def seconds(value: float) -> str:
    return f"{value:g}s"


class Stopwatch:
    """Captures the wall-clock start and measures monotonic latency for one probe run."""

    __slots__ = ("started_at", "_t0", "status")

    def __init__(self) -> None:
        self.started_at = datetime.now(timezone.utc)
        self._t0 = time.monotonic()
        self.status: int | None = None

    def elapsed(self) -> float:
        return max(0.0, time.monotonic() - self._t0)

    def result(self, outcome: str, reason: str, *, latency: float | None = None) -> ProbeResult:
        return ProbeResult(
            outcome=outcome,  # type: ignore[arg-type]
            latency_seconds=self.elapsed() if latency is None else latency,
            status=self.status,
            reason=shorten(reason),
            started_at=self.started_at,
        )


def describe_oserror(exc: BaseException) -> str:
    """A short description of an OSError-like exception: strerror if there is one."""
    strerror = getattr(exc, "strerror", None)
    if strerror:
        return str(strerror)
    text = str(exc)
    return text or type(exc).__name__
