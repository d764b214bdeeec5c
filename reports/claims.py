"""The claim: what a customer's claim for a month's compensation comes to, rule by rule, each with
the clause it comes from (LINE WORKS Terms of Service, Art. 24 (3)-(6) and Art. 23 (3) for the
built-in regimes that have them), and the note on a deadline that falls on a rest day.

Billing data slamon does not see is estimated from the contract's dated prices, licences and
fees (an invoice issued in month M bills the usage of month M-1, LINE WORKS Terms of Service,
Art. 19 (1)), unless billing has recorded the invoice (`[[contract.invoices]]`). Pure: no I/O,
no clock."""
from __future__ import annotations

import calendar
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from reports.compensation import add_months, currency_unit, round_money, tax_excluded
from reports.contracts import Claim, Contract
from reports.regimes import WEEKDAYS, Regime


@dataclass(frozen=True)
class ClaimStep:
    """One rule applied to a claim, in words, with the clause it comes from."""

    rule: str
    text: str
    clause: str = ""


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    on_time: bool
    billing_month: str | None      # YYYY-MM of the invoice the credit is deducted from
    amount: Decimal                # after every rule
    steps: tuple[ClaimStep, ...]


@dataclass(frozen=True)
class DeadlineNote:
    """A deadline on a rest day: where the civil code moves it, and why."""

    deadline: date
    extended_to: date
    why: str                       # "Sunday", "Saturday", or the holiday's name
    clause: str


def month_label(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _first_of(label: str) -> date:
    year, month = label.split("-")
    return date(int(year), int(month), 1)


def _last_of(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


@lru_cache(maxsize=32)
def _holidays(country: str, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(country, years=[year, year + 1])


def _rest_reason(day: date, regime: Regime) -> str | None:
    weekday = WEEKDAYS[day.weekday()]
    if weekday in regime.deadline_rest_days:
        return weekday.capitalize()
    if regime.holiday_country:
        name = _holidays(regime.holiday_country, day.year).get(day)
        if name:
            return f"public holiday ({name})"
    return None


def deadline_note(deadline: date | None, regime: Regime) -> DeadlineNote | None:
    """When the contractual deadline falls on a rest day of the contract's country, the day the
    civil code would end the period instead (the next day that is not a rest day). The contracts
    do not say so themselves: the report keeps the contractual date and shows this as a note."""
    if deadline is None or not regime.deadline_extension_clause:
        return None
    why = _rest_reason(deadline, regime)
    if why is None:
        return None
    extended = deadline + timedelta(days=1)
    while _rest_reason(extended, regime) is not None:
        extended += timedelta(days=1)
    return DeadlineNote(deadline, extended, why, regime.deadline_extension_clause)


def monthly_charge(contract: Contract, regime: Regime, usage_month: date) -> Fraction | None:
    """What the usage of a month costs (tax excluded): unit price x IDs on its first day, or the
    services' fees; None when the service did not run that month."""
    first, last = usage_month.replace(day=1), _last_of(usage_month)
    if not contract.active_in(first, last):
        return None
    if regime.credit_unit == "days":
        price, ids = contract.unit_price_on(first), contract.licenses_on(first)
        if price is None or ids is None:
            return None
        unit = tax_excluded(price, regime.tax_rate) if regime.prices_include_tax else Fraction(price)
        return unit * ids
    fees = [contract.fee_for(d, first) for d in contract.domains]
    return sum((Fraction(f) for f in fees if f is not None), Fraction(0))


def invoice_amount(contract: Contract, regime: Regime, invoice_month: str) -> tuple[Decimal | None, bool]:
    """(the billed amount of the invoice issued in a month, whether it is an estimate). None: no
    invoice arises that month (the service did not run in the month it would bill)."""
    for invoice in contract.invoices:
        if invoice.month == invoice_month:
            return invoice.amount, False
    charge = monthly_charge(contract, regime, add_months(_first_of(invoice_month), -1))
    if charge is None:
        return None, True
    return round_money(charge, currency_unit(contract.currency), "down"), True


def _money(amount: Decimal | Fraction, contract: Contract) -> str:
    return f"{amount} {contract.currency}"


def evaluate_claims(contract: Contract, regime: Regime, claims: Sequence[Claim], deadline: date | None,
                    credit_on: Callable[[date | None], Decimal], timezone_name: str) -> tuple[ClaimResult, ...]:
    """Every claim of one contract's month, in the order filed. `credit_on(day)` is the month's
    credit with the unit price of that day (None: the month's own price)."""
    zone = ZoneInfo(timezone_name)
    clause = regime.rule_clauses.get
    results = []
    granted: str | None = None
    # a claim recorded by mistake is replaced by a later one that names it: it no longer counts
    corrected_by = {c.corrects: c.id for c in claims if c.corrects}
    for claim in sorted(claims, key=lambda c: (c.filed_at, c.id)):
        filed = claim.filed_at.astimezone(zone).date()
        steps: list[ClaimStep] = []
        if claim.id in corrected_by:
            steps.append(ClaimStep("corrected", f"corrected by {corrected_by[claim.id]}, which replaces it", ""))
            results.append(ClaimResult(claim, False, None, Decimal(0), tuple(steps)))
            continue
        on_time = deadline is None or filed <= deadline
        if deadline is not None:
            steps.append(ClaimStep("claim_window", (
                f"filed {filed.isoformat()}, by the deadline {deadline.isoformat()}" if on_time else
                f"filed {filed.isoformat()}, after the deadline {deadline.isoformat()}: the right to the "
                f"compensation is lost"), clause("claim_window", "")))
        if not on_time:
            results.append(ClaimResult(claim, False, None, Decimal(0), tuple(steps)))
            continue
        if granted is not None:
            steps.append(ClaimStep("duplicate", f"the month's compensation is claimed by {granted}", ""))
            results.append(ClaimResult(claim, True, None, Decimal(0), tuple(steps)))
            continue
        granted = claim.id
        price_day = filed if regime.claim_price_on == "claim_date" else None
        amount = credit_on(price_day)
        if price_day is not None and regime.credit_unit == "days":
            price = contract.unit_price_on(filed)
            steps.append(ClaimStep("claim_price", (
                f"unit price on the claim date {filed.isoformat()}: {_money(price, contract)}; compensation "
                f"{_money(amount, contract)}") if price is not None else (
                f"no unit price recorded for the claim date {filed.isoformat()}: the month's own price is used; "
                f"compensation {_money(amount, contract)}"), clause("claim_price", "")))
        billing: str | None = None
        if regime.deduct_after_months is not None:
            last_day = _last_of(add_months(filed.replace(day=1), regime.deduct_after_months))
            billing = month_label(last_day + timedelta(days=1))
            steps.append(ClaimStep("deduction", f"deducted from the invoice issued after {last_day.isoformat()}: "
                                   f"the invoice of {billing}", clause("deduction", "")))
            invoice, estimated, month = _next_invoice(contract, regime, billing, last_day)
            if invoice is None:
                steps.append(ClaimStep("no_invoice", (
                    f"no invoice arises within {regime.no_invoice_days} days after {last_day.isoformat()}: "
                    f"nothing is paid") if regime.no_invoice_days else (
                    f"no invoice is recorded or can be estimated for {billing}: nothing is paid"),
                    clause("no_invoice", "")))
                results.append(ClaimResult(claim, True, billing, Decimal(0), tuple(steps)))
                continue
            billing = month
            if regime.cap_at_invoice and invoice < amount:
                steps.append(ClaimStep("invoice_cap", f"the invoice of {month} bills {_money(invoice, contract)}"
                                       f"{' (estimated)' if estimated else ''}, less than the compensation: the "
                                       f"compensation is the invoice", clause("invoice_cap", "")))
                amount = invoice
        if regime.liability_months is not None:
            paid = _fees_paid(contract, regime, filed, regime.liability_months)
            if paid < amount:
                steps.append(ClaimStep("liability_cap", f"the fees of the {regime.liability_months} months before "
                                       f"the claim come to {_money(paid, contract)}: liability is capped there",
                                       clause("liability_cap", "")))
                amount = paid
        results.append(ClaimResult(claim, True, billing, amount, tuple(steps)))
    return tuple(results)


def _next_invoice(contract: Contract, regime: Regime, first_month: str,
                  after: date) -> tuple[Decimal | None, bool, str]:
    """The first invoice issued from `first_month` on, within no_invoice_days after `after`."""
    limit = after + timedelta(days=regime.no_invoice_days or 0) if regime.no_invoice_days else None
    month = _first_of(first_month)
    while limit is None or month <= limit:
        amount, estimated = invoice_amount(contract, regime, month_label(month))
        if amount is not None:
            return amount, estimated, month_label(month)
        if limit is None:
            break
        month = add_months(month, 1)
    return None, True, first_month


def _fees_paid(contract: Contract, regime: Regime, filed: date, months: int) -> Decimal:
    """The invoices of the `months` months before the claim's month (recorded or estimated)."""
    total = Decimal(0)
    claim_month = filed.replace(day=1)
    for back in range(1, months + 1):
        amount, _ = invoice_amount(contract, regime, month_label(add_months(claim_month, -back)))
        total += amount or Decimal(0)
    return total
