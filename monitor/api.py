"""The daemon's HTTP listener: / (status page), /metrics, the JSON admin API under /api/v1/, and the
monthly reports under /reports/ (an index, their files, and each month's credits as CSV).

Handlers receive ApiServices, a narrow set of the daemon's parts, never the daemon itself. Reads
are open; every change needs `Authorization: Bearer <token>` where the token comes from the
environment variable named by [monitor] admin_token_env, compared in constant time. The token is
never logged and never echoed."""
from __future__ import annotations

import asyncio
import csv
import hmac
import io
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from monitor import admin
from monitor.clock import Clock, now_utc
from monitor.config import Config
from monitor.errors import InputError
from monitor.month_to_date import MonthToDate
from monitor.pages import reports_index_page, status_page
from monitor.publisher import CREDIT_COLUMNS, credits_due, report_index
from monitor.recorder import MinuteRecorder
from monitor.samples import LineError, minute_of_instant, parse_sample
from monitor.writer import StorageWriter
from reports.fields import Problems, timestamp
from reports.formats import contract_json

log = logging.getLogger("slamon.api")
MAX_BODY = 1 << 20


@dataclass(frozen=True)
class ApiServices:
    """What the HTTP handlers may use of the daemon."""

    clock: Clock
    config: Callable[[], Config]                  # the running config (a reload replaces it)
    registry: CollectorRegistry
    recorder: MinuteRecorder                      # open minutes: pushed samples, status page
    month_to_date: MonthToDate
    writer: StorageWriter                         # the database, one piece of work at a time
    status: Callable[[], dict[str, Any]]
    inputs_changed: Callable[[], Awaitable[None]]  # after a window or notice changed


SERVICES = web.AppKey("services", ApiServices)


def _services(request: web.Request) -> ApiServices:
    return request.app[SERVICES]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def errors_and_auth(request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    if request.path.startswith("/api/") and request.method not in ("GET", "HEAD"):
        env = _services(request).config().monitor.admin_token_env
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


async def _payload(request: web.Request) -> dict[str, Any]:
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
        raise admin.InvalidChange(problems)


def _actor(request: web.Request) -> str:
    name = request.headers.get("X-Slamon-Actor", "")[:100]
    return f"api:{name}" if name else "api"


# --- reads -----------------------------------------------------------------------------------

async def status(request: web.Request) -> web.Response:
    return web.json_response(_services(request).status())


async def contracts(request: web.Request) -> web.Response:
    return web.json_response([
        {"id": c.id, "customer": c.customer, "regime": c.regime, "domains": list(c.domains), "plan": c.plan,
         "currency": c.currency} for c in _services(request).config().contracts.values()])


async def accounting(request: web.Request) -> web.Response:
    services = _services(request)
    contract_id = request.match_info["id"]
    if contract_id not in services.config().contracts:
        return _error(404, f"unknown contract {contract_id!r}")
    result = services.month_to_date.result_for(contract_id)
    if result is None:
        return _error(404, f"no month-to-date accounting for {contract_id!r} yet (no samples this month)")
    data = contract_json(result)
    data["computed_at"] = services.month_to_date.computed_at
    return web.json_response(data)


async def minutes(request: web.Request) -> web.Response:
    services = _services(request)
    config = services.config()
    domain = request.query.get("domain", "")
    if domain not in config.domains:
        return _error(400, f"unknown domain {domain!r}")
    problems = Problems()
    start = timestamp(request.query.get("start", ""), ("start",), problems)
    end = timestamp(request.query.get("end", ""), ("end",), problems)
    if problems or start is None or end is None:
        raise InputError("; ".join(f"{p[0]}: {m}" for p, m in problems.items))
    first, last = minute_of_instant(start), minute_of_instant(end)
    rows = await services.writer.run(lambda storage: storage.minute_rows(domain, first, last))
    th = config.domains[domain].thresholds
    for row in rows:
        row["state"] = th.state(row["requests"], row["errors"])
        row["start"] = datetime.fromtimestamp(row["minute"] * 60, UTC).isoformat()
    return web.json_response(rows)


async def audit(request: web.Request) -> web.Response:
    return web.json_response(await _services(request).writer.run(lambda storage: storage.audit_rows()))


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(_services(request).registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


# --- changes ---------------------------------------------------------------------------------

async def add_window(request: web.Request) -> web.Response:
    services = _services(request)
    data = await _payload(request)
    config, actor = services.config(), _actor(request)
    window = await services.writer.run(lambda storage: admin.add_window(storage, config, data, actor))
    log.info("window added", extra={"window": window.id, "kind": window.kind, "actor": actor})
    await services.inputs_changed()
    return web.json_response({"id": window.id}, status=201)


async def end_window(request: web.Request) -> web.Response:
    services = _services(request)
    ref = request.match_info["id"]
    admin.window_number(ref)  # a malformed id is refused before the body is read
    data = await _payload(request)
    problems = Problems()
    at = timestamp(data.get("at"), ("end", "at"), problems) if "at" in data else now_utc(services.clock)
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        problems.add(("end", "reason"), "is required")
    unknown = set(data) - {"at", "reason"}
    if unknown:
        problems.add(("end", sorted(unknown)[0]), "unknown key")
    _check(problems)
    assert at is not None and isinstance(reason, str)
    actor = _actor(request)
    after = await services.writer.run(lambda storage: admin.end_window(storage, ref, at, reason, actor))
    await services.inputs_changed()
    return web.json_response(after)


async def add_notice(request: web.Request) -> web.Response:
    services = _services(request)
    data = await _payload(request)
    config, actor = services.config(), _actor(request)
    notice = await services.writer.run(lambda storage: admin.add_notice(storage, config, data, actor))
    await services.inputs_changed()
    return web.json_response({"id": notice.id}, status=201)


async def add_claim(request: web.Request) -> web.Response:
    services = _services(request)
    data = await _payload(request)
    config, actor = services.config(), _actor(request)
    claim = await services.writer.run(lambda storage: admin.add_claim(storage, config, data, actor))
    log.info("claim added", extra={"claim": claim.id, "contract": claim.contract, "period": claim.period,
                                   "actor": actor})
    await services.inputs_changed()
    return web.json_response({"id": claim.id}, status=201)


async def claims(request: web.Request) -> web.Response:
    contract, period = request.query.get("contract"), request.query.get("period")
    rows = await _services(request).writer.run(lambda storage: storage.claims(contract, period))
    return web.json_response([admin.claim_json(c) for c in rows])


async def push_samples(request: web.Request) -> web.Response:
    """Samples from collectors, in the `slamon ingest` line forms, for minutes still open."""
    services = _services(request)
    data = await _payload(request)
    samples = data.get("samples")
    if not isinstance(samples, list) or not samples:
        raise InputError("expected {\"samples\": [ ... ]} with at least one sample")
    parsed = []
    for i, item in enumerate(samples):
        try:
            parsed.append(_pushed_sample(services, item))
        except LineError as exc:
            raise InputError(f"samples[{i}]: {exc}") from None
    for domain, minute, outcome, requests, errors in parsed:  # all or nothing
        services.recorder.add_pushed(domain, minute, outcome, requests, errors)
    return web.json_response({"accepted": len(parsed)}, status=202)


def _pushed_sample(services: ApiServices, item: Any) -> tuple[str, int, str | None, int, int]:
    sample = parse_sample(item, services.config().domains)
    minute = sample[1]
    if not services.recorder.minute_is_open(minute):
        when = datetime.fromtimestamp(minute * 60, UTC).isoformat()
        raise LineError(f"minute {when} is not open: only the current minute accepts samples once the daemon "
                        f"has observed a whole minute (load history with `slamon ingest`)")
    return sample


# --- monthly reports ---------------------------------------------------------------------------

PERIOD_RE = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
REPORT_FILE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,200}\.(json|md|csv|html)")
REPORT_CONTENT_TYPES = {"json": "application/json", "md": "text/markdown", "csv": "text/csv", "html": "text/html"}


async def reports_redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/reports/")


async def reports_page(request: web.Request) -> web.Response:
    services = _services(request)
    entries = await services.writer.run(report_index)
    customers = {c.id: c.customer for c in services.config().contracts.values()}
    return web.Response(text=reports_index_page(entries, customers), content_type="text/html")


async def credits_csv(request: web.Request) -> web.Response:
    period = request.match_info["period"]
    if not PERIOD_RE.fullmatch(period):
        return _error(404, "no such month")
    rows = await _services(request).writer.run(lambda storage: credits_due(storage, period))
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
    reports_dir = _services(request).config().monitor.reports_dir
    path = _report_path(reports_dir, request.match_info["period"], request.match_info["name"])
    if path is None:
        return _error(404, "no such report file")
    body = await asyncio.to_thread(path.read_bytes)
    return web.Response(body=body, content_type=REPORT_CONTENT_TYPES[path.suffix[1:]], charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


# --- status page -------------------------------------------------------------------------------

async def status_html(request: web.Request) -> web.Response:
    services = _services(request)
    recorder = services.recorder
    page = status_page(list(services.config().domains), recorder.now, services.month_to_date.results,
                       recorder.degraded)
    return web.Response(text=page, content_type="text/html")


def build_app(services: ApiServices) -> web.Application:
    app = web.Application(middlewares=[errors_and_auth], client_max_size=MAX_BODY)
    app[SERVICES] = services
    app.router.add_get("/", status_html)
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
    app.router.add_get("/api/v1/claims", claims)
    app.router.add_post("/api/v1/claims", add_claim)
    app.router.add_get("/reports", reports_redirect)
    app.router.add_get("/reports/", reports_page)
    app.router.add_get(r"/reports/credits-{period:\d{4}-\d{2}}.csv", credits_csv)
    app.router.add_get("/reports/{period}/{name}", report_file)
    return app
