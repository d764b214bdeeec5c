"""The Prometheus side of slamon, checked with the real `promtool` (Debian package `prometheus`,
installed by scripts/system-deps.sh, which `make test` runs first):

* the daemon's live /metrics (in-process, on a clock moved by hand) passes `promtool check metrics` with no lint output;
* deploy/prometheus/slamon-alerts.yml passes `promtool check rules`, and its unit tests
  (deploy/prometheus/slamon-alerts.test.yml) pass `promtool test rules`;
* the example scrape config deploy/prometheus/prometheus.yml passes `promtool check config`.

A missing promtool fails these tests: it is a declared dependency, not an optional one."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import REPO, aggregate_lines, free_port, minute_index, run_cli, write_config, write_jsonl

PROMETHEUS_DIR = REPO / "deploy" / "prometheus"


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: run `bash scripts/system-deps.sh` (Debian package `prometheus`)")
    return path


def run_promtool(*args: str, input: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], input=input, capture_output=True, text=True,
                          cwd=cwd or REPO, timeout=60)


# --- the live daemon ---------------------------------------------------------------------------

CONFIG = """
[monitor]
database = "slamon.db"
listen = "127.0.0.1:0"
reports_dir = "reports"
canaries = ["tcp://127.0.0.1:{demo_port}"]
  [monitor.demo]
  listen = "127.0.0.1:{demo_port}"
  fail_every_minutes = 5
  fail_for_minutes = 1
  error_ratio = "50%"

[[domain]]
name = "works-mail"
min_samples = 5
error_threshold = "5%"
  [[domain.probe]]
  url = "http://127.0.0.1:{demo_port}/mail/health"
  every = "1s"
  timeout = "2s"
  expect_status = [200]

[[contract]]
id = "acme-lw"
customer = "ACME K.K."
regime = "lineworks"
domains = ["works-mail"]
plan = "paid"
currency = "JPY"
unit_price = "540"
licenses = 100

[[contract]]
id = "acme-wp"
customer = "ACME Korea"
regime = "ncloud-workplace"
domains = ["works-mail"]
currency = "KRW"
awareness = "detection"
  [[contract.service]]
  domain = "works-mail"
  monthly_fee = "1234567"
"""


async def test_live_metrics_pass_promtool_check_metrics(tmp_path, clock, start_daemon):
    promtool()  # fail before starting anything
    cfg = write_config(tmp_path, CONFIG.format(demo_port=free_port()))
    # ten aggregated minutes of this month before the clock's now, one of them down, so that the
    # month-to-date accounting at startup yields the scope metrics
    first = minute_index(clock.now()) - 11
    lines = aggregate_lines("works-mail", [(first + i, 60, 30 if i == 0 else 0) for i in range(10)])
    assert run_cli("ingest", write_jsonl(tmp_path / "samples.jsonl", lines), "--config", cfg).returncode == 0
    d = await start_daemon(cfg)
    await d.run_for(3)  # the probes and the canary have run
    text = await (await d.get("/metrics")).text()
    for contract in ("acme-lw", "acme-wp"):
        assert f'slamon_scope_downtime_budget_seconds{{contract="{contract}"' in text
    # Every family the alert rules rely on is exposed under the documented name.
    for name in ("slamon_probe_requests_total", "slamon_probe_duration_seconds_bucket",
                 "slamon_domain_error_ratio", "slamon_domain_state",
                 "slamon_domain_last_closed_minute_timestamp_seconds", "slamon_scope_downtime_seconds",
                 "slamon_scope_availability_ratio",
                 "slamon_scope_downtime_budget_seconds", "slamon_scope_projected_credit",
                 "slamon_minute_close_lag_seconds", "slamon_samples_dropped_total",
                 "slamon_samples_monitor_error_total", "slamon_monitor_degraded", "slamon_db_write_errors_total"):
        assert f"# TYPE {name.removesuffix('_bucket')}" in text or f"\n{name}" in text, name
    assert 'slamon_probe_requests_total{domain="works-mail",outcome="ok"}' in text
    # series are bounded per contract: 6 per scope (7 when notice-based), 2 per contract
    per_contract: dict[str, int] = {}
    scopes: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if "contract" in sample.labels:
                per_contract[sample.labels["contract"]] = per_contract.get(sample.labels["contract"], 0) + 1
                if "scope" in sample.labels:
                    scopes.setdefault(sample.labels["contract"], set()).add(sample.labels["scope"])
    assert set(per_contract) == {"acme-lw", "acme-wp"}
    for contract, count in per_contract.items():
        assert 6 * len(scopes[contract]) + 2 <= count <= 7 * len(scopes[contract]) + 2, (contract, count)
    result = run_promtool("check", "metrics", input=text)
    problems = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not problems, (
        f"promtool check metrics (exit {result.returncode}):\n{problems}")


# --- rules and config --------------------------------------------------------------------------

def test_alert_rules_are_valid():
    result = run_promtool("check", "rules", str(PROMETHEUS_DIR / "slamon-alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_alert_rule_unit_tests_pass():
    # Run from the test file's directory: rule_files in it are relative to it.
    result = run_promtool("test", "rules", "slamon-alerts.test.yml", cwd=PROMETHEUS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_example_scrape_config_is_valid():
    result = run_promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout, result.stdout + result.stderr
