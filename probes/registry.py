"""Probe kinds by name. Build one with `default_registry()`; there is no module-level instance."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from .base import Probe, ProbeResult, ProbeSpec
from .http import http_probe
from .reasons import seconds, shorten
from .stopwatch import Stopwatch
from .tcp import tcp_probe

if TYPE_CHECKING:  # pragma: no cover - typing only
    import aiohttp

__all__ = ["DEADLINE_GRACE_SECONDS", "ProbeRegistry", "UnknownProbeKind", "default_registry"]

#: `ProbeRegistry.run` gives a probe this long beyond its own timeout before giving up on it.
DEADLINE_GRACE_SECONDS = 1.0


class UnknownProbeKind(KeyError):
    """No probe is registered under this kind (a ``KeyError``, so ``Mapping.get``/``in`` work)."""

    def __init__(self, kind: object, known: tuple[str, ...]) -> None:
        super().__init__(kind)
        self.kind = kind
        self.known = known

    def __str__(self) -> str:
        known = ", ".join(self.known) or "none"
        return f"unknown probe kind {self.kind!r}; registered kinds: {known}"


class ProbeRegistry(Mapping[str, Probe]):
    """A read-mostly mapping ``kind -> probe``; `register` adds kinds."""

    def __init__(self, probes: Mapping[str, Probe] | None = None) -> None:
        self._probes: dict[str, Probe] = {}
        for kind, probe in (probes or {}).items():
            self.register(kind, probe)

    def register(self, kind: str, probe: Probe, *, replace: bool = False) -> None:
        """Register ``probe`` under ``kind``. Refuses to silently replace an existing kind."""
        if not isinstance(kind, str) or not kind or not kind.isidentifier():
            raise ValueError(f"probe kind must be a non-empty identifier, got {kind!r}")
        if not callable(probe):
            raise TypeError(f"probe for kind {kind!r} must be callable, got {probe!r}")
        if kind in self._probes and not replace:
            raise ValueError(f"probe kind {kind!r} is already registered (pass replace=True)")
        self._probes[kind] = probe

    def __getitem__(self, kind: str) -> Probe:
        try:
            return self._probes[kind]
        except (KeyError, TypeError):
            raise UnknownProbeKind(kind, tuple(self._probes)) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._probes)

    def __len__(self) -> int:
        return len(self._probes)

    def __repr__(self) -> str:
        return f"ProbeRegistry({', '.join(self._probes)})"

    async def run(self, spec: ProbeSpec, session: aiohttp.ClientSession) -> ProbeResult:
        """Run the probe for ``spec.kind``. Never raises (except ``CancelledError``).

        Defence in depth for probes that break their contract: an unknown kind, an exception, a
        result of the wrong type, or a probe still running ``DEADLINE_GRACE_SECONDS`` after its
        timeout all become ``monitor_error`` results. Use ``registry[spec.kind]`` at
        configuration time to reject unknown kinds loudly.
        """
        clock = Stopwatch()
        probe = self._probes.get(spec.kind) if isinstance(spec.kind, str) else None
        if probe is None:
            return clock.result("monitor_error", str(UnknownProbeKind(spec.kind, tuple(self._probes))))
        deadline = spec.timeout_seconds + DEADLINE_GRACE_SECONDS
        try:
            async with asyncio.timeout(deadline):
                result = await probe(spec, session)
        except TimeoutError:
            return clock.result(
                "monitor_error", f"{spec.kind} probe overran its deadline of {seconds(deadline)}"
            )
        except Exception as exc:  # noqa: BLE001
            return clock.result(
                "monitor_error",
                f"{spec.kind} probe raised {type(exc).__name__}: {shorten(str(exc), 200)}",
            )
        if not isinstance(result, ProbeResult):
            return clock.result(
                "monitor_error", f"{spec.kind} probe returned {type(result).__name__}, not ProbeResult"
            )
        return result


def default_registry() -> ProbeRegistry:
    """A fresh registry with the built-in kinds ``http`` and ``tcp``."""
    return ProbeRegistry({"http": http_probe, "tcp": tcp_probe})
