"""Prometheus exposition. One CollectorRegistry per daemon, passed in; values are read from the
live state and the month-to-date accounting when Prometheus scrapes. Series are bounded: a
contract scope has 6 (7 for a notice-based contract), a contract 2 more, a domain 6 plus its
probe outcome and latency series; detail (each exclusion kind, the month's formula) belongs in
the API and the reports. Label values are bounded:
domain, contract, scope, class, outcome — never tokens, URLs or free text."""
from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.month_to_date import MonthToDate
from monitor.recorder import MinuteRecorder
from reports.minutes import EXCLUSION_KINDS
from reports.regimes import Regime

STATES = ("up", "down", "unknown")


def minutes_to_next_tier(regime: Regime, total: int, downtime: int) -> float:
    """How many more counted down minutes this month keep the credit where it is; +Inf when
    no worse tier exists. Found by bisection: credit is monotone in downtime (validated tables)."""
    def credit(d: int) -> Fraction:
        return regime.credit_for(Fraction(total - d, total) * 100)[0]

    now = credit(downtime)
    if credit(total) == now:
        return math.inf
    low, high = downtime, total  # credit(low) == now, credit(high) != now
    while high - low > 1:
        mid = (low + high) // 2
        if credit(mid) == now:
            low = mid
        else:
            high = mid
    return float(low - downtime)


class SlamonCollector(Collector):
    """Computes every slamon_* series when Prometheus scrapes, from the recorder and the
    month-to-date accounting."""

    def __init__(self, recorder: MinuteRecorder, month_to_date: MonthToDate):
        self.recorder = recorder
        self.month_to_date = month_to_date

    def collect(self) -> Iterator[Metric]:
        live = self.recorder
        counters = live.counters
        requests = CounterMetricFamily("slamon_probe_requests", "Probe samples by domain and outcome class.",
                                       labels=["domain", "outcome"])
        for (domain, outcome), value in sorted(counters.requests_total.items()):
            requests.add_metric([domain, outcome], value)
        yield requests

        ratio = GaugeMetricFamily("slamon_domain_error_ratio",
                                  "Server-side error ratio of the domain's last closed minute.", labels=["domain"])
        state = GaugeMetricFamily("slamon_domain_state",
                                  "State of the domain's last closed minute (1 for the current state).",
                                  labels=["domain", "state"])
        closed = GaugeMetricFamily("slamon_domain_last_closed_minute_timestamp_seconds",
                                   "Start of the domain's last closed minute.", labels=["domain"])
        for domain, now in sorted(live.now.items()):
            ratio.add_metric([domain], now.errors / now.requests if now.requests else 0.0)
            for s in STATES:
                state.add_metric([domain, s], 1.0 if now.state == s else 0.0)
            closed.add_metric([domain], now.minute * 60.0)
        yield ratio
        yield state
        yield closed

        # Prometheus wants base units: whole minutes are exposed as seconds (x 60)
        downtime = GaugeMetricFamily("slamon_scope_downtime_seconds",
                                     "Month-to-date down time of a contract scope by class.",
                                     labels=["contract", "scope", "class"])
        availability = GaugeMetricFamily("slamon_scope_availability_ratio",
                                         "Month-to-date availability over the minutes elapsed this month.",
                                         labels=["contract", "scope"])
        left = GaugeMetricFamily("slamon_scope_downtime_budget_seconds",
                                 "Counted down time left this month before the credit tier worsens (+Inf: "
                                 "no worse tier).",
                                 labels=["contract", "scope"])
        credit = GaugeMetricFamily("slamon_scope_projected_credit",
                                   "Credit owed for the month so far, in the contract's currency.",
                                   labels=["contract", "scope", "currency"])
        for result in self.month_to_date.results:
            elapsed = max(1, self.month_to_date.elapsed_minutes(result))
            future = result.period.total_minutes - elapsed  # not yet happened: no rows, not "unknown"
            for scope in result.scopes:
                a = scope.account
                labels = [result.contract.id, scope.name]
                downtime.add_metric(labels + ["counted"], a.downtime_minutes * 60)
                if result.awareness == "notice":  # only notice-based contracts have minutes before a notice
                    downtime.add_metric(labels + ["before_notice"], a.before_notice_minutes * 60)
                downtime.add_metric(labels + ["unknown"], max(0, a.unknown_minutes - future) * 60)
                downtime.add_metric(labels + ["excluded"], sum(a.excluded_minutes[k] for k in EXCLUSION_KINDS) * 60)
                availability.add_metric(labels, max(0.0, (elapsed - a.downtime_minutes) / elapsed))
                left.add_metric(labels, 60 * minutes_to_next_tier(result.regime, a.total_minutes, a.downtime_minutes))
                credit.add_metric(labels + [result.contract.currency], float(scope.credit_amount))
        yield downtime
        yield availability
        yield left
        yield credit

        coverage = GaugeMetricFamily("slamon_contract_coverage_ratio",
                                     "Observed minutes of the month so far over the month's minutes (the lowest "
                                     "scope); the month is insufficient evidence below the contract's min_coverage.",
                                     labels=["contract"])
        status = GaugeMetricFamily("slamon_contract_status",
                                   "Always 1, labelled with the status of the contract's current month (one series "
                                   "per contract): provisional while it runs; a month that has ended is final or "
                                   "insufficient_evidence in its report (see slamon_contract_coverage_ratio).",
                                   labels=["contract", "status"])
        for result in self.month_to_date.results:
            coverage.add_metric([result.contract.id], float(result.coverage))
            status.add_metric([result.contract.id, result.status], 1.0)  # one series: the current status
        yield coverage
        yield status

        lag = GaugeMetricFamily("slamon_minute_close_lag_seconds",
                                "Seconds between a minute's end and its being written, for the last close.")
        lag.add_metric([], counters.minute_close_lag_seconds)
        yield lag
        dropped = CounterMetricFamily("slamon_samples_dropped",
                                      "Probe ticks skipped because the target was still busy, or results that "
                                      "arrived after their minute closed.")
        dropped.add_metric([], counters.samples_dropped_total)
        yield dropped
        reclassified = CounterMetricFamily("slamon_samples_monitor_error",
                                           "Failed samples marked monitor_error because every canary failed too.")
        reclassified.add_metric([], counters.samples_reclassified_total)
        yield reclassified
        degraded = GaugeMetricFamily("slamon_monitor_degraded", "1 while every canary target fails.")
        degraded.add_metric([], 1.0 if live.degraded else 0.0)
        yield degraded
        errors = CounterMetricFamily("slamon_db_write_errors", "Database writes that failed.")
        errors.add_metric([], counters.db_write_errors_total)
        yield errors
        held = GaugeMetricFamily("slamon_minute_rows_held", "Closed minutes held in memory because the database "
                                 "cannot be written (disk full, locked); written when it can.")
        held.add_metric([], len(live.held))
        yield held
        failing = GaugeMetricFamily("slamon_storage_write_failing", "1 while closed minutes cannot be written.")
        failing.add_metric([], 1.0 if live.write_failure is not None else 0.0)
        yield failing
        given_up = CounterMetricFamily("slamon_minute_rows_held_dropped", "Held minutes given up because more than "
                                       "[monitor] max_held_minutes were waiting.")
        given_up.add_metric([], counters.minutes_held_dropped_total)
        yield given_up
        quarantined = CounterMetricFamily("slamon_minute_rows_quarantined", "Closed minutes that could not be stored "
                                          "and were quarantined by this process.")
        quarantined.add_metric([], counters.minutes_quarantined_total)
        yield quarantined
        waiting = GaugeMetricFamily("slamon_minute_rows_in_quarantine", "Quarantined minutes not yet replayed "
                                    "(`slamon quarantine list`), as of the last minute close.")
        waiting.add_metric([], live.in_quarantine)
        yield waiting


def probe_duration_histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram("slamon_probe_duration_seconds", "Probe latency by domain.", ["domain"], registry=registry,
                     buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

