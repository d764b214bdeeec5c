"""Process settings shared by the daemon and its probe worker processes: the event loop, the
garbage collector, and how log lines look."""
from __future__ import annotations

import asyncio
import gc
import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime

LOG_FORMATS = ("auto", "text", "json")

_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        data.update(_extras(record))
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """For a person at a terminal: `12:00:03 WARNING  domain mail is down (was up)  minute=...`."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        extras = "  ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = f"{when} {record.levelname:<8} {record.getMessage()}" + (f"  {extras}" if extras else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(level: str = "INFO", log_format: str = "auto") -> None:
    """Readable lines on a terminal, JSON lines otherwise (or as `log_format` says)."""
    if log_format == "auto":
        log_format = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if log_format == "text" else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def settle_garbage() -> None:
    """The daemon holds ~100k long-lived objects (config, histogram children, the heap) and makes
    short-lived ones at thousands of probes a second: with the default thresholds, full
    collections took half the CPU (bench/probes.py). Freeze what setup built, collect rarely."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed: the default loop's ceiling here is below 5,000 requests/s."""
    try:
        import uvloop
    except ImportError:  # not on this platform: the default loop
        return None
    return uvloop.new_event_loop
