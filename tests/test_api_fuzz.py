"""Property-based fuzzing of every route of the HTTP API, driven by the OpenAPI 3.1 document the
daemon serves at /api/v1/openapi.json (schemathesis), plus hand-written hostile requests.

For every generated request, with no token, with the read token and with the admin token:
- no response is a server error (>= 500);
- every 4xx answer on /api/ is JSON `{"error": "<non-empty message>"}`;
- no response body or header, and no log line of the daemon, contains the admin or the read token;
- schemathesis' own checks hold (documented status codes and content types, invalid data refused,
  auth enforced, unsupported methods refused), except positive_data_acceptance (see FUZZ_CONFIG)
  and, without the admin token, unsupported_method (see ADMIN_ONLY_CHECKS).
Then hostile requests by hand: JSON nested 10,000 deep, hostile samples, malformed window ids, lone
surrogates, non-ASCII and control characters in Authorization, 2 MB bodies, unrouted /api/ requests.

The daemon runs in this process on a clock moved by hand (as in test_api.py), with both tokens set,
so that reads need the read token and changes the admin token. Generation is derandomized: the same
requests are sent on every run."""
from __future__ import annotations

import asyncio
import http.client
import json
import logging
import secrets
import threading
import urllib.parse
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis import Case, Response

from monitor.api import MAX_BODY, OPEN_PATHS
from monitor.config import load_config
from monitor.daemon import Daemon
from monitor.openapi import openapi_document
from monitor.runtime import JsonFormatter
from tests.support import (
    FakeClock,
    aggregate_lines,
    domain_toml,
    lineworks_contract_toml,
    minute_index,
    monitor_toml,
    run_cli,
    write_config,
    write_jsonl,
)

START = datetime(2026, 11, 20, 10, 0, 30, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 10, 1, 10, tzinfo=UTC)  # the daemon observes 10:01 whole: pushes for it are taken
ADMIN_TOKEN = secrets.token_urlsafe(32)
READ_TOKEN = secrets.token_urlsafe(32)
SECRETS = (ADMIN_TOKEN, READ_TOKEN)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


# --- the daemon -----------------------------------------------------------------------------------

class LeakWatch(logging.Handler):
    """Every log record of the process, formatted as the daemon writes it (JSON with its extra
    fields), kept when it contains one of the tokens."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        if any(token in line for token in SECRETS):
            self.leaks.append(line)


class FuzzDaemon:
    """A Daemon on its own event loop in a thread, listening on 127.0.0.1."""

    def __init__(self, config: Path, clock: FakeClock) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fuzz-daemon", daemon=True)
        self._thread.start()
        self.daemon = Daemon(load_config(config), clock)
        self.call(self.daemon.start())
        self.call(clock.advance_to(NOW))
        self.host, self.port = self.daemon.addresses[0][:2]
        self.base = f"http://{self.host}:{self.port}"

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def stop(self) -> None:
        if self.daemon.addresses:
            self.call(self.daemon.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def watch() -> Iterator[LeakWatch]:
    handler = LeakWatch()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # the most verbose logging must still not show a token
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="module")
def fuzz_daemon(tmp_path_factory: pytest.TempPathFactory, watch: LeakWatch) -> Iterator[FuzzDaemon]:
    workdir = tmp_path_factory.mktemp("fuzz")
    cfg = write_config(workdir, monitor_toml() + domain_toml("mail") + domain_toml("drive")
                       + lineworks_contract_toml("acme-lw", ["mail", "drive"], timezone="Asia/Tokyo"))
    now = minute_index(START)
    rows = [(m, 30, 0) for m in range(now - 10, now + 1)]  # stored minutes: month-to-date has something
    history = write_jsonl(workdir / "history.jsonl", aggregate_lines("mail", rows) + aggregate_lines("drive", rows))
    result = run_cli("ingest", "--config", cfg, history)
    assert result.returncode == 0, result.stderr
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SLAMON_ADMIN_TOKEN", ADMIN_TOKEN)
        env.setenv("SLAMON_READ_TOKEN", READ_TOKEN)
        daemon = FuzzDaemon(cfg, FakeClock(START))
        try:
            # an open window, db-1: the fuzzer's "end a window" can find one to end
            seeded = post_json(daemon, "/api/v1/windows", a_window(kind="force_majeure", start="2026-11-20T09:30:00Z",
                                                                   end=None, reason="seeded, open"))
            assert (seeded.status, seeded.json()) == (201, {"id": "db-1"}), seeded.body
            yield daemon
        finally:
            daemon.stop()


# --- what every response must be ------------------------------------------------------------------

def assert_sound(method: str, path: str, status: int, headers: dict[str, list[str]], body: bytes) -> None:
    """No server error, no token anywhere in the answer, and a 4xx on /api/ is {"error": message}."""
    where = f"{method} {path} -> {status}: {body[:300]!r}"
    assert status < 500, where
    for token in SECRETS:
        assert token.encode() not in body, where
        for name, values in headers.items():
            assert token not in name and not any(token in value for value in values), where
    if path.startswith("/api/") and 400 <= status < 500:
        content_type = ";".join(headers.get("content-type", []))
        assert content_type.startswith("application/json"), where
        data = json.loads(body)
        assert isinstance(data, dict) and set(data) == {"error"}, where
        assert isinstance(data["error"], str) and data["error"].strip(), where


def assert_no_leak_in_log(watch: LeakWatch) -> None:
    assert not watch.leaks, watch.leaks[:3]


# --- fuzzing from the OpenAPI document --------------------------------------------------------------

INSTANTS = ["2026-11-20T10:01:00Z", "2026-11-20T10:01:05+00:00", "2026-11-20T19:01:20+09:00",
            "2026-11-20T09:00:00Z", "2026-11-01T00:00:00+09:00", "2026-10-31T15:00:00Z",
            "2026-12-01T00:00:00+09:00", "2026-11-20T10:00:00.500000+00:00"]

# Values the schema cannot tell apart from noise (a known domain or contract, a parseable instant,
# an existing window) are drawn from these dictionaries for most matching fields of schema-valid
# requests, so that some get past the parsers into storage instead of all stopping at "unknown
# domain". Negative mode draws only entries that break the schema, i.e. none of these.
PROBABILITY = 0.8
FUZZ_CONFIG = schemathesis.Config.from_dict({
    "generation": {
        "mode": "all",             # schema-valid and schema-breaking requests
        "max-examples": 30,        # per operation and test: keeps the module well under a minute
        "deterministic": True,     # derandomized: the same requests on every run, CI included
        "database": "none",        # no .hypothesis/ replay between runs
        "with-security-parameters": False,  # the tests set Authorization themselves
    },
    "checks": {
        # Off: "schema-valid data is accepted" cannot hold for this API. The document says what a
        # schema can (types, sizes, patterns, unknown keys); whether a domain or contract exists,
        # a timestamp parses or a window's end is after its start is the parsers' to say, after
        # the schema (monitor/openapi.py), with a 400 naming the problem.
        "positive_data_acceptance": {"enabled": False},
    },
    "dictionaries": {
        "domains": {"values": ["mail", "drive"]},
        "contracts": {"values": ["acme-lw"]},
        "ids": {"values": ["acme-lw", "db-1", "1", "db-2"]},
        "instants": {"values": INSTANTS},
        "periods": {"values": ["2026-11", "2026-10"]},
    },
    "parameters": {
        **{key: {"dictionary": "domains", "probability": PROBABILITY} for key in (
            "query.domain", "body.domain", "body.domains[*]", "body.samples[*].domain")},
        **{key: {"dictionary": "contracts", "probability": PROBABILITY} for key in (
            "query.contract", "body.contract", "body.contracts[*]")},
        **{key: {"dictionary": "instants", "probability": PROBABILITY} for key in (
            "query.start", "query.end", "body.start", "body.end", "body.announced_at", "body.announced_end",
            "body.at", "body.filed_at", "body.samples[*].ts", "body.samples[*].minute")},
        **{key: {"dictionary": "periods", "probability": PROBABILITY} for key in (
            "query.period", "path.period", "body.period")},
        "path.id": {"dictionary": "ids", "probability": PROBABILITY},
    },
})

# The document the daemon serves (test_the_fuzzed_document_is_the_one_served checks they are the
# same). It is loaded at import, not from the running daemon: schemathesis' lazy loader
# (schemathesis.pytest.from_fixture) fails under pytest 9 ("'Function' object has no attribute
# '_nodeid'").
SCHEMA = schemathesis.openapi.from_dict(openapi_document(), config=FUZZ_CONFIG)


# Without the admin token, every method but GET and HEAD on /api/ is 401 before routing, whatever
# the path (auth comes first, so an anonymous caller learns nothing about the routes: see
# test_other_methods_on_the_api_need_the_token_too in test_api.py). The check that an undeclared
# method gets 405 runs with the admin token only.
ADMIN_ONLY_CHECKS = [schemathesis.checks.unsupported_method]


def fuzz(case: Case[Any], daemon: FuzzDaemon, watch: LeakWatch, headers: dict[str, str]) -> Response:
    response = case.call(base_url=daemon.base, headers=headers)
    assert_sound(case.method, case.formatted_path, response.status_code, response.headers, response.content)
    case.validate_response(response, headers=headers, excluded_checks=[] if headers == ADMIN else ADMIN_ONLY_CHECKS)
    assert_no_leak_in_log(watch)
    return response


def test_the_fuzzed_document_is_the_one_served(fuzz_daemon):
    reply = send(fuzz_daemon, "GET", "/api/v1/openapi.json")
    assert reply.status == 200
    assert reply.json() == json.loads(json.dumps(openapi_document()))


@SCHEMA.parametrize()
def test_fuzz_without_a_token(case, fuzz_daemon, watch):
    response = fuzz(case, fuzz_daemon, watch, {})
    if case.path not in OPEN_PATHS:  # reads need the read token here, changes the admin token
        assert response.status_code == 401, (case.method, case.formatted_path, response.status_code)


@SCHEMA.parametrize()
def test_fuzz_with_the_read_token(case, fuzz_daemon, watch):
    response = fuzz(case, fuzz_daemon, watch, {"Authorization": f"Bearer {READ_TOKEN}"})
    if case.path.startswith("/api/") and case.method.upper() not in ("GET", "HEAD"):  # it changes nothing
        assert response.status_code == 401, (case.method, case.formatted_path, response.status_code)
    else:
        assert response.status_code != 401, (case.method, case.formatted_path, response.content[:200])


@SCHEMA.parametrize()
def test_fuzz_with_the_admin_token(case, fuzz_daemon, watch):
    response = fuzz(case, fuzz_daemon, watch, ADMIN)
    # the token is taken: what the write routes answer is about the body, never about auth
    assert response.status_code != 401, (case.method, case.formatted_path, response.content[:200])


# --- hand-written hostile requests --------------------------------------------------------------------

@dataclass
class Reply:
    status: int
    headers: dict[str, list[str]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def send(daemon: FuzzDaemon, method: str, path: str, body: bytes | None = None, *,
         headers: Sequence[tuple[str, str | bytes]] = (), chunked: bool = False) -> Reply:
    """One request with its header values sent as the given bytes (http.client checks no more
    than CR and LF in them), and the soundness checks on its answer."""
    connection = http.client.HTTPConnection(daemon.host, daemon.port, timeout=60)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Type", "application/json")
            if chunked:
                connection.putheader("Transfer-Encoding", "chunked")
            else:
                connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        if body is not None:
            if chunked:
                for i in range(0, len(body), 64 << 10):
                    piece = body[i:i + (64 << 10)]
                    connection.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                connection.send(b"0\r\n\r\n")
            else:
                connection.send(body)
        response = connection.getresponse()
        reply_headers: dict[str, list[str]] = {}
        for name, value in response.getheaders():
            reply_headers.setdefault(name.lower(), []).append(value)
        reply = Reply(response.status, reply_headers, response.read())
    finally:
        connection.close()
    assert_sound(method, path, reply.status, reply.headers, reply.body)
    return reply


def refused(reply: Reply, status: int, *needles: str) -> None:
    assert reply.status == status, (reply.status, reply.body[:300])
    message = reply.json()["error"]
    for needle in needles:
        assert needle in message, (needle, message)


def a_window(**fields: Any) -> dict[str, Any]:
    window = {"kind": "maintenance", "domains": ["mail"], "start": "2026-11-20T12:00:00Z",
              "end": "2026-11-20T13:00:00Z", "reason": "fuzz", **fields}
    return {key: value for key, value in window.items() if value is not None}


def a_sample(**fields: Any) -> dict[str, Any]:
    return {"domain": "mail", "ts": "2026-11-20T10:01:05Z", **fields}


def post_json(daemon: FuzzDaemon, path: str, data: Any) -> Reply:
    return send(daemon, "POST", path, json.dumps(data).encode(), headers=[("Authorization", ADMIN["Authorization"])])


@pytest.mark.parametrize("path", ["/api/v1/windows", "/api/v1/samples", "/api/v1/windows/db-1/end"])
@pytest.mark.parametrize("opener, closer", [(b"[", b"]"), (b'{"a":', b"}")], ids=["lists", "objects"])
def test_json_nested_10000_deep_is_400(fuzz_daemon, watch, path, opener, closer):
    body = opener * 10_000 + b"1" + closer * 10_000
    refused(send(fuzz_daemon, "POST", path, body, headers=[("Authorization", ADMIN["Authorization"])]),
            400, "nests deeper than")
    assert_no_leak_in_log(watch)


@pytest.mark.parametrize("sample, needles", [
    (a_sample(outcome=[]), ("samples", "outcome")),
    (a_sample(outcome={}), ("samples", "outcome")),
    ({"domain": "mail", "minute": "2026-11-20T10:01:00Z", "requests": 10**20, "errors": 0}, ("requests", "at most")),
    ({"domain": "mail", "minute": "2026-11-20T10:01:00Z", "requests": 5, "errors": -10**20}, ("errors", "at least")),
    (a_sample(status=10**20), ("status", "at most")),
], ids=["outcome-list", "outcome-object", "requests-1e20", "errors-minus-1e20", "status-1e20"])
def test_hostile_samples_are_400(fuzz_daemon, sample, needles):
    refused(post_json(fuzz_daemon, "/api/v1/samples", {"samples": [sample]}), 400, *needles)


@pytest.mark.parametrize("window_id", ["db-²", "db-99999999999999999999999", "99999999999999999999999", "db-0",
                                       "db--1", "db-1e3", "db-١"])
def test_malformed_window_ids_are_400(fuzz_daemon, window_id):
    path = "/api/v1/windows/" + urllib.parse.quote(window_id) + "/end"
    refused(post_json(fuzz_daemon, path, {"reason": "fuzz"}), 400, "window id")


LONE_SURROGATES = {
    "/api/v1/windows": b'{"kind": "maintenance", "domains": ["mail"], "start": "2026-11-20T12:00:00Z", '
                       b'"reason": "a \\ud800"}',
    "/api/v1/notices": b'{"contract": "acme-lw", "at": "2026-11-20T10:00:00Z", "note": "\\udc00 low"}',
    "/api/v1/claims": b'{"contract": "acme-lw", "period": "2026-11", "filed_at": "2026-11-20T10:00:00Z", '
                      b'"reference": "\\ud83d\\u0041"}',
    "/api/v1/samples": b'{"samples": [{"domain": "mail", "ts": "2026-11-20T10:01:05Z", "status": 200, "\\udfff": 1}]}',
}


@pytest.mark.parametrize("path", sorted(LONE_SURROGATES))
def test_a_lone_surrogate_in_a_string_is_400(fuzz_daemon, path):
    """JSON may escape half of a surrogate pair alone, which is no Unicode text (no UTF-8 column can
    hold it; it used to be a 500 from sqlite): refused like any bad body."""
    reply = send(fuzz_daemon, "POST", path, LONE_SURROGATES[path], headers=[("Authorization", ADMIN["Authorization"])])
    refused(reply, 400, "lone surrogate")


def test_a_surrogate_pair_is_text_and_taken(fuzz_daemon):
    body = b'{"contract": "acme-lw", "at": "2026-11-20T10:00:00Z", "note": "paired \\ud83d\\ude00"}'
    reply = send(fuzz_daemon, "POST", "/api/v1/notices", body, headers=[("Authorization", ADMIN["Authorization"])])
    assert reply.status == 201, reply.body


@pytest.mark.parametrize("value", [
    b"Bearer \xff\xfe\xfd", b"Bearer \xc3\xa9t\xc3\xa9", "Bearer tökén".encode(), b"\xff" * 64,
    b"Bearer " + ADMIN_TOKEN.encode() + b"\xff", b"Bearer \xe2\x80\x8b" + ADMIN_TOKEN.encode(),
], ids=["invalid-utf8", "utf8-accents", "utf8-umlauts", "bytes-only", "token-then-ff", "zero-width-then-token"])
@pytest.mark.parametrize("method, path", [("POST", "/api/v1/notices"), ("GET", "/api/v1/status")])
def test_non_ascii_authorization_is_401(fuzz_daemon, watch, method, path, value):
    body = json.dumps({"contract": "acme-lw", "at": "2026-11-20T10:00:00Z"}).encode() if method == "POST" else None
    refused(send(fuzz_daemon, method, path, body, headers=[("Authorization", value)]), 401, "bearer token")
    assert_no_leak_in_log(watch)


# (a trailing space or tab is not one: HTTP strips it from a field value, and the token is the token)
@pytest.mark.parametrize("suffix", [b"\x01", b"\x7f", b"\x00", b"\x1b[0m"], ids=["soh", "del", "nul", "escape"])
def test_token_with_a_control_character_is_refused_and_never_echoed(fuzz_daemon, caplog, suffix):
    caplog.set_level(logging.DEBUG)
    header = b"Bearer " + ADMIN_TOKEN.encode() + suffix
    body = json.dumps({"contract": "acme-lw", "at": "2026-11-20T10:00:00Z"}).encode()
    reply = send(fuzz_daemon, "POST", "/api/v1/notices", body, headers=[("Authorization", header)])
    assert reply.status in (400, 401), (reply.status, reply.body[:300])  # a bad header, or no token
    formatter = JsonFormatter()
    logged = caplog.text + "\n".join(formatter.format(record) for record in caplog.records)
    for token in SECRETS:
        assert token not in logged
        assert token[: len(token) // 2] not in logged  # not even partly


def test_a_2_mb_body_is_413(fuzz_daemon):
    body = json.dumps({"samples": [a_sample(status=200)], "pad": "x" * (2 << 20)}).encode()
    assert len(body) > 2 * MAX_BODY
    reply = send(fuzz_daemon, "POST", "/api/v1/samples", body, headers=[("Authorization", ADMIN["Authorization"])])
    refused(reply, 413, "larger than")


@pytest.mark.parametrize("path", ["/api/v1/samples", "/api/v1/windows", "/api/v1/notices", "/api/v1/claims"])
def test_a_2_mb_chunked_body_is_413(fuzz_daemon, path):
    """No Content-Length to refuse early: aiohttp stops reading at MAX_BODY, the answer is JSON."""
    body = b'{"note": "' + b"x" * (2 << 20) + b'"}'
    reply = send(fuzz_daemon, "POST", path, body, headers=[("Authorization", ADMIN["Authorization"])], chunked=True)
    refused(reply, 413, "larger than")


@pytest.mark.parametrize("method, path", [
    ("PUT", "/api/v1/windows"), ("DELETE", "/api/v1/claims"), ("PATCH", "/api/v1/status"),
    ("GET", "/api/v1/no-such-thing"), ("POST", "/api/v1/no-such-thing"), ("GET", "/api/v2/status"),
])
def test_unrouted_api_requests_answer_json(fuzz_daemon, method, path):
    reply = send(fuzz_daemon, method, path, headers=[("Authorization", ADMIN["Authorization"])])
    assert reply.status in (404, 405), reply.status
    if reply.status == 405:
        assert reply.headers.get("allow"), reply.headers


def test_no_token_was_ever_logged(fuzz_daemon, watch):
    """Runs last: the log has seen every request of the module."""
    assert_no_leak_in_log(watch)
