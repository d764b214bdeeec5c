"""Hostile input at the command line, in the config file and in ingested samples: each is refused
with a one-line message naming where (exit 2, or the line number of a skipped sample), never a
traceback, and one bad line never stops the good ones."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support import (
    REPO,
    domain_toml,
    iso_minute,
    lineworks_contract_toml,
    monitor_toml,
    write_config,
    write_jsonl,
)

CONFIG = monitor_toml() + domain_toml("mail") + lineworks_contract_toml("acme", ["mail"])
MINUTE = 29_400_000  # 2025-11-24T16:00Z


def no_traceback(result) -> None:
    assert "Traceback" not in result.stderr and "Error:" not in result.stderr.split(":", 1)[0], result.stderr


# --- config ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, needle", [
    (CONFIG + "deep = " + "[" * 5000 + "]" * 5000 + "\n", "nests deeper than 16 levels"),
    (CONFIG + "deep = " + "[" * 40 + "]" * 40 + "\n", "nests deeper than 16 levels"),
    (CONFIG.replace('listen = "127.0.0.1:0"', 'listen = "127.0.0.1:99999"'),
     "config.toml:3: monitor.listen: expected host:port with a port from 0 to 65535"),
    ("", "config.toml:1: domain: no [[domain]] declared"),
    ("# only a comment\n", "config.toml:1: domain: no [[domain]] declared"),
    (CONFIG.replace('reports_dir = "reports"', 'reports_dir = "reports"\nadmin_token_env = "X; rm -rf /"'),
     "monitor.admin_token_env: expected an environment variable name"),
    (CONFIG.replace('reports_dir = "reports"', 'reports_dir = "reports"\nrecord_retention_days = 99999999999'),
     "monitor.record_retention_days: must be at most"),
])
def test_bad_config_is_exit_2_naming_file_line_and_key(tmp_path, slamon, text, needle):
    cfg = write_config(tmp_path, text)
    result = slamon("check-config", "--config", cfg)
    assert result.returncode == 2, result.stdout
    assert needle in result.stderr, result.stderr
    no_traceback(result)


def test_a_deep_config_is_refused_by_the_real_process_too(tmp_path):
    cfg = write_config(tmp_path, CONFIG + "deep = " + "[" * 100_000 + "]" * 100_000 + "\n")
    proc = subprocess.run([sys.executable, "-m", "monitor", "check-config", "--config", str(cfg)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "nests deeper" in proc.stderr and "Traceback" not in proc.stderr


# --- command-line arguments -------------------------------------------------------------------------

@pytest.mark.parametrize("args, needle", [
    (["report", "--period", "0000-01"], "years 1900-9000"),
    (["report", "--period", "9999-12"], "years 1900-9000"),
    (["report", "--period", "2026-13"], "YYYY-MM"),
    (["windows", "end", "db-\u00b2", "--reason", "x"], "window id must be"),
    (["windows", "end", "db-99999999999999999999", "--reason", "x"], "window id must be"),
    (["windows", "end", "db-0", "--reason", "x"], "window id must be"),
    (["claims", "add", "acme", "--period", "2026-11", "--filed-at", "0001-01-01T00:00:00+14:00"], "years"),
    (["notices", "add", "--contract", "acme", "--at", "9999-12-31T23:59:59-12:00"], "years"),
    (["quarantine", "replay", "1e3"], "expected a positive id"),
    (["claims", "add", "acme", "--period", "0001-01", "--filed-at", "2026-12-01T00:00:00Z"], "expected YYYY-MM"),
])
def test_bad_arguments_are_exit_2(tmp_path, slamon, args, needle):
    cfg = write_config(tmp_path, CONFIG)
    write_jsonl(tmp_path / "one.jsonl", [{"domain": "mail", "minute": iso_minute(MINUTE), "requests": 1, "errors": 0}])
    assert slamon("ingest", "--config", cfg, tmp_path / "one.jsonl").returncode == 0
    result = slamon(*args, "--config", cfg)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert needle in result.stderr, result.stderr
    no_traceback(result)


def test_report_out_onto_a_file_is_exit_2_and_writes_nothing(tmp_path, slamon):
    cfg = write_config(tmp_path, CONFIG)
    write_jsonl(tmp_path / "one.jsonl", [{"domain": "mail", "minute": iso_minute(MINUTE), "requests": 1, "errors": 0}])
    slamon("ingest", "--config", cfg, tmp_path / "one.jsonl")
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    for out in (blocker, blocker / "sub"):
        result = slamon("report", "--config", cfg, "--period", "2025-11", "--out", out)
        assert result.returncode == 2 and "not a directory" in result.stderr, result.stderr
    assert blocker.read_text() == "keep me"


# --- ingest lines ----------------------------------------------------------------------------------

def test_each_hostile_line_is_reported_and_skipped_and_the_good_ones_loaded(tmp_path, slamon):
    cfg = write_config(tmp_path, CONFIG)
    good = {"domain": "mail", "minute": iso_minute(MINUTE), "requests": 30, "errors": 1}
    at = iso_minute(MINUTE + 1)
    lines = [
        json.dumps(good),
        "[" * 20_000 + "]" * 20_000,                                                      # 2
        json.dumps({"domain": "mail", "ts": at, "outcome": []}),                           # 3
        '{"domain": "mail", "minute": "' + at + '", "requests": 1e20, "errors": 0}',     # 4
        json.dumps({"domain": "mail", "minute": at, "requests": 10**20, "errors": 0}),     # 5
        json.dumps({"domain": "mail", "minute": at, "requests": 2**63, "errors": 0}),      # 6
        json.dumps({"domain": "mail", "ts": at, "status": 10**30}),                        # 7
        json.dumps({"domain": ["mail"], "ts": at, "status": 200}),                         # 8
        json.dumps({"domain": "mail", "ts": "0001-01-01T00:00:00+14:00", "status": 200}),  # 9
        json.dumps({"domain": "mail", "ts": "x" * 10_000, "status": 200}),                 # 10
        json.dumps({"domain": "mail", "ts": at, "outcome": {"a": [1]}}),                   # 11
        '{"domain": "mail", "ts": "' + at + '", "deep": ' + "[" * 20 + "]" * 20 + "}",  # 12
        json.dumps(good | {"minute": at}),
    ]
    samples = write_jsonl(tmp_path / "hostile.jsonl", lines)
    result = slamon("ingest", "--config", cfg, samples)
    assert result.returncode == 0, result.stderr
    assert "13 lines, 2 loaded, 11 rejected" in result.stdout
    rejected = [line.split(":")[1] for line in result.stderr.splitlines()]
    assert rejected == [str(n) for n in range(2, 13)], result.stderr
    assert "nests deeper than 16 levels" in result.stderr
    assert "requests and errors must be from 0 to 1000000000" in result.stderr
    assert "years 1900-9000" in result.stderr and "longer than 64 characters" in result.stderr
    no_traceback(result)
    report = slamon("report", "--config", cfg, "--period", "2025-11").json()
    assert report["contracts"][0]["scopes"][0]["unknown_minutes"] == 43200 - 2


def _ingest_peak_rss_kib(cfg, samples) -> int:
    """Peak resident memory of `slamon ingest` in a fresh interpreter, in KiB."""
    script = ("import resource, sys\nfrom monitor import cli\ncode = cli.main(sys.argv[1:])\n"
              "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\nsys.exit(code)\n")
    proc = subprocess.run([sys.executable, "-c", script, "ingest", "--config", str(cfg), str(samples)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stderr.strip().splitlines()[-1])


def test_a_huge_line_costs_no_more_memory_than_a_small_file(tmp_path):
    """Lines are read at most 64 KiB at a time: a 256 MiB line is skipped, not held."""
    cfg = write_config(tmp_path, CONFIG)
    small = write_jsonl(tmp_path / "small.jsonl", [{"domain": "mail", "minute": iso_minute(MINUTE), "requests": 1,
                                                    "errors": 0}])
    huge = tmp_path / "huge.jsonl"
    line = '{"domain": "mail", "minute": "%s", "requests": 1, "errors": 0}\n'
    with huge.open("wb") as f:
        f.write(line.replace("%s", iso_minute(MINUTE + 1)).encode())
        f.write(b'{"pad": "')
        chunk = b"x" * (1 << 20)
        for _ in range(256):
            f.write(chunk)
        f.write(b'"}\n')
        f.write(line.replace("%s", iso_minute(MINUTE + 2)).encode())
    baseline = _ingest_peak_rss_kib(cfg, small)
    peak = _ingest_peak_rss_kib(cfg, huge)
    huge.unlink()
    assert peak - baseline < 64 * 1024, (baseline, peak)   # far below the line's 256 MiB
