"""Canaries: targets outside the monitored services whose failure says the monitor itself is cut
off. When every canary fails, failing samples are the monitor's own problem (monitor_error), not
the provider's downtime."""
from __future__ import annotations

from dataclasses import dataclass, field

from probes import ProbeResult, ProbeSpec

CANARY_FRESH_SECONDS = 10.0


@dataclass
class CanaryHealth:
    """The last answer of each canary, on the monotonic clock."""

    specs: tuple[ProbeSpec, ...] = ()
    last: dict[str, tuple[float, bool]] = field(default_factory=dict)  # url -> (monotonic time, ok)

    def record(self, spec: ProbeSpec, result: ProbeResult, now: float) -> None:
        self.last[spec.url] = (now, result.family in ("ok", "client_error"))

    def degraded(self, now: float) -> bool:
        """Every canary has a fresh failure (no canaries: never degraded)."""
        if not self.specs:
            return False
        for spec in self.specs:
            seen = self.last.get(spec.url)
            if seen is None or now - seen[0] > CANARY_FRESH_SECONDS or seen[1]:
                return False
        return True
