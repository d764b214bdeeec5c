"""The ``http`` probe kind: one HTTP(S) request through the daemon's shared aiohttp session.

Classification (regimes.md section 1):

- final status in ``spec.expect_status`` (default: any 2xx/3xx) and body check passed -> ``ok``
- other 4xx -> ``client_error``; other 5xx, or an unexpected 1xx/2xx/3xx -> ``server_error``
- ``body_contains`` not in the first ``max_body_bytes`` of the body -> ``server_error``
- more than ``max_redirects`` redirects, or a redirect to an invalid URL -> ``server_error``
- no complete answer within ``timeout_seconds`` (DNS, connect, TLS, redirects and body
  included) -> ``timeout``
- name resolution failed -> ``dns_error``; certificate or handshake failure -> ``tls_error``
- connection refused / reset / closed without a complete response -> ``connect_error``
- the monitor's own host out of resources (file descriptors, memory, ports) or an internal
  failure (bug, closed session) -> ``monitor_error``

The probe never raises for any of these; ``asyncio.CancelledError`` propagates.

Each probe uses its own connection (``Connection: close`` unless the spec sets a ``Connection``
header), like a new customer would, so that every sample exercises connect and TLS handshake, and
so that a half-read body never returns a connection to the pool. The body is read in chunks up to
``max_body_bytes`` and then the connection is closed: memory stays bounded by one chunk plus the
searched substring, whatever the server sends.
"""
from __future__ import annotations

import asyncio
import codecs
import errno
import ssl
from http import HTTPStatus

import aiohttp
from aiohttp import http_exceptions
from multidict import CIMultiDict

from .base import Outcome, ProbeResult, ProbeSpec
from .reasons import LOCAL_RESOURCE_ERRNOS, describe_oserror, seconds, shorten
from .stopwatch import Stopwatch

__all__ = ["USER_AGENT", "http_probe"]

USER_AGENT = "slamon-probe/0.1"
READ_CHUNK_BYTES = 16 * 1024


async def http_probe(spec: ProbeSpec, session: aiohttp.ClientSession, /) -> ProbeResult:
    """Run one HTTP(S) probe through ``session``. Never raises for a failing target."""
    clock = Stopwatch()
    if spec.kind != "http":
        return clock.result("monitor_error", f"the http probe cannot run a {spec.kind} spec")
    try:
        async with asyncio.timeout(spec.timeout_seconds):
            return await _exchange(spec, session, clock)
    except TimeoutError:  # ours, aiohttp's ClientTimeout, or a socket timeout
        if clock.status is None:
            where = "waiting for a response"
        else:
            where = f"reading the body of a {clock.status} response"
        return clock.result("timeout", f"timed out after {seconds(spec.timeout_seconds)} {where}")
    except Exception as exc:  # noqa: BLE001 - a probe turns every failure into a result
        outcome, reason = classify_exception(exc, spec)
        return clock.result(outcome, reason)


async def _exchange(spec: ProbeSpec, session: aiohttp.ClientSession, clock: Stopwatch) -> ProbeResult:
    headers: CIMultiDict[str] = CIMultiDict(spec.headers)
    if "Connection" not in headers:
        headers["Connection"] = "close"
    if "User-Agent" not in headers and "User-Agent" not in session.headers:
        headers["User-Agent"] = USER_AGENT
    follow = spec.max_redirects > 0
    async with session.request(
        spec.method,
        spec.url,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=spec.timeout_seconds),
        # True: verify, with the session connector's settings (by default the system trust store)
        ssl=True if spec.verify_tls else False,
        allow_redirects=follow,
        # aiohttp raises once the redirect count *reaches* max_redirects: allow exactly N.
        max_redirects=spec.max_redirects + 1 if follow else 1,
        raise_for_status=False,
    ) as resp:
        clock.status = status = resp.status
        if not spec.status_is_expected(status):
            resp.close()  # the body does not matter; do not read it
            return clock.result(_status_outcome(status), _status_reason(spec, status))
        return await _check_body(spec, resp, clock)


async def _check_body(spec: ProbeSpec, resp: aiohttp.ClientResponse, clock: Stopwatch) -> ProbeResult:
    needle = _encode_needle(spec.body_contains, resp.charset) if spec.body_contains else b""
    keep = max(len(needle) - 1, 0)
    tail = b""
    total = 0
    found = False
    while total < spec.max_body_bytes:
        chunk = await resp.content.read(min(READ_CHUNK_BYTES, spec.max_body_bytes - total))
        if not chunk:
            break
        total += len(chunk)
        if needle:
            window = tail + chunk
            if needle in window:
                found = True
                break
            tail = window[-keep:] if keep else b""
    latency = clock.elapsed()
    complete = resp.content.at_eof()
    if not complete:
        resp.close()  # stop reading: drop the connection instead of draining it

    status_text = _status_text(resp.status)
    if needle and not found:
        if complete:
            where = f"the {total}-byte body"
        else:
            where = f"the first {total} bytes of the body (max_body_bytes)"
        return clock.result(
            "server_error",
            f"{status_text} but body_contains {spec.body_contains!r} not found in {where}",
            latency=latency,
        )
    reason = status_text
    if found:
        reason += f"; body contains {spec.body_contains!r}"
    elif not complete:
        reason += f"; body not read beyond max_body_bytes={spec.max_body_bytes}"
    return clock.result("ok", reason, latency=latency)


def _encode_needle(text: str, charset: str | None) -> bytes:
    """The substring as bytes in the response's charset (a Shift_JIS page stays searchable)."""
    if charset:
        try:
            name = codecs.lookup(charset).name
            if not name.startswith(("utf-16", "utf-32")):  # those would add a BOM
                return text.encode(name)
        except (LookupError, UnicodeError):
            pass
    return text.encode("utf-8")


def _status_text(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _status_outcome(status: int) -> Outcome:
    if 400 <= status <= 499:
        return "client_error"
    return "server_error"  # 5xx, and any unexpected 1xx/2xx/3xx or nonstandard status


def _status_reason(spec: ProbeSpec, status: int) -> str:
    expected = (
        "expected " + ", ".join(map(str, spec.expect_status)) if spec.expect_status
        else "expected 2xx/3xx"
    )
    return f"{_status_text(status)} ({expected})"


def _target(spec: ProbeSpec) -> str:
    return f"{spec.host}:{spec.port}"


def classify_exception(exc: BaseException, spec: ProbeSpec) -> tuple[Outcome, str]:
    """Map an exception raised while probing ``spec`` to ``(outcome, reason)``."""
    if isinstance(exc, TimeoutError):
        return "timeout", f"timed out after {seconds(spec.timeout_seconds)}"

    if isinstance(exc, aiohttp.TooManyRedirects):
        last = exc.history[-1] if exc.history else None
        location = last.headers.get("Location") if last is not None else None
        where = f"; last redirect to {location}" if location else ""
        return "server_error", f"too many redirects: more than max_redirects={spec.max_redirects}{where}"
    if isinstance(exc, aiohttp.RedirectClientError):
        return "server_error", f"invalid redirect target: {exc}"

    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "dns_error", f"DNS lookup of {spec.host!r} failed: {describe_oserror(exc.os_error)}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cert_error = exc.certificate_error
        detail = getattr(cert_error, "verify_message", None) or str(cert_error)
        return "tls_error", f"TLS certificate verification failed for {_target(spec)}: {detail}"
    if isinstance(exc, aiohttp.ClientSSLError):
        return "tls_error", f"TLS handshake with {_target(spec)} failed: {_ssl_detail(exc.os_error)}"
    if isinstance(exc, aiohttp.ServerFingerprintMismatch):
        return "tls_error", f"TLS certificate fingerprint mismatch for {_target(spec)}"
    if isinstance(exc, ssl.SSLError):
        return "tls_error", f"TLS error with {_target(spec)}: {_ssl_detail(exc)}"

    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        local = _local_failure(os_error)
        if local:
            return "monitor_error", local
        if isinstance(os_error, TimeoutError) or os_error.errno == errno.ETIMEDOUT:
            return "timeout", f"connecting to {_target(spec)} timed out"
        if isinstance(os_error, ConnectionRefusedError) or os_error.errno == errno.ECONNREFUSED:
            return "connect_error", f"connection to {_target(spec)} refused"
        return "connect_error", f"cannot connect to {_target(spec)}: {describe_oserror(os_error)}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "connect_error", f"{_target(spec)} closed the connection without a complete response"
    if isinstance(exc, aiohttp.ClientPayloadError):
        cause = exc.__cause__
        truncated = isinstance(
            cause,
            (http_exceptions.ContentLengthError, http_exceptions.TransferEncodingError,
             ConnectionError, aiohttp.ClientConnectionError),
        ) or "not completed" in str(exc)
        if truncated:
            return "connect_error", f"connection lost before the body was complete: {exc}"
        return "server_error", f"broken response body: {exc}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return "server_error", f"malformed HTTP response from {_target(spec)}: {exc.message}"
    if isinstance(exc, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)):
        return "monitor_error", f"the probe's request could not be built: {exc}"
    if isinstance(exc, OSError):  # includes aiohttp.ClientOSError and ConnectionResetError
        local = _local_failure(exc)
        if local:
            return "monitor_error", local
        if isinstance(exc, ConnectionResetError) or exc.errno == errno.ECONNRESET:
            return "connect_error", f"connection to {_target(spec)} reset by peer"
        return "connect_error", f"connection error with {_target(spec)}: {describe_oserror(exc)}"
    if isinstance(exc, aiohttp.ClientConnectionError):
        return "connect_error", f"connection error with {_target(spec)}: {exc or type(exc).__name__}"
    if isinstance(exc, aiohttp.ClientError):
        return "server_error", f"HTTP client error with {_target(spec)}: {type(exc).__name__}: {exc}"
    return "monitor_error", f"probe failed internally: {type(exc).__name__}: {shorten(str(exc), 200)}"


def _local_failure(exc: BaseException) -> str | None:
    code = getattr(exc, "errno", None)
    if code in LOCAL_RESOURCE_ERRNOS:
        return f"monitor host out of resources: {describe_oserror(exc)}"
    return None


def _ssl_detail(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if reason:
        return str(reason)
    return describe_oserror(exc)
