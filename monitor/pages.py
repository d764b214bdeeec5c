"""The daemon's own HTML pages (status, reports index): Jinja templates in monitor/templates,
autoescaped, fed with plain view data built here."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from monitor.recorder import DomainNow
from reports.accounting import ContractResult
from reports.compensation import truncated_percent


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=PackageLoader("monitor", "templates"), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


def status_page(domain_names: Sequence[str], now: Mapping[str, DomainNow], results: Sequence[ContractResult],
                degraded: bool) -> str:
    domains: list[dict[str, Any]] = []
    for name in domain_names:
        last = now.get(name)
        if last is None:
            domains.append({"name": name, "state": None})
            continue
        minute = datetime.fromtimestamp(last.minute * 60, UTC).strftime("%Y-%m-%d %H:%M UTC")
        domains.append({"name": name, "state": last.state, "minute": minute, "errors": last.errors,
                        "requests": last.requests})
    scopes = [{"contract": r.contract.id, "scope": s.name, "regime": r.regime.name,
               "downtime": s.account.downtime_minutes, "excluded": sum(s.account.excluded_minutes.values()),
               "unknown": s.account.unknown_minutes, "availability": truncated_percent(s.account.availability),
               "credit": str(s.credit_amount), "currency": r.contract.currency}
              for r in results for s in r.scopes]
    return _environment().get_template("status.html.j2").render(domains=domains, scopes=scopes, degraded=degraded)


def reports_index_page(entries: Sequence[Mapping[str, Any]], customers: Mapping[str, str]) -> str:
    months: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        months.setdefault(entry["period"], []).append({**entry, "customer": customers.get(entry["contract"], "")})
    return _environment().get_template("reports_index.html.j2").render(
        months=[{"period": period, "entries": items} for period, items in months.items()])
