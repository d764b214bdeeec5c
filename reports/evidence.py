"""The inputs a contract's monthly figures were computed from, embedded in every report so that
an auditor can recompute them (`slamon report --verify FILE`), and a digest that pins them."""
from __future__ import annotations

import hashlib
import json
from importlib import metadata
from typing import Any

from reports.accounting import ContractResult

SCHEMA = "slamon-evidence/1"


def software_version() -> str:
    try:
        return metadata.version("slamon")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _money(value) -> str | None:
    return None if value is None else str(value)


def _instant(moment) -> str | None:
    return None if moment is None else moment.isoformat()


def build_evidence(result: ContractResult) -> dict[str, Any]:
    """Everything `account_contract` used for this contract and month, as plain JSON data.

    Minutes are the sparse form the detector was given: each scope lists the minutes that were
    not up (too few samples, too many errors, or no row at all, as [minute, 0, 0]); every other
    minute of the period, and of the look-back before it, was stored and up ("absent": "up")."""
    c, regime, period = result.contract, result.regime, result.period
    windows = {use.window.id: use.window for scope in result.scopes for use in scope.windows}
    notices = {n.id: n for scope in result.scopes for n in scope.notices}
    return {
        "schema": SCHEMA,
        "software": {"name": "slamon", "version": software_version()},
        "period": period.label,
        "timezone": period.timezone,
        "regime": {"name": regime.name, "definition": regime.definition},
        "contract": {
            "id": c.id, "customer": c.customer, "regime": c.regime, "domains": list(c.domains), "plan": c.plan,
            "currency": c.currency, "unit_price": _money(c.unit_price),
            "licenses": [{"since": s.since.isoformat() if s.since else None, "count": s.count} for s in c.licenses],
            "monthly_fee": _money(c.monthly_fee),
            "services": [{"domain": s.domain, "monthly_fee": _money(s.monthly_fee)} for s in c.services],
            "awareness": c.awareness, "timezone": c.timezone, "billing_day": c.billing_day,
            "day_divisor": c.day_divisor,
        },
        "awareness": result.awareness,
        "scopes": [
            {
                "scope": s.name,
                "domains": list(s.domains),
                "min_samples": s.thresholds.min_samples,
                "error_threshold": f"{s.thresholds.error_threshold.numerator}/{s.thresholds.error_threshold.denominator}",
                "absent": "up",
                "minutes": [[m, s.minutes[m].requests, s.minutes[m].errors] for m in sorted(s.minutes)],
            }
            for s in result.scopes
        ],
        "windows": [
            {"id": w.id, "source": w.source, "kind": w.kind, "domains": list(w.domains),
             "contracts": list(w.contracts), "start": _instant(w.start), "end": _instant(w.end),
             "announced_at": _instant(w.announced_at), "reason": w.reason}
            for w in sorted(windows.values(), key=lambda w: w.id)
        ],
        "notices": [
            {"id": n.id, "source": n.source, "contract": n.contract, "domain": n.domain, "at": _instant(n.at),
             "kind": n.kind, "note": n.note}
            for n in sorted(notices.values(), key=lambda n: n.id)
        ],
    }


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def evidence_digest(evidence: dict[str, Any]) -> str:
    """sha256 of the evidence's canonical JSON: any change to an input changes it."""
    return "sha256:" + hashlib.sha256(canonical_json(evidence).encode("utf-8")).hexdigest()
