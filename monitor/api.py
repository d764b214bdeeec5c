"""The daemon's HTTP listener: / (status page), /metrics, the JSON admin API under /api/v1/, and the
monthly reports under /reports/ (an index, their files, and each month's credits as CSV).

Reads are open; every change needs `Authorization: Bearer <token>` where the token comes from
the environment variable named by [monitor] admin_token_env, compared in constant time. The
token is never logged and never echoed."""
from __future__ import annotations

import asyncio
import csv
import hmac
import html
import io
import json
import logging
import os
import re
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor.config import parse_notice, parse_window
from monitor.errors import InputError
from monitor.ingest import LineError, minute_of_instant, parse_sample
from monitor.values import Problems, path_str, timestamp
from reports.compensation import truncated_percent
from reports.render import contract_json

if TYPE_CHECKING:
    from monitor.daemon import Daemon

log = logging.getLogger("slamon.api")
DAEMON = web.AppKey("daemon", object)
MAX_BODY = 1 << 20


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def errors_and_auth(request: web.Request, handler):
    if request.path.startswith("/api/") and request.method not in ("GET", "HEAD"):
        daemon: Daemon = request.app[DAEMON]
        env = daemon.config.monitor.admin_token_env
        expected = os.environ.get(env, "")
        if not expected:
            return _error(401, f"changes are disabled: no admin token in ${env}")
        header = request.headers.get("Authorization", "")
        given = header[7:] if header.startswith("Bearer ") else ""
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return _error(401, "missing or wrong bearer token")
    try:
        return await handler(request)
    except InputError as exc:
        return _error(400, str(exc))


async def _payload(request: web.Request) -> dict:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise InputError(f"payload larger than {MAX_BODY} bytes")
    try:
        data = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InputError("body must be a JSON object")
    return data


def _check(problems: Problems) -> None:
    if problems:
        # payload paths start with the entity ("window", ...); the caller's keys follow it
        raise InputError("; ".join(f"{path_str(p[1:]) if len(p) > 1 else p[0]}: {m}" for p, m in problems.items))


def _actor(request: web.Request) -> str:
    name = request.headers.get("X-Slamon-Actor", "")[:100]
    return f"api:{name}" if name else "api"


# --- reads -----------------------------------------------------------------------------------

async def status(request: web.Request) -> web.Response:
    daemon: Daemon = request.app[DAEMON]
    return web.json_response(daemon.status())


async def contracts(request: web.Request) -> web.Response:
    daemon: Daemon = request.app[DAEMON]
    return web.json_response([
        {"id": c.id, "customer": c.customer, "regime": c.regime, "domains": list(c.domains), "plan": c.plan,
         "currency": c.currency} for c in daemon.config.contracts.values()])


async def accounting(request: web.Request) -> web.Response:
    daemon: Daemon = request.app[DAEMON]
    contract_id = request.match_info["id"]
    if contract_id not in daemon.config.contracts:
        return _error(404, f"unknown contract {contract_id!r}")
    for result in daemon.month_to_date:
        if result.contract.id == contract_id:
            data = contract_json(result)
            data["computed_at"] = daemon.month_to_date_at
            return web.json_response(data)
    return _error(404, f"no month-to-date accounting for {contract_id!r} yet (no samples this month)")


async def minutes(request: web.Request) -> web.Response:
    daemon: Daemon = request.app[DAEMON]
    domain = request.query.get("domain", "")
    if domain not in daemon.config.domains:
        return _error(400, f"unknown domain {domain!r}")
    problems = Problems()
    start = timestamp(request.query.get("start", ""), ("start",), problems)
    end = timestamp(request.query.get("end", ""), ("end",), problems)
    _check(problems)
    rows = await daemon.db(daemon.storage.minute_rows, domain, minute_of_instant(start), minute_of_instant(end))
    th = daemon.config.domains[domain].thresholds
    for row in rows:
        row["state"] = th.state(row["requests"], row["errors"])
        row["start"] = datetime.fromtimestamp(row["minute"] * 60, timezone.utc).isoformat()
    return web.json_response(rows)


async def audit(request: web.Request) -> web.Response:
    daemon: Daemon = request.app[DAEMON]
    return web.json_response(await daemon.db(daemon.storage.audit_rows))


async def metrics(request: web.Request) -> web.Response:
    daemon: Daemon = request.app[DAEMON]
    body = generate_latest(daemon.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


# --- changes ---------------------------------------------------------------------------------

async def add_window(request: web.Request) -> web.Response:
    daemon: Daemon = request.app[DAEMON]
    data = await _payload(request)
    problems = Problems()
    window = parse_window(("window",), data, problems, daemon.config.domains, daemon.config.contracts,
                          source="database")
    _check(problems)
    window_id = await daemon.db(daemon.storage.add_window, window, actor=_actor(request))
    log.info("window added", extra={"window": f"db-{window_id}", "kind": window.kind, "actor": _actor(request)})
    await daemon.refresh_month_to_date()
    return web.json_response({"id": f"db-{window_id}"}, status=201)


async def end_window(request: web.Request) -> web.Response:
    daemon: Daemon = request.app[DAEMON]
    raw = request.match_info["id"].removeprefix("db-")
    if not raw.isdigit():
        return _error(400, "window id must look like db-3 (config windows are changed in the file)")
    data = await _payload(request)
    problems = Problems()
    at = timestamp(data.get("at"), ("at",), problems) if "at" in data else datetime.now(timezone.utc)
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        problems.add(("reason",), "is required")
    unknown = set(data) - {"at", "reason"}
    if unknown:
        problems.add((sorted(unknown)[0],), "unknown key")
    _check(problems)
    after = await daemon.db(daemon.storage.end_window, int(raw), at, actor=_actor(request), reason=reason)
    await daemon.refresh_month_to_date()
    return web.json_response(after)


async def add_notice(request: web.Request) -> web.Response:
    daemon: Daemon = request.app[DAEMON]
    data = await _payload(request)
    problems = Problems()
    notice = parse_notice(("notice",), data, problems, daemon.config.contracts, source="database")
    _check(problems)
    notice_id = await daemon.db(daemon.storage.add_notice, notice, actor=_actor(request))
    await daemon.refresh_month_to_date()
    return web.json_response({"id": f"db-{notice_id}"}, status=201)


async def push_samples(request: web.Request) -> web.Response:
    """Samples from collectors, in the `slamon ingest` line forms, for minutes still open."""
    daemon: Daemon = request.app[DAEMON]
    data = await _payload(request)
    samples = data.get("samples")
    if not isinstance(samples, list) or not samples:
        raise InputError("expected {\"samples\": [ ... ]} with at least one sample")
    parsed = []
    for i, item in enumerate(samples):
        try:
            parsed.append(_pushed_sample(daemon, item))
        except LineError as exc:
            raise InputError(f"samples[{i}]: {exc}") from None
    for domain, minute, outcome, requests, errors in parsed:  # all or nothing
        daemon.live.add_pushed(domain, minute, outcome, requests, errors)
    return web.json_response({"accepted": len(parsed)}, status=202)


def _pushed_sample(daemon: "Daemon", item: Any) -> tuple[str, int, str | None, int, int]:
    sample = parse_sample(item, daemon.config.domains)
    minute = sample[1]
    if not daemon.live.minute_is_open(minute, int(time.time() // 60)):
        when = datetime.fromtimestamp(minute * 60, timezone.utc).isoformat()
        raise LineError(f"minute {when} is not open: only the current minute accepts samples once the daemon "
                        f"has observed a whole minute (load history with `slamon ingest`)")
    return sample


# --- monthly reports ---------------------------------------------------------------------------

PERIOD_RE = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
REPORT_FILE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,200}\.(json|md|csv|html)")
REPORT_CONTENT_TYPES = {"json": "application/json", "md": "text/markdown", "csv": "text/csv", "html": "text/html"}
CREDIT_COLUMNS = ("contract", "customer", "regime", "period", "revision", "currency", "credit_amount",
                  "claim_deadline", "credit_applies")


def report_index(storage) -> list[dict]:
    """Every frozen report, newest month first: its revisions (oldest first), each with its files
    as {format: file name} in the month's folder."""
    first_files: dict[tuple[str, str], dict[str, str]] = {}
    for row in storage.written_report_files():
        first_files.setdefault((row["contract"], row["period"]), {})[row["format"]] = Path(row["path"]).name
    reports: dict[tuple[str, str], dict] = {}
    for rev in storage.report_revisions(skip=("evidence", "report")):
        entry = reports.setdefault((rev["period"], rev["contract"]), {
            "period": rev["period"], "contract": rev["contract"], "revisions": []})
        files = first_files.get((rev["contract"], rev["period"]), {}) if rev["revision"] == 1 else \
            {fmt: Path(f["path"]).name for fmt, f in rev["files"].items()}
        entry["revisions"].append({"revision": rev["revision"], "credit_amount": rev["credit_amount"],
                                   "currency": rev["currency"], "written_at": rev["written_at"], "diff": rev["diff"],
                                   "evidence_digest": rev["evidence_digest"], "files": dict(sorted(files.items()))})
    return sorted(reports.values(), key=lambda e: (-int(e["period"].replace("-", "")), e["contract"]))


def credits_due(storage, period: str) -> list[dict] | None:
    """The latest revision's credit of every contract reported for the month, where one is owed;
    None when no report of that month exists."""
    revisions = storage.report_revisions(period=period, skip=("evidence",))
    if not revisions:
        return None
    latest: dict[str, dict] = {}
    for rev in revisions:  # oldest first: the last one wins
        latest[rev["contract"]] = rev
    rows = []
    for contract, rev in sorted(latest.items()):
        if Decimal(rev["credit_amount"]) == 0:
            continue
        report = rev["report"]
        rows.append({"contract": contract, "customer": report.get("customer", ""), "regime": report.get("regime", ""),
                     "period": period, "revision": rev["revision"], "currency": rev["currency"],
                     "credit_amount": rev["credit_amount"], "claim_deadline": report.get("claim_deadline") or "",
                     "credit_applies": report.get("credit_applies") or ""})
    return rows


async def reports_redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/reports/")


async def reports_page(request: web.Request) -> web.Response:
    daemon: Daemon = request.app[DAEMON]
    e = html.escape
    entries = await daemon.db(report_index, daemon.storage)
    months: dict[str, list[dict]] = {}
    for entry in entries:
        months.setdefault(entry["period"], []).append(entry)
    customers = {c.id: c.customer for c in daemon.config.contracts.values()}
    sections = []
    for period, items in months.items():
        rows = []
        for entry in items:
            latest = entry["revisions"][-1]
            links = []
            for rev in entry["revisions"]:
                files = " ".join(f'<a href="/reports/{e(period)}/{e(name)}">{e(fmt)}</a>'
                                 for fmt, name in rev["files"].items())
                links.append(f"<li>r{rev['revision']} ({e(rev['written_at'][:16].replace('T', ' '))} UTC, "
                             f"{e(rev['credit_amount'])} {e(rev['currency'])}): {files or 'no files'}</li>")
            diff = "".join(f"<li>{e(d)}</li>" for d in latest["diff"])
            rows.append(
                f'<tr><td>{e(entry["contract"])}</td><td>{e(customers.get(entry["contract"], ""))}</td>'
                f'<td class="num">{e(latest["credit_amount"])} {e(latest["currency"])}</td>'
                f'<td>{latest["revision"]}' + (f'<ul class="diff">{diff}</ul>' if diff else "") + "</td>"
                f'<td><ul>{"".join(links)}</ul></td></tr>')
        sections.append(
            f'<h2 id="m{e(period)}">{e(period)}</h2>'
            f'<p><a href="/reports/credits-{e(period)}.csv">credits due ({e(period)}, CSV)</a></p>'
            f"<table><tr><th>contract</th><th>customer</th><th>credit</th><th>latest revision</th><th>files</th></tr>"
            f'{"".join(rows)}</table>')
    body = "".join(sections) or "<p>No monthly report has been written yet.</p>"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>slamon monthly reports</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;margin-bottom:2em}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}} td.num{{text-align:right}}
ul{{margin:0;padding-left:1.2em}} ul.diff{{color:#a50}}
</style></head><body>
<h1>Monthly reports</h1>
<p>A report is frozen once written; a later change of its inputs is a new revision listing what changed.</p>
{body}
<p><a href="/">status</a></p>
</body></html>"""
    return web.Response(text=page, content_type="text/html")


async def credits_csv(request: web.Request) -> web.Response:
    daemon: Daemon = request.app[DAEMON]
    period = request.match_info["period"]
    if not PERIOD_RE.fullmatch(period):
        return _error(404, "no such month")
    rows = await daemon.db(credits_due, daemon.storage, period)
    if rows is None:
        return _error(404, f"no monthly report for {period}")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CREDIT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return web.Response(text=buffer.getvalue(), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'inline; filename="credits-{period}.csv"'})


def _report_path(reports_dir: Path, period: str, name: str) -> Path | None:
    """A file of reports_dir/PERIOD/, or None: names are checked before any path is built, and
    the resolved path (symlinks followed) must still be inside reports_dir."""
    if not PERIOD_RE.fullmatch(period) or not REPORT_FILE_RE.fullmatch(name) or ".." in name:
        return None
    root = reports_dir.resolve()
    path = (root / period / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


async def report_file(request: web.Request) -> web.Response:
    daemon: Daemon = request.app[DAEMON]
    path = _report_path(daemon.config.monitor.reports_dir, request.match_info["period"], request.match_info["name"])
    if path is None:
        return _error(404, "no such report file")
    body = await asyncio.to_thread(path.read_bytes)
    return web.Response(body=body, content_type=REPORT_CONTENT_TYPES[path.suffix[1:]], charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


# --- status page -------------------------------------------------------------------------------

async def status_page(request: web.Request) -> web.Response:
    daemon: Daemon = request.app[DAEMON]
    e = html.escape
    rows = []
    for name in daemon.config.domains:
        now = daemon.live.now.get(name)
        if now:
            minute = datetime.fromtimestamp(now.minute * 60, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            ratio = f"{now.errors}/{now.requests}"
            rows.append(f'<tr class="{e(now.state)}"><td>{e(name)}</td><td>{e(now.state)}</td>'
                        f"<td>{e(minute)}</td><td>{e(ratio)}</td></tr>")
        else:
            rows.append(f'<tr class="unknown"><td>{e(name)}</td><td>no closed minute yet</td><td></td><td></td></tr>')
    contract_rows = []
    for result in daemon.month_to_date:
        for scope in result.scopes:
            a = scope.account
            contract_rows.append(
                f"<tr><td>{e(result.contract.id)}</td><td>{e(scope.name)}</td><td>{e(result.regime.name)}</td>"
                f"<td>{a.downtime_minutes}</td><td>{sum(a.excluded_minutes.values())}</td>"
                f"<td>{a.unknown_minutes}</td><td>{e(truncated_percent(a.availability))}%</td>"
                f"<td>{e(str(scope.credit_amount))} {e(result.contract.currency)}</td></tr>")
    degraded = '<p class="warn">Monitor degraded: every canary fails; failures are marked monitor_error.</p>' \
        if daemon.live.degraded else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="30">
<title>slamon status</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;margin-bottom:2em}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}} tr.up td:nth-child(2){{color:#080}}
tr.down td:nth-child(2){{color:#c00;font-weight:bold}} tr.unknown td:nth-child(2){{color:#888}} .warn{{color:#c00}}
</style></head><body>
<h1>slamon</h1>{degraded}
<h2>Domains: last closed minute</h2>
<table><tr><th>domain</th><th>state</th><th>minute</th><th>errors/requests</th></tr>{''.join(rows)}</table>
<h2>Month to date</h2>
<table><tr><th>contract</th><th>scope</th><th>regime</th><th>down (counted)</th><th>excluded</th><th>unknown</th>
<th>availability</th><th>credit so far</th></tr>{''.join(contract_rows)}</table>
<p><a href="/reports/">monthly reports</a> · <a href="/metrics">/metrics</a> ·
<a href="/api/v1/status">/api/v1/status</a></p>
</body></html>"""
    return web.Response(text=page, content_type="text/html")


def build_app(daemon: "Daemon") -> web.Application:
    app = web.Application(middlewares=[errors_and_auth], client_max_size=MAX_BODY)
    app[DAEMON] = daemon
    app.router.add_get("/", status_page)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/v1/status", status)
    app.router.add_get("/api/v1/contracts", contracts)
    app.router.add_get("/api/v1/contracts/{id}/accounting", accounting)
    app.router.add_get("/api/v1/minutes", minutes)
    app.router.add_get("/api/v1/audit", audit)
    app.router.add_post("/api/v1/windows", add_window)
    app.router.add_post("/api/v1/windows/{id}/end", end_window)
    app.router.add_post("/api/v1/notices", add_notice)
    app.router.add_post("/api/v1/samples", push_samples)
    app.router.add_get("/reports", reports_redirect)
    app.router.add_get("/reports/", reports_page)
    app.router.add_get(r"/reports/credits-{period:\d{4}-\d{2}}.csv", credits_csv)
    app.router.add_get("/reports/{period}/{name}", report_file)
    return app
