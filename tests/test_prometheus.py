"""The Prometheus side of slamon, checked with the real `promtool` (Debian package `prometheus`,
installed by scripts/system-deps.sh, which `make test` runs first):

* the daemon's live /metrics passes `promtool check metrics` with no lint output;
* deploy/prometheus/slamon-alerts.yml passes `promtool check rules`, and its unit tests
  (deploy/prometheus/slamon-alerts.test.yml) pass `promtool test rules`;
* the example scrape config deploy/prometheus/prometheus.yml passes `promtool check config`.

A missing promtool fails these tests: it is a declared dependency, not an optional one."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

REPO = Path(__file__).resolve().parent.parent
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
UTC = timezone.utc


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: run `bash scripts/system-deps.sh` (Debian package `prometheus`)")
    return path


def run_promtool(*args: str, input: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], input=input, capture_output=True, text=True,
                          cwd=cwd or REPO, timeout=60)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 2.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode("utf-8")


# --- the live daemon ---------------------------------------------------------------------------

def write_config(tmp_path: Path, listen_port: int, demo_port: int) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(f"""
[monitor]
database = "slamon.db"
listen = "127.0.0.1:{listen_port}"
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
""", encoding="utf-8")
    return config


def sample_minutes(now: datetime) -> list[datetime]:
    """Whole minutes shortly before `now` that lie in the current month in every contract's zone
    (lineworks: Asia/Tokyo, ncloud-workplace: Asia/Seoul; both UTC+9, but ask the zones)."""
    month_start = max(now.astimezone(ZoneInfo(tz)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
                      for tz in ("Asia/Tokyo", "Asia/Seoul")).astimezone(UTC)
    last = now.replace(second=0, microsecond=0) - timedelta(minutes=2)
    return [m for m in (last - timedelta(minutes=i) for i in range(10)) if m >= month_start]


def ingest_month_to_date(tmp_path: Path, config: Path) -> int:
    """A few aggregated minutes of this month (one of them down), so that the daemon's
    month-to-date accounting at startup yields the scope metrics without waiting a minute."""
    minutes = sample_minutes(datetime.now(UTC))
    lines = [json.dumps({"domain": "works-mail", "minute": m.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "requests": 60, "errors": 30 if i == 0 else 0})
             for i, m in enumerate(reversed(minutes))]
    samples = tmp_path / "samples.jsonl"
    samples.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "monitor", "ingest", str(samples), "--config", str(config)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return len(minutes)


@pytest.fixture
def daemon(tmp_path):
    promtool()  # fail before starting anything
    listen_port, demo_port = free_port(), free_port()
    while demo_port == listen_port:
        demo_port = free_port()
    config = write_config(tmp_path, listen_port, demo_port)
    # In a month's first minutes there is nothing to ingest yet: wait for the first minute close.
    deadline = 45 if ingest_month_to_date(tmp_path, config) else 150
    log = open(tmp_path / "daemon.log", "w+", encoding="utf-8")
    env = dict(os.environ, SLAMON_ADMIN_TOKEN="test-token")
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config)],
                            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        yield f"http://127.0.0.1:{listen_port}", proc, tmp_path / "daemon.log", deadline
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        log.close()


def scrape_when_ready(base: str, proc: subprocess.Popen, log: Path, deadline_seconds: float = 45) -> str:
    """/metrics once it holds scope metrics for both contracts and the probes have run."""
    deadline = time.monotonic() + deadline_seconds
    text = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"daemon exited with {proc.returncode}:\n{log.read_text(encoding='utf-8')}")
        try:
            text = http_get(f"{base}/metrics")
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            time.sleep(0.2)
            continue
        ready = ('slamon_scope_downtime_budget_seconds{contract="acme-lw"' in text
                 and 'slamon_scope_downtime_budget_seconds{contract="acme-wp"' in text
                 and 'slamon_probe_requests_total{domain="works-mail"' in text
                 and 'slamon_probe_duration_seconds_bucket{domain="works-mail"' in text)
        if ready:
            return text
        time.sleep(0.3)
    pytest.fail(f"/metrics not ready within {deadline_seconds}s; last scrape:\n{text}\n"
                f"daemon log:\n{log.read_text(encoding='utf-8')}")


def test_live_metrics_pass_promtool_check_metrics(daemon):
    base, proc, log, deadline = daemon
    text = scrape_when_ready(base, proc, log, deadline)
    # Every family the alert rules rely on is exposed under the documented name.
    for name in ("slamon_probe_requests_total", "slamon_probe_duration_seconds_bucket",
                 "slamon_domain_error_ratio", "slamon_domain_state",
                 "slamon_domain_last_closed_minute_timestamp_seconds", "slamon_scope_downtime_seconds",
                 "slamon_scope_availability_ratio", "slamon_scope_month_availability_ratio",
                 "slamon_scope_downtime_budget_seconds", "slamon_scope_projected_credit",
                 "slamon_minute_close_lag_seconds", "slamon_samples_dropped_total",
                 "slamon_samples_monitor_error_total", "slamon_monitor_degraded", "slamon_db_write_errors_total"):
        assert f"# TYPE {name.removesuffix('_bucket')}" in text or f"\n{name}" in text, name
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
