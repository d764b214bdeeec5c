"""config.toml -> frozen, fully validated objects (the runtime's settings and the contract model
of reports.contracts), or a ConfigError naming file, line and key of every problem."""
from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.errors import ConfigError, Problem
from monitor.sql import redact
from probes import ProbeSpec
from reports.contracts import (
    NOTICE_KINDS,
    Claim,
    Contract,
    ContractBook,
    Invoice,
    LicenseStep,
    Notice,
    PriceStep,
    ServiceFee,
    Window,
)
from reports.fields import (
    MAX_DEPTH,
    KeyPath,
    Problems,
    TableReader,
    calendar_date,
    duration,
    money,
    nesting_depth,
    path_str,
    ratio_from_percent,
    timestamp,
)
from reports.minutes import EXCLUSION_KINDS, Thresholds
from reports.regimes import PLANS, Regime, builtin_regime_tables, builtin_regimes, parse_regime

_MONTH_RE = re.compile(r"^(19\d\d|[2-8]\d\d\d|9000)-(0[1-9]|1[0-2])$")  # years 1900-9000, as everywhere
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")


@dataclass(frozen=True)
class DomainConfig:
    name: str
    min_samples: int = 20
    error_threshold: Fraction = Fraction(5, 100)
    probes: tuple[ProbeSpec, ...] = ()

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(self.min_samples, self.error_threshold)


@dataclass(frozen=True)
class DemoSettings:
    """A local target with scheduled failures that the daemon serves itself (for newcomers)."""

    listen: str = "127.0.0.1:9465"
    fail_every_minutes: int = 5
    fail_for_minutes: int = 1
    error_ratio: Fraction = Fraction(1, 2)


@dataclass(frozen=True)
class MonitorSettings:
    database: Path
    listen: str = "127.0.0.1:9464"
    reports_dir: Path = Path("var/reports")
    canaries: tuple[ProbeSpec, ...] = ()
    max_concurrency: int = 1000
    probe_processes: int | str = "auto"
    admin_token_env: str = "SLAMON_ADMIN_TOKEN"
    # once this variable holds a token, reads (status page, API, reports) need it or the admin token
    read_token_env: str = "SLAMON_READ_TOKEN"
    report_formats: tuple[str, ...] = ("json", "md", "csv", "html")
    sample_retention_days: int = 92
    record_retention_days: int = 5 * 366
    # below this share of observed minutes a month is "insufficient_evidence", never final
    min_coverage: Fraction = Fraction(9, 10)
    # closed minutes kept in memory while the database cannot be written (disk full, locked)
    max_held_minutes: int = 200_000
    # where month-to-date and month-end accounting run: "auto" (a separate process from 50
    # contracts on), true (always a process) or false (a thread of the daemon)
    accounting_process: bool | str = "auto"
    demo: DemoSettings | None = None
    # [storage] url: a PostgreSQL URL, or a SQLite file given as sqlite:///PATH (None: `database`)
    storage_url: str | None = None

    @property
    def storage_target(self) -> Path | str:
        """What Storage opens: the PostgreSQL URL, else the SQLite file."""
        return self.storage_url if self.storage_url is not None else self.database


@dataclass(frozen=True)
class Config:
    path: Path
    monitor: MonitorSettings
    domains: Mapping[str, DomainConfig]
    contracts: Mapping[str, Contract]
    windows: tuple[Window, ...] = ()
    notices: tuple[Notice, ...] = ()
    regimes: Mapping[str, Regime] = field(default_factory=dict)
    text: str = ""      # the file as read: another process parses the same config from it

    def timezone_of(self, contract: Contract) -> str:
        return contract.timezone or self.regimes[contract.regime].timezone

    def book(self, windows: Iterable[Window] = (), notices: Iterable[Notice] = (),
             claims: Iterable[Claim] = ()) -> ContractBook:
        """The contract model for the accounting: this file's contracts, windows and notices, plus
        those recorded elsewhere (the database's windows, notices and claims)."""
        return ContractBook(contracts=self.contracts, regimes=self.regimes,
                            thresholds={name: d.thresholds for name, d in self.domains.items()},
                            windows=self.windows + tuple(windows), notices=self.notices + tuple(notices),
                            claims=tuple(claims), min_coverage=self.monitor.min_coverage)


# --- line numbers -------------------------------------------------------------------------

_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY_RE = re.compile(r"^\s*([A-Za-z0-9_\-\"'.\s]+?)\s*=")


def _split_key(text: str) -> list[str]:
    return [part.strip().strip("\"'") for part in re.findall(r'"[^"]*"|\'[^\']*\'|[^.]+', text)]


def key_lines(text: str) -> dict[KeyPath, int]:
    """Map key paths such as ("contract", 1, "regime") to the line that writes them.

    tomllib keeps no positions, so this follows table headers and `key =` lines; inline
    arrays and tables resolve to the line of their key, which is where a reader looks."""
    lines: dict[KeyPath, int] = {}
    array_counts: dict[KeyPath, int] = {}
    table: KeyPath = ()
    in_multiline = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
            in_multiline = not in_multiline
            if not in_multiline:
                continue
        if in_multiline:
            continue
        header = _HEADER_RE.match(line)
        if header:
            parts = _split_key(header.group(2))
            # resolve every prefix through the array-of-tables indexes seen so far
            resolved: KeyPath = ()
            for i, part in enumerate(parts):
                resolved += (part,)
                if i < len(parts) - 1 and resolved in array_counts:
                    resolved += (array_counts[resolved] - 1,)
            if header.group(1) == "[[":
                index = array_counts.get(resolved, 0)
                array_counts[resolved] = index + 1
                # a new element resets the counters of arrays nested in the previous one
                for key in [k for k in array_counts if k[: len(resolved)] == resolved and len(k) > len(resolved)]:
                    del array_counts[key]
                resolved += (index,)
            table = resolved
            lines.setdefault(table, number)
            continue
        assignment = _KEY_RE.match(line)
        if assignment and not line.lstrip().startswith("#"):
            names = tuple(_split_key(assignment.group(1)))
            for end in range(1, len(names) + 1):  # a.b.c = 1 writes a, a.b and a.b.c
                lines.setdefault(table + names[:end], number)
    return lines


def line_of(path: KeyPath, lines: Mapping[KeyPath, int]) -> int | None:
    """The line of the key, or of the nearest enclosing key or table that has one."""
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


# --- parsing ------------------------------------------------------------------------------

def _name(table: TableReader, key: str, what: str) -> str | None:
    value = table.text(key, required=True)
    if value is not None and not _NAME_RE.match(value):
        table.problems.add(table.key(key), f"{what} must be 1-100 letters, digits or . _ : - "
                                           f"(it appears in metric labels and file names)")
        return None
    return value


def _parse_probe(path: KeyPath, data: Any, problems: Problems) -> ProbeSpec | None:
    t = TableReader(data, path, problems)
    before = len(problems.items)
    url = t.text("url", required=True)
    kind = t.text("kind", None, choices=("http", "tcp"))
    every = duration(t.raw("every"), t.key("every"), problems) if t.has("every") else 2.0
    timeout = duration(t.raw("timeout"), t.key("timeout"), problems) if t.has("timeout") else 5.0
    method = t.text("method", "GET", choices=("GET", "HEAD", "POST", "PUT", "OPTIONS"))
    expect = t.raw("expect_status", [])
    if not isinstance(expect, list) or not all(isinstance(s, int) and 100 <= s <= 599 for s in expect):
        problems.add(t.key("expect_status"), "expected a list of HTTP status codes (100-599)")
        expect = []
    body_contains = t.text("body_contains")
    headers_raw = t.raw("headers", {})
    if not isinstance(headers_raw, dict) or not all(isinstance(v, str) for v in headers_raw.values()):
        problems.add(t.key("headers"), "expected a table of header = \"value\" strings")
        headers_raw = {}
    verify_tls = t.boolean("verify_tls", True)
    max_body = t.integer("max_body_bytes", 65536, minimum=1)
    max_redirects = t.integer("max_redirects", 5, minimum=0)
    t.finish()
    if len(problems.items) != before or url is None or every is None or timeout is None:
        return None
    try:
        if (kind or ("tcp" if url.startswith("tcp://") else "http")) == "tcp":
            # a connect probe has no HTTP options; only cadence and timeout apply
            return ProbeSpec(url, kind="tcp", timeout_seconds=timeout, every_seconds=every)
        return ProbeSpec(url, kind="http" if kind else None, method=method, headers=tuple(headers_raw.items()),
                         expect_status=tuple(expect), body_contains=body_contains, timeout_seconds=timeout,
                         verify_tls=verify_tls, max_body_bytes=max_body, max_redirects=max_redirects,
                         every_seconds=every)
    except ValueError as exc:
        problems.add(path, str(exc))
        return None


def _parse_domain(path: KeyPath, data: Any, problems: Problems) -> DomainConfig | None:
    t = TableReader(data, path, problems)
    before = len(problems.items)
    name = _name(t, "name", "a domain name")
    min_samples = t.integer("min_samples", 20, minimum=1)
    threshold: Fraction | None = Fraction(5, 100)
    if t.has("error_threshold"):
        threshold = ratio_from_percent(t.raw("error_threshold"), t.key("error_threshold"), problems)
        if threshold is not None and threshold >= 1:
            problems.add(t.key("error_threshold"), "must be below 100%")
    probes = tuple(p for pp, d in t.tables("probe") if (p := _parse_probe(pp, d, problems)))
    t.finish()
    if len(problems.items) != before or name is None or threshold is None:
        return None
    return DomainConfig(name=name, min_samples=min_samples, error_threshold=threshold, probes=probes)


def _parse_contract(path: KeyPath, data: Any, problems: Problems, domains: Mapping[str, Any],
                    regimes: Mapping[str, Regime], declared_regimes: Set[str] = frozenset()) -> Contract | None:
    t = TableReader(data, path, problems)
    before = len(problems.items)
    cid = _name(t, "id", "a contract id")
    customer = t.text("customer", required=True)
    regime_name = t.text("regime", required=True)
    regime = regimes.get(regime_name) if regime_name else None
    if regime_name and regime is None and regime_name not in declared_regimes:
        problems.add(t.key("regime"), f"unknown regime {regime_name!r} (known: {', '.join(sorted(regimes))})")
    contract_domains = t.texts("domains", required=True)
    if t.has("domains") and not contract_domains:
        problems.add(t.key("domains"), "a contract needs at least one domain")
    for d in contract_domains:
        if d not in domains:
            problems.add(t.key("domains"), f"unknown domain {d!r} (declare it with [[domain]] name = {d!r})")
    plan = t.text("plan", "paid", choices=PLANS)
    currency = t.text("currency", "JPY")
    if currency and not re.match(r"^[A-Z]{3}$", currency):
        problems.add(t.key("currency"), f"expected an ISO 4217 code such as JPY or KRW, got {currency!r}")
    unit_price = money(t.raw("unit_price"), t.key("unit_price"), problems) if t.has("unit_price") else None
    prices = [PriceStep(None, unit_price)] if unit_price is not None else []
    for pp, pd in t.tables("prices"):
        pt = TableReader(pd, pp, problems)
        since = calendar_date(pt.raw("since"), pt.key("since"), problems) if pt.has("since") else None
        if not pt.has("since"):
            problems.add(pt.key("since"), "is required (the date from which the price applies)")
        price = money(pt.raw("unit_price"), pt.key("unit_price"), problems) if pt.has("unit_price") else None
        if not pt.has("unit_price"):
            problems.add(pt.key("unit_price"), "is required")
        pt.finish()
        if since is not None and price is not None:
            prices.append(PriceStep(since, price))
    monthly_fee = money(t.raw("monthly_fee"), t.key("monthly_fee"), problems) if t.has("monthly_fee") else None
    licenses: list[LicenseStep] = []
    raw_licenses = t.raw("licenses")
    if isinstance(raw_licenses, int) and not isinstance(raw_licenses, bool):
        if raw_licenses < 0:
            problems.add(t.key("licenses"), "must not be negative")
        licenses.append(LicenseStep(None, raw_licenses))
    elif isinstance(raw_licenses, list):
        for i, step in enumerate(raw_licenses):
            st = TableReader(step, t.key("licenses") + (i,), problems)
            since = calendar_date(st.raw("since"), st.key("since"), problems) if st.has("since") else None
            count = st.integer("count", required=True, minimum=0)
            st.finish()
            if count is not None:
                licenses.append(LicenseStep(since, count))
    elif raw_licenses is not None:
        problems.add(t.key("licenses"), "expected a number of IDs or [[contract.licenses]] with since and count")
    services = []
    for sp, sd in t.tables("service"):
        st = TableReader(sd, sp, problems)
        domain = st.text("domain", required=True)
        if domain and domain not in contract_domains:
            problems.add(st.key("domain"), f"{domain!r} is not one of this contract's domains")
        fee = money(st.raw("monthly_fee"), st.key("monthly_fee"), problems) if st.has("monthly_fee") else None
        dated = st.tables("fees")
        if not st.has("monthly_fee") and not dated:
            problems.add(st.key("monthly_fee"), "is required (or [[contract.service.fees]] with since)")
        if domain and fee is not None:
            services.append(ServiceFee(domain, fee))
        for fp, fd in dated:
            ft = TableReader(fd, fp, problems)
            since = calendar_date(ft.raw("since"), ft.key("since"), problems) if ft.has("since") else None
            if not ft.has("since"):
                problems.add(ft.key("since"), "is required (the date from which the fee applies)")
            dated_fee = money(ft.raw("monthly_fee"), ft.key("monthly_fee"), problems) \
                if ft.has("monthly_fee") else None
            if not ft.has("monthly_fee"):
                problems.add(ft.key("monthly_fee"), "is required")
            ft.finish()
            if domain and since is not None and dated_fee is not None:
                services.append(ServiceFee(domain, dated_fee, since))
        st.finish()
    awareness = t.text("awareness", None, choices=("detection", "notice"))
    tz = t.text("timezone")
    if tz is not None and not tz.strip():
        problems.add(t.key("timezone"), "must be an IANA time zone name, not empty")
    if tz:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            problems.add(t.key("timezone"), f"unknown time zone {tz!r}")
    billing_day = t.integer("billing_day", 1, minimum=1, maximum=28)
    min_coverage = (ratio_from_percent(t.raw("min_coverage"), t.key("min_coverage"), problems)
                    if t.has("min_coverage") else None)
    starts = calendar_date(t.raw("starts"), t.key("starts"), problems) if t.has("starts") else None
    ends = calendar_date(t.raw("ends"), t.key("ends"), problems) if t.has("ends") else None
    if starts and ends and ends < starts:
        problems.add(t.key("ends"), f"is before starts ({starts.isoformat()})")
    account = t.text("account", "")
    invoices = []
    for ip, idata in t.tables("invoices"):
        it = TableReader(idata, ip, problems)
        month = it.text("month", required=True)
        if month is not None and not _MONTH_RE.match(month):
            problems.add(it.key("month"), f"expected the invoice's month as YYYY-MM, got {month!r}")
            month = None
        amount = money(it.raw("amount"), it.key("amount"), problems) if it.has("amount") else None
        if not it.has("amount"):
            problems.add(it.key("amount"), "is required (the billed amount, tax excluded)")
        it.finish()
        if month is not None and amount is not None:
            invoices.append(Invoice(month, amount))
    divisor = t.raw("day_divisor")
    if divisor is not None and divisor != "month" and not (
            isinstance(divisor, int) and not isinstance(divisor, bool) and 1 <= divisor <= 31):
        problems.add(t.key("day_divisor"), f"must be \"month\" or a number of days (1-31); got {divisor!r}")
    if regime is not None:
        if regime.credit_unit == "days":
            if not prices and not t.has("unit_price") and not t.has("prices"):
                problems.add(t.key("unit_price"), f"is required for the days-credit regime {regime.name!r} "
                                                  f"(or [[contract.prices]] with since and unit_price)")
            if not licenses and raw_licenses is None:
                problems.add(t.key("licenses"), f"is required for the days-credit regime {regime.name!r}")
        else:
            for d in contract_domains:
                if monthly_fee is None and not any(s.domain == d for s in services) \
                        and not t.has("monthly_fee"):
                    problems.add(t.key("service"), f"no monthly_fee for domain {d!r}: percent-credit regime "
                                                   f"{regime.name!r} needs [[contract.service]] domain = {d!r} "
                                                   f"with monthly_fee, or a contract monthly_fee")
    t.finish()
    if len(problems.items) != before or cid is None or customer is None or regime_name is None:
        return None
    return Contract(id=cid, customer=customer, regime=regime_name, domains=contract_domains, plan=plan,
                    currency=currency, prices=tuple(prices), licenses=tuple(licenses),
                    monthly_fee=monthly_fee, services=tuple(services), awareness=awareness,
                    timezone=tz, billing_day=billing_day, day_divisor=divisor, min_coverage=min_coverage,
                    starts=starts, ends=ends, invoices=tuple(invoices), account=account)


def parse_window(path: KeyPath, data: Any, problems: Problems, domains: Mapping[str, Any],
                 contracts: Mapping[str, Any], *, window_id: str = "", source: str = "config") -> Window | None:
    t = TableReader(data, path, problems)
    before = len(problems.items)
    kind = t.text("kind", required=True, choices=EXCLUSION_KINDS)
    wdomains = t.texts("domains")
    wcontracts = t.texts("contracts")
    if not wdomains and not wcontracts:
        problems.add(path, "a window needs domains = [...] or contracts = [...]")
    for d in wdomains:
        if d not in domains:
            problems.add(t.key("domains"), f"unknown domain {d!r}")
    for c in wcontracts:
        if c not in contracts:
            problems.add(t.key("contracts"), f"unknown contract {c!r}")
    start = timestamp(t.raw("start"), t.key("start"), problems) if t.has("start") else None
    if not t.has("start"):
        problems.add(t.key("start"), "is required")
    end = timestamp(t.raw("end"), t.key("end"), problems) if t.has("end") else None
    if source == "config" and not t.has("end"):
        problems.add(t.key("end"), "is required")
    if start and end and end <= start:
        problems.add(t.key("end"), f"must be after start ({start.isoformat()})")
    announced = timestamp(t.raw("announced_at"), t.key("announced_at"), problems) if t.has("announced_at") else None
    announced_end = (timestamp(t.raw("announced_end"), t.key("announced_end"), problems)
                     if t.has("announced_end") else None)
    if start and announced_end and announced_end <= start:
        problems.add(t.key("announced_end"), f"must be after start ({start.isoformat()})")
    reason = t.text("reason", required=True)
    t.finish()
    if len(problems.items) != before or kind is None or start is None or reason is None:
        return None
    if announced_end is not None and end is not None and end <= announced_end:
        announced_end = None  # ended on time: nothing overran
    return Window(kind=kind, start=start, end=end, reason=reason, domains=wdomains, contracts=wcontracts,
                  announced_at=announced, id=window_id, source=source, announced_end=announced_end)


def parse_notice(path: KeyPath, data: Any, problems: Problems, contracts: Mapping[str, Contract],
                 *, notice_id: str = "", source: str = "config", declared: Mapping[str, Any] = {}) -> Notice | None:
    t = TableReader(data, path, problems)
    before = len(problems.items)
    contract = t.text("contract", required=True)
    if contract and contract not in contracts and contract not in declared:
        problems.add(t.key("contract"), f"unknown contract {contract!r}")
    domain = t.text("domain")
    if domain and contract is not None and contract in contracts and domain not in contracts[contract].domains:
        problems.add(t.key("domain"), f"{domain!r} is not a domain of contract {contract!r}")
    at = timestamp(t.raw("at"), t.key("at"), problems) if t.has("at") else None
    if not t.has("at"):
        problems.add(t.key("at"), "is required")
    kind = t.text("kind", "customer", choices=NOTICE_KINDS)
    note = t.text("note", "")
    t.finish()
    if len(problems.items) != before or contract is None or at is None:
        return None
    return Notice(contract=contract, at=at, kind=kind, domain=domain, note=note, id=notice_id, source=source)


def parse_claim(path: KeyPath, data: Any, problems: Problems, contracts: Mapping[str, Contract]) -> Claim | None:
    """A claim as the CLI and the API receive it: contract, period, filed_at, reference."""
    t = TableReader(data, path, problems)
    before = len(problems.items)
    contract = t.text("contract", required=True)
    if contract and contract not in contracts:
        problems.add(t.key("contract"), f"unknown contract {contract!r}")
    period = t.text("period", required=True)
    if period is not None and not _MONTH_RE.match(period):
        problems.add(t.key("period"), f"expected YYYY-MM, got {period!r}")
    filed_at = timestamp(t.raw("filed_at"), t.key("filed_at"), problems) if t.has("filed_at") else None
    if not t.has("filed_at"):
        problems.add(t.key("filed_at"), "is required")
    reference = t.text("reference", "")
    corrects = t.text("corrects", "")
    if corrects and not re.fullmatch(r"db-[1-9][0-9]{0,17}", corrects):
        problems.add(t.key("corrects"), f"expected the id of a recorded claim such as db-3, got {corrects[:40]!r}")
    t.finish()
    if len(problems.items) != before or contract is None or period is None or filed_at is None:
        return None
    return Claim(contract=contract, period=period, filed_at=filed_at, reference=reference, corrects=corrects)


def _declared(tables: Any, key: str) -> dict[str, Any]:
    if isinstance(tables, dict):
        tables = [tables]
    if not isinstance(tables, list):
        return {}
    return {t[key]: t for t in tables if isinstance(t, dict) and isinstance(t.get(key), str)}


def _check_listen(listen: str | None, path: KeyPath, problems: Problems) -> None:
    if listen and not (re.match(r"^[^:\s]*:\d{1,5}$", listen) and int(listen.rpartition(":")[2]) <= 65535):
        problems.add(path, f"expected host:port with a port from 0 to 65535, got {listen!r}")


def parse_config(text: str, path: Path) -> Config:
    """Parse and validate; raises ConfigError with every problem found."""
    shown = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(match.group(1)) if match else None
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigError([Problem(shown, line, "(syntax)", message)]) from None
    except RecursionError:
        raise ConfigError([Problem(shown, None, "(syntax)", f"nests deeper than {MAX_DEPTH} levels")]) from None
    if nesting_depth(data) > MAX_DEPTH:
        raise ConfigError([Problem(shown, None, "(syntax)", f"nests deeper than {MAX_DEPTH} levels")])
    problems = Problems()
    top = TableReader(data, (), problems)

    mon = TableReader(top.raw("monitor", {}), ("monitor",), problems)
    database = mon.text("database", "var/slamon.db")
    listen = mon.text("listen", "127.0.0.1:9464")
    _check_listen(listen, mon.key("listen"), problems)
    reports_dir = mon.text("reports_dir", "var/reports")
    canaries = []
    for i, url in enumerate(mon.texts("canaries")):
        try:
            canaries.append(ProbeSpec(url, timeout_seconds=2.0, every_seconds=2.0))
        except ValueError as exc:
            problems.add(mon.key("canaries") + (i,), str(exc))
    max_concurrency = mon.integer("max_concurrency", 1000, minimum=1, maximum=100_000)
    probe_processes = mon.raw("probe_processes", "auto")
    if probe_processes != "auto" and not (isinstance(probe_processes, int) and not isinstance(probe_processes, bool)
                                          and 1 <= probe_processes <= 64):
        problems.add(mon.key("probe_processes"), f"must be \"auto\" or a number of processes (1-64); "
                                                 f"got {probe_processes!r}")
        probe_processes = "auto"
    token_env = mon.text("admin_token_env", "SLAMON_ADMIN_TOKEN")
    read_env = mon.text("read_token_env", "SLAMON_READ_TOKEN")
    for key, env in (("admin_token_env", token_env), ("read_token_env", read_env)):
        if env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,99}", env):
            problems.add(mon.key(key), f"expected an environment variable name, got {env!r}")
    formats = mon.texts("report_formats") or ("json", "md", "csv", "html")
    for f in formats:
        if f not in ("json", "md", "csv", "html"):
            problems.add(mon.key("report_formats"), f"unknown report format {f!r}")
    sample_days = mon.integer("sample_retention_days", 92, minimum=1, maximum=100 * 366)
    record_days = mon.integer("record_retention_days", 5 * 366, minimum=1, maximum=100 * 366)
    max_held = mon.integer("max_held_minutes", 200_000, minimum=1, maximum=100_000_000)
    accounting_process = mon.raw("accounting_process", "auto")
    if accounting_process != "auto" and not isinstance(accounting_process, bool):
        problems.add(mon.key("accounting_process"), f"must be \"auto\", true or false; got {accounting_process!r}")
        accounting_process = "auto"
    min_coverage = (ratio_from_percent(mon.raw("min_coverage"), mon.key("min_coverage"), problems)
                    if mon.has("min_coverage") else Fraction(9, 10))
    demo = None
    if mon.has("demo"):
        dt = TableReader(mon.raw("demo"), mon.key("demo"), problems)
        demo_listen = dt.text("listen", "127.0.0.1:9465")
        _check_listen(demo_listen, dt.key("listen"), problems)
        every = dt.integer("fail_every_minutes", 5, minimum=1)
        fail_for = dt.integer("fail_for_minutes", 1, minimum=0)
        ratio = ratio_from_percent(dt.raw("error_ratio", "50%"), dt.key("error_ratio"), problems)
        dt.finish()
        demo = DemoSettings(demo_listen, every, fail_for, ratio or Fraction(1, 2))
    mon.finish()
    base = path.parent
    storage_url: str | None = None
    if top.has("storage"):
        st = TableReader(top.raw("storage"), ("storage",), problems)
        given = st.text("url", required=True)
        st.finish()
        if given is not None:
            if len(given) > 2000 or not re.match(r"^(sqlite:///\S+|postgres(ql)?://\S*)$", given):
                problems.add(("storage", "url"), "expected postgresql://USER@HOST:PORT/DATABASE or sqlite:///PATH, "
                                                 f"got {redact(given[:200])!r}")
            elif given.startswith("sqlite:///"):
                database = given[len("sqlite:///"):]     # a SQLite URL is the `database` setting written as a URL
            else:
                storage_url = given
    settings = MonitorSettings(database=base / (database or "var/slamon.db"), listen=listen or "127.0.0.1:9464",
                               reports_dir=base / (reports_dir or "var/reports"), canaries=tuple(canaries),
                               max_concurrency=max_concurrency, probe_processes=probe_processes,
                               admin_token_env=token_env or "SLAMON_ADMIN_TOKEN",
                               read_token_env=read_env or "SLAMON_READ_TOKEN",
                               report_formats=formats, sample_retention_days=sample_days,
                               record_retention_days=record_days, demo=demo, max_held_minutes=max_held,
                               min_coverage=min_coverage if min_coverage is not None else Fraction(9, 10),
                               storage_url=storage_url, accounting_process=accounting_process)

    # regimes: built-ins first, then the user's, which may extend them
    tables = builtin_regime_tables()
    regimes: dict[str, Regime] = builtin_regimes()
    user_regimes = top.raw("regime", {})
    if not isinstance(user_regimes, dict):
        problems.add(("regime",), "expected [regime.NAME] tables")
        user_regimes = {}
    for name, rdata in user_regimes.items():
        if name in tables:
            problems.add(("regime", name), f"{name!r} is a built-in regime; give yours another name "
                                           f"(extends = {name!r} starts from its keys)")
            continue
        regime = parse_regime(name, rdata, ("regime", name), problems, {**tables, **user_regimes})
        if regime:
            regimes[name] = regime

    # references are checked against every declared name, so that one broken [[domain]]
    # does not also make each contract that names it an error
    declared_domains = _declared(data.get("domain"), "name")
    declared_contracts = _declared(data.get("contract"), "id")
    domains: dict[str, DomainConfig] = {}
    for dpath, ddata in top.tables("domain"):
        domain = _parse_domain(dpath, ddata, problems)
        if domain:
            if domain.name in domains:
                problems.add(dpath + ("name",), f"duplicate domain {domain.name!r}")
            domains[domain.name] = domain

    contracts: dict[str, Contract] = {}
    for cpath, cdata in top.tables("contract"):
        contract = _parse_contract(cpath, cdata, problems, declared_domains, regimes, set(user_regimes))
        if contract:
            if contract.id in contracts:
                problems.add(cpath + ("id",), f"duplicate contract id {contract.id!r}")
            contracts[contract.id] = contract

    windows = tuple(w for i, (wpath, wdata) in enumerate(top.tables("window"))
                    if (w := parse_window(wpath, wdata, problems, declared_domains, declared_contracts,
                                          window_id=f"config-{i + 1}")))
    notices = tuple(n for i, (npath, ndata) in enumerate(top.tables("notice"))
                    if (n := parse_notice(npath, ndata, problems, contracts, notice_id=f"config-{i + 1}",
                                          declared=declared_contracts)))
    top.finish()
    if not problems and "domain" not in data and "contract" not in data:
        # an empty (or all-comments) file: the first line is as good a place as any to point at
        raise ConfigError([Problem(shown, 1, "domain", "no [[domain]] declared: there is nothing to monitor")])

    if problems:
        lines = key_lines(text)
        found = [Problem(shown, line_of(p, lines), path_str(p), m) for p, m in problems.items]
        raise ConfigError(sorted(found, key=lambda p: p.line or 0))
    return Config(path=path, monitor=settings, domains=MappingProxyType(domains),
                  contracts=MappingProxyType(contracts), windows=windows, notices=notices,
                  regimes=MappingProxyType(regimes), text=text)


MAX_CONFIG_BYTES = 16 << 20


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError([Problem(str(path), None, "(file)", f"larger than {MAX_CONFIG_BYTES} bytes")])
        text = path.read_text(encoding="utf-8-sig")  # editors on Windows write a BOM
    except FileNotFoundError:
        raise ConfigError([Problem(str(path), None, "(file)", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(path), None, "(file)", f"cannot read: {exc}")]) from None
    return parse_config(text, path)
