"""The inputs a contract's monthly figures were computed from, embedded in every report so that
an auditor can recompute them (`slamon report --verify FILE`), and a digest that pins them.

Evidence format (schema "slamon-evidence/2"), one JSON object per contract and month:

    schema, software {name, version}   what produced it
    period "YYYY-MM", timezone         the month: month_period(period, timezone)
    regime {name, definition}          the regime's table after `extends`, parsed again by parse_regime
    contract {...}                     the contract's settings (money as decimal strings, license
                                       steps with ISO `since` dates)
    awareness                          "detection" or "notice", as the report applied it
    scopes [{scope, domains, min_samples, error_threshold "n/d", absent "up", range [from, to),
             gaps, minutes}]
    windows [...], notices [...]       the exclusion windows and notices that applied (RFC 3339)

A scope's minutes are the sparse mapping the classification was given, over `range`: the history
before the month that an incident going on at its start needs (back to an up or excluded minute,
or to the first stored one), plus the month itself, as UTC minute indexes (minutes since
1970-01-01T00:00Z). Every minute of the range that is listed nowhere was stored and up for every
domain of the scope ("absent": "up"). The listed minutes are written in two forms:

    "gaps":    [[start, end_exclusive], ...]   runs of minutes in which no domain of the scope
                                                has a counted request (no row, or 0 requests)
    "minutes": [[minute, r1, e1, r2, e2, ...], ...] every other minute at which some domain was
                                                not up on its own: each domain's requests and
                                                errors, in the order of "domains"

Both lists are sorted and do not overlap. A month without data thus costs one gap, not 44,640
entries. `evidence_digest` is the sha256 of the canonical JSON (sorted keys, no spaces, UTF-8).
Schema 1 (slamon 0.1) pooled a scope's domains before the windows were applied and followed
incidents back one day only; its reports keep their digest but are not recomputed.

Reports carry the evidence:
  * JSON (`report_json`): each contract has "evidence" and "evidence_digest";
  * HTML (one contract, reports.html): <meta name="slamon-evidence-digest">, <script
    type="application/json" id="slamon-evidence"> and id="slamon-report" (contract_json plus
    "period"); visible figures are marked with `figure_attrs(NAME, value, scope=...)`
    (data-figure, data-scope, data-value) for the names in CONTRACT_FIGURES / SCOPE_FIGURES.

`recompute(evidence)` rebuilds the ContractResult from the evidence alone (no storage, no
config file); reports.verify checks a whole report against it.
"""
from __future__ import annotations

import functools
import hashlib
import html
import itertools
import json
import operator
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from importlib import metadata
from typing import Any

import orjson

from reports.accounting import ContractResult, DomainMinutes, ScopeResult, account_contract, month_period
from reports.contracts import Claim, Contract, Invoice, LicenseStep, Notice, PriceStep, ServiceFee, Window
from reports.fields import Problems, path_str
from reports.minutes import Count, MinuteTable, Thresholds
from reports.regimes import builtin_regime_tables, parse_regime

SCHEMA = "slamon-evidence/2"
OLD_SCHEMAS = ("slamon-evidence/1",)

# the figures a report states and `verify` recomputes (contract_json's keys)
CONTRACT_FIGURE_KEYS = ("total_minutes", "credit_amount", "claim_deadline", "coverage", "status", "claims")
SCOPE_FIGURE_KEYS = ("downtime_minutes", "excluded_minutes", "before_notice_minutes", "unknown_minutes",
                     "availability", "worst_case_availability", "credit_days", "credit_percent", "credit_amount",
                     "outages")
# the figures an HTML report shows with data-figure (scope figures also carry data-scope)
CONTRACT_FIGURES = ("credit_amount", "claim_deadline", "total_minutes")
SCOPE_FIGURES = ("credit_amount", "availability", "downtime_minutes", "credit_days", "credit_percent",
                 "worst_case_availability", "unknown_minutes", "before_notice_minutes")


@functools.cache
def software_version() -> str:
    try:
        return metadata.version("slamon")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _instant(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def compact_minutes(minutes: DomainMinutes, domains: Sequence[str]) -> tuple[list[list[int]], list[list[int]]]:
    """(gaps, minutes): runs of minutes where no domain has a request as [start, end_exclusive],
    the rest as [minute, r1, e1, r2, e2, ...] in the order of `domains`."""
    if isinstance(minutes, MinuteTable) and minutes.domains == tuple(domains):
        return _compact_table(minutes)
    gaps: list[list[int]] = []
    rows: list[list[int]] = []
    for m in sorted(minutes):
        counts = [minutes[m].get(d, Count(0, 0)) for d in domains]
        if all(c.requests == 0 and c.errors == 0 for c in counts):
            if gaps and gaps[-1][1] == m:
                gaps[-1][1] = m + 1
            else:
                gaps.append([m, m + 1])
        else:
            rows.append([m, *(v for c in counts for v in (c.requests, c.errors))])
    return gaps, rows


def _compact_table(table: MinuteTable) -> tuple[list[list[int]], list[list[int]]]:
    """compact_minutes of a column-wise table. Counts are never negative, so a minute without a
    request or an error anywhere is one whose counts add up to nothing."""
    columns = [c for req, err in zip(table.requests, table.errors, strict=True) for c in (req, err)]
    activity = (list(map(operator.add, *columns)) if len(columns) == 2
                else list(map(sum, zip(*columns, strict=True))))
    rows = list(map(list, itertools.compress(zip(table.minutes, *columns, strict=True), activity)))
    gaps: list[list[int]] = []
    if len(rows) < len(activity):
        for m in itertools.compress(table.minutes, map(operator.not_, activity)):
            if gaps and gaps[-1][1] == m:
                gaps[-1][1] = m + 1
            else:
                gaps.append([m, m + 1])
    return gaps, rows


def _scope_evidence(s: ScopeResult, end_minute: int) -> dict[str, Any]:
    gaps, rows = compact_minutes(s.minutes, s.domains)
    return {
        "scope": s.name,
        "domains": list(s.domains),
        "min_samples": s.thresholds.min_samples,
        "error_threshold": f"{s.thresholds.error_threshold.numerator}/{s.thresholds.error_threshold.denominator}",
        "absent": "up",
        "range": [s.history_start, end_minute],
        "gaps": gaps,
        "minutes": rows,
    }


def _shared(shared: dict[object, Any] | None, key: tuple[object, ...], source: object,
            make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """make(), or what it made before for the same key (which names `source` by its id: it is
    checked to be the same object still)."""
    if shared is None:
        return make()
    known = shared.get(key)
    if known is None or known[0] is not source:
        known = shared[key] = (source, make())
    value: dict[str, Any] = known[1]
    return value


def expand_minutes(scope: Mapping[str, Any]) -> dict[int, dict[str, Count]]:
    """Each domain's counts back from a scope's "gaps" and "minutes"."""
    domains = [str(d) for d in scope["domains"]]
    result: dict[int, dict[str, Count]] = {}
    for start, end in scope.get("gaps", ()):
        for m in range(int(start), int(end)):
            result[m] = {d: Count(0, 0) for d in domains}
    for row in scope.get("minutes", ()):
        if len(row) != 1 + 2 * len(domains):
            raise EvidenceError(f"scope {scope.get('scope')}: a minute row has {len(row)} numbers, "
                                f"{1 + 2 * len(domains)} expected")
        result[int(row[0])] = {d: Count(int(row[1 + 2 * i]), int(row[2 + 2 * i])) for i, d in enumerate(domains)}
    return result


def build_evidence(result: ContractResult, shared: dict[object, Any] | None = None) -> dict[str, Any]:
    """Everything `account_contract` used for this contract and month, as plain JSON data
    (the format is described in the module docstring). With `shared`, the evidence of several
    contracts built one after the other shares the scopes that are alike (they must then not
    be changed): a report of many contracts holds them once."""
    c, regime, period = result.contract, result.regime, result.period
    windows = {use.window.id: use.window for scope in result.scopes for use in scope.windows}
    notices = {n.id: n for scope in result.scopes for n in scope.notices}
    scopes = []
    for s in result.scopes:
        key = ("scope", s.name, s.domains, s.thresholds, s.history_start, period.end_minute, id(s.minutes))
        scopes.append(_shared(shared, key, s.minutes, functools.partial(_scope_evidence, s, period.end_minute)))
    return {
        "schema": SCHEMA,
        "software": {"name": "slamon", "version": software_version()},
        "period": period.label,
        "timezone": period.timezone,
        "regime": _shared(shared, ("regime", regime.name, id(regime.definition)), regime.definition,
                          lambda: {"name": regime.name, "definition": regime.definition}),
        "contract": {
            "id": c.id, "customer": c.customer, "regime": c.regime, "domains": list(c.domains), "plan": c.plan,
            "currency": c.currency,
            "prices": [{"since": _day(p.since), "unit_price": _money(p.unit_price)} for p in c.prices],
            "licenses": [{"since": _day(s.since), "count": s.count} for s in c.licenses],
            "monthly_fee": _money(c.monthly_fee),
            "services": [{"domain": s.domain, "monthly_fee": _money(s.monthly_fee), "since": _day(s.since)}
                         for s in c.services],
            "awareness": c.awareness, "timezone": c.timezone, "billing_day": c.billing_day,
            "day_divisor": c.day_divisor, "starts": _day(c.starts), "ends": _day(c.ends), "account": c.account,
            "invoices": [{"month": i.month, "amount": _money(i.amount)} for i in c.invoices],
        },
        "awareness": result.awareness,
        # a month not over when the report was computed is provisional
        "period_over": result.period_over,
        "min_coverage": f"{result.min_coverage.numerator}/{result.min_coverage.denominator}",
        "claims": [{"id": c.claim.id, "source": c.claim.source, "contract": c.claim.contract,
                    "period": c.claim.period, "filed_at": _instant(c.claim.filed_at), "reference": c.claim.reference,
                    **({"corrects": c.claim.corrects} if c.claim.corrects else {})}
                   for c in sorted(result.claims, key=lambda c: c.claim.id)],
        "scopes": scopes,
        "windows": [
            {"id": w.id, "source": w.source, "kind": w.kind, "domains": list(w.domains),
             "contracts": list(w.contracts), "start": _instant(w.start), "end": _instant(w.end),
             "announced_at": _instant(w.announced_at), "announced_end": _instant(w.announced_end),
             "reason": w.reason}
            for w in sorted(windows.values(), key=lambda w: w.id)
        ],
        "notices": [
            {"id": n.id, "source": n.source, "contract": n.contract, "domain": n.domain, "at": _instant(n.at),
             "kind": n.kind, "note": n.note}
            for n in sorted(notices.values(), key=lambda n: n.id)
        ],
    }


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def evidence_digest(evidence: dict[str, Any], shared: dict[int, tuple[Any, bytes]] | None = None) -> str:
    """sha256 of the evidence's canonical JSON: any change to an input changes it. `shared`
    keeps the canonical JSON of the scopes for the next evidence that holds the same ones
    (build_evidence's `shared`)."""
    return "sha256:" + hashlib.sha256(_canonical_evidence(evidence, shared)).hexdigest()


# canonical_json, faster: orjson writes what json writes for dicts with string keys, lists,
# strings, 64-bit integers, booleans and None (it refuses larger integers and lone surrogates,
# and writes floats otherwise): such data goes to orjson, anything else to json.

def _plain(value: Any) -> bool:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is list:
        return all(map(_plain, value))
    if kind is dict:
        return all(type(k) is str for k in value) and all(map(_plain, value.values()))
    return False


def _plain_scope(scope: Any) -> bool:
    """_plain for a scope of evidence, whose minutes are many: a dict whose values are strings,
    integers, lists of them and lists of lists of integers."""
    if type(scope) is not dict or not all(type(k) is str for k in scope):
        return False
    for value in scope.values():
        kind = type(value)
        if kind is list:
            kinds = set(map(type, value))
            if kinds == {list}:
                if not set(map(type, itertools.chain.from_iterable(value))) <= {int}:
                    return False
            elif not kinds <= {int, str}:
                return False
        elif kind is not int and kind is not str:
            return False
    return True


def _canonical_bytes(value: Any, plain: bool) -> bytes:
    if plain:
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # an integer beyond 64 bits, a lone surrogate: as json writes them
            pass
    return canonical_json(value).encode("utf-8")


def _canonical_evidence(evidence: dict[str, Any], shared: dict[int, tuple[Any, bytes]] | None) -> bytes:
    """canonical_json(evidence) as UTF-8."""
    if type(evidence) is not dict or not all(type(k) is str for k in evidence):
        return canonical_json(evidence).encode("utf-8")
    parts = []
    for key in sorted(evidence):
        value = evidence[key]
        if key == "scopes" and type(value) is list:
            encoded = b"[" + b",".join(_canonical_shared(scope, shared, _plain_scope) for scope in value) + b"]"
        elif key == "regime":
            encoded = _canonical_shared(value, shared, _plain)
        else:
            encoded = _canonical_bytes(value, _plain(value))
        parts.append(_canonical_bytes(key, True) + b":" + encoded)
    return b"{" + b",".join(parts) + b"}"


def _canonical_shared(value: Any, shared: dict[int, tuple[Any, bytes]] | None, plain: Callable[[Any], bool]
                      ) -> bytes:
    """The canonical JSON of a value that the evidence of several contracts may share (the
    same object, unchanged), written once."""
    known = shared.get(id(value)) if shared is not None else None
    if known is not None and known[0] is value:
        return known[1]
    encoded = _canonical_bytes(value, plain(value))
    if shared is not None:
        shared[id(value)] = (value, encoded)
    return encoded


# --- recomputation -------------------------------------------------------------------------

class EvidenceError(ValueError):
    """The evidence cannot be turned back into inputs (malformed or from another schema)."""


class EvidenceSource:
    """A MinuteSource that answers from embedded evidence: exactly the recorded mapping."""

    def __init__(self, scopes: Sequence[Mapping[str, Any]]):
        self._scopes = {tuple(s["domains"]): (expand_minutes(s), (int(s["range"][0]), int(s["range"][1])))
                        for s in scopes}

    def _scope(self, domains: Sequence[str]) -> tuple[dict[int, dict[str, Count]], tuple[int, int]]:
        key = tuple(domains)
        if key not in self._scopes:
            raise EvidenceError(f"no minutes recorded for the scope of {', '.join(key)}")
        return self._scopes[key]

    def earliest_minute(self, domains: Sequence[str]) -> int | None:
        return self._scope(domains)[1][0]

    def domain_minutes(self, domains: Sequence[str], thresholds: Thresholds, start: int,
                       end: int) -> dict[int, dict[str, Count]]:
        minutes, (lo, hi) = self._scope(domains)
        if start < lo or end > hi:
            raise EvidenceError(f"minutes recorded for [{lo}, {hi}) but [{start}, {end}) is needed")
        return {m: c for m, c in minutes.items() if start <= m < end}


def _decimal(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _amount(value: object) -> Decimal:
    if value is None:
        raise EvidenceError("an amount is missing")
    return Decimal(str(value))


def _date(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _instant_of(value: str) -> datetime:
    return datetime.fromisoformat(value)


def recompute(evidence: Any) -> ContractResult:
    """The contract's month computed again from its evidence alone: no storage, no config."""
    schema = evidence.get("schema") if isinstance(evidence, dict) else None
    if schema in OLD_SCHEMAS:
        raise EvidenceError(f"the evidence is {schema} (slamon 0.1), whose rules this slamon no longer applies "
                            f"(pooled windows and incidents changed in 0.2): its digest was checked, its figures "
                            f"cannot be recomputed")
    if not isinstance(evidence, dict) or schema != SCHEMA:
        raise EvidenceError(f"not {SCHEMA} evidence (schema {schema!r})")
    try:
        problems = Problems()
        rdata = evidence["regime"]
        regime = parse_regime(rdata["name"], rdata["definition"], ("regime", rdata["name"]), problems,
                              builtin_regime_tables())
        if regime is None:
            raise EvidenceError("the embedded regime is invalid: " +
                                "; ".join(f"{path_str(p)}: {m}" for p, m in problems.items))
        c = evidence["contract"]
        contract = Contract(
            id=c["id"], customer=c["customer"], regime=c["regime"], domains=tuple(c["domains"]), plan=c["plan"],
            currency=c["currency"],
            prices=tuple(PriceStep(_date(p["since"]), _amount(p["unit_price"])) for p in c["prices"]),
            licenses=tuple(LicenseStep(_date(s["since"]), int(s["count"])) for s in c["licenses"]),
            monthly_fee=_decimal(c["monthly_fee"]),
            services=tuple(ServiceFee(s["domain"], _amount(s["monthly_fee"]), _date(s["since"]))
                           for s in c["services"]),
            awareness=c["awareness"], timezone=c["timezone"], billing_day=c["billing_day"],
            day_divisor=c["day_divisor"], starts=_date(c["starts"]), ends=_date(c["ends"]), account=c["account"],
            invoices=tuple(Invoice(i["month"], _amount(i["amount"])) for i in c["invoices"]))
        period = month_period(evidence["period"], evidence["timezone"])
        windows = [Window(kind=w["kind"], start=_instant_of(w["start"]), end=_dt(w["end"]), reason=w["reason"],
                          domains=tuple(w["domains"]), contracts=tuple(w["contracts"]),
                          announced_at=_dt(w["announced_at"]), id=w["id"], source=w["source"],
                          announced_end=_dt(w.get("announced_end")))
                   for w in evidence["windows"]]
        notices = [Notice(contract=n["contract"], at=_instant_of(n["at"]), kind=n["kind"], domain=n["domain"],
                          note=n["note"], id=n["id"], source=n["source"]) for n in evidence["notices"]]
        thresholds = {}
        for s in evidence["scopes"]:
            if s.get("absent", "up") != "up":
                raise EvidenceError(f"scope {s['scope']}: absent minutes must be \"up\", got {s['absent']!r}")
            t = Thresholds(int(s["min_samples"]), Fraction(s["error_threshold"]))
            for d in s["domains"]:
                thresholds[d] = t
        source = EvidenceSource(evidence["scopes"])
        claims = [Claim(contract=k["contract"], period=k["period"], filed_at=_instant_of(k["filed_at"]),
                        reference=k["reference"], id=k["id"], source=k["source"],
                        corrects=k.get("corrects", "")) for k in evidence["claims"]]
        return account_contract(contract, regime, period, source, windows, notices, thresholds, claims=claims,
                                min_coverage=Fraction(evidence["min_coverage"]),
                                period_over=bool(evidence["period_over"]))
    except EvidenceError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        raise EvidenceError(f"malformed evidence: {type(exc).__name__}: {exc}") from None


# --- HTML embedding --------------------------------------------------------------------------

def script_json(data: Any) -> str:
    """JSON safe inside <script>: no "</" or "<!--" can close or confuse the element."""
    return (json.dumps(data, ensure_ascii=False, sort_keys=True)
            .replace("</", "<\\/").replace("<!--", "<\\u0021--"))


def figure_value(value: Any) -> str:
    """The raw text of a figure in data-value: strings as they are, numbers in decimal, null empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return canonical_json(value)
    return str(value)


def figure_attrs(name: str, value: Any, scope: str | None = None) -> str:
    """` data-figure="NAME" [data-scope="SCOPE"] data-value="RAW"`, escaped, for a visible figure."""
    out = f' data-figure="{html.escape(name)}"'
    if scope is not None:
        out += f' data-scope="{html.escape(scope)}"'
    return out + f' data-value="{html.escape(figure_value(value))}"'
