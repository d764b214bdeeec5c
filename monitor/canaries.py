"""Canaries: targets outside the monitored services whose failure says the monitor itself is cut
off. When every canary fails, failing samples are the monitor's own problem (monitor_error), not
the provider's downtime.

Two judgements: live (`degraded`, from each canary's last answer) for the status page and for
samples recorded while it holds, and per minute (`failed_in`, from every canary check started in
that minute), applied when the minute closes, after the slowest canary has answered. The second
is what makes the minute's record independent of which timeout expires first."""
from __future__ import annotations

from dataclasses import dataclass, field

from probes import ProbeResult, ProbeSpec

CANARY_FRESH_SECONDS = 10.0


@dataclass
class CanaryHealth:
    """The last answer of each canary on the monotonic clock, and each canary's answers per minute."""

    specs: tuple[ProbeSpec, ...] = ()
    last: dict[str, tuple[float, bool]] = field(default_factory=dict)  # url -> (monotonic time, ok)
    by_minute: dict[int, dict[str, list[int]]] = field(default_factory=dict)  # minute -> url -> [ok, failed]

    def record(self, spec: ProbeSpec, result: ProbeResult, now: float, minute: int | None = None) -> None:
        ok = result.family in ("ok", "client_error")
        self.last[spec.url] = (now, ok)
        if minute is not None:
            tally = self.by_minute.setdefault(minute, {}).setdefault(spec.url, [0, 0])
            tally[0 if ok else 1] += 1

    def degraded(self, now: float) -> bool:
        """Every canary has a fresh failure (no canaries: never degraded)."""
        if not self.specs:
            return False
        for spec in self.specs:
            seen = self.last.get(spec.url)
            if seen is None or now - seen[0] > CANARY_FRESH_SECONDS or seen[1]:
                return False
        return True

    def failed_in(self, minute: int) -> bool:
        """Every canary was checked in `minute` and at least half of each one's checks failed
        (no canaries: never)."""
        if not self.specs:
            return False
        tallies = self.by_minute.get(minute, {})
        for spec in self.specs:
            ok, failed = tallies.get(spec.url, (0, 0))
            if failed == 0 or failed < ok:
                return False
        return True

    def forget_through(self, minute: int) -> None:
        for m in [m for m in self.by_minute if m <= minute]:
            del self.by_minute[m]
