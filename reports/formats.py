"""Reports as JSON (the documented schema), Markdown (for people) and CSV (for billing)."""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from reports.accounting import ContractResult, ScopeResult, gc_paused, minute_start
from reports.claims import ClaimResult, DeadlineNote
from reports.compensation import truncated_percent
from reports.evidence import build_evidence, evidence_digest
from reports.minutes import EXCLUSION_KINDS
from reports.regimes import format_percent


def _credit_value(value: Fraction) -> int | str:
    return int(value) if value.denominator == 1 else str(value)


def _iso_date(day: date | None) -> str | None:
    return day.isoformat() if day else None


def scope_json(result: ContractResult, scope: ScopeResult) -> dict[str, Any]:
    tz = ZoneInfo(result.period.timezone)
    account = scope.account
    days = result.regime.credit_unit == "days"
    return {
        "scope": scope.name,
        "domains": list(scope.domains),
        "downtime_minutes": account.downtime_minutes,
        # emergencies appear only under a regime that excludes them (the built-ins count them)
        "excluded_minutes": {kind: account.excluded_minutes[kind] for kind in EXCLUSION_KINDS
                             if kind != "emergency" or result.regime.emergency_excluded},
        "before_notice_minutes": account.before_notice_minutes,
        "unknown_minutes": account.unknown_minutes,
        "up_minutes": account.up_minutes,
        "availability": truncated_percent(account.availability),
        "worst_case_availability": truncated_percent(account.worst_case_availability),
        "tier": scope.tier.describe() if scope.tier else None,
        "credit_days": _credit_value(scope.credit) if days else None,
        "credit_percent": None if days else str(_credit_value(scope.credit)),
        "credit_amount": str(scope.credit_amount),
        "credit_formula": scope.amount.formula if scope.amount else None,
        "monthly_fee": str(scope.monthly_fee) if scope.monthly_fee is not None else None,
        "licenses": scope.licenses if days else None,
        "resolution_date": _iso_date(scope.resolution_date),
        "outages": [
            {
                "start": minute_start(o.start_minute, tz).isoformat(),
                "end": minute_start(o.end_minute, tz).isoformat(),
                "counted_minutes": o.counted_minutes,
                "before_notice_minutes": o.before_notice_minutes,
            }
            for o in account.outages
        ],
        "excluded_windows": [
            {
                "id": use.window.id,
                "kind": use.window.kind,
                "reason": use.window.reason,
                "start": use.window.start.isoformat(),
                "end": use.window.end.isoformat() if use.window.end else None,
                "announced_at": use.window.announced_at.isoformat() if use.window.announced_at else None,
                "announced_end": use.window.announced_end.isoformat() if use.window.announced_end else None,
                "excluded_minutes": use.minutes,
                "excludes": use.excludes,
                "excluded_until": use.excluded_until.isoformat() if use.excluded_until else None,
                "counted_because": use.reason if not use.excludes or use.excluded_until else None,
            }
            for use in scope.windows
        ],
        "notices": [
            {"id": n.id, "kind": n.kind, "at": n.at.isoformat(), "domain": n.domain, "note": n.note}
            for n in scope.notices
        ],
    }


def contract_json(result: ContractResult) -> dict[str, Any]:
    c, regime, period = result.contract, result.regime, result.period
    return {
        "id": c.id,
        "customer": c.customer,
        "regime": regime.name,
        "regime_title": regime.title,
        "plan": c.plan,
        "awareness": result.awareness,
        "timezone": period.timezone,
        "period_start": period.start_local.isoformat(),
        "period_end": period.end_local.isoformat(),
        "total_minutes": period.total_minutes,
        "currency": c.currency,
        "credit_amount": str(result.credit_amount),
        "scopes": [scope_json(result, s) for s in result.scopes],
        "claim_deadline": _iso_date(result.claim_deadline),
        "credit_applies": _iso_date(result.credit_applies),
        "billing_month": ({"start": result.billing_month[0].isoformat(), "end": result.billing_month[1].isoformat()}
                          if result.billing_month else None),
        "clauses": list(regime.clauses),
        "warnings": [w.as_dict() for w in result.warnings],
        "coverage": truncated_percent(result.coverage),
        "status": result.status,
        "min_coverage": truncated_percent(result.min_coverage),
        "claims": [claim_json(c) for c in result.claims],
        "claim_deadline_note": deadline_note_json(result.deadline_note),
    }


def claim_json(c: ClaimResult) -> dict[str, Any]:
    return {"id": c.claim.id, "filed_at": c.claim.filed_at.isoformat(), "reference": c.claim.reference,
            "on_time": c.on_time, "billing_month": c.billing_month, "amount": str(c.amount),
            "steps": [{"rule": s.rule, "text": s.text, "clause": s.clause} for s in c.steps]}


def deadline_note_json(note: DeadlineNote | None) -> dict[str, str] | None:
    if note is None:
        return None
    return {"deadline": note.deadline.isoformat(), "extended_to": note.extended_to.isoformat(), "because": note.why,
            "clause": note.clause}


def report_json(period_label: str, results: Sequence[ContractResult]) -> dict[str, Any]:
    """The JSON report: each contract's figures plus the evidence they were computed from and its
    digest, so that `slamon report --verify FILE` can recompute them."""
    contracts = []
    scopes: dict[object, Any] = {}      # the evidence of scopes that contracts share, built once
    encoded: dict[int, tuple[Any, bytes]] = {}
    with gc_paused():
        for r in results:
            evidence = build_evidence(r, scopes)
            contracts.append({**contract_json(r), "evidence": evidence,
                              "evidence_digest": evidence_digest(evidence, encoded)})
    return {"period": period_label, "contracts": contracts}


# --- Markdown ------------------------------------------------------------------------------

def _money(amount: Decimal | str, currency: str) -> str:
    value = Decimal(amount)
    text = f"{value:,}" if value == value.to_integral_value() else f"{value:,.2f}"
    return f"{text} {currency}"


def _local(moment: datetime, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")


def contract_markdown(result: ContractResult) -> str:
    c, regime, period = result.contract, result.regime, result.period
    tz = period.timezone
    unit = "days" if regime.credit_unit == "days" else "% of the monthly fee"
    out = [f"# SLA report {period.label}: {c.customer} ({c.id})", ""]
    out += ["## Summary", "",
            "| | |", "| --- | --- |",
            f"| Regime | {regime.name}: {regime.title} |",
            f"| Period | {period.start_local.isoformat()} to {period.end_local.isoformat()} ({tz}, "
            f"{period.total_minutes:,} minutes) |",
            f"| Target | {format_percent(regime.target)}% monthly availability |",
            f"| Plan | {c.plan} |",
            f"| Status | {status_text(result)} |",
            f"| Credit owed | **{_money(result.credit_amount, c.currency)}**"
            + (" (not final: see the status)" if result.status != "final" else "") + " |",
            f"| Claim deadline | {result.claim_deadline or 'none set by the contract'}"
            + (f" ({deadline_note_text(result.deadline_note)})" if result.deadline_note else "") + " |",
            f"| Credit applies | {result.credit_applies or 'on agreement / claim'}"
            + (f" (billing month {result.billing_month[0]} to {result.billing_month[1]})"
               if result.billing_month else "")
            + " |", ""]
    for scope in result.scopes:
        a = scope.account
        out += [f"## Scope `{scope.name}` ({', '.join(scope.domains)})", "",
                "| minutes | count |", "| --- | ---: |",
                f"| up | {a.up_minutes:,} |",
                f"| down, counted | {a.downtime_minutes:,} |"]
        out += [f"| excluded: {kind} | {n:,} |" for kind, n in a.excluded_minutes.items() if n]
        out += [f"| down before notice (not counted) | {a.before_notice_minutes:,} |",
                f"| unknown (no or too little evidence) | {a.unknown_minutes:,} |",
                f"| **total** | **{a.total_minutes:,}** |", "",
                f"Availability = ({a.total_minutes:,} - {a.downtime_minutes:,}) / {a.total_minutes:,} = "
                f"**{truncated_percent(a.availability)}%** (truncated to 6 decimals); worst case counting "
                f"unknown minutes as down: {truncated_percent(a.worst_case_availability)}%.", "",
                f"Tier: {scope.tier.describe() if scope.tier else 'at or above target, no credit'} -> "
                f"credit {scope.credit} {unit}" + (" (capped)" if scope.credit_capped else "") + ".", ""]
        if scope.amount:
            out += ["Amount:", "", f"    {scope.amount.formula}", ""]
        if a.outages:
            out += ["### Outages", "", "| start | end | down minutes | counted | before notice |",
                    "| --- | --- | ---: | ---: | ---: |"]
            zone = ZoneInfo(tz)
            for o in a.outages:
                out.append(f"| {minute_start(o.start_minute, zone):%Y-%m-%d %H:%M} | "
                           f"{minute_start(o.end_minute, zone):%Y-%m-%d %H:%M} | {o.end_minute - o.start_minute} | "
                           f"{o.counted_minutes} | {o.before_notice_minutes} |")
            out.append("")
        if scope.windows:
            out += ["### Exclusion windows", "", "| id | kind | from | to | announced | excluded minutes | reason |",
                    "| --- | --- | --- | --- | --- | ---: | --- |"]
            for use in scope.windows:
                w = use.window
                verdict = "" if use.excludes and not use.excluded_until else f" ({WINDOW_VERDICTS[use.reason]})"
                out.append(f"| {w.id} | {w.kind} | {_local(w.start, tz)} | {_local(w.end, tz) if w.end else 'open'} | "
                           f"{_local(w.announced_at, tz) if w.announced_at else 'not recorded'} | {use.minutes} | "
                           f"{w.reason}{verdict} |")
            out.append("")
        if scope.notices:
            out += ["### Notices", ""] + [f"- {n.kind} notice at {_local(n.at, tz)}" + (f": {n.note}" if n.note else "")
                                           for n in scope.notices] + [""]
    if result.claims:
        out += ["## Claims", "", "| claim | filed | on time | billing month | amount |",
                "| --- | --- | --- | --- | ---: |"]
        for claim in result.claims:
            out.append(f"| {claim.claim.id}{f' ({claim.claim.reference})' if claim.claim.reference else ''} | "
                       f"{_local(claim.claim.filed_at, tz)} | {'yes' if claim.on_time else 'no'} | "
                       f"{claim.billing_month or '-'} | {_money(claim.amount, c.currency)} |")
        out.append("")
        for claim in result.claims:
            out += [f"- {claim.claim.id}: {step.text}" + (f" ({step.clause})" if step.clause else "")
                    for step in claim.steps]
        out.append("")
    out += ["## Warnings", ""]
    out += [f"- **{w.code}**" + (f" ({w.scope})" if w.scope else "") + f": {w.message}" for w in result.warnings] \
        or ["- none"]
    out += ["", "## Clauses applied", ""] + [f"- {clause}" for clause in regime.clauses] + [""]
    return "\n".join(out)


WINDOW_VERDICTS = {
    "maintenance_not_preannounced": "counted: not announced before it began",
    "maintenance_overrun": "excluded up to its announced end; the overrun counts",
    "emergency_counted": "counted: an emergency is no pre-scheduled interruption",
}


def status_text(result: ContractResult) -> str:
    if result.status == "provisional":
        return "provisional (the month is not over)"
    if result.status == "insufficient_evidence":
        return f"insufficient evidence ({truncated_percent(result.coverage)}% observed)"
    return f"final ({truncated_percent(result.coverage)}% observed)"


def deadline_note_text(note: DeadlineNote) -> str:
    return (f"{note.deadline.isoformat()} is a {note.why}: under {note.clause} the period would end on "
            f"{note.extended_to.isoformat()}; the contract itself does not say so")


# --- CSV -----------------------------------------------------------------------------------

CSV_COLUMNS = ("period", "contract", "customer", "regime", "scope", "timezone", "total_minutes", "downtime_minutes",
               "excluded_minutes", "before_notice_minutes", "unknown_minutes", "availability",
               "worst_case_availability", "credit_days", "credit_percent", "currency", "credit_amount",
               "claim_deadline", "credit_applies", "warnings", "status", "coverage")


def report_csv(period_label: str, results: Sequence[ContractResult]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for result in results:
        data = contract_json(result)
        for scope in data["scopes"]:
            writer.writerow([
                period_label, data["id"], data["customer"], data["regime"], scope["scope"], data["timezone"],
                data["total_minutes"], scope["downtime_minutes"], sum(scope["excluded_minutes"].values()),
                scope["before_notice_minutes"], scope["unknown_minutes"], scope["availability"],
                scope["worst_case_availability"], "" if scope["credit_days"] is None else scope["credit_days"],
                "" if scope["credit_percent"] is None else scope["credit_percent"], data["currency"],
                scope["credit_amount"], data["claim_deadline"] or "", data["credit_applies"] or "",
                ";".join(w["code"] for w in data["warnings"] if w["scope"] in (None, scope["scope"])),
                data["status"], data["coverage"],
            ])
    return buffer.getvalue()
