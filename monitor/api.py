"""The daemon's HTTP listener: / (status page), /metrics, the JSON admin API under /api/v1/, and the
monthly reports under /reports/ (an index, their files, and each month's credits as CSV).

Handlers receive ApiServices, a narrow set of the daemon's parts, never the daemon itself. Every
change needs `Authorization: Bearer <token>` where the token comes from the environment variable
named by [monitor] admin_token_env; reads need the read token ([monitor] read_token_env) or the
admin token once a read token is set, except /metrics, /healthz, /readyz and the OpenAPI
document. Tokens are compared in constant time, never logged and never echoed. Every body and
query is checked against the OpenAPI document (monitor/openapi.py) before a handler reads it."""
from __future__ import annotations

import asyncio
import csv
import hmac
import io
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from monitor import admin, openapi
from monitor.clock import Clock, now_utc
from monitor.config import Config
from monitor.errors import InputError
from monitor.month_to_date import MonthToDate
from monitor.openapi import parse_json
from monitor.pages import reports_index_page, status_page
from monitor.publisher import CREDIT_COLUMNS, credits_due, report_index
from monitor.recorder import MinuteRecorder
from monitor.samples import LineError, MinuteAccumulator, minute_of_instant, parse_sample
from monitor.sql import UNAVAILABLE
from monitor.storage import Storage, StorageError
from monitor.writer import StorageWriter
from reports.fields import Problems, timestamp
from reports.formats import contract_json

log = logging.getLogger("slamon.api")
MAX_BODY = openapi.MAX_BODY_BYTES
MAX_MINUTES_LISTED = 45 * 1440


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
    not_ready: Callable[[], list[str]]            # why the daemon is not ready (empty: it is)


SERVICES = web.AppKey("services", ApiServices)


def _services(request: web.Request) -> ApiServices:
    return request.app[SERVICES]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


OPEN_PATHS = frozenset({"/metrics", "/healthz", "/readyz", "/api/v1/openapi.json"})


def _bearer(request: web.Request) -> bytes | None:
    """The bearer token of the request as bytes, or None. Tokens are printable ASCII: anything
    else (a control or non-ASCII character, even one that cannot be encoded) is no token."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or len(header) > 4096:
        return None
    given = header[7:]
    if not given.isascii() or not given.isprintable():
        return None
    return given.encode("ascii")


def _matches(given: bytes | None, env: str) -> bool:
    """The token from the environment variable `env` equals the given one (constant time)."""
    expected = os.environ.get(env, "")
    if not expected or given is None:
        return False
    return hmac.compare_digest(given, expected.encode("utf-8", "surrogateescape"))


@web.middleware
async def errors_and_auth(request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    settings = _services(request).config().monitor
    given = _bearer(request)
    if request.path.startswith("/api/") and request.method not in ("GET", "HEAD"):
        if not os.environ.get(settings.admin_token_env, ""):
            return _error(401, f"changes are disabled: no admin token in ${settings.admin_token_env}")
        if not _matches(given, settings.admin_token_env):
            return _error(401, "missing or wrong bearer token")
    elif request.path not in OPEN_PATHS and os.environ.get(settings.read_token_env, ""):
        # reads need the read token once one is set; the admin token reads too
        if not (_matches(given, settings.read_token_env) or _matches(given, settings.admin_token_env)):
            return _error(401, "missing or wrong bearer token (reads need the read token)")
    try:
        return await handler(request)
    except InputError as exc:
        log.info("request refused", extra={"method": request.method, "path": request.path[:200], "status": 400})
        return _error(400, str(exc))
    except UNAVAILABLE + (StorageError,) as exc:
        # the database is full, locked or gone: nothing was acknowledged, the client may retry
        log.warning("request not served: storage unavailable", extra={"path": request.path[:200], "why": str(exc)})
        return _error(503, f"storage unavailable, retry later: {exc}")
    except web.HTTPClientError as exc:
        if exc.content_type == "application/json":
            raise
        return _client_error(exc)


def _client_error(exc: web.HTTPClientError) -> web.Response:
    """aiohttp's own refusals (no such route, a method the route does not serve, a body over
    client_max_size) in plain text -> {"error": message}, like every other error; the Allow
    header of a 405 is kept. Nothing of the request is echoed."""
    if exc.status == 413:
        message = f"payload larger than {MAX_BODY} bytes"
    elif exc.status == 405:
        message = f"method not allowed here (allowed: {exc.headers.get('Allow', '')})"
    else:
        message = exc.reason.lower()
    response = _error(exc.status, message)
    if "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response


async def _payload(request: web.Request, schema: str) -> dict[str, Any]:
    """The request's JSON body, checked against its schema in the OpenAPI document."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length,
                                            text=json.dumps({"error": f"payload larger than {MAX_BODY} bytes"}),
                                            content_type="application/json")
    data = parse_json(await request.read(), "body")
    if not isinstance(data, dict):
        raise InputError("body must be a JSON object")
    _check(openapi.check(schema, data))
    return data


def _query(request: web.Request, name: str, schema: Mapping[str, Any], *, required: bool = False) -> str | None:
    """A query parameter, checked against its schema (type, length, pattern)."""
    value = request.query.get(name)
    if value is None:
        if required:
            raise InputError(f"{name}: is required")
        return None
    problems = openapi.check_value(schema, value, (name,))
    if problems:
        raise admin.InvalidChange(problems)
    return value


def _check(problems: Problems) -> None:
    """Refuse a body whose problems are named from its root (the entity's name is not part of
    a payload's keys: admin.key_text drops the first part of a path)."""
    if problems:
        named = Problems()
        for where, message in problems.items:
            named.add(("body", *where), message)
        raise admin.InvalidChange(named)


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
    domain = _query(request, "domain", openapi.NAME, required=True) or ""
    if domain not in config.domains:
        return _error(400, f"unknown domain {domain!r}")
    problems = Problems()
    start = timestamp(_query(request, "start", openapi.TIMESTAMP, required=True), ("start",), problems)
    end = timestamp(_query(request, "end", openapi.TIMESTAMP, required=True), ("end",), problems)
    if problems or start is None or end is None:
        raise InputError("; ".join(f"{p[0]}: {m}" for p, m in problems.items))
    first, last = minute_of_instant(start), minute_of_instant(end)
    if not 0 <= last - first <= MAX_MINUTES_LISTED:
        raise InputError(f"start and end must be in order and at most {MAX_MINUTES_LISTED} minutes apart")
    rows = await services.writer.run(lambda storage: storage.minute_rows(domain, first, last))
    th = config.domains[domain].thresholds
    for row in rows:
        row["state"] = th.state(row["requests"], row["errors"])
        row["start"] = datetime.fromtimestamp(row["minute"] * 60, UTC).isoformat()
    return web.json_response(rows)


async def audit(request: web.Request) -> web.Response:
    return web.json_response(await _services(request).writer.run(lambda storage: storage.audit_rows()))


async def quarantine(request: web.Request) -> web.Response:
    return web.json_response(await _services(request).writer.run(lambda storage: storage.quarantined()))


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    reasons = _services(request).not_ready()
    return web.json_response({"ready": not reasons, "reasons": reasons}, status=503 if reasons else 200)


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(openapi.openapi_document())


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(_services(request).registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


# --- changes ---------------------------------------------------------------------------------

async def add_window(request: web.Request) -> web.Response:
    services = _services(request)
    data = await _payload(request, "Window")
    config, actor = services.config(), _actor(request)
    window = await services.writer.run(lambda storage: admin.add_window(storage, config, data, actor))
    log.info("window added", extra={"window": window.id, "kind": window.kind, "actor": actor})
    await services.inputs_changed()
    return web.json_response({"id": window.id}, status=201)


async def end_window(request: web.Request) -> web.Response:
    services = _services(request)
    ref = request.match_info["id"]
    admin.window_number(ref)  # a malformed id is refused before the body is read
    data = await _payload(request, "WindowEnd")
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
    data = await _payload(request, "Notice")
    config, actor = services.config(), _actor(request)
    notice = await services.writer.run(lambda storage: admin.add_notice(storage, config, data, actor))
    await services.inputs_changed()
    return web.json_response({"id": notice.id}, status=201)


async def add_claim(request: web.Request) -> web.Response:
    services = _services(request)
    data = await _payload(request, "Claim")
    config, actor = services.config(), _actor(request)
    claim = await services.writer.run(lambda storage: admin.add_claim(storage, config, data, actor))
    log.info("claim added", extra={"claim": claim.id, "contract": claim.contract, "period": claim.period,
                                   "actor": actor})
    await services.inputs_changed()
    return web.json_response({"id": claim.id}, status=201)


async def claims(request: web.Request) -> web.Response:
    contract = _query(request, "contract", openapi.NAME)
    period = _query(request, "period", openapi.PERIOD)
    rows = await _services(request).writer.run(lambda storage: storage.claims(contract, period))
    return web.json_response([admin.claim_json(c) for c in rows])


async def push_samples(request: web.Request) -> web.Response:
    """Samples from collectors, in the `slamon ingest` line forms, for minutes still open. All or
    none: they are stored before the answer, so an acknowledged sample survives a crash."""
    services = _services(request)
    data = await _payload(request, "Samples")
    samples = data["samples"]
    parsed = []
    for i, item in enumerate(samples):
        try:
            parsed.append(_pushed_sample(services, item))
        except LineError as exc:
            raise InputError(f"samples[{i}]: {exc}") from None
    cells = MinuteAccumulator()
    for domain, minute, outcome, requests, errors in parsed:
        if outcome is not None:
            cells.add_outcome(domain, minute, outcome)
        else:
            cells.add_aggregate(domain, minute, requests, errors)

    def store(storage: Storage) -> None:
        with storage.db.atomic():
            storage.add_minute_counts(cells.drain(storage.domain_ids({d for d, _ in cells.cells})))

    await services.writer.run(store)
    for domain, minute, outcome, requests, errors in parsed:
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


# --- malformed HTTP --------------------------------------------------------------------------

class _QuietRequestHandler(RequestHandler):
    """Answers a request that is not valid HTTP with its status as {"error": message}, like every
    other error, never echoing what it sent (aiohttp's answer quotes the offending header line: a
    token in it would be reflected), and logs it in one line without the request's content."""

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500 or not (exc is None or isinstance(exc, HttpProcessingError)):
            return super().handle_error(request, status, exc, message)
        log.info("malformed HTTP request refused", extra={"status": status, "peer": str(request.remote),
                                                          "why": type(exc).__name__ if exc else "unknown"})
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Bad Request"
        response = _error(status, f"{status} {phrase}: not a valid HTTP request")
        response.force_close()
        return response


class _QuietServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _QuietRequestHandler(self, loop=self._loop, **self._kwargs)


class QuietAppRunner(web.AppRunner):
    """An AppRunner whose connections answer malformed HTTP without echoing it."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _QuietServer  # same state, one method more specific
        return server


def build_app(services: ApiServices) -> web.Application:
    app = web.Application(middlewares=[errors_and_auth], client_max_size=MAX_BODY)
    app[SERVICES] = services
    app.router.add_get("/", status_html)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/api/v1/openapi.json", openapi_json)
    app.router.add_get("/api/v1/status", status)
    app.router.add_get("/api/v1/contracts", contracts)
    app.router.add_get("/api/v1/contracts/{id}/accounting", accounting)
    app.router.add_get("/api/v1/minutes", minutes)
    app.router.add_get("/api/v1/audit", audit)
    app.router.add_get("/api/v1/quarantine", quarantine)
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
