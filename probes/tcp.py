"""The ``tcp`` probe kind: open a TCP connection to ``tcp://host:port`` and close it again.

``ok`` when the connection is established within ``timeout_seconds``; otherwise ``timeout``,
``dns_error`` (the name does not resolve), ``connect_error`` (refused, reset, unreachable) or
``monitor_error`` (the monitor's own host is out of resources, or an internal failure).
The ``session`` argument is accepted for the common probe signature and not used.
Never raises for a failing target; ``asyncio.CancelledError`` propagates.
"""
from __future__ import annotations

import asyncio
import errno
import socket
from typing import TYPE_CHECKING

from .base import ProbeResult, ProbeSpec
from .reasons import LOCAL_RESOURCE_ERRNOS, describe_oserror, seconds, shorten
from .stopwatch import Stopwatch

if TYPE_CHECKING:  # pragma: no cover - typing only
    import aiohttp

__all__ = ["tcp_probe"]

#: How long closing an established connection may take before we stop waiting for it.
CLOSE_GRACE_SECONDS = 0.5


async def tcp_probe(spec: ProbeSpec, session: aiohttp.ClientSession | None = None, /) -> ProbeResult:
    """Connect to ``spec``'s host and port, then close. Never raises for a failing target."""
    clock = Stopwatch()
    if spec.kind != "tcp":
        return clock.result("monitor_error", f"the tcp probe cannot run a {spec.kind} spec")
    host, port = spec.host, spec.port
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        async with asyncio.timeout(spec.timeout_seconds):
            _reader, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return clock.result("timeout", f"connecting to {target} timed out after "
                                       f"{seconds(spec.timeout_seconds)}")
    except socket.gaierror as exc:
        return clock.result("dns_error", f"DNS lookup of {host!r} failed: {describe_oserror(exc)}")
    except OSError as exc:
        if exc.errno in LOCAL_RESOURCE_ERRNOS:
            return clock.result("monitor_error", f"monitor host out of resources: "
                                                 f"{describe_oserror(exc)}")
        if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
            return clock.result("connect_error", f"connection to {target} refused")
        return clock.result("connect_error", f"cannot connect to {target}: {describe_oserror(exc)}")
    except Exception as exc:  # noqa: BLE001 - a probe turns every failure into a result
        return clock.result("monitor_error", f"probe failed internally: {type(exc).__name__}: "
                                             f"{shorten(str(exc), 200)}")

    latency = clock.elapsed()
    writer.close()
    try:
        async with asyncio.timeout(CLOSE_GRACE_SECONDS):
            await writer.wait_closed()
    except Exception:  # noqa: BLE001 - the connect succeeded; the close does not change the answer
        writer.transport.abort()
    return clock.result("ok", f"connected to {target}", latency=latency)
