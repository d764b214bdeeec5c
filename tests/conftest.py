"""Shared fixtures: the real CLI as a subprocess, and temporary project directories."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


def run_cli(*args: str, cwd: Path | None = None, input: str | None = None,
            env: dict[str, str] | None = None, timeout: float = 120) -> CliResult:
    """Run `slamon ARGS...` exactly as a user would, in a fresh interpreter."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", *map(str, args)],
        cwd=cwd or REPO, input=input, capture_output=True, text=True,
        env=full_env, timeout=timeout,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def slamon():
    """`slamon(*args, input=..., cwd=...)` -> CliResult from the real command line."""
    return run_cli
