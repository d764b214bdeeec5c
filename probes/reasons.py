"""How probe failures are told apart and described: the errno values that mean the monitor's own
host ran out of something, and the short human-readable reason every result carries."""
from __future__ import annotations

import errno

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


def describe_oserror(exc: BaseException) -> str:
    """A short description of an OSError-like exception: strerror if there is one."""
    strerror = getattr(exc, "strerror", None)
    if strerror:
        return str(strerror)
    text = str(exc)
    return text or type(exc).__name__
