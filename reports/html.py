"""The HTML monthly report: one self-contained, deterministic file per contract and month.

The figures come from `contract_json` (the report JSON) and the evidence from
`reports.evidence`; nothing here recomputes availability, tiers or money. This module only turns
a ContractResult into a view model (texts already localized, chart geometry already computed)
that the Jinja2 templates in reports/templates render with autoescaping on.

Page 1 (also in print: A4, page numbers in the @page margin boxes) carries the header (issue date,
provider, customer, the customer's account, contract id), a banner when the month is not final
(provisional, or insufficient evidence), the summary and the claim: the request in the form the
contract asks for, the deadline with its rest-day note, and every recorded claim with the steps
that decided it. Everything a reader sees is in the report's language; regime data that is
English (clause references, the amount formula, claim steps) is rewritten from structured terms
(reports.i18n), and the English originals stay in data-* attributes (data-formula, data-clause,
data-text) for machines.

Charts:
- a calendar heat map per scope: one ``<rect class="day" data-date=...>`` per day of the month in
  the contract's time zone (days of 23 or 25 hours in DST zones are still one cell), coloured by
  that day's counted downtime, hatched where minutes were excluded, outlined dashed where minutes
  were unknown, grey ("no data", data-state="nodata") where most of its minutes were unknown; its
  legend is an HTML list under the SVG, so labels wrap instead of overlapping in any language;
- a timeline per outage: counted, before-notice, excluded (by kind) and unknown minutes as
  segments on a local time axis, with the notices that started the count.
The per-day and per-segment minute classes are read from the detector's own inputs kept on the
result (ScopeResult.minutes, the exclusion windows, the outages' first counted minute).

Machine-readable blocks for `slamon report --verify`: ``<script type="application/json"
id="slamon-evidence">`` (build_evidence), ``<script type="application/json" id="slamon-report">``
(contract_json plus "period"), ``<meta name="slamon-evidence-digest">``, and ``data-figure`` /
``data-value`` (/ ``data-scope``) attributes on the key visible figures.
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from reports import i18n
from reports.accounting import ContractResult, ScopeResult, minute_start, minute_to_index
from reports.claims import ClaimResult, ClaimStep
from reports.contracts import NOTICE_KINDS
from reports.evidence import build_evidence, evidence_digest, figure_attrs, script_json
from reports.formats import contract_json
from reports.minutes import EXCLUSION_KINDS, Outage, exclusion_lookup
from reports.regimes import format_percent

View = dict[str, Any]  # what a template renders: texts already localized, geometry computed
_END = "end"  # past the last minute of a timeline: ends the last run

# heat-map colour scale: (least counted minutes of the day, fill)
HEAT_LEVELS = ((0, "#e6f4ea"), (1, "#fde7c8"), (10, "#f9b26c"), (60, "#e4572e"), (240, "#9b1c1c"))
NODATA_FILL = "#cfd3d9"  # a day whose minutes are mostly unknown: neither healthy nor down
SEGMENT_FILLS = {
    "counted": "#d7263d", "before_notice": "#f49d37", "unknown": "#ffffff", "outside": "#bdbdbd",
    "excluded:maintenance": "#3f88c5", "excluded:customer": "#8e6cbf",
    "excluded:force_majeure": "#44a1a0", "excluded:free": "#7fb069", "excluded:emergency": "#5c6bc0",
}
CELL_W, CELL_H, CELL_GAP, HEAD_H = 46, 36, 4, 18
TL_LEFT, TL_WIDTH, TL_RIGHT = 12, 640, 12
TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(loader=PackageLoader("reports", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    return env


def _num(value: float) -> str:
    """SVG coordinates with at most 2 decimals and no trailing zeros: stable text."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def json_script(data: Any) -> Markup:
    """JSON for a <script type="application/json"> block (reports.evidence.script_json: `</`
    becomes `<\\/`, `<!--` `<\\u0021--`): it can never close the element, json.loads reads it back."""
    return Markup(script_json(data))


def figure(name: str, value: Any, scope: str | None = None) -> Markup:
    """` data-figure=... [data-scope=...] data-value=...` of a visible figure (reports.evidence.figure_attrs,
    the same names `slamon report --verify` checks)."""
    return Markup(figure_attrs(name, value, scope))


# --- minute classes ------------------------------------------------------------------------------

def minute_classes(result: ContractResult, scope: ScopeResult) -> dict[int, str]:
    """Every minute of the period that is not up: "counted", "before_notice", "unknown" or
    "excluded:KIND", the way account_scope classified it."""
    period = result.period
    find = exclusion_lookup(scope.spans)
    outages = sorted(scope.account.outages, key=lambda o: o.start_minute)
    starts = [o.start_minute for o in outages]
    classes: dict[int, str] = {}
    for minute, count in scope.pooled.items():
        if not period.start_minute <= minute < period.end_minute:
            continue
        state = scope.thresholds.state(count.requests, count.errors)
        if state == "unknown":
            classes[minute] = "unknown"
        elif state == "down":
            span = find(minute)
            if span is not None:
                classes[minute] = f"excluded:{span.kind}"
                continue
            i = bisect.bisect_right(starts, minute) - 1
            outage = outages[i] if i >= 0 and outages[i].start_minute <= minute < outages[i].end_minute else None
            if outage is not None and outage.first_counted_minute is not None and minute >= outage.first_counted_minute:
                classes[minute] = "counted"
            else:
                classes[minute] = "before_notice"
    return classes


# --- heat map ----------------------------------------------------------------------------------

def _heat_fill(counted: int) -> tuple[int, str]:
    level = 0
    for i, (least, _) in enumerate(HEAT_LEVELS):
        if counted >= least:
            level = i
    return level, HEAT_LEVELS[level][1]


def heatmap_view(result: ContractResult, scope: ScopeResult, classes: dict[int, str], lang: str) -> View:
    period = result.period
    tz = ZoneInfo(period.timezone)
    first = period.start_local.date()
    days = [first + timedelta(days=i) for i in range(period.days)]
    bounds = [minute_to_index(datetime(d.year, d.month, d.day, tzinfo=tz)) for d in days] + [period.end_minute]
    per_day = [dict(counted=0, before_notice=0, excluded=0, unknown=0) for _ in days]
    for minute, cls in classes.items():
        i = bisect.bisect_right(bounds, minute) - 1
        if 0 <= i < len(days):
            per_day[i]["excluded" if cls.startswith("excluded:") else cls] += 1
    offset = first.weekday()  # Monday first
    names = i18n.weekday_names(lang)
    cells = []
    for i, (day, counts) in enumerate(zip(days, per_day, strict=True)):
        col, row = (offset + i) % 7, (offset + i) // 7
        x, y = col * (CELL_W + CELL_GAP), HEAD_H + row * (CELL_H + CELL_GAP)
        level, fill = _heat_fill(counts["counted"])
        day_length = bounds[i + 1] - bounds[i]
        nodata = counts["unknown"] * 2 > day_length  # mostly unknown: not a healthy day
        if nodata:
            fill = NODATA_FILL
        tip = [i18n.format_date(day, lang)] + ([i18n.t("class.nodata", lang)] if nodata else []) + [
            f"{i18n.t('class.counted', lang)}: {_minutes_text(counts['counted'], lang)}"]
        for key, label in (("before_notice", "class.before_notice"), ("excluded", "class.excluded"),
                           ("unknown", "class.unknown")):
            if counts[key]:
                tip.append(f"{i18n.t(label, lang)}: {_minutes_text(counts[key], lang)}")
        cells.append({
            "date": day.isoformat(), "day": day.day, "x": _num(x), "y": _num(y), "w": CELL_W, "h": CELL_H,
            "tx": _num(x + 4), "ty": _num(y + 13), "mx": _num(x + CELL_W - 4), "my": _num(y + CELL_H - 5),
            "level": level, "fill": fill, "minutes": day_length, "state": "nodata" if nodata else "data",
            "dark": level >= 3 and not nodata, "counted": counts["counted"], "before_notice": counts["before_notice"],
            "excluded": counts["excluded"], "unknown": counts["unknown"], "title": " · ".join(tip),
            "counted_text": i18n.format_number(counts["counted"], lang) if counts["counted"] else "",
            "short_day": day_length != 1440,
        })
    rows = (offset + len(days) + 6) // 7
    # the legend is an HTML list under the SVG (report.html.j2): its labels wrap, never overlap
    labels = [i18n.t("legend.none", lang), "1–9", "10–59", "60–239", "240+"]
    legend = [{"fill": fill, "level": str(i), "label": label if i == 0 else i18n.t("minutes_unit", lang, n=label)}
              for i, ((_, fill), label) in enumerate(zip(HEAT_LEVELS, labels, strict=True))]
    legend.append({"fill": NODATA_FILL, "level": "nodata", "label": i18n.t("legend.nodata", lang)})
    return {
        "scope": scope.name, "title": i18n.format_month(first, lang),
        "width": 7 * (CELL_W + CELL_GAP) - CELL_GAP, "height": HEAD_H + rows * (CELL_H + CELL_GAP),
        "weekdays": [{"x": _num(c * (CELL_W + CELL_GAP) + CELL_W / 2), "name": n} for c, n in enumerate(names)],
        "cells": cells, "legend": legend,
        "note": i18n.t("heatmap_note", lang, tz=period.timezone) + " " + i18n.t("heatmap_note_nodata", lang),
    }


# --- outage timelines ---------------------------------------------------------------------------

def _minutes_text(n: int, lang: str) -> str:
    """"12 min" / "12分" / "12분"."""
    return i18n.t("minutes_unit", lang, n=i18n.format_number(n, lang))


def _utc_offset(moment: datetime) -> timedelta:
    offset = moment.utcoffset()
    assert offset is not None  # minute_start gives aware datetimes
    return offset


def _tick_step(span: int) -> int:
    for step in TICK_STEPS:
        if span / step <= 8:
            return step
    return TICK_STEPS[-1]


def timeline_view(result: ContractResult, scope: ScopeResult, outage: Outage, classes: dict[int, str], index: int,
                  lang: str) -> View:
    period = result.period
    tz = ZoneInfo(period.timezone)
    length = outage.end_minute - outage.start_minute
    pad = max(5, length // 10)
    a0, a1 = outage.start_minute - pad, outage.end_minute + pad
    scale = TL_WIDTH / (a1 - a0)

    def x(minute: int) -> str:
        return _num(TL_LEFT + (minute - a0) * scale)

    def cls_of(minute: int) -> str | None:
        if minute in classes:
            return classes[minute]
        if outage.start_minute <= minute < outage.end_minute and not period.start_minute <= minute < period.end_minute:
            return "outside"
        return None

    segments: list[View] = []
    totals: dict[str, int] = {}
    run_start, run_cls = a0, cls_of(a0)
    for minute in range(a0 + 1, a1 + 1):
        cls = cls_of(minute) if minute < a1 else _END
        if cls != run_cls:
            if run_cls is not None:
                n = minute - run_start
                totals[run_cls] = totals.get(run_cls, 0) + n
                segments.append({"cls": run_cls.replace(":", "-"), "x": x(run_start),
                                 "w": _num(max(n * scale, 0.5)), "fill": SEGMENT_FILLS[run_cls],
                                 "title": f"{_class_label(run_cls, lang)}: "
                                          f"{minute_start(run_start, tz):%H:%M}–{minute_start(minute, tz):%H:%M} "
                                          f"({_minutes_text(n, lang)})"})
            run_start, run_cls = minute, cls
    step = _tick_step(a1 - a0)
    offset = int(_utc_offset(minute_start(a0, tz)).total_seconds() // 60)
    ticks = []
    first_tick = a0 + (-(a0 + offset)) % step
    for minute in range(first_tick, a1 + 1, step):
        local = minute_start(minute, tz)
        label = f"{local:%H:%M}" if step < 1440 else f"{local:%m-%d}"
        ticks.append({"x": x(minute), "label": label})
    notices = []
    for notice in scope.notices:
        at = int(notice.at.timestamp() // 60)
        if a0 <= at <= a1:
            kind = i18n.t("notice." + notice.kind, lang) if notice.kind in NOTICE_KINDS else notice.kind
            notices.append({"x": x(at), "label": f"{kind} {notice.at.astimezone(tz):%H:%M}"})
    start_local, end_local = minute_start(outage.start_minute, tz), minute_start(outage.end_minute, tz)
    legend = [{"fill": SEGMENT_FILLS[c], "cls": c.replace(":", "-"),
               "label": f"{_class_label(c, lang)}: {_minutes_text(totals[c], lang)}"}
              for c in SEGMENT_FILLS if c in totals]
    return {
        "id": f"outage-{scope.name}-{index}", "index": index,
        "title": f"{i18n.format_datetime(start_local, lang)} – {end_local:%H:%M}",
        "width": TL_LEFT + TL_WIDTH + TL_RIGHT, "height": 92,
        "axis_x0": TL_LEFT, "axis_x1": TL_LEFT + TL_WIDTH,
        "segments": segments, "ticks": ticks, "notices": notices, "legend": legend,
        "outage_x": x(outage.start_minute), "outage_x2": x(outage.end_minute),
    }


def _class_label(cls: str, lang: str) -> str:
    if cls.startswith("excluded:"):
        return f"{i18n.t('class.excluded', lang)} ({i18n.t('kind.' + cls.split(':', 1)[1], lang)})"
    return i18n.t(f"class.{cls}", lang)


# --- the page ------------------------------------------------------------------------------------

def _iso_local(text: str | None, tz: ZoneInfo, lang: str) -> str:
    if not text:
        return ""
    return i18n.format_datetime(datetime.fromisoformat(text).astimezone(tz), lang)


def _credit_text(result: ContractResult, scope_data: View, lang: str) -> str:
    if result.regime.credit_unit == "days":
        return i18n.t("credit_days", lang, n=scope_data["credit_days"])
    return i18n.t("credit_percent", lang, n=scope_data["credit_percent"])


def _window_verdict(window: View, tz: ZoneInfo, lang: str) -> str:
    """What the regime made of a window: excluded, or counted / excluded only up to its announced
    end, and why (WindowUse.reason via contract_json's counted_because)."""
    code = window.get("counted_because")
    if not code:
        return i18n.t("verdict.excluded", lang)
    if code not in ("maintenance_not_preannounced", "maintenance_overrun", "emergency_counted"):
        return str(code)
    return i18n.t("verdict." + code, lang, until=_iso_local(window.get("excluded_until"), tz, lang) or "–")


def scope_view(result: ContractResult, scope: ScopeResult, data: View, lang: str) -> View:
    tz = ZoneInfo(result.period.timezone)
    currency = result.contract.currency
    classes = minute_classes(result, scope)
    account = scope.account
    def fmt(n: int) -> str:
        return i18n.format_number(n, lang)

    # (label, shown, data-figure name or None, raw value)
    minutes_rows: list[tuple[str, str, str | None, int | None]] = [
        (i18n.t("class.up", lang), fmt(account.up_minutes), None, None),
        (i18n.t("class.counted", lang), fmt(account.downtime_minutes), None, None)]
    minutes_rows += [(f"{i18n.t('class.excluded', lang)}: {i18n.t('kind.' + k, lang)}",
                      fmt(account.excluded_minutes[k]), None, None)
                     for k in EXCLUSION_KINDS if account.excluded_minutes[k]]
    minutes_rows += [(i18n.t("class.before_notice", lang), fmt(data["before_notice_minutes"]),
                      "before_notice_minutes", data["before_notice_minutes"]),
                     (i18n.t("class.unknown", lang), fmt(data["unknown_minutes"]), "unknown_minutes",
                      data["unknown_minutes"])]
    total = result.period.total_minutes
    outages = []
    for o, od in zip(account.outages, data["outages"], strict=True):
        outages.append({"start": _iso_local(od["start"], tz, lang), "end": _iso_local(od["end"], tz, lang),
                        "down": fmt(o.end_minute - o.start_minute), "counted": fmt(od["counted_minutes"]),
                        "before_notice": fmt(od["before_notice_minutes"])})
    windows = [{"id": w["id"], "kind": i18n.t("kind." + w["kind"], lang), "kind_code": w["kind"],
                "start": _iso_local(w["start"], tz, lang),
                "end": _iso_local(w["end"], tz, lang) if w["end"] else i18n.t("open_end", lang),
                "announced": (_iso_local(w["announced_at"], tz, lang) if w["announced_at"]
                              else i18n.t("not_announced", lang)),
                "announced_raw": w["announced_at"] or "", "minutes": fmt(w["excluded_minutes"]), "reason": w["reason"],
                "verdict": _window_verdict(w, tz, lang), "verdict_code": w.get("counted_because") or "excluded"}
               for w in data["excluded_windows"]]
    notices = [{"kind": i18n.t("notice." + n["kind"], lang) if n["kind"] in ("customer", "provider") else n["kind"],
                "at": _iso_local(n["at"], tz, lang), "note": n["note"] or ""} for n in data["notices"]]
    days = result.regime.credit_unit == "days"
    return {
        "name": scope.name, "domains": ", ".join(scope.domains), "data": data,
        "availability": i18n.format_percent_text(data["availability"], lang),
        "worst_case": i18n.format_percent_text(data["worst_case_availability"], lang),
        "show_worst_case": data["worst_case_availability"] != data["availability"],
        "tier": data["tier"] or i18n.t("no_tier", lang),
        "credit_figure": "credit_days" if days else "credit_percent",
        "credit_value": str(data["credit_days"] if days else data["credit_percent"]),
        "credit_text": _credit_text(result, data, lang),
        "capped": scope.credit_capped,
        "amount": i18n.format_money(Decimal(data["credit_amount"]), currency, lang),
        "downtime": i18n.t("minutes_unit", lang, n=fmt(data["downtime_minutes"])),
        "downtime_value": str(data["downtime_minutes"]),
        "minutes_rows": minutes_rows, "total_minutes": fmt(account.total_minutes),
        "availability_formula": f"({fmt(total)} − {fmt(data['downtime_minutes'])}) / {fmt(total)} = "
                                f"{i18n.format_percent_text(data['availability'], lang)}",
        "amount_formula": (i18n.amount_formula(scope.amount.terms, lang) if scope.amount and scope.amount.terms
                           else data["credit_formula"]),
        "amount_formula_raw": data["credit_formula"],
        "monthly_fee": i18n.format_money(Decimal(data["monthly_fee"]), currency, lang) if data["monthly_fee"] else None,
        "outages": outages, "windows": windows, "notices": notices,
        "heatmap": heatmap_view(result, scope, classes, lang),
        "timelines": [timeline_view(result, scope, o, classes, i + 1, lang) for i, o in enumerate(account.outages)],
    }


def _status_values(result: ContractResult, data: View, lang: str) -> dict[str, str]:
    return {"coverage": i18n.format_percent_text(data["coverage"], lang),
            "min": i18n.format_percent_text(data["min_coverage"], lang)}


def deadline_note_text(result: ContractResult, lang: str) -> str | None:
    """The note on a claim deadline that falls on a rest day (DeadlineNote), in the report's language."""
    note = result.deadline_note
    if note is None:
        return None
    return i18n.t("deadline_note", lang, deadline=i18n.format_date(note.deadline, lang),
                  why=i18n.rest_day(note.why, note.deadline, result.regime.holiday_country, lang),
                  clause=i18n.clause_ref(note.clause, lang), extended=i18n.format_date(note.extended_to, lang))


# ClaimStep.text is English (reports.claims); each rule's values are read back from it and the
# sentence is written again in the report's language. A text that does not read as expected is
# shown as it is.
_ISO_DAY = r"(\d{4}-\d{2}-\d{2})"
_MONEY = r"(\d+(?:\.\d+)?) ([A-Z]{3})"
_STEP_PATTERNS: dict[str, re.Pattern[str]] = {
    "claim_window": re.compile(rf"filed {_ISO_DAY}, (by|after) the deadline {_ISO_DAY}"),
    "duplicate": re.compile(r"claimed by (.+)$"),
    "claim_price": re.compile(rf"claim date {_ISO_DAY}: {_MONEY}; compensation {_MONEY}"),
    "deduction": re.compile(rf"issued after {_ISO_DAY}: the invoice of (\d{{4}}-\d{{2}})"),
    "no_invoice": re.compile(rf"within (\d+) days after {_ISO_DAY}"),
    "invoice_cap": re.compile(rf"the invoice of (\d{{4}}-\d{{2}}) bills {_MONEY}( \(estimated\))?"),
    "liability_cap": re.compile(rf"the fees of the (\d+) months before the claim come to {_MONEY}"),
}


def claim_step_text(step: ClaimStep, lang: str) -> str | None:
    """A claim step's sentence in the report's language; None when its text does not read as
    the rule's (it is then shown as written)."""
    pattern = _STEP_PATTERNS.get(step.rule)
    match = pattern.search(step.text) if pattern else None
    if match is None:
        return None
    g = match.groups()

    def day(text: str) -> str:
        return i18n.format_date(date.fromisoformat(text), lang)

    def money(amount: str, currency: str) -> str:
        return i18n.format_money(Decimal(amount), currency, lang)

    if step.rule == "claim_window":
        key = "step.claim_window.on_time" if g[1] == "by" else "step.claim_window.late"
        return i18n.t(key, lang, filed=day(g[0]), deadline=day(g[2]))
    if step.rule == "duplicate":
        return i18n.t("step.duplicate", lang, claim=g[0])
    if step.rule == "claim_price":
        return i18n.t("step.claim_price", lang, filed=day(g[0]), price=money(g[1], g[2]), amount=money(g[3], g[4]))
    if step.rule == "deduction":
        return i18n.t("step.deduction", lang, last_day=day(g[0]), month=i18n.format_month_label(g[1], lang))
    if step.rule == "no_invoice":
        return i18n.t("step.no_invoice", lang, days=i18n.format_number(int(g[0]), lang), last_day=day(g[1]))
    if step.rule == "invoice_cap":
        return i18n.t("step.invoice_cap", lang, month=i18n.format_month_label(g[0], lang), invoice=money(g[1], g[2]),
                      estimated=i18n.t("step.estimated", lang) if g[3] else "")
    return i18n.t("step.liability_cap", lang, months=i18n.format_number(int(g[0]), lang), paid=money(g[1], g[2]))


def claim_record_view(result: ContractResult, claim: ClaimResult, lang: str) -> View:
    """A recorded claim: when it was filed, its reference, whether it was on time, the invoice
    its credit is deducted from, the amount, and the steps that decided it."""
    tz = ZoneInfo(result.period.timezone)
    amount = i18n.format_money(claim.amount, result.contract.currency, lang)
    if result.status == "insufficient_evidence":
        amount = i18n.t("claims.amount_not_final", lang, amount=amount)
    steps = []
    for step in claim.steps:
        text = claim_step_text(step, lang)
        steps.append({"rule": step.rule, "text": text or step.text, "raw": step.text, "translated": text is not None,
                      "clause": i18n.clause_ref(step.clause, lang) if step.clause else ""})
    return {
        "id": claim.claim.id, "reference": claim.claim.reference,
        "filed_at": i18n.format_datetime(claim.claim.filed_at.astimezone(tz), lang),
        "filed_at_raw": claim.claim.filed_at.isoformat(),
        "on_time": claim.on_time,
        "on_time_text": i18n.t("claims.yes" if claim.on_time else "claims.no", lang),
        "billing_month": (i18n.format_month_label(claim.billing_month, lang) if claim.billing_month
                          else i18n.t("claims.no_billing", lang)),
        "billing_month_raw": claim.billing_month or "",
        "amount": amount, "amount_value": str(claim.amount), "steps": steps,
    }


def claim_view(result: ContractResult, data: View, scopes: list[View], lang: str) -> View:
    """The claim, written the way the contract asks for it (see reports/i18n.py claim.*)."""
    regime, period = result.regime, result.period
    name = regime.name
    month = i18n.format_month(period.start_local.date(), lang)
    target = f"{format_percent(regime.target)}%"
    currency = result.contract.currency
    insufficient = result.status == "insufficient_evidence"
    owed = result.credit_amount > 0 and not insufficient
    native = i18n.default_language(regime)

    def term(key: str) -> str:
        """A heading in the report's language, followed by the contract's own wording."""
        text = i18n.t(key, lang)
        original = i18n.t(key, native)
        return text if original == text else f"{text} ({original})"

    status = _status_values(result, data, lang)
    view: dict[str, Any] = {
        "kind": "generic", "owed": owed, "nothing": i18n.t("claim.nothing", lang), "paragraphs": [], "items": [],
        "status": result.status,
        "status_note": (i18n.t("claim.insufficient_evidence", lang, **status) if insufficient else
                        i18n.t("claim.provisional", lang) if result.status == "provisional" else None),
        "records": [claim_record_view(result, c, lang) for c in result.claims],
        "deadline_note": deadline_note_text(result, lang),
    }
    deadline = i18n.format_date(result.claim_deadline, lang) if result.claim_deadline else None
    applies = i18n.format_date(result.credit_applies, lang) if result.credit_applies else None
    if name == "ncloud-workplace":
        view.update(kind="ncloud", heading=term("claim.ncloud.heading"),
                    reason_label=i18n.t("claim.ncloud.reason", lang) + ("" if lang == "ko" else " (청구 사유)"),
                    amount_label=i18n.t("claim.ncloud.amount", lang) + ("" if lang == "ko" else " (청구 금액)"),
                    basis_label=i18n.t("claim.ncloud.basis", lang) + ("" if lang == "ko" else " (산정 근거)"),
                    basis_text=i18n.t("claim.ncloud.basis_text", lang),
                    total_label=i18n.t("claim.ncloud.total", lang),
                    total=i18n.format_money(result.credit_amount, currency, lang))
        for s in scopes:
            d = s["data"]
            if Decimal(d["credit_amount"]) <= 0 or insufficient:
                continue
            view["items"].append({
                "scope": s["name"],
                "reason": i18n.t("claim.ncloud.reason_text", lang, month=month, scope=s["name"],
                                 availability=s["availability"], target=target, downtime=s["downtime"]),
                "amount": i18n.t("claim.ncloud.amount_text", lang, percent=d["credit_percent"],
                                 fee=s["monthly_fee"] or "–", amount=s["amount"]),
                "outages": s["outages"], "availability_formula": s["availability_formula"],
                "amount_formula": s["amount_formula"], "amount_formula_raw": s["amount_formula_raw"],
            })
        view["owed"] = bool(view["items"])
    elif name in ("lineworks", "kddi"):
        s = scopes[0]
        amount = i18n.format_money(result.credit_amount, currency, lang)
        paragraphs = [i18n.t("claim.lw.request", lang, month=month, availability=s["availability"], target=target,
                             days=s["data"]["credit_days"], amount=amount)]
        if deadline:
            paragraphs.append(i18n.t("claim.lw.deadline", lang, deadline=deadline))
            if view["deadline_note"]:
                paragraphs.append(view["deadline_note"])
        if applies:
            paragraphs.append(i18n.t("claim.lw.deduction", lang, applies=applies))
        if name == "kddi":
            paragraphs.append(i18n.t("claim.kddi.tax", lang))
            if result.billing_month:
                paragraphs.append(i18n.t("claim.kddi.billing", lang,
                                         start=i18n.format_date(result.billing_month[0], lang),
                                         end=i18n.format_date(result.billing_month[1], lang)))
        view.update(kind="lineworks", heading=term("claim.lw.heading"), paragraphs=paragraphs)
    elif name == "lineworks-kr":
        s = scopes[0]
        view.update(kind="lineworks-kr", heading=term("claim.lwkr.heading"), paragraphs=[
            i18n.t("claim.lwkr.request", lang, month=month, availability=s["availability"], target=target,
                   days=s["data"]["credit_days"], amount=i18n.format_money(result.credit_amount, currency, lang)),
            i18n.t("claim.lwkr.when", lang)])
    else:
        paragraphs = [i18n.t("claim.generic.request", lang, month=month,
                             credit=", ".join(f"{s['name']}: {s['credit_text']}" for s in scopes),
                             amount=i18n.format_money(result.credit_amount, currency, lang))]
        if deadline:
            paragraphs.append(i18n.t("claim.generic.deadline", lang, deadline=deadline))
            if view["deadline_note"]:
                paragraphs.append(view["deadline_note"])
        view.update(heading=i18n.t("claim.generic.heading", lang), paragraphs=paragraphs)
    if insufficient:
        view.update(owed=False, paragraphs=[], nothing=view["status_note"], status_note=None)
    return view


def css_string(text: str) -> Markup:
    """A CSS string literal (for @page margin boxes) that cannot end the string or the <style>
    element: quotes, backslashes, `<`, `>` and line breaks as CSS escapes."""
    out = []
    for ch in text:
        if ch in '"\\<>&' or ord(ch) < 0x20 or ord(ch) == 0x7f:
            out.append(f"\\{ord(ch):x} ")
        else:
            out.append(ch)
    return Markup('"' + "".join(out) + '"')


def report_view(result: ContractResult, lang: str, revision: int, diff: Sequence[str],
                issued_on: date | None = None) -> View:
    c, regime, period = result.contract, result.regime, result.period
    data = contract_json(result)
    evidence = build_evidence(result)
    digest = evidence_digest(evidence)
    scopes = [scope_view(result, scope, sd, lang) for scope, sd in zip(result.scopes, data["scopes"], strict=True)]
    def t(key: str, **kw: Any) -> str:
        return i18n.t(key, lang, **kw)

    billing = (t("billing_month", start=i18n.format_date(result.billing_month[0], lang),
                 end=i18n.format_date(result.billing_month[1], lang)) if result.billing_month else None)
    end_day = period.end_local.date() - timedelta(days=1)
    warnings = [{"code": w["code"], "title": i18n.warning_title(w["code"], lang), "scope": w["scope"],
                 "message": w["message"]} for w in data["warnings"]]
    status = _status_values(result, data, lang)
    status_text = (t("status.final", **status) if result.status == "final" else
                   t("status.provisional") if result.status == "provisional" else
                   t("status.insufficient_evidence", **status))
    banner = (None if result.status == "final" else
              t("banner.provisional") if result.status == "provisional" else
              t("banner.insufficient_evidence", **status))
    title = f"{t('title')} {i18n.format_month(period.start_local.date(), lang)} — {c.customer} ({c.id})"
    clauses = [{"text": text, "raw": raw} for text, raw in
               zip(regime.clauses_in(lang), regime.clauses, strict=False)]
    plan = t("plan." + c.plan) if "plan." + c.plan in i18n.CATALOG else c.plan
    return {
        "lang": lang, "t": t, "data": data, "period_label": period.label,
        "title": title,
        "customer": c.customer, "contract_id": c.id, "regime_name": regime.name,
        "regime_title": regime.title_in(lang),
        "provider": regime.provider, "account": c.account,
        "issued_on": i18n.format_date(issued_on, lang) if issued_on else None,
        "issued_on_value": issued_on.isoformat() if issued_on else "",
        "status": result.status, "status_text": status_text, "banner": banner,
        "credit_label": t("credit_amount") if result.status == "final" else t("credit_amount." + result.status),
        "period_text": f"{i18n.format_date(period.start_local.date(), lang)} – {i18n.format_date(end_day, lang)}",
        "timezone": period.timezone, "total_minutes": i18n.format_number(period.total_minutes, lang),
        "target": f"{format_percent(regime.target)}%", "plan": plan,
        "awareness": t("awareness." + result.awareness),
        "credit_amount": i18n.format_money(result.credit_amount, c.currency, lang),
        "credit_amount_value": data["credit_amount"],
        "claim_deadline": i18n.format_date(result.claim_deadline, lang) if result.claim_deadline else None,
        "claim_deadline_value": data["claim_deadline"] or "",
        "deadline_note": deadline_note_text(result, lang),
        "credit_applies": i18n.format_date(result.credit_applies, lang) if result.credit_applies else None,
        "billing_month": billing,
        "scopes": scopes, "warnings": warnings, "clauses": clauses,
        "claim": claim_view(result, data, scopes, lang),
        "revision": revision, "diff": list(diff),
        "digest": digest, "software": f"{evidence['software']['name']} {evidence['software']['version']}",
        "evidence_json": json_script(evidence),
        "report_json": json_script({**data, "period": period.label}),
        "hatch_fill": "#555555", "fig": figure,
        "page_footer": css_string(title),
    }


def render_contract_html(result: ContractResult, *, lang: str | None = None, revision: int = 1,
                         issued_on: date | None = None,
                         diff: Sequence[str] = ()) -> str:
    """The report of one contract and month as one self-contained HTML document.

    `lang` is "en", "ja" or "ko" (default: the regime's language, see i18n.default_language).
    `revision` > 1 shows "Revision N" and the `diff` lines (what changed since the last one).
    `issued_on` is the issue date shown on page 1 (None: no issue date is shown).
    Deterministic: the same result, language, revision, issue date and diff give byte-identical output."""
    lang = i18n.check_language(lang or i18n.default_language(result.regime))
    if int(revision) < 1:
        raise ValueError("revision must be at least 1")
    view = report_view(result, lang, int(revision), diff, issued_on)
    return _environment().get_template("report.html.j2").render(**view)
