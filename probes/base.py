"""Probe types: what to probe (`ProbeSpec`), what came of it (`ProbeResult`), and the `Probe` signature.

Every probe kind is an async callable ``probe(spec, session) -> ProbeResult``. A failing *target*
never raises: it is a result with an outcome class and a human-readable reason. Only
``asyncio.CancelledError`` (and other ``BaseException``s) propagate.

Outcome classes follow regimes.md section 1. The fine-grained outcomes ``timeout``,
``connect_error``, ``tls_error`` and ``dns_error`` all belong to the ``server_error`` *family*
(they count in the denominator and as errors); ``monitor_error`` is a failure of the measuring side
and counts neither way.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import KW_ONLY, dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, Protocol

from yarl import URL

if TYPE_CHECKING:  # pragma: no cover - typing only
    import aiohttp

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "FAMILIES",
    "OUTCOMES",
    "OUTCOME_FAMILY",
    "Outcome",
    "OutcomeFamily",
    "Probe",
    "ProbeKind",
    "ProbeResult",
    "ProbeSpec",
    "outcome_family",
]

ProbeKind = Literal["http", "tcp"]
Outcome = Literal[
    "ok",
    "client_error",
    "server_error",
    "timeout",
    "connect_error",
    "tls_error",
    "dns_error",
    "monitor_error",
]
OutcomeFamily = Literal["ok", "client_error", "server_error", "monitor_error"]

#: Every outcome a probe may report, in a stable order.
OUTCOMES: tuple[str, ...] = (
    "ok",
    "client_error",
    "server_error",
    "timeout",
    "connect_error",
    "tls_error",
    "dns_error",
    "monitor_error",
)
#: The four classes of regimes.md section 1.
FAMILIES: tuple[str, ...] = ("ok", "client_error", "server_error", "monitor_error")

#: outcome -> outcome class (regimes.md section 1). Read-only.
OUTCOME_FAMILY: Mapping[str, str] = MappingProxyType(
    {
        "ok": "ok",
        "client_error": "client_error",
        "server_error": "server_error",
        "timeout": "server_error",
        "connect_error": "server_error",
        "tls_error": "server_error",
        "dns_error": "server_error",
        "monitor_error": "monitor_error",
    }
)


def outcome_family(outcome: str) -> str:
    """The outcome class (``ok``/``client_error``/``server_error``/``monitor_error``) of an outcome."""
    try:
        return OUTCOME_FAMILY[outcome]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown outcome {outcome!r}; expected one of: {', '.join(OUTCOMES)}"
        ) from None


PROBE_KINDS: tuple[str, ...] = ("http", "tcp")
DEFAULT_MAX_BODY_BYTES = 64 * 1024
MAX_BODY_BYTES_LIMIT = 64 * 1024 * 1024
MAX_REDIRECTS_LIMIT = 50
MAX_TIMEOUT_SECONDS = 3600.0

_SCHEME_KIND = {"http": "http", "https": "http", "tcp": "tcp"}
# RFC 9110 token: method names and header field names.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_URL_CHARS = re.compile(r"[\x00-\x20\x7f]")
_BAD_HEADER_VALUE = re.compile(r"[\x00\r\n]")

# HTTP-only fields and their defaults: a tcp spec must leave them alone.
_HTTP_ONLY_DEFAULTS = {
    "method": "GET",
    "headers": (),
    "expect_status": (),
    "body_contains": None,
    "verify_tls": True,
    "max_body_bytes": DEFAULT_MAX_BODY_BYTES,
    "max_redirects": 5,
}


def _positive_finite(name: str, value: object, *, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if upper is not None and value > upper:
        raise ValueError(f"{name} must be at most {upper:g}, got {value!r}")
    return value


def _int_in_range(name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


@dataclass(frozen=True)
class ProbeSpec:
    """What to probe and how. Validates itself on construction (``ValueError`` with a clear message).

    ``url`` is ``http://...``/``https://...`` for ``kind="http"`` and ``tcp://host:port`` for
    ``kind="tcp"``; ``kind`` may be omitted and is then taken from the URL's scheme. All other
    fields are keyword-only. Sequences (``headers``, ``expect_status``) may be given as lists (and
    ``headers`` as a mapping); they are stored as tuples so that the spec is hashable.

    - ``expect_status``: statuses that count as ``ok``; empty (the default) means any 2xx/3xx.
      A response whose status is listed is ``ok`` even if it is a 4xx/5xx.
    - ``body_contains``: a substring the first ``max_body_bytes`` of the body must contain.
    - ``timeout_seconds``: the whole exchange (DNS, connect, TLS, redirects, body).
    - ``verify_tls``: ``False`` skips certificate verification. ``True`` uses the shared
      session's TLS settings (aiohttp's default: the system trust store, verified).
    - ``max_body_bytes``: read at most this much of the body, then stop reading.
    - ``max_redirects``: how many redirects to follow; 0 = do not follow (the 3xx is the answer).
    - ``every_seconds``: the cadence at which the scheduler should run this probe.
    """

    url: str
    _: KW_ONLY
    kind: ProbeKind | None = None
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    expect_status: tuple[int, ...] = ()
    body_contains: str | None = None
    timeout_seconds: float = 5.0
    verify_tls: bool = True
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_redirects: int = 5
    every_seconds: float = 2.0

    def __post_init__(self) -> None:
        def set_(name: str, value: object) -> None:  # frozen: normalise via object.__setattr__
            object.__setattr__(self, name, value)

        # url and kind
        if not isinstance(self.url, str) or not self.url:
            raise ValueError(f"url must be a non-empty string, got {self.url!r}")
        if _BAD_URL_CHARS.search(self.url):
            raise ValueError(f"url must not contain whitespace or control characters: {self.url!r}")
        try:
            parsed = URL(self.url)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"url {self.url!r} is not a valid URL: {exc}") from None
        scheme = parsed.scheme.lower()
        if scheme not in _SCHEME_KIND or not parsed.is_absolute():
            raise ValueError(
                f"url {self.url!r} must be absolute with scheme http://, https:// or tcp://"
            )
        if not parsed.host:
            raise ValueError(f"url {self.url!r} has no host")
        kind: str | None = self.kind
        if kind is None:
            kind = _SCHEME_KIND[scheme]
            set_("kind", kind)
        elif kind not in PROBE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(PROBE_KINDS)}, got {kind!r}")
        if _SCHEME_KIND[scheme] != kind:
            expected = "tcp://host:port" if kind == "tcp" else "http://... or https://..."
            raise ValueError(f"kind {kind!r} needs a {expected} url, got {self.url!r}")
        if parsed.explicit_port == 0:
            raise ValueError(f"url {self.url!r}: port 0 is not a valid target port")
        if kind == "tcp":
            if parsed.explicit_port is None:
                raise ValueError(f"tcp url {self.url!r} needs an explicit port: tcp://host:port")
            if parsed.path not in ("", "/") or parsed.query_string or parsed.fragment or parsed.user:
                raise ValueError(
                    f"tcp url {self.url!r} must be just tcp://host:port "
                    "(no path, query, fragment or credentials)"
                )

        # method
        if not isinstance(self.method, str) or not _TOKEN.match(self.method):
            raise ValueError(f"method must be an HTTP method name such as GET, got {self.method!r}")
        set_("method", self.method.upper())

        # headers: tuple of (name, value) string pairs
        raw_headers = self.headers
        if isinstance(raw_headers, Mapping):
            raw_headers = tuple(raw_headers.items())
        if isinstance(raw_headers, (str, bytes)) or not isinstance(raw_headers, Iterable):
            raise ValueError(f"headers must be a sequence of (name, value) pairs, got {raw_headers!r}")
        headers = []
        for raw_pair in raw_headers:
            if isinstance(raw_pair, (str, bytes)) or not isinstance(raw_pair, Iterable):
                raise ValueError(f"each header must be a (name, value) pair, got {raw_pair!r}")
            pair = tuple(raw_pair)
            if len(pair) != 2:
                raise ValueError(f"each header must be a (name, value) pair, got {pair!r}")
            name, value = pair
            if not isinstance(name, str) or not _TOKEN.match(name):
                raise ValueError(f"invalid header name {name!r}")
            if not isinstance(value, str) or _BAD_HEADER_VALUE.search(value):
                raise ValueError(
                    f"header {name}: value must be a string without CR, LF or NUL, got {value!r}"
                )
            headers.append((name, value))
        set_("headers", tuple(headers))

        # expect_status
        raw_status = self.expect_status
        if isinstance(raw_status, (int, str, bytes)) or not isinstance(raw_status, Iterable):
            raise ValueError(f"expect_status must be a sequence of status codes, got {raw_status!r}")
        statuses = tuple(raw_status)
        for code in statuses:
            _int_in_range("expect_status entries", code, 100, 599)
        set_("expect_status", tuple(dict.fromkeys(statuses)))  # de-duplicated, order kept

        # timing
        set_("timeout_seconds", _positive_finite("timeout_seconds", self.timeout_seconds,
                                                 upper=MAX_TIMEOUT_SECONDS))
        set_("every_seconds", _positive_finite("every_seconds", self.every_seconds))

        # body, tls, redirects
        if not isinstance(self.verify_tls, bool):
            raise ValueError(f"verify_tls must be true or false, got {self.verify_tls!r}")
        _int_in_range("max_body_bytes", self.max_body_bytes, 0, MAX_BODY_BYTES_LIMIT)
        _int_in_range("max_redirects", self.max_redirects, 0, MAX_REDIRECTS_LIMIT)
        if self.body_contains is not None:
            if not isinstance(self.body_contains, str) or not self.body_contains:
                raise ValueError(
                    f"body_contains must be a non-empty string or None, got {self.body_contains!r}"
                )
            needed = len(self.body_contains.encode("utf-8"))
            if needed > self.max_body_bytes:
                raise ValueError(
                    f"body_contains is {needed} bytes long but max_body_bytes is "
                    f"{self.max_body_bytes}: it could never be found"
                )

        if kind == "tcp":
            for name, default in _HTTP_ONLY_DEFAULTS.items():
                if getattr(self, name) != default:
                    raise ValueError(f"{name} applies to http probes only, not to tcp ({self.url})")

    @property
    def host(self) -> str:
        """The target host name or IP address (without brackets for IPv6)."""
        host = URL(self.url).host
        assert host is not None  # validated
        return host

    @property
    def port(self) -> int:
        """The target port (the scheme's default for http/https without an explicit one)."""
        port = URL(self.url).port
        assert port is not None  # validated
        return port

    def status_is_expected(self, status: int) -> bool:
        """Whether a final response status counts as ``ok`` for this spec."""
        if self.expect_status:
            return status in self.expect_status
        return 200 <= status <= 399


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of one probe run. Validates itself on construction.

    ``latency_seconds`` is the monotonic time from the start of the probe until its answer (the
    end of the body read, the connect, or the failure). ``status`` is the final HTTP status when
    one was received, else ``None``. ``started_at`` is the timezone-aware wall-clock start.
    """

    outcome: Outcome
    latency_seconds: float
    status: int | None
    reason: str
    started_at: datetime

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOME_FAMILY:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {self.outcome!r}")
        lat = self.latency_seconds
        if isinstance(lat, bool) or not isinstance(lat, (int, float)) or not math.isfinite(lat) \
                or lat < 0:
            raise ValueError(f"latency_seconds must be a finite number >= 0, got {lat!r}")
        object.__setattr__(self, "latency_seconds", float(lat))
        if self.status is not None:
            _int_in_range("status", self.status, 100, 999)
        if not isinstance(self.reason, str):
            raise ValueError(f"reason must be a string, got {self.reason!r}")
        if not isinstance(self.started_at, datetime) or self.started_at.utcoffset() is None:
            raise ValueError(f"started_at must be a timezone-aware datetime, got {self.started_at!r}")

    @property
    def family(self) -> str:
        """The outcome class of regimes.md: ok, client_error, server_error or monitor_error."""
        return OUTCOME_FAMILY[self.outcome]

    @property
    def counts(self) -> bool:
        """Whether the sample counts in the denominator (everything but monitor_error)."""
        return self.family != "monitor_error"

    @property
    def is_error(self) -> bool:
        """Whether the sample counts as an error (the server_error family)."""
        return self.family == "server_error"

    @property
    def finished_at(self) -> datetime:
        return self.started_at + timedelta(seconds=self.latency_seconds)


class Probe(Protocol):
    """The one signature of every probe kind. Must not raise for a failing target."""

    async def __call__(
        self, spec: ProbeSpec, session: aiohttp.ClientSession, /
    ) -> ProbeResult:  # pragma: no cover - protocol
        ...
