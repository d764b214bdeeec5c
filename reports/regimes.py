"""Compensation regimes as data.

A regime is a tier table with explicit inclusive/exclusive bounds plus the handful of settings
that turn a tier into money (unit, cap, divisor, tax, rounding, deadlines). The four built-in
regimes live in regimes.toml and are parsed by `parse_regime`, the same function that reads
`[regime.NAME]` tables from a user's config.toml.

`title` and `clauses` are what reports show. Each is either one value (a string, a list of
strings) or a table by report language, for the HTML report in en/ja/ko:

    title = { en = "...", ja = "...", ko = "..." }
    clauses = { en = ["...", ...], ja = ["...", ...], ko = ["...", ...] }

with an optional `default = "LANG"` naming the entry that `Regime.title` / `Regime.clauses`
give (the JSON and Markdown reports); without it, the regime's `language` when the table has
it, else "en", else the first language it has. Every language lists the same clauses, in the
same order (translations of one list). `Regime.title_in(lang)` / `Regime.clauses_in(lang)`
give a language's entry, the default value where the table has none (or is no table).
"""
from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from importlib import resources
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from reports.fields import KeyPath, Problems, TableReader, percent, ratio_from_percent

SCOPES = ("contract", "service")
CREDIT_UNITS = ("days", "percent")
AWARENESS = ("detection", "notice")
ROUNDING_MODES = ("down", "half_up", "half_even", "up")
PLANS = ("paid", "free", "trial")
LANGUAGES = ("en", "ja", "ko")
CLAIM_PRICE_DAYS = ("claim_date", "period_end")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# the rules a report shows with their clause
RULES = ("downtime", "tiers", "cap", "amount", "maintenance", "exclusions", "notice", "claim_window", "claim_price",
         "deduction", "no_invoice", "invoice_cap", "liability_cap", "deadline_extension", "eligibility")


@dataclass(frozen=True)
class Tier:
    """One row of a tier table: lower/upper are percentages (None = unbounded)."""

    lower: Fraction | None
    lower_inclusive: bool
    upper: Fraction | None
    upper_inclusive: bool
    credit: Fraction

    def __post_init__(self) -> None:
        if self.credit < 0:
            raise ValueError("tier credit must not be negative")
        if self.lower is not None and self.upper is not None:
            if self.lower > self.upper or (self.lower == self.upper and not (
                    self.lower_inclusive and self.upper_inclusive)):
                raise ValueError("tier is empty: lower bound is not below upper bound")

    def contains(self, pct: Fraction) -> bool:
        if self.lower is not None:
            if pct < self.lower or (pct == self.lower and not self.lower_inclusive):
                return False
        if self.upper is not None:
            if pct > self.upper or (pct == self.upper and not self.upper_inclusive):
                return False
        return True

    def describe(self) -> str:
        """"99.0% <= A < 99.9%" — the row as the contract's table writes it."""
        parts = []
        if self.lower is not None:
            parts.append(f"{format_percent(self.lower)}% {'<=' if self.lower_inclusive else '<'} ")
        parts.append("A")
        if self.upper is not None:
            parts.append(f" {'<=' if self.upper_inclusive else '<'} {format_percent(self.upper)}%")
        return "".join(parts)


def format_percent(value: Fraction) -> str:
    """Short exact-ish form of a bound for display: 99.95 -> "99.95", 99 -> "99.0"."""
    text = format((Decimal(value.numerator) / Decimal(value.denominator)).normalize(), "f")
    return text if "." in text else text + ".0"


@dataclass(frozen=True)
class Regime:
    name: str
    title: str
    timezone: str
    scope: str
    target: Fraction
    credit_unit: str
    tiers: tuple[Tier, ...]
    cap: Fraction | None = None
    day_divisor: str | int = "month"
    rounding: str = "down"
    rounding_unit: Fraction | None = None  # None: the currency's minor unit
    prices_include_tax: bool = False
    tax_rate: Fraction = Fraction(0)
    notice_based: bool = False
    awareness: str = "detection"
    claim_window_days: int | None = None
    credit_applies_after_months: int | None = None
    eligible_plans: frozenset[str] = frozenset({"paid"})
    maintenance_notice_days: int = 7
    # a maintenance window excludes only when announced before it starts (Art. 24 (2) 1:
    # "pre-scheduled"); an emergency window (not announced ahead) excludes only when this says so
    maintenance_requires_announcement: bool = True
    emergency_excluded: bool = False
    # a notice belongs to an incident whose first down minute starts at most this long after it
    notice_grace_minutes: int = 5
    # the claim (LINE WORKS Terms of Service, Art. 24 (3)-(6), Art. 23 (3)): the unit price of the
    # claim date or of the month's end; the invoice it is deducted from (issued after the last day
    # of the N-th month following the claim month); nothing when no invoice arises within so many
    # days after that; capped at that invoice; total liability capped at the fees of so many months
    claim_price_on: str = "period_end"
    deduct_after_months: int | None = None
    no_invoice_days: int | None = None
    cap_at_invoice: bool = False
    liability_months: int | None = None
    # a deadline on a rest day: the civil code moves it to the next working day (shown as a note)
    holiday_country: str | None = None
    deadline_rest_days: tuple[str, ...] = ("sunday",)
    deadline_extension_clause: str = ""
    # which clause each rule comes from, shown next to it in reports
    rule_clauses: Mapping[str, str] = field(default_factory=dict, compare=False)
    provider: str = ""
    ambiguous_bounds: tuple[Fraction, ...] = ()
    clauses: tuple[str, ...] = ()
    language: str = "en"
    builtin: bool = field(default=False, compare=False)
    # `title` and `clauses` by report language (see the module docstring); `title`/`clauses`
    # above are the default-language values
    titles: Mapping[str, str] = field(default_factory=dict, compare=False)
    clause_texts: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False)
    # the table this regime was parsed from (after `extends`): reports embed it as evidence and
    # `slamon report --verify` parses it again with parse_regime
    definition: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}")
        if self.credit_unit not in CREDIT_UNITS:
            raise ValueError(f"credit_unit must be one of {CREDIT_UNITS}")
        if self.awareness not in AWARENESS:
            raise ValueError(f"awareness must be one of {AWARENESS}")
        if self.rounding not in ROUNDING_MODES:
            raise ValueError(f"rounding must be one of {ROUNDING_MODES}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None
        problem = tier_table_problem(self.tiers)
        if problem:
            raise ValueError(problem)

    def title_in(self, lang: str) -> str:
        """The title in a report language (the default title when none is given for it)."""
        return self.titles.get(lang, self.title)

    def clauses_in(self, lang: str) -> tuple[str, ...]:
        """The clauses applied, in a report language (the default list when none is given for it)."""
        return self.clause_texts.get(lang, self.clauses)

    def tier_for(self, availability_percent: Fraction) -> Tier | None:
        for tier in self.tiers:
            if tier.contains(availability_percent):
                return tier
        return None

    def credit_for(self, availability_percent: Fraction) -> tuple[Fraction, Tier | None, bool]:
        """(credit after cap, the tier, whether the cap cut it)."""
        tier = self.tier_for(availability_percent)
        credit = tier.credit if tier else Fraction(0)
        if self.cap is not None and credit > self.cap:
            return self.cap, tier, True
        return credit, tier, False

    def bounds(self) -> list[Fraction]:
        values = {b for t in self.tiers for b in (t.lower, t.upper) if b is not None}
        return sorted(values | {self.target})


def tier_table_problem(tiers: tuple[Tier, ...]) -> str | None:
    """A valid table is one contiguous run of tiers from "no lower bound" upwards, adjacent rows
    meeting at one bound that exactly one of them includes, and credit never smaller for lower
    availability. That makes the tier of any availability unique and the credit monotone."""
    if not tiers:
        return "a regime needs at least one tier"
    ordered = sorted(tiers, key=lambda t: (t.upper is None, t.upper if t.upper is not None else 0))
    lowest = ordered[0].lower
    if lowest is not None and (lowest > 0 or (lowest == 0 and not ordered[0].lower_inclusive)):
        return (f"the lowest tier must reach down to 0% (its lower bound is "
                f"{format_percent(lowest)}%): availability below it would earn no credit")
    for low, high in pairwise(ordered):
        if low.upper is None or high.lower is None or low.upper != high.lower:
            return (f"tiers {low.describe()} and {high.describe()} do not meet: every availability "
                    f"below the top tier must fall in exactly one tier")
        if low.upper_inclusive == high.lower_inclusive:
            which = "both include" if low.upper_inclusive else "neither includes"
            return f"tiers {low.describe()} and {high.describe()}: {which} {format_percent(low.upper)}%"
        if low.credit < high.credit:
            return (f"tier {low.describe()} gives less credit than {high.describe()}: "
                    f"more downtime must never lower the credit")
    return None


REGIME_KEYS = (
    "extends", "title", "clauses", "language", "timezone", "scope", "target", "credit_unit",
    "tiers", "cap", "day_divisor", "rounding", "rounding_unit", "prices_include_tax", "tax_rate",
    "notice_based", "awareness", "claim_window_days", "credit_applies_after_months",
    "eligible_plans", "maintenance_notice_days", "ambiguous_bounds", "maintenance_requires_announcement",
    "emergency_excluded", "notice_grace_minutes", "claim_price_on", "deduct_after_months", "no_invoice_days",
    "cap_at_invoice", "liability_months", "holiday_country", "deadline_rest_days", "deadline_extension_clause",
    "rule_clauses", "provider",
)


def _default_language(entries: Mapping[str, Any], chosen: Any, language: str | None) -> str | None:
    """Which entry of a by-language table is the default: `chosen`, else the regime's language,
    else "en", else the first of LANGUAGES the table has."""
    if chosen is not None:
        return str(chosen)
    for lang in (language, "en", *LANGUAGES):
        if lang in entries:
            return lang
    return None


def _by_language(table: TableReader, key: str, problems: Problems, language: str | None,
                 check: Callable[[Any], bool], what: str) -> tuple[Any, dict[str, Any]] | None:
    """A value that is either one `what` or a table of them by language with an optional
    `default` language: (the default value, {language: value}). None: absent, or a problem was
    recorded. `check(value)` tells whether one value is well-formed."""
    raw = table.raw(key)
    if raw is None:
        return None
    if not isinstance(raw, dict):
        if not check(raw):
            problems.add(table.key(key), f"expected {what} or a table of them by language "
                                         f"({', '.join(LANGUAGES)})")
            return None
        return raw, {}
    before = len(problems.items)
    entries: dict[str, Any] = {}
    for lang, value in raw.items():
        if lang == "default":
            if value not in LANGUAGES:
                problems.add(table.key(key) + (lang,), f"must be one of {', '.join(LANGUAGES)}; got {value!r}")
        elif lang not in LANGUAGES:
            problems.add(table.key(key) + (lang,), f"unknown language (one of {', '.join(LANGUAGES)}, or default)")
        elif not check(value):
            problems.add(table.key(key) + (lang,), f"expected {what}")
        else:
            entries[lang] = value
    default = _default_language(entries, raw.get("default"), language)
    if len(problems.items) != before:
        return None
    if default is None or default not in entries:
        problems.add(table.key(key), f"needs an entry for its default language {default!r}" if default else
                     f"needs at least one language ({', '.join(LANGUAGES)})")
        return None
    return entries[default], entries


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _is_text_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def parse_tier(data: Any, path: KeyPath, problems: Problems) -> Tier | None:
    table = TableReader(data, path, problems, what="tier table ({lower, upper, bounds, credit})")
    before = len(problems.items)
    lower = percent(table.raw("lower"), table.key("lower"), problems) if table.has("lower") else None
    upper = percent(table.raw("upper"), table.key("upper"), problems) if table.has("upper") else None
    bounds = table.text("bounds", required=True)
    if bounds is not None and (len(bounds) != 2 or bounds[0] not in "[(" or bounds[1] not in "])"):
        problems.add(table.key("bounds"), f"must be one of \"[)\", \"(]\", \"[]\", \"()\"; got {bounds!r}")
        bounds = None
    credit = percent(table.raw("credit"), table.key("credit"), problems, allow_suffix=False) \
        if table.has("credit") else None
    if not table.has("credit"):
        problems.add(table.key("credit"), "is required")
    table.finish()
    if len(problems.items) != before or bounds is None or credit is None:
        return None
    try:
        return Tier(lower, bounds[0] == "[", upper, bounds[1] == "]", credit)
    except ValueError as exc:
        problems.add(path, str(exc))
        return None


def resolve_extends(name: str, data: Mapping[str, Any], path: KeyPath, problems: Problems,
                    known: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    """Merge a chain of `extends` (a regime's own keys win over its base's), refusing cycles."""
    chain = [name]
    merged = {k: v for k, v in data.items() if k != "extends"}
    base_name = data.get("extends")
    while base_name is not None:
        if not isinstance(base_name, str) or base_name not in known:
            problems.add(path + ("extends",), f"unknown regime {base_name!r} to extend "
                                              f"(known: {', '.join(sorted(known))})")
            return None
        if base_name in chain:
            cycle = " -> ".join(chain + [base_name])
            problems.add(path + ("extends",), f"regimes extend each other in a cycle: {cycle}")
            return None
        chain.append(base_name)
        base = known[base_name]
        merged = {**{k: v for k, v in base.items() if k != "extends"}, **merged}
        base_name = base.get("extends") if isinstance(base, dict) else None
    return merged


def parse_regime(name: str, data: Any, path: KeyPath, problems: Problems,
                 known: Mapping[str, Mapping[str, Any]] | None = None, *, builtin: bool = False) -> Regime | None:
    """Validate one [regime.NAME] table. `extends = "lineworks"` starts from another regime's keys."""
    if isinstance(data, dict) and "extends" in data:
        data = resolve_extends(name, data, path, problems, known or {})
        if data is None:
            return None
    table = TableReader(data, path, problems, what="regime table")
    before = len(problems.items)
    language = table.text("language", "en", choices=LANGUAGES)
    title_value = _by_language(table, "title", problems, language, _is_text, "a string")
    title: str = title_value[0] if title_value else name
    titles: dict[str, str] = title_value[1] if title_value else {}
    clauses_value = _by_language(table, "clauses", problems, language, _is_text_list,
                                 "a list of non-empty strings")
    clauses: tuple[str, ...] = tuple(clauses_value[0]) if clauses_value else ()
    clause_texts = {lang: tuple(v) for lang, v in clauses_value[1].items()} if clauses_value else {}
    for lang, texts in clause_texts.items():
        if len(texts) != len(clauses):
            problems.add(table.key("clauses") + (lang,), f"lists {len(texts)} clauses, the default language "
                                                         f"{len(clauses)}: every language lists the same clauses")
    tz = table.text("timezone", required=True)
    if tz is not None:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            problems.add(table.key("timezone"), f"unknown time zone {tz!r} (use an IANA name such as Asia/Tokyo)")
    scope = table.text("scope", required=True, choices=SCOPES)
    target = percent(table.raw("target"), table.key("target"), problems) if table.has("target") else None
    if not table.has("target"):
        problems.add(table.key("target"), "is required")
    elif target is not None and not 0 < target <= 100:
        problems.add(table.key("target"), "must be a percentage above 0 and at most 100")
    credit_unit = table.text("credit_unit", required=True, choices=CREDIT_UNITS)
    before_tiers = len(problems.items)
    tiers = tuple(t for p, d in table.tables("tiers") if (t := parse_tier(d, p, problems)) is not None)
    tiers_parsed = len(problems.items) == before_tiers
    if not table.has("tiers"):
        problems.add(table.key("tiers"), "is required")
    cap = percent(table.raw("cap"), table.key("cap"), problems, allow_suffix=False) if table.has("cap") else None
    if cap is not None and cap < 0:
        problems.add(table.key("cap"), "must not be negative")
    divisor_raw = table.raw("day_divisor", "month")
    day_divisor: str | int = "month"
    if divisor_raw == "month" or (isinstance(divisor_raw, int) and not isinstance(divisor_raw, bool)
                                  and 1 <= divisor_raw <= 31):
        day_divisor = divisor_raw
    else:
        problems.add(table.key("day_divisor"), f"must be \"month\" or a number of days (1-31); got {divisor_raw!r}")
    rounding = table.text("rounding", "down", choices=ROUNDING_MODES)
    rounding_unit = None
    if table.has("rounding_unit"):
        rounding_unit = percent(table.raw("rounding_unit"), table.key("rounding_unit"), problems,
                                allow_suffix=False)
        if rounding_unit is not None and rounding_unit <= 0:
            problems.add(table.key("rounding_unit"), "must be above zero")
    prices_include_tax = table.boolean("prices_include_tax", False)
    tax_rate = ratio_from_percent(table.raw("tax_rate", "0%"), table.key("tax_rate"), problems)
    notice_based = table.boolean("notice_based", False)
    awareness = table.text("awareness", "detection", choices=AWARENESS)
    claim_window_days = table.integer("claim_window_days", minimum=1)
    credit_applies = table.integer("credit_applies_after_months", minimum=0, maximum=24)
    plans = table.texts("eligible_plans") or ("paid",)
    for plan in plans:
        if plan not in PLANS:
            problems.add(table.key("eligible_plans"), f"unknown plan {plan!r} (plans: {', '.join(PLANS)})")
    notice_days = table.integer("maintenance_notice_days", 7, minimum=0)
    requires_announcement = table.boolean("maintenance_requires_announcement", True)
    emergency_excluded = table.boolean("emergency_excluded", False)
    notice_grace = table.integer("notice_grace_minutes", 5, minimum=0, maximum=1440)
    claim_price_on = table.text("claim_price_on", "period_end", choices=CLAIM_PRICE_DAYS)
    deduct_after = table.integer("deduct_after_months", minimum=0, maximum=24)
    no_invoice_days = table.integer("no_invoice_days", minimum=1, maximum=3660)
    cap_at_invoice = table.boolean("cap_at_invoice", False)
    liability_months = table.integer("liability_months", minimum=1, maximum=120)
    holiday_country = table.text("holiday_country")
    if holiday_country is not None and (not re.match(r"^[A-Z]{2}$", holiday_country)
                                        or holiday_country not in holidays.list_supported_countries()):
        problems.add(table.key("holiday_country"), f"expected an ISO 3166 country code with a holiday calendar, "
                                                   f"such as JP or KR, got {holiday_country!r}")
        holiday_country = None
    rest_days = table.texts("deadline_rest_days") or ("sunday",)
    for day in rest_days:
        if day not in WEEKDAYS:
            problems.add(table.key("deadline_rest_days"), f"unknown weekday {day!r} (one of {', '.join(WEEKDAYS)})")
    extension_clause = table.text("deadline_extension_clause", "")
    raw_rules = table.raw("rule_clauses", {})
    if not isinstance(raw_rules, dict) or not all(isinstance(v, str) for v in raw_rules.values()):
        problems.add(table.key("rule_clauses"), "expected a table of rule = \"clause\" strings")
        raw_rules = {}
    for rule in raw_rules:
        if rule not in RULES:
            problems.add(table.key("rule_clauses") + (rule,), f"unknown rule (one of {', '.join(RULES)})")
    provider = table.text("provider", "")
    raw_ambiguous = table.raw("ambiguous_bounds", [])
    if not isinstance(raw_ambiguous, list):
        problems.add(table.key("ambiguous_bounds"), "expected a list of percentages such as [\"99.9\"]")
        raw_ambiguous = []
    ambiguous = tuple(v for i, raw in enumerate(raw_ambiguous)
                      if (v := percent(raw, table.key("ambiguous_bounds") + (i,), problems)) is not None)
    table.finish()
    problem = tier_table_problem(tiers) if table.has("tiers") and tiers_parsed else None
    if problem:
        problems.add(table.key("tiers"), problem)
    if (len(problems.items) != before or tz is None or scope is None or target is None or credit_unit is None
            or tax_rate is None):
        return None
    return Regime(
        name=name, title=title, timezone=tz, scope=scope, target=target, credit_unit=credit_unit,
        tiers=tiers, cap=cap, day_divisor=day_divisor, rounding=rounding, rounding_unit=rounding_unit,
        prices_include_tax=prices_include_tax, tax_rate=tax_rate, notice_based=notice_based,
        awareness=awareness, claim_window_days=claim_window_days,
        credit_applies_after_months=credit_applies, eligible_plans=frozenset(plans),
        maintenance_notice_days=notice_days, ambiguous_bounds=ambiguous, clauses=clauses,
        maintenance_requires_announcement=requires_announcement, emergency_excluded=emergency_excluded,
        notice_grace_minutes=notice_grace, claim_price_on=claim_price_on, deduct_after_months=deduct_after,
        no_invoice_days=no_invoice_days, cap_at_invoice=cap_at_invoice, liability_months=liability_months,
        holiday_country=holiday_country, deadline_rest_days=rest_days, deadline_extension_clause=extension_clause,
        rule_clauses=dict(raw_rules), provider=provider,
        language=language, builtin=builtin, definition=dict(data), titles=titles, clause_texts=clause_texts,
    )


def builtin_regime_tables() -> dict[str, dict[str, Any]]:
    text = resources.files("reports").joinpath("regimes.toml").read_text(encoding="utf-8")
    tables: dict[str, dict[str, Any]] = tomllib.loads(text)["regime"]
    return tables


def builtin_regimes() -> dict[str, Regime]:
    tables = builtin_regime_tables()
    problems = Problems()
    regimes: dict[str, Regime] = {}
    for name, data in tables.items():
        regime = parse_regime(name, data, ("regime", name), problems, tables, builtin=True)
        if regime is None:  # a broken shipped file is a bug, not a user error
            raise RuntimeError(f"built-in regime {name} is invalid: {problems.items}")
        regimes[name] = regime
    return regimes
