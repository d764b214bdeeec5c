"""The contract model: what a contract promises and what happened to it that excuses or starts
downtime. Contracts (regime, domains, prices, licences, fees), exclusion windows, notices of
unavailability, and the ContractBook that gathers what the accounting needs. Pure data: config
files, the database and report evidence are turned into these by their own readers."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Protocol, TypeVar

from reports.minutes import EXCLUSION_KINDS, Thresholds
from reports.regimes import Regime

NOTICE_KINDS = ("customer", "provider")


class _HasSince(Protocol):
    @property
    def since(self) -> date | None: ...


_Dated = TypeVar("_Dated", bound=_HasSince)


@dataclass(frozen=True)
class LicenseStep:
    """From `since` on (None: from the start) the contract has `count` IDs or licences."""

    since: date | None
    count: int


@dataclass(frozen=True)
class ServiceFee:
    """The monthly fee of one individual service (a domain) of a percent-credit contract, from
    `since` on (None: from the start)."""

    domain: str
    monthly_fee: Decimal
    since: date | None = None


@dataclass(frozen=True)
class PriceStep:
    """From `since` on (None: from the start) the standard unit price per ID is `unit_price`."""

    since: date | None
    unit_price: Decimal


@dataclass(frozen=True)
class Invoice:
    """A billed amount (tax excluded) of the invoice issued in `month` ("YYYY-MM"), when billing
    has recorded it; otherwise slamon estimates it from prices, licences and fees."""

    month: str
    amount: Decimal


@dataclass(frozen=True)
class Claim:
    """A customer's claim for the compensation of one contract's month."""

    contract: str
    period: str
    filed_at: datetime
    reference: str = ""
    id: str = ""
    source: str = "database"
    corrects: str = ""        # the id of an earlier claim of the same month this one replaces


def _latest(steps: Sequence[_Dated], day: date) -> _Dated | None:
    """The step in force on a day: the latest whose `since` is not after it."""
    best = None
    for step in steps:
        if step.since is None or step.since <= day:
            if best is None or (step.since or date.min) >= (best.since or date.min):
                best = step
    return best


@dataclass(frozen=True)
class Contract:
    id: str
    customer: str
    regime: str
    domains: tuple[str, ...]
    plan: str = "paid"
    currency: str = "JPY"
    prices: tuple[PriceStep, ...] = ()
    licenses: tuple[LicenseStep, ...] = ()
    monthly_fee: Decimal | None = None
    services: tuple[ServiceFee, ...] = ()
    awareness: str | None = None
    timezone: str | None = None
    billing_day: int = 1
    day_divisor: str | int | None = None
    min_coverage: Fraction | None = None   # None: the installation's default
    starts: date | None = None             # the first day of the service (fees accrue from it)
    ends: date | None = None               # the last day, where the contract has ended
    invoices: tuple[Invoice, ...] = ()
    account: str = ""                      # the customer's account reference, for claims

    @property
    def unit_price(self) -> Decimal | None:
        """The undated (or earliest) unit price."""
        return self.prices[0].unit_price if self.prices else None

    def unit_price_on(self, day: date) -> Decimal | None:
        step = _latest(self.prices, day)
        return step.unit_price if step else None

    def licenses_on(self, day: date) -> int | None:
        """The number of IDs on a date: the latest step whose `since` is not after it."""
        step = _latest(self.licenses, day)
        return step.count if step else None

    def fee_for(self, domain: str, day: date | None = None) -> Decimal | None:
        """The monthly fee of a service on a day (the latest when no day is given)."""
        own = [s for s in self.services if s.domain == domain]
        if own:
            step = _latest(own, day or date.max)
            return step.monthly_fee if step else None
        return self.monthly_fee

    def active_in(self, first: date, last: date) -> bool:
        """Whether the service ran on some day of [first, last]."""
        return (self.starts is None or self.starts <= last) and (self.ends is None or self.ends >= first)


@dataclass(frozen=True)
class Window:
    """An exclusion window [start, end); end None means still open."""

    kind: str
    start: datetime
    end: datetime | None
    reason: str
    domains: tuple[str, ...] = ()
    contracts: tuple[str, ...] = ()
    announced_at: datetime | None = None
    id: str = ""
    source: str = "config"
    # the end as announced before the window began, where it was moved later afterwards: the
    # exclusion stops there and the overrun counts (None: the end was never moved after the start)
    announced_end: datetime | None = None

    def __post_init__(self) -> None:
        if self.kind not in EXCLUSION_KINDS:
            raise ValueError(f"unknown window kind {self.kind!r}")
        if self.end is not None and self.end <= self.start:
            raise ValueError("window end must be after its start")
        if self.announced_end is not None and self.announced_end <= self.start:
            raise ValueError("a window's announced end must be after its start")
        if not self.domains and not self.contracts:
            raise ValueError("a window applies to some domains or contracts")

    def applies_to(self, contract_id: str, domains: tuple[str, ...]) -> bool:
        return contract_id in self.contracts or any(d in self.domains for d in domains)


@dataclass(frozen=True)
class Notice:
    """A customer's notice of unavailability, or the provider's own awareness of it."""

    contract: str
    at: datetime
    kind: str
    domain: str | None = None
    note: str = ""
    id: str = ""
    source: str = "config"

    def __post_init__(self) -> None:
        if self.kind not in NOTICE_KINDS:
            raise ValueError(f"unknown notice kind {self.kind!r}")


@dataclass(frozen=True)
class ContractBook:
    """Everything the monthly accounting reads besides the minutes: the contracts and their
    regimes, each domain's minute thresholds, and the windows and notices from every source."""

    contracts: Mapping[str, Contract]
    regimes: Mapping[str, Regime]
    thresholds: Mapping[str, Thresholds]
    windows: tuple[Window, ...] = ()
    notices: tuple[Notice, ...] = field(default=())
    claims: tuple[Claim, ...] = ()
    min_coverage: Fraction = Fraction(9, 10)   # the installation's default

    def regime_of(self, contract: Contract) -> Regime:
        return self.regimes[contract.regime]

    def timezone_of(self, contract: Contract) -> str:
        return contract.timezone or self.regime_of(contract).timezone
