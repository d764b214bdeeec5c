"""Money and dates: exact arithmetic (Fraction in, Decimal out), the regime's rounding, and the
deadlines each contract sets. No floats anywhere on this path."""
from __future__ import annotations

import calendar
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, Inexact, localcontext
from fractions import Fraction

# ISO 4217 minor units for the currencies contracts here use; others default to 2.
MINOR_UNITS = {"JPY": 0, "KRW": 0, "USD": 2, "EUR": 2, "TWD": 2, "THB": 2, "CNY": 2, "GBP": 2}


def currency_unit(currency: str) -> Fraction:
    return Fraction(1, 10 ** MINOR_UNITS.get(currency, 2))


def round_money(value: Fraction, unit: Fraction, mode: str) -> Decimal:
    """Round a non-negative exact amount to a multiple of `unit` ("down" truncates: 通則 5)."""
    steps = value / unit
    if mode == "down":
        whole = math.floor(steps)
    elif mode == "up":
        whole = math.ceil(steps)
    elif mode == "half_up":
        whole = math.floor(steps + Fraction(1, 2))
    elif mode == "half_even":
        whole = round(steps)
    else:
        raise ValueError(f"unknown rounding mode {mode!r}")
    return Decimal(whole) * to_decimal(unit)


def to_decimal(value: Fraction) -> Decimal:
    """The exact decimal form of a Fraction; raises if it has none (e.g. 1/3)."""
    with localcontext() as ctx:
        ctx.prec = 60
        ctx.traps[Inexact] = True
        return Decimal(value.numerator) / Decimal(value.denominator)


def exact_decimal_text(value: Fraction, places: int = 6) -> str:
    """Up to `places` decimals, truncated, with a trailing ellipsis when more digits follow."""
    scaled = value * 10 ** places
    text = format(Decimal(math.floor(scaled)).scaleb(-places), f".{places}f").rstrip("0").rstrip(".")
    return text + ("…" if scaled.denominator != 1 else "")


def truncated_percent(ratio: Fraction, places: int = 6) -> str:
    """A ratio in [0, 1] as a percentage truncated (never rounded up) to `places` decimals."""
    scaled = math.floor(ratio * 100 * 10 ** places)
    return format(Decimal(scaled).scaleb(-places), f".{places}f")


def tax_excluded(price: Decimal, rate: Fraction) -> Fraction:
    """KDDI prints prices including tax; its terms compute on tax-excluded amounts (通則 4)."""
    return Fraction(price) / (1 + rate)


AmountTerm = Decimal | Fraction | int | str | bool


@dataclass(frozen=True)
class Amount:
    """A credit's money: the exact amount, the rounded one, the formula in words (English, as the
    JSON and Markdown reports show it) and its terms as data, for a formula written in another
    language (reports.html). `terms`:

    - both kinds: kind ("days" | "percent"), currency, exact (Fraction), rounded (Decimal),
      rounding (the mode), unit (Fraction: what it rounds to);
    - days: unit_price (Decimal, as the contract states it), tax_included (bool), tax_rate
      (Fraction, when tax_included), price (Fraction: the price the formula uses, tax excluded
      where the price includes it), credit_days (Fraction), divisor (int), licenses (int);
    - percent: fee (Decimal: the monthly fee), percent (Fraction)."""

    exact: Fraction
    rounded: Decimal
    formula: str
    terms: Mapping[str, AmountTerm] = field(default_factory=dict, compare=False)


def days_credit(unit_price: Decimal, *, include_tax: bool, tax_rate: Fraction, credit_days: Fraction,
                divisor: int, licenses: int, currency: str, rounding: str, unit: Fraction) -> Amount:
    """LINE WORKS Art. 24 ④: unit price x 1/(days) x credit days x IDs."""
    price = tax_excluded(unit_price, tax_rate) if include_tax else Fraction(unit_price)
    exact = price * credit_days * licenses / divisor
    rounded = round_money(exact, unit, rounding)
    price_text = f"{unit_price} {currency}"
    if include_tax:
        price_text = (f"({unit_price} {currency} incl. tax / {to_decimal(1 + tax_rate)}) = "
                      f"{exact_decimal_text(price)} {currency}")
    formula = (f"{price_text} x {credit_days} days / {divisor} x {licenses} IDs = "
               f"{exact_decimal_text(exact)} -> {rounded} {currency} (rounded {rounding} to {to_decimal(unit)})")
    terms: dict[str, AmountTerm] = {
        "kind": "days", "currency": currency, "unit_price": unit_price, "tax_included": include_tax,
        "price": price, "credit_days": credit_days, "divisor": divisor, "licenses": licenses,
        "exact": exact, "rounded": rounded, "rounding": rounding, "unit": unit}
    if include_tax:
        terms["tax_rate"] = tax_rate
    return Amount(exact, rounded, formula, terms)


def percent_credit(monthly_fee: Decimal, percent: Fraction, *, currency: str, rounding: str,
                   unit: Fraction) -> Amount:
    exact = Fraction(monthly_fee) * percent / 100
    rounded = round_money(exact, unit, rounding)
    formula = (f"{monthly_fee} {currency} x {percent}% = {exact_decimal_text(exact)} -> {rounded} {currency} "
               f"(rounded {rounding} to {to_decimal(unit)})")
    terms: dict[str, AmountTerm] = {
        "kind": "percent", "currency": currency, "fee": monthly_fee, "percent": percent, "exact": exact,
        "rounded": rounded, "rounding": rounding, "unit": unit}
    return Amount(exact, rounded, formula, terms)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def claim_deadline(period_end_local: date, window_days: int) -> date:
    """The last day to claim. The period starts at midnight, so its first day counts (Japanese
    Civil Code Art. 140-141): 30 days from 1 December end on 30 December."""
    return period_end_local + timedelta(days=window_days - 1)


def billing_month(day: date, billing_day: int) -> tuple[date, date]:
    """The billing month (KDDI 料金月) containing `day`: from the billing day of one month to the
    day before the billing day of the next."""
    start = day.replace(day=billing_day) if day.day >= billing_day else add_months(day, -1).replace(day=billing_day)
    end = add_months(start, 1) - timedelta(days=1)
    return start, end
