"""`slamon run` as a real process: what only a process has. Signals (SIGHUP reloads or keeps the
config, SIGTERM stops cleanly and flushes), kill -9 and a restart on the same database, the log
lines a supervisor reads. Everything about minutes is in test_daemon.py, in-process."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest

from tests.support import REPO, domain_toml, free_port, monitor_toml, run_cli_process, stored_minutes, write_config


class DaemonProcess:
    """`python -m monitor run --config CFG`, its stderr (JSON lines: not a terminal) collected."""

    def __init__(self, config: Path, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config), *args],
                                     cwd=REPO, env=dict(os.environ, PYTHONUNBUFFERED="1"),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def logs(self) -> list[dict]:
        out = []
        for line in list(self.lines):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def wait_for(self, text: str, count: int = 1, timeout: float = 20) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [r for r in self.logs() if text in r.get("msg", "")]
            if len(found) >= count:
                return found
            assert self.proc.poll() is None, f"daemon exited ({self.proc.returncode}):\n" + "\n".join(self.lines)
            time.sleep(0.05)
        pytest.fail(f"no log line {text!r} (x{count}) within {timeout} s:\n" + "\n".join(self.lines[-30:]))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._pump.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@pytest.fixture
def processes():
    started: list[DaemonProcess] = []

    def start(config: Path, *args: str) -> DaemonProcess:
        started.append(DaemonProcess(config, *args))
        return started[-1]

    yield start
    for p in started:
        p.kill()


def demo_config(tmp_path: Path) -> Path:
    demo = free_port()
    text = monitor_toml(listen=f"127.0.0.1:{free_port()}",
                        extra=f'  [monitor.demo]\n  listen = "127.0.0.1:{demo}"')
    return write_config(tmp_path, text + domain_toml("mail", url=f"http://127.0.0.1:{demo}/mail", every="500ms"))


def test_signals_reload_and_stop_a_real_daemon(tmp_path, processes):
    cfg = demo_config(tmp_path)
    daemon = processes(cfg)
    running = daemon.wait_for("slamon running")[0]
    assert running["level"] == "info" and running["metrics"].endswith("/metrics"), running
    assert running["status_page"] == running["metrics"].removesuffix("metrics"), running

    good = cfg.read_text()
    cfg.write_text(good + "\n[[domain]\nname = \n")
    daemon.proc.send_signal(signal.SIGHUP)
    rejected = daemon.wait_for("config reload rejected")[-1]
    assert rejected["level"] == "error" and any("(syntax)" in p for p in rejected["problems"]), rejected

    cfg.write_text(good + domain_toml("drive"))
    daemon.proc.send_signal(signal.SIGHUP)
    assert daemon.wait_for("config reloaded")[-1]["domains"] == 2

    daemon.proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert daemon.proc.wait(10) == 0, "\n".join(daemon.lines)
    assert time.monotonic() - started < 5
    stopped = daemon.wait_for("stopped")[-1]
    assert "minutes_flushed" in stopped
    assert not [r for r in daemon.logs() if r["level"] in ("error", "critical") and "reload" not in r["msg"]]


def test_kill_9_then_restart_on_the_same_database(tmp_path, processes):
    cfg = demo_config(tmp_path)
    first = processes(cfg)
    first.wait_for("slamon running")
    time.sleep(1.0)  # probes running, the month-to-date read done
    first.proc.send_signal(signal.SIGKILL)
    assert first.proc.wait(10) == -signal.SIGKILL

    second = processes(cfg)
    second.wait_for("slamon running")
    second.proc.send_signal(signal.SIGTERM)
    assert second.proc.wait(10) == 0, "\n".join(second.lines)
    with sqlite3.connect(tmp_path / "slamon.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    keys = [(r["domain"], r["minute"]) for r in stored_minutes(tmp_path / "slamon.db") if r["probed"]]
    assert len(keys) == len(set(keys))


def test_text_logs_on_request(tmp_path, processes):
    daemon = processes(demo_config(tmp_path), "--log-format", "text")
    deadline = time.monotonic() + 20
    while not any("slamon running" in line for line in daemon.lines):
        assert time.monotonic() < deadline, daemon.lines
        time.sleep(0.05)
    line = next(line for line in daemon.lines if "slamon running" in line)
    assert not line.startswith("{") and " INFO " in line and "http://127.0.0.1:" in line, line


def test_the_shipped_config_is_valid_and_probes_its_own_demo_target():
    result = run_cli_process("check-config", "--config", "config.toml")
    assert result.returncode == 0, result.stderr
    assert "config.toml: ok" in result.stdout
    data = tomllib.loads((REPO / "config.toml").read_text(encoding="utf-8"))
    demo_port = data["monitor"]["demo"]["listen"].rsplit(":", 1)[1]
    urls = [p["url"] for d in data["domain"] for p in d["probe"]]
    assert urls and all(f":{demo_port}/" in u for u in urls), urls
