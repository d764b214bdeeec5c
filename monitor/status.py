"""The daemon's state as data, for /api/v1/status and the status page."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from monitor.config import Config
from monitor.month_to_date import MonthToDate
from monitor.recorder import MinuteRecorder


def minute_iso(minute: int | None) -> str | None:
    return datetime.fromtimestamp(minute * 60, UTC).isoformat() if minute is not None else None


def daemon_status(started_at: datetime, config: Config, recorder: MinuteRecorder,
                  month_to_date: MonthToDate) -> dict[str, Any]:
    counters = recorder.counters
    domains: list[dict[str, Any]] = []
    for name, domain in config.domains.items():
        now = recorder.now.get(name)
        entry: dict[str, Any] = {"domain": name, "probes": len(domain.probes)}
        if now is None:
            entry["state"] = None
        else:
            entry.update(minute=minute_iso(now.minute), state=now.state, requests=now.requests, errors=now.errors)
        domains.append(entry)
    return {
        "started_at": started_at.isoformat(),
        "observed_since": minute_iso(recorder.observed_since_minute),
        "closed_through": minute_iso(recorder.closed_through_minute),
        "degraded": recorder.degraded,
        "samples_dropped": counters.samples_dropped_total,
        "samples_monitor_error": counters.samples_reclassified_total,
        "db_write_errors": counters.db_write_errors_total,
        "minutes_held": len(recorder.held),
        "storage_write_failure": recorder.write_failure,
        "minutes_quarantined": recorder.in_quarantine,
        "domains": domains,
        "month_to_date_at": month_to_date.computed_at,
    }
