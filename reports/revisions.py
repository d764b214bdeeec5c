"""Frozen monthly reports: what a report was computed from (its snapshot), whether a recomputation
differs from it, and the changes between two revisions in words people can check."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from reports.accounting import ContractResult
from reports.evidence import build_evidence, canonical_json, evidence_digest
from reports.formats import contract_json


@dataclass(frozen=True)
class Snapshot:
    evidence: dict[str, Any]
    report: dict[str, Any]      # contract_json of the result
    digest: str                 # evidence_digest(evidence)

    @property
    def evidence_text(self) -> str:
        return canonical_json(self.evidence)

    @property
    def report_text(self) -> str:
        return canonical_json(self.report)


def snapshot(result: ContractResult) -> Snapshot:
    evidence = build_evidence(result)
    # through JSON, so that it compares equal to what a revision stored
    report = json.loads(canonical_json(contract_json(result)))
    return Snapshot(evidence, report, evidence_digest(evidence))


def _inputs(evidence: dict[str, Any]) -> dict[str, Any]:
    """The evidence without the software's version: an upgrade alone is not a revision (unless it
    changes a figure, which the report comparison catches)."""
    return {k: v for k, v in evidence.items() if k != "software"}


def figures(report: dict[str, Any]) -> dict[str, Any]:
    """What a report states, as opposed to how the JSON is laid out (a new key in a newer slamon
    is not a new revision)."""
    return {
        "credit_amount": report.get("credit_amount"), "currency": report.get("currency"),
        "claim_deadline": report.get("claim_deadline"), "credit_applies": report.get("credit_applies"),
        "status": report.get("status"), "coverage": report.get("coverage"),
        "claims": [(c.get("id"), c.get("on_time"), c.get("billing_month"), c.get("amount"))
                   for c in report.get("claims", [])],
        "warnings": sorted(w.get("code", "") for w in report.get("warnings", [])),
        "scopes": {s["scope"]: {**{k: s.get(k) for k in _SCOPE_FIGURES},
                                "excluded_minutes": s.get("excluded_minutes"),
                                "outages": s.get("outages"), "excluded_windows": s.get("excluded_windows")}
                   for s in report.get("scopes", [])},
    }


def unchanged(revision: dict[str, Any], snap: Snapshot) -> bool:
    """Does a recomputation give what the stored revision holds? Same evidence (the software's
    version aside) and the same figures; evidence of another schema is compared by figures only."""
    if revision["evidence_digest"] == snap.digest:
        return True
    if figures(revision["report"]) != figures(snap.report):
        return False
    old, new = revision["evidence"], snap.evidence
    return old.get("schema") != new.get("schema") or _inputs(old) == _inputs(new)


# --- the diff ----------------------------------------------------------------------------------

def _span(start: str | None, end: str | None, tz: str) -> str:
    zone = ZoneInfo(tz)
    if start is None:
        return "?"
    s = datetime.fromisoformat(start).astimezone(zone)
    text = s.isoformat(timespec="minutes")
    if end is None:
        return text + "..open"
    e = datetime.fromisoformat(end).astimezone(zone)
    return f"{text}..{e.strftime('%H:%M') if e.date() == s.date() else e.isoformat(timespec='minutes')}"


def _window(w: dict[str, Any], tz: str) -> str:
    return f"{w['kind']} {_span(w['start'], w['end'], tz)} ({w['reason']})"


def _notice(n: dict[str, Any], tz: str) -> str:
    at = datetime.fromisoformat(n["at"]).astimezone(ZoneInfo(tz)).isoformat(timespec="minutes") if n["at"] else "?"
    return f"{n['kind']} at {at}" + (f" for {n['domain']}" if n.get("domain") else "") \
        + (f" ({n['note']})" if n.get("note") else "")


def _claim(c: dict[str, Any], tz: str) -> str:
    at = datetime.fromisoformat(c["filed_at"]).astimezone(ZoneInfo(tz)).isoformat(timespec="minutes")
    return f"filed {at}" + (f" ({c['reference']})" if c.get("reference") else "")


def _by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in items}


def _fmt(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


_SCOPE_FIGURES = ("downtime_minutes", "before_notice_minutes", "unknown_minutes", "up_minutes", "availability",
                  "worst_case_availability", "tier", "credit_days", "credit_percent", "credit_amount")


def describe_changes(old_evidence: dict[str, Any], old_report: dict[str, Any], new_evidence: dict[str, Any],
                     new_report: dict[str, Any]) -> list[str]:
    """What changed from one revision to the next: inputs first (windows, notices, minutes, the
    contract's terms), then the figures they moved."""
    tz = new_evidence.get("timezone") or new_report.get("timezone") or "UTC"
    changes: list[str] = []

    for kind, describe in (("window", _window), ("notice", _notice), ("claim", _claim)):
        old, new = _by_id(old_evidence.get(kind + "s", [])), _by_id(new_evidence.get(kind + "s", []))
        for id_ in sorted(new.keys() - old.keys()):
            changes.append(f"{kind} {id_} added: {describe(new[id_], tz)}")
        for id_ in sorted(old.keys() - new.keys()):
            changes.append(f"{kind} {id_} removed: {describe(old[id_], tz)}")
        for id_ in sorted(old.keys() & new.keys()):
            if old[id_] != new[id_]:
                changes.append(f"{kind} {id_} changed: {describe(old[id_], tz)} -> {describe(new[id_], tz)}")

    old_scopes = {s["scope"]: s for s in old_evidence.get("scopes", [])}
    for scope in new_evidence.get("scopes", []):
        before = old_scopes.get(scope["scope"])
        if before is None:
            changes.append(f"scope {scope['scope']} added ({', '.join(scope['domains'])})")
            continue
        data_keys = ("minutes", "gaps", "range", "absent")
        changed_data = [k for k in data_keys if before.get(k) != scope.get(k)]
        if changed_data:
            sizes = "; ".join(f"{k} {len(before.get(k) or [])} -> {len(scope.get(k) or [])} entries"
                              for k in changed_data if isinstance(scope.get(k) or [], list) and k != "range")
            changes.append(f"scope {scope['scope']}: stored minutes changed (late or corrected data)"
                           + (f": {sizes}" if sizes else ""))
        for key in sorted((before.keys() | scope.keys()) - {"scope", *data_keys}):
            if before.get(key) != scope.get(key):
                changes.append(f"scope {scope['scope']}: {key} {_fmt(before.get(key))} -> {_fmt(scope.get(key))}")
    for name in sorted(old_scopes.keys() - {s["scope"] for s in new_evidence.get("scopes", [])}):
        changes.append(f"scope {name} removed")

    old_c, new_c = old_evidence.get("contract", {}), new_evidence.get("contract", {})
    for key in sorted(old_c.keys() | new_c.keys()):
        if old_c.get(key) != new_c.get(key):
            changes.append(f"contract {key} {_fmt(old_c.get(key))} -> {_fmt(new_c.get(key))}")
    if old_evidence.get("regime") != new_evidence.get("regime"):
        changes.append(f"regime definition changed ({_fmt((old_evidence.get('regime') or {}).get('name'))} -> "
                       f"{_fmt((new_evidence.get('regime') or {}).get('name'))})")
    if old_evidence.get("awareness") != new_evidence.get("awareness"):
        changes.append(f"awareness {_fmt(old_evidence.get('awareness'))} -> {_fmt(new_evidence.get('awareness'))}")

    old_rs = {s["scope"]: s for s in old_report.get("scopes", [])}
    for scope in new_report.get("scopes", []):
        before = old_rs.get(scope["scope"])
        if before is None:
            continue
        for key in _SCOPE_FIGURES:
            if before.get(key) != scope.get(key):
                unit = f" {new_report.get('currency', '')}".rstrip() if key == "credit_amount" else ""
                changes.append(f"scope {scope['scope']}: {key} {_fmt(before.get(key))} -> {_fmt(scope.get(key))}{unit}")
        old_ex, new_ex = before.get("excluded_minutes", {}), scope.get("excluded_minutes", {})
        for kind in sorted(old_ex.keys() | new_ex.keys()):
            if old_ex.get(kind, 0) != new_ex.get(kind, 0):
                changes.append(f"scope {scope['scope']}: excluded_minutes.{kind} {old_ex.get(kind, 0)} -> "
                               f"{new_ex.get(kind, 0)}")
    currency = new_report.get("currency", "")
    if old_report.get("credit_amount") != new_report.get("credit_amount") or \
            old_report.get("currency") != currency:
        changes.append(f"credit_amount {_fmt(old_report.get('credit_amount'))} -> "
                       f"{_fmt(new_report.get('credit_amount'))} {currency}".rstrip())
    for key in ("claim_deadline", "credit_applies", "status", "coverage"):
        if old_report.get(key) != new_report.get(key):
            changes.append(f"{key} {_fmt(old_report.get(key))} -> {_fmt(new_report.get(key))}")
    old_claims = {c.get("id"): c for c in old_report.get("claims", [])}
    for claim in new_report.get("claims", []):
        before = old_claims.get(claim.get("id"))
        if before is not None:
            for key in ("on_time", "billing_month", "amount"):
                if before.get(key) != claim.get(key):
                    changes.append(f"claim {claim.get('id')}: {key} {_fmt(before.get(key))} -> {_fmt(claim.get(key))}")
    old_w = sorted(w["code"] for w in old_report.get("warnings", []))
    new_w = sorted(w["code"] for w in new_report.get("warnings", []))
    if old_w != new_w:
        changes.append(f"warnings {', '.join(old_w) or 'none'} -> {', '.join(new_w) or 'none'}")
    if not changes:
        changes.append("report inputs changed without changing a figure shown")
    return changes


def markdown_revision_block(revision: int, diff: list[str]) -> str:
    lines = [f"> **Revision {revision}**: this report supersedes revision {revision - 1} of the same month.", ">",
             "> Changes:", ">"]
    lines += [f"> - {change}" for change in diff]
    return "\n".join(lines) + "\n"


def with_revision_block(markdown: str, revision: int, diff: list[str]) -> str:
    """Revision N > 1 of a Markdown report: the changes right under the title."""
    title, sep, rest = markdown.partition("\n")
    return f"{title}\n\n{markdown_revision_block(revision, diff)}{sep}{rest}"
