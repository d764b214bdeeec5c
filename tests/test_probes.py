"""Probe layer against real servers on 127.0.0.1 (aiohttp.web and raw asyncio sockets).

Nothing here leaves the loopback interface: name resolution is pinned (see `_loopback_only_dns`)
so that `.invalid` names fail like NXDOMAIN without asking any resolver, and any other name but
`localhost` fails the test.
"""
from __future__ import annotations

import asyncio
import dataclasses
import math
import socket
import ssl
import struct
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web

from probes import (
    OUTCOME_FAMILY,
    OUTCOMES,
    ProbeRegistry,
    ProbeResult,
    ProbeSpec,
    UnknownProbeKind,
    default_registry,
    http_probe,
    outcome_family,
    tcp_probe,
)

# --------------------------------------------------------------------------------------------
# Test-only TLS material (never trusted anywhere outside these tests). EC P-256, valid 2000-2125,
# SAN IP:127.0.0.1 + DNS:localhost. Made with `openssl ca -startdate 20000101000000Z ...`.
# SELF_SIGNED_CERT is its own issuer; CA_SIGNED_CERT is issued by TEST_CA_CERT. Same key.

TEST_CA_CERT = """-----BEGIN CERTIFICATE-----
MIIBiTCCAS+gAwIBAgIBATAKBggqhkjOPQQDAjArMSkwJwYDVQQDDCBzbGFtb24g
dGVzdCBDQSAodHJ1c3RlZCBub3doZXJlKTAgFw0wMDAxMDEwMDAwMDBaGA8yMTI1
MDEwMTAwMDAwMFowKzEpMCcGA1UEAwwgc2xhbW9uIHRlc3QgQ0EgKHRydXN0ZWQg
bm93aGVyZSkwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQfQgjZ7pAkBfLTHyhP
r/CHoN9IUJ6nEiNp0ZoslZzBNw/l2NJ3/NTgfeqFWGsbatXPyhm2Rg7w7JJqPMu9
bI3Ko0IwQDAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBBjAdBgNVHQ4E
FgQUcTrAomFP2lYsQ5EF5RQMpIarvhEwCgYIKoZIzj0EAwIDSAAwRQIhANNqkeFQ
q+EB53eiptvJanOhVpiy3E0pL563EP3YtF8rAiBucNj7TKC90wCObIllbtN+ewoi
cyVoWMsSrGbsh1WtFQ==
-----END CERTIFICATE-----
"""

CA_SIGNED_CERT = """-----BEGIN CERTIFICATE-----
MIIBwzCCAWmgAwIBAgIBAjAKBggqhkjOPQQDAjArMSkwJwYDVQQDDCBzbGFtb24g
dGVzdCBDQSAodHJ1c3RlZCBub3doZXJlKTAgFw0wMDAxMDEwMDAwMDBaGA8yMTI1
MDEwMTAwMDAwMFowFDESMBAGA1UEAwwJbG9jYWxob3N0MFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEMlU7NgtyBzAWsor75igH9WK9Mz4E0U3pCIXnw084bsCQp1Tm
85T6rMLmHuYaBgPSzrEN+J0U5qPtXaZNxxBKOKOBkjCBjzAMBgNVHRMBAf8EAjAA
MA4GA1UdDwEB/wQEAwIHgDATBgNVHSUEDDAKBggrBgEFBQcDATAaBgNVHREEEzAR
hwR/AAABgglsb2NhbGhvc3QwHwYDVR0jBBgwFoAUcTrAomFP2lYsQ5EF5RQMpIar
vhEwHQYDVR0OBBYEFC5TU0NPA5TMEP+oEwIRpLoabegCMAoGCCqGSM49BAMCA0gA
MEUCIQD5qP3mYQX5oqDT6OpKZvuvKp84V+Wlj8wy9fdTEHdeZAIgOEVcPlNTT8Gx
u0C7LCGbb1Uaf/vTB8WRYpr+PZbBrQI=
-----END CERTIFICATE-----
"""

SELF_SIGNED_CERT = """-----BEGIN CERTIFICATE-----
MIIBiTCCAS+gAwIBAgIBAzAKBggqhkjOPQQDAjAUMRIwEAYDVQQDDAlsb2NhbGhv
c3QwIBcNMDAwMTAxMDAwMDAwWhgPMjEyNTAxMDEwMDAwMDBaMBQxEjAQBgNVBAMM
CWxvY2FsaG9zdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABDJVOzYLcgcwFrKK
++YoB/VivTM+BNFN6QiF58NPOG7AkKdU5vOU+qzC5h7mGgYD0s6xDfidFOaj7V2m
TccQSjijcDBuMAwGA1UdEwEB/wQCMAAwDgYDVR0PAQH/BAQDAgeAMBMGA1UdJQQM
MAoGCCsGAQUFBwMBMBoGA1UdEQQTMBGHBH8AAAGCCWxvY2FsaG9zdDAdBgNVHQ4E
FgQULlNTQ08DlMwQ/6gTAhGkuhpt6AIwCgYIKoZIzj0EAwIDSAAwRQIhALUXOkSj
iOc1ikoqOBQ+fwmWFr9URSXLR7xmnnBTSRObAiA0VhCO0eWKTAM8jcjPbADSjXz0
y/G1ag3f1WfAaoaCvw==
-----END CERTIFICATE-----
"""

TEST_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgNcBdNyBycsULd7Ei
FXzyw/1SbKIYv/NmjTTeqApke1ahRANCAAQyVTs2C3IHMBayivvmKAf1Yr0zPgTR
TekIhefDTzhuwJCnVObzlPqswuYe5hoGA9LOsQ34nRTmo+1dpk3HEEo4
-----END PRIVATE KEY-----
"""

STREAM_CHUNK = b"x" * 65536


@dataclasses.dataclass
class Counter:
    value: int = 0


STREAMED = web.AppKey("streamed", Counter)
SJIS_BODY = "サービス稼働中".encode("shift_jis")


# --------------------------------------------------------------------------------------------
# Name resolution stays on this machine.

@pytest.fixture(autouse=True)
def _loopback_only_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """RFC 6761 `.invalid` names fail as NXDOMAIN locally; other non-loopback names fail the test."""
    real_getaddrinfo = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name is None or name in ("localhost", "127.0.0.1", "::1"):
            return real_getaddrinfo(host, *args, **kwargs)
        asked.append(name)
        if name.rstrip(".").lower().endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        raise AssertionError(f"test tried to resolve {name!r}: only loopback is allowed")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


# --------------------------------------------------------------------------------------------
# Servers

async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="hello from slamon test server")


async def _status(request: web.Request) -> web.Response:
    return web.Response(status=int(request.match_info["code"]), text="status page")


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(30)
    return web.Response(text="too late")


async def _echo_header(request: web.Request) -> web.Response:
    return web.Response(
        text=f"probe={request.headers.get('X-Probe')} connection={request.headers.get('Connection')}"
    )


async def _sjis(request: web.Request) -> web.Response:
    return web.Response(body=SJIS_BODY, content_type="text/plain", charset="shift_jis")


async def _disconnect(request: web.Request) -> web.Response:
    assert request.transport is not None
    request.transport.close()  # FIN, no response at all
    await asyncio.sleep(5)
    return web.Response()


async def _reset(request: web.Request) -> web.Response:
    assert request.transport is not None
    sock = request.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    request.transport.abort()  # with SO_LINGER 0: RST
    await asyncio.sleep(5)
    return web.Response()


async def _truncated(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Length": "100000"})
    await resp.prepare(request)
    await resp.write(b"only a little")
    await asyncio.sleep(0.05)
    assert request.transport is not None
    request.transport.close()
    await asyncio.sleep(5)
    return resp


async def _redirect_loop(request: web.Request) -> web.Response:
    raise web.HTTPFound("/redirect-loop")


async def _chain(request: web.Request) -> web.Response:
    left = int(request.match_info["n"])
    if left <= 0:
        return web.Response(text="end of chain")
    raise web.HTTPFound(f"/chain/{left - 1}")


async def _stream(request: web.Request) -> web.StreamResponse:
    """An endless body as fast as the client takes it; counts what it managed to send."""
    resp = web.StreamResponse()
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    try:
        while True:
            await resp.write(STREAM_CHUNK)
            request.app[STREAMED].value += len(STREAM_CHUNK)
    except (ConnectionError, aiohttp.ClientConnectionResetError, RuntimeError):
        pass
    return resp


async def _trickle(request: web.Request) -> web.StreamResponse:
    """An endless body, a few bytes at a time: never finishes, never exceeds any cap."""
    resp = web.StreamResponse()
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    try:
        while True:
            await resp.write(b"tick\n")
            await asyncio.sleep(0.05)
    except (ConnectionError, aiohttp.ClientConnectionResetError, RuntimeError):
        pass
    return resp


def _make_app() -> web.Application:
    app = web.Application()
    app[STREAMED] = Counter()
    app.router.add_get("/ok", _ok)
    app.router.add_route("*", "/status/{code}", _status)
    app.router.add_get("/slow", _slow)
    app.router.add_get("/echo-header", _echo_header)
    app.router.add_get("/sjis", _sjis)
    app.router.add_get("/disconnect", _disconnect)
    app.router.add_get("/reset", _reset)
    app.router.add_get("/truncated", _truncated)
    app.router.add_get("/redirect-loop", _redirect_loop)
    app.router.add_get("/chain/{n}", _chain)
    app.router.add_get("/stream", _stream)
    app.router.add_get("/trickle", _trickle)
    return app


@dataclasses.dataclass
class Served:
    base: str  # e.g. "http://127.0.0.1:12345"
    app: web.Application
    port: int


ServeFn = Callable[..., Awaitable[Served]]


@pytest.fixture
async def serve() -> AsyncIterator[ServeFn]:
    """`await serve(ssl_context=None)` -> a fresh test app on 127.0.0.1 on a free port."""
    runners: list[web.AppRunner] = []

    async def start(ssl_context: ssl.SSLContext | None = None) -> Served:
        app = _make_app()
        runner = web.AppRunner(app, shutdown_timeout=0.5, handler_cancellation=True,
                               access_log=None)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        port = runner.addresses[0][1]
        scheme = "https" if ssl_context else "http"
        return Served(f"{scheme}://127.0.0.1:{port}", app, port)

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def http_server(serve: ServeFn) -> Served:
    return await serve()


def _server_tls_context(cert_pem: str, tmp_path) -> ssl.SSLContext:
    cert_file = tmp_path / "cert.pem"
    key_file = tmp_path / "key.pem"
    cert_file.write_text(cert_pem)
    key_file.write_text(TEST_KEY)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The daemon's shared session, as the daemon would create it."""
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[..., Awaitable[int]]]:
    """`await raw_server(handler)` -> port of an asyncio TCP server on 127.0.0.1."""
    servers: list[asyncio.Server] = []

    async def start(handler) -> int:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return server.sockets[0].getsockname()[1]

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture
def unresponsive_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose accept queue is full: new SYNs are dropped, connects hang."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    time.sleep(0.1)
    yield port
    for sock in (*fillers, listener):
        sock.close()


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def probe(spec: ProbeSpec, session: aiohttp.ClientSession) -> tuple[ProbeResult, float]:
    """Run the registered probe for spec.kind directly; assert it answered within timeout + 1 s."""
    fn = default_registry()[spec.kind]
    t0 = time.monotonic()
    result = await fn(spec, session)
    elapsed = time.monotonic() - t0
    print(f"{spec.kind} {spec.url} -> {result.outcome} {result.status} in {elapsed:.3f}s: "
          f"{result.reason}")  # shown by pytest when a test fails
    assert isinstance(result, ProbeResult)
    assert elapsed <= spec.timeout_seconds + 1.0, (elapsed, result)
    assert 0 <= result.latency_seconds <= elapsed + 0.01
    assert result.started_at.tzinfo is not None
    return result, elapsed


# --------------------------------------------------------------------------------------------
# HTTP outcomes

async def test_200_is_ok(http_server: Served, session: aiohttp.ClientSession) -> None:
    before = datetime.now(UTC)
    result, _ = await probe(ProbeSpec(f"{http_server.base}/ok"), session)
    assert result.outcome == "ok"
    assert result.family == "ok" and result.counts and not result.is_error
    assert result.status == 200
    assert "200" in result.reason
    assert before <= result.started_at <= datetime.now(UTC)


async def test_404_is_client_error(http_server: Served, session: aiohttp.ClientSession) -> None:
    result, _ = await probe(ProbeSpec(f"{http_server.base}/status/404"), session)
    assert (result.outcome, result.status) == ("client_error", 404)
    assert result.counts and not result.is_error
    assert "404" in result.reason


async def test_503_is_server_error(http_server: Served, session: aiohttp.ClientSession) -> None:
    result, _ = await probe(ProbeSpec(f"{http_server.base}/status/503"), session)
    assert (result.outcome, result.status) == ("server_error", 503)
    assert result.is_error
    assert "503" in result.reason


async def test_expected_404_is_ok(http_server: Served, session: aiohttp.ClientSession) -> None:
    spec = ProbeSpec(f"{http_server.base}/status/404", expect_status=[404])
    result, _ = await probe(spec, session)
    assert (result.outcome, result.status) == ("ok", 404)


async def test_unexpected_2xx_is_server_error(http_server: Served,
                                              session: aiohttp.ClientSession) -> None:
    spec = ProbeSpec(f"{http_server.base}/status/204", expect_status=[200])
    result, _ = await probe(spec, session)
    assert (result.outcome, result.status) == ("server_error", 204)
    assert "expected 200" in result.reason


async def test_unexpected_4xx_stays_client_error(http_server: Served,
                                                 session: aiohttp.ClientSession) -> None:
    spec = ProbeSpec(f"{http_server.base}/status/404", expect_status=[200])
    result, _ = await probe(spec, session)
    assert (result.outcome, result.status) == ("client_error", 404)


async def test_method_and_headers_are_sent(http_server: Served,
                                           session: aiohttp.ClientSession) -> None:
    spec = ProbeSpec(f"{http_server.base}/echo-header", headers=[("X-Probe", "slamon-42")],
                     body_contains="probe=slamon-42 connection=close")
    result, _ = await probe(spec, session)
    assert result.outcome == "ok", result.reason

    spec = ProbeSpec(f"{http_server.base}/status/200", method="head")
    assert spec.method == "HEAD"
    result, _ = await probe(spec, session)
    assert (result.outcome, result.status) == ("ok", 200)


async def test_body_contains_match_and_mismatch(http_server: Served,
                                                session: aiohttp.ClientSession) -> None:
    good = ProbeSpec(f"{http_server.base}/ok", body_contains="slamon test")
    result, _ = await probe(good, session)
    assert result.outcome == "ok", result.reason

    bad = ProbeSpec(f"{http_server.base}/ok", body_contains="all systems operational")
    result, _ = await probe(bad, session)
    assert (result.outcome, result.status) == ("server_error", 200)
    assert "all systems operational" in result.reason and "not found" in result.reason


async def test_body_contains_in_response_charset(http_server: Served,
                                                 session: aiohttp.ClientSession) -> None:
    result, _ = await probe(ProbeSpec(f"{http_server.base}/sjis", body_contains="稼働中"), session)
    assert result.outcome == "ok", result.reason


async def test_body_contains_spanning_chunks(http_server: Served,
                                             session: aiohttp.ClientSession) -> None:
    # The endless stream is all "x": a needle longer than one read chunk must still be found
    # across chunk boundaries, and the probe stops reading as soon as it is.
    spec = ProbeSpec(f"{http_server.base}/stream", body_contains="x" * 20000,
                     max_body_bytes=1 << 20)
    result, _ = await probe(spec, session)
    assert result.outcome == "ok", result.reason


async def test_slow_response_times_out(http_server: Served, session: aiohttp.ClientSession) -> None:
    spec = ProbeSpec(f"{http_server.base}/slow", timeout_seconds=0.5)
    result, elapsed = await probe(spec, session)
    assert result.outcome == "timeout"
    assert result.family == "server_error" and result.status is None
    assert elapsed >= 0.45
    assert "timed out" in result.reason


async def test_connect_that_hangs_times_out(unresponsive_port: int,
                                            session: aiohttp.ClientSession) -> None:
    spec = ProbeSpec(f"http://127.0.0.1:{unresponsive_port}/", timeout_seconds=0.5)
    result, elapsed = await probe(spec, session)
    assert (result.outcome, result.status) == ("timeout", None), result.reason
    assert elapsed >= 0.45


async def test_endless_trickle_body_times_out(http_server: Served,
                                              session: aiohttp.ClientSession) -> None:
    spec = ProbeSpec(f"{http_server.base}/trickle", timeout_seconds=0.7,
                     max_body_bytes=1 << 20)
    result, _ = await probe(spec, session)
    assert (result.outcome, result.status) == ("timeout", 200)
    assert "body" in result.reason


async def test_endless_body_read_stops_at_cap(http_server: Served,
                                              session: aiohttp.ClientSession) -> None:
    result, elapsed = await probe(ProbeSpec(f"{http_server.base}/stream"), session)
    assert (result.outcome, result.status) == ("ok", 200)
    assert "max_body_bytes" in result.reason
    assert elapsed < 2.0


async def test_endless_body_memory_stays_bounded(http_server: Served,
                                                 session: aiohttp.ClientSession) -> None:
    # Search a 32 MiB window for a substring that is never there: the server streams the whole
    # window, the probe keeps only one chunk plus the needle's length at a time.
    cap = 32 * 1024 * 1024
    spec = ProbeSpec(f"{http_server.base}/stream", body_contains="never-in-the-body",
                     max_body_bytes=cap, timeout_seconds=20)
    tracemalloc.start()
    try:
        result, _ = await probe(spec, session)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.outcome, result.status) == ("server_error", 200), result.reason
    assert "not found" in result.reason and str(cap) in result.reason
    assert http_server.app[STREAMED].value >= cap
    print(f"tracemalloc peak {peak} bytes; server streamed {http_server.app[STREAMED].value}")
    assert peak < 3 * 1024 * 1024, f"peak {peak} bytes while {http_server.app[STREAMED].value} streamed"


async def test_connection_closed_without_response(http_server: Served,
                                                  session: aiohttp.ClientSession) -> None:
    result, _ = await probe(ProbeSpec(f"{http_server.base}/disconnect"), session)
    assert result.outcome == "connect_error", result.reason
    assert result.family == "server_error"


async def test_connection_reset(http_server: Served, session: aiohttp.ClientSession) -> None:
    result, _ = await probe(ProbeSpec(f"{http_server.base}/reset"), session)
    assert result.outcome == "connect_error", result.reason


async def test_connection_lost_mid_body(http_server: Served, session: aiohttp.ClientSession) -> None:
    result, _ = await probe(ProbeSpec(f"{http_server.base}/truncated"), session)
    assert (result.outcome, result.status) == ("connect_error", 200), result.reason


async def test_closed_port_is_connect_error(session: aiohttp.ClientSession) -> None:
    port = _closed_port()
    result, _ = await probe(ProbeSpec(f"http://127.0.0.1:{port}/"), session)
    assert result.outcome == "connect_error"
    assert "refused" in result.reason


async def test_unresolvable_host_is_dns_error(session: aiohttp.ClientSession,
                                              _loopback_only_dns: list[str]) -> None:
    result, _ = await probe(ProbeSpec("http://status.slamon-test.invalid/health"), session)
    assert result.outcome == "dns_error", result.reason
    assert result.family == "server_error"
    assert "status.slamon-test.invalid" in result.reason
    assert _loopback_only_dns == ["status.slamon-test.invalid"]


async def test_redirect_loop_is_server_error(http_server: Served,
                                             session: aiohttp.ClientSession) -> None:
    result, _ = await probe(ProbeSpec(f"{http_server.base}/redirect-loop"), session)
    assert result.outcome == "server_error"
    assert "redirects" in result.reason and "5" in result.reason


async def test_redirect_cap_is_exact(http_server: Served, session: aiohttp.ClientSession) -> None:
    at_cap = ProbeSpec(f"{http_server.base}/chain/3", max_redirects=3, body_contains="end of chain")
    result, _ = await probe(at_cap, session)
    assert (result.outcome, result.status) == ("ok", 200), result.reason

    over_cap = ProbeSpec(f"{http_server.base}/chain/4", max_redirects=3)
    result, _ = await probe(over_cap, session)
    assert result.outcome == "server_error" and "redirects" in result.reason

    no_follow = ProbeSpec(f"{http_server.base}/chain/4", max_redirects=0)
    result, _ = await probe(no_follow, session)
    assert (result.outcome, result.status) == ("ok", 302)


async def test_garbage_response_is_server_error(raw_server, session: aiohttp.ClientSession) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"this is not HTTP at all\r\n\r\n")
        await writer.drain()
        writer.close()

    port = await raw_server(handler)
    result, _ = await probe(ProbeSpec(f"http://127.0.0.1:{port}/"), session)
    assert (result.outcome, result.status) == ("server_error", None), result.reason
    assert "malformed" in result.reason


async def test_cancellation_propagates(http_server: Served, session: aiohttp.ClientSession) -> None:
    task = asyncio.ensure_future(http_probe(ProbeSpec(f"{http_server.base}/slow"), session))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_closed_session_is_monitor_error(http_server: Served) -> None:
    session = aiohttp.ClientSession()
    await session.close()
    result, _ = await probe(ProbeSpec(f"{http_server.base}/ok"), session)
    assert result.outcome == "monitor_error"
    assert not result.counts


# --------------------------------------------------------------------------------------------
# HTTPS

async def test_self_signed_certificate_is_tls_error(serve: ServeFn, tmp_path,
                                                    session: aiohttp.ClientSession) -> None:
    server = await serve(_server_tls_context(SELF_SIGNED_CERT, tmp_path))
    result, _ = await probe(ProbeSpec(f"{server.base}/ok"), session)
    assert result.outcome == "tls_error", result.reason
    assert result.family == "server_error" and result.status is None
    assert "certificate" in result.reason and "self-signed" in result.reason


async def test_self_signed_certificate_unverified_is_ok(serve: ServeFn, tmp_path,
                                                        session: aiohttp.ClientSession) -> None:
    server = await serve(_server_tls_context(SELF_SIGNED_CERT, tmp_path))
    result, _ = await probe(ProbeSpec(f"{server.base}/ok", verify_tls=False,
                                      body_contains="hello"), session)
    assert (result.outcome, result.status) == ("ok", 200), result.reason


async def test_tls_trust_comes_from_the_shared_session(serve: ServeFn, tmp_path,
                                                       session: aiohttp.ClientSession) -> None:
    server = await serve(_server_tls_context(CA_SIGNED_CERT, tmp_path))
    spec = ProbeSpec(f"{server.base}/ok")

    result, _ = await probe(spec, session)  # system trust store: the test CA is unknown
    assert result.outcome == "tls_error", result.reason

    trusting = ssl.create_default_context(cadata=TEST_CA_CERT)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trusting)) as custom:
        result, _ = await probe(spec, custom)
        assert (result.outcome, result.status) == ("ok", 200), result.reason
        by_name = ProbeSpec(f"https://localhost:{server.port}/ok")  # SNI + hostname check
        result, _ = await probe(by_name, custom)
        assert (result.outcome, result.status) == ("ok", 200), result.reason


async def test_https_to_plain_http_port_is_tls_error(http_server: Served,
                                                     session: aiohttp.ClientSession) -> None:
    result, _ = await probe(ProbeSpec(f"https://127.0.0.1:{http_server.port}/ok"), session)
    assert result.outcome == "tls_error", result.reason


# --------------------------------------------------------------------------------------------
# TCP

async def test_tcp_ok(raw_server, session: aiohttp.ClientSession) -> None:
    accepted = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        writer.close()

    port = await raw_server(handler)
    result, _ = await probe(ProbeSpec(f"tcp://127.0.0.1:{port}"), session)
    assert result.outcome == "ok", result.reason
    assert result.status is None
    await asyncio.wait_for(accepted.wait(), 1)


async def test_tcp_refused(session: aiohttp.ClientSession) -> None:
    port = _closed_port()
    result, _ = await probe(ProbeSpec(f"tcp://127.0.0.1:{port}"), session)
    assert result.outcome == "connect_error"
    assert "refused" in result.reason


async def test_tcp_connect_that_hangs_times_out(unresponsive_port: int,
                                                session: aiohttp.ClientSession) -> None:
    spec = ProbeSpec(f"tcp://127.0.0.1:{unresponsive_port}", timeout_seconds=0.5)
    result, elapsed = await probe(spec, session)
    assert result.outcome == "timeout", result.reason
    assert elapsed >= 0.45


async def test_tcp_unresolvable_is_dns_error(session: aiohttp.ClientSession) -> None:
    result, _ = await probe(ProbeSpec("tcp://db.slamon-test.invalid:5432"), session)
    assert result.outcome == "dns_error", result.reason


async def test_tcp_localhost_name_resolves(raw_server, session: aiohttp.ClientSession) -> None:
    async def handler(reader, writer) -> None:
        writer.close()

    port = await raw_server(handler)
    result, _ = await probe(ProbeSpec(f"tcp://localhost:{port}", timeout_seconds=2), session)
    # if localhost resolves to ::1 first (nothing listens there), the next address is tried
    assert result.outcome == "ok", result.reason


# --------------------------------------------------------------------------------------------
# Registry

def test_registry_resolves_builtin_kinds() -> None:
    registry = default_registry()
    assert isinstance(registry, ProbeRegistry)
    assert registry["http"] is http_probe
    assert registry["tcp"] is tcp_probe
    assert set(registry) == {"http", "tcp"} and len(registry) == 2
    assert "udp" not in registry and registry.get("udp") is None


def test_registry_rejects_unknown_kind_clearly() -> None:
    registry = default_registry()
    with pytest.raises(UnknownProbeKind) as info:
        registry["icmp"]
    assert isinstance(info.value, KeyError)
    assert str(info.value) == "unknown probe kind 'icmp'; registered kinds: http, tcp"


def test_registries_are_independent() -> None:
    one, two = default_registry(), default_registry()
    assert one is not two

    async def fake(spec, session):  # pragma: no cover - never awaited
        raise AssertionError

    one.register("fake", fake)
    assert "fake" in one and "fake" not in two
    with pytest.raises(ValueError, match="already registered"):
        one.register("http", fake)
    one.register("http", fake, replace=True)
    assert one["http"] is fake and two["http"] is http_probe
    with pytest.raises(ValueError):
        one.register("", fake)
    with pytest.raises(TypeError):
        one.register("thing", "not callable")  # type: ignore[arg-type]


async def test_registry_run_dispatches_and_never_raises(http_server: Served,
                                                        session: aiohttp.ClientSession) -> None:
    registry = default_registry()
    result = await registry.run(ProbeSpec(f"{http_server.base}/ok"), session)
    assert result.outcome == "ok"

    async def broken(spec, session):
        raise RuntimeError("boom")

    async def hangs(spec, session):
        await asyncio.sleep(60)

    async def wrong_type(spec, session):
        return "ok"

    tcp_spec = ProbeSpec("tcp://127.0.0.1:9", timeout_seconds=0.2)
    for bad in (broken, hangs, wrong_type):
        registry.register("tcp", bad, replace=True)
        t0 = time.monotonic()
        result = await registry.run(tcp_spec, session)
        assert time.monotonic() - t0 <= tcp_spec.timeout_seconds + 1.2
        assert result.outcome == "monitor_error", (bad, result)

    empty = ProbeRegistry()
    result = await empty.run(tcp_spec, session)
    assert result.outcome == "monitor_error" and "unknown probe kind 'tcp'" in result.reason


# --------------------------------------------------------------------------------------------
# Outcomes and validation

def test_outcome_families() -> None:
    assert set(OUTCOME_FAMILY) == set(OUTCOMES)
    assert {o: outcome_family(o) for o in OUTCOMES} == {
        "ok": "ok",
        "client_error": "client_error",
        "server_error": "server_error",
        "timeout": "server_error",
        "connect_error": "server_error",
        "tls_error": "server_error",
        "dns_error": "server_error",
        "monitor_error": "monitor_error",
    }
    with pytest.raises(ValueError, match="unknown outcome"):
        outcome_family("teapot")
    with pytest.raises(TypeError):
        OUTCOME_FAMILY["new"] = "ok"  # type: ignore[index]


def test_probe_spec_defaults_and_normalisation() -> None:
    spec = ProbeSpec("https://example.test/health")
    assert (spec.kind, spec.method, spec.headers, spec.expect_status) == ("http", "GET", (), ())
    assert (spec.timeout_seconds, spec.verify_tls, spec.max_body_bytes, spec.max_redirects,
            spec.every_seconds, spec.body_contains) == (5.0, True, 65536, 5, 2.0, None)
    assert (spec.host, spec.port) == ("example.test", 443)
    assert spec.status_is_expected(200) and spec.status_is_expected(399)
    assert not spec.status_is_expected(404) and not spec.status_is_expected(199)

    spec = ProbeSpec("http://h.test:8080/x", method="post", headers={"X-A": "1"},
                     expect_status=[200, 404, 200], timeout_seconds=3)
    assert spec.method == "POST" and spec.headers == (("X-A", "1"),)
    assert spec.expect_status == (200, 404) and isinstance(spec.timeout_seconds, float)
    assert spec.status_is_expected(404) and not spec.status_is_expected(201)
    hash(spec)  # frozen and hashable
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.url = "http://other.test/"  # type: ignore[misc]

    tcp = ProbeSpec("tcp://[::1]:5432")
    assert (tcp.kind, tcp.host, tcp.port) == ("tcp", "::1", 5432)
    assert ProbeSpec("tcp://db.test:5432", kind="tcp").kind == "tcp"


@pytest.mark.parametrize(
    ("url", "kwargs", "message"),
    [
        ("", {}, "url must be"),
        ("ftp://files.test/", {}, "scheme"),
        ("/health", {}, "scheme"),
        ("http://", {}, "url"),
        ("http://a b.test/", {}, "whitespace"),
        ("http://h.test:99999/", {}, "not a valid URL"),
        ("http://h.test:0/", {}, "port 0"),
        ("http://h.test/", {"kind": "udp"}, "kind must be one of"),
        ("http://h.test/", {"kind": "tcp"}, "tcp://host:port"),
        ("tcp://h.test:80", {"kind": "http"}, "http://"),
        ("tcp://h.test", {}, "explicit port"),
        ("tcp://h.test:80/path", {}, "just tcp://host:port"),
        ("tcp://h.test:80", {"body_contains": "x"}, "http probes only"),
        ("tcp://h.test:80", {"expect_status": [200]}, "http probes only"),
        ("tcp://h.test:80", {"verify_tls": False}, "http probes only"),
        ("http://h.test/", {"method": "GE T"}, "method"),
        ("http://h.test/", {"method": ""}, "method"),
        ("http://h.test/", {"headers": [("Bad Name", "x")]}, "header name"),
        ("http://h.test/", {"headers": [("X-A", "1\r\nX-Injected: 2")]}, "CR, LF"),
        ("http://h.test/", {"headers": [("X-A",)]}, "pair"),
        ("http://h.test/", {"headers": "X-A: 1"}, "pairs"),
        ("http://h.test/", {"headers": [("X-A", 1)]}, "value must be a string"),
        ("http://h.test/", {"expect_status": 200}, "sequence"),
        ("http://h.test/", {"expect_status": [700]}, "between 100 and 599"),
        ("http://h.test/", {"expect_status": [99]}, "between 100 and 599"),
        ("http://h.test/", {"expect_status": ["200"]}, "integer"),
        ("http://h.test/", {"expect_status": [True]}, "integer"),
        ("http://h.test/", {"timeout_seconds": 0}, "timeout_seconds"),
        ("http://h.test/", {"timeout_seconds": -1}, "timeout_seconds"),
        ("http://h.test/", {"timeout_seconds": math.nan}, "timeout_seconds"),
        ("http://h.test/", {"timeout_seconds": math.inf}, "timeout_seconds"),
        ("http://h.test/", {"timeout_seconds": "5s"}, "timeout_seconds"),
        ("http://h.test/", {"timeout_seconds": 86400}, "at most"),
        ("http://h.test/", {"every_seconds": 0}, "every_seconds"),
        ("http://h.test/", {"every_seconds": True}, "every_seconds"),
        ("http://h.test/", {"verify_tls": "yes"}, "verify_tls"),
        ("http://h.test/", {"max_body_bytes": -1}, "max_body_bytes"),
        ("http://h.test/", {"max_body_bytes": 1.5}, "max_body_bytes"),
        ("http://h.test/", {"max_body_bytes": 1 << 40}, "max_body_bytes"),
        ("http://h.test/", {"max_redirects": -1}, "max_redirects"),
        ("http://h.test/", {"max_redirects": 1000}, "max_redirects"),
        ("http://h.test/", {"body_contains": ""}, "body_contains"),
        ("http://h.test/", {"body_contains": 42}, "body_contains"),
        ("http://h.test/", {"body_contains": "abcdef", "max_body_bytes": 3}, "never be found"),
    ],
)
def test_probe_spec_rejects_bad_values(url: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ProbeSpec(url, **kwargs)


def test_probe_result_validates() -> None:
    now = datetime.now(UTC)
    ok = ProbeResult(outcome="ok", latency_seconds=0.1, status=200, reason="HTTP 200 OK",
                     started_at=now)
    assert ok.finished_at > now
    bad = [
        {"outcome": "fine"},
        {"latency_seconds": -0.001},
        {"latency_seconds": math.nan},
        {"status": 42},
        {"status": True},
        {"reason": None},
        {"started_at": datetime.now()},  # naive
    ]
    for change in bad:
        with pytest.raises(ValueError):
            dataclasses.replace(ok, **change)
