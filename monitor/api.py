"""The daemon's HTTP listener: / (status page), /metrics, and the JSON admin API under /api/v1/.

Reads are open; every change needs `Authorization: Bearer <token>` where the token comes from
the environment variable named by [monitor] admin_token_env, compared in constant time. The
token is never logged and never echoed."""
from __future__ import annotations

import hmac
import html
import json
import logging
import os
import time
from datetime import datetime, timezone
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
<p><a href="/metrics">/metrics</a> · <a href="/api/v1/status">/api/v1/status</a></p>
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
    return app
