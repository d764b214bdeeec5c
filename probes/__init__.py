"""slamon probes: synthetic requests that become samples with an outcome class.

    registry = default_registry()
    result = await registry.run(ProbeSpec("https://mail.example.com/health"), session)
    result.outcome, result.family, result.latency_seconds, result.reason

Every probe kind has the one signature ``async probe(spec, session) -> ProbeResult`` and never
raises for a failing target. ``session`` is the daemon's one shared ``aiohttp.ClientSession``.
"""
from .base import (
    DEFAULT_MAX_BODY_BYTES,
    FAMILIES,
    OUTCOME_FAMILY,
    OUTCOMES,
    Outcome,
    OutcomeFamily,
    Probe,
    ProbeKind,
    ProbeResult,
    ProbeSpec,
    outcome_family,
)
from .http import http_probe
from .registry import ProbeRegistry, UnknownProbeKind, default_registry
from .tcp import tcp_probe

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "FAMILIES",
    "OUTCOMES",
    "OUTCOME_FAMILY",
    "Outcome",
    "OutcomeFamily",
    "Probe",
    "ProbeKind",
    "ProbeRegistry",
    "ProbeResult",
    "ProbeSpec",
    "UnknownProbeKind",
    "default_registry",
    "http_probe",
    "outcome_family",
    "tcp_probe",
]
