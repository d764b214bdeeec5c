"""Read access: once SLAMON_READ_TOKEN holds a token, everything but /metrics, /healthz, /readyz and
the OpenAPI document needs it (or the admin token); malformed HTTP is refused without echoing
what it sent. Tokens appear in no response and no log line."""
from __future__ import annotations

import secrets
import socket

import pytest

from tests.support import FakeClock
from tests.test_api import START, get, request, start_daemon

OPEN = ["/metrics", "/healthz", "/readyz", "/api/v1/openapi.json"]
GUARDED = ["/", "/api/v1/status", "/api/v1/contracts", "/api/v1/contracts/acme-lw/accounting",
           "/api/v1/minutes?domain=mail&start=2026-11-20T00:00:00Z&end=2026-11-20T01:00:00Z",
           "/api/v1/audit", "/api/v1/quarantine", "/api/v1/claims", "/reports/", "/reports",
           "/reports/credits-2026-10.csv", "/reports/2026-10/acme-lw.json"]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    admin, reader = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SLAMON_ADMIN_TOKEN", admin)
        env.setenv("SLAMON_READ_TOKEN", reader)
        d = start_daemon(tmp_path_factory.mktemp("read"), token=admin, clock=FakeClock(START))
        d.reader = reader
        try:
            yield d
        finally:
            d.stop()


@pytest.mark.parametrize("path", OPEN)
def test_metrics_health_and_the_api_document_stay_open(guarded, path):
    reply = get(guarded, path)
    assert reply.status == 200, (path, reply.body[:200])


@pytest.mark.parametrize("path", GUARDED)
def test_everything_else_needs_a_token(guarded, path):
    refused = get(guarded, path)
    assert refused.status == 401, path
    assert "read token" in refused.json()["error"]
    assert request(guarded, "GET", path, token="not-the-token").status == 401
    for token in (guarded.reader, guarded.token):       # the read token, and the admin token reads too
        reply = request(guarded, "GET", path, token=token)
        assert reply.status in (200, 302, 404), (path, reply.status, reply.body[:200])
        assert reply.status != 401


def test_the_read_token_changes_nothing(guarded):
    reply = request(guarded, "POST", "/api/v1/notices", {"contract": "acme-lw", "at": "2026-11-20T01:00:00Z"},
                    token=guarded.reader)
    assert reply.status == 401 and "bearer token" in reply.json()["error"]


def test_readyz_says_why_not_and_healthz_only_that_it_answers(guarded):
    health = get(guarded, "/healthz").json()
    assert health == {"status": "ok"}
    ready = get(guarded, "/readyz")
    assert ready.status == 200 and ready.json() == {"ready": True, "reasons": []}
    guarded.daemon.recorder.write_failure = "OperationalError: database or disk is full"
    try:
        ready = get(guarded, "/readyz")
        assert ready.status == 503 and ready.json()["ready"] is False
        assert any("cannot be written" in reason for reason in ready.json()["reasons"])
    finally:
        guarded.daemon.recorder.write_failure = None


def raw_http(d, payload: bytes) -> bytes:
    host, port = d.daemon.addresses[0]
    with socket.create_connection((host, port), timeout=10) as conn:
        conn.sendall(payload)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_malformed_http_is_refused_without_echo_and_logged_without_the_token(guarded):
    """aiohttp's own answer quotes the offending header line; ours does not."""
    for header in (b"Authorization: Bearer " + guarded.token.encode() + b"\x01",
                   b"Authorization: Bearer " + guarded.reader.encode() + b"\x00tail",
                   b"X-Note: " + guarded.token.encode() + b"\x7f\x01"):
        answer = raw_http(guarded, b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n\r\n")
        assert answer.split(b"\r\n", 1)[0].endswith(b" 400 Bad Request"), answer[:80]
        assert guarded.token.encode() not in answer and guarded.reader.encode() not in answer
    log = guarded.stderr()
    assert "malformed HTTP request refused" in log
    assert guarded.token not in log and guarded.reader not in log


def test_a_non_ascii_authorization_header_is_401_not_500(guarded):
    answer = raw_http(guarded, b"POST /api/v1/notices HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                               b"Authorization: Bearer \xff\xfe\xc3\x28" + b"\r\nConnection: close\r\n\r\n{}")
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    answer = raw_http(guarded, b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n"
                               b"Authorization: Bearer \xe2\x82\xac\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
