"""The fault suite's figures: each fault test records one line of what it measured
(`FAULT kill-9: 12 restarts, 0 lost, ...`), shown in pytest's terminal summary, with or without
-s, under `make faults` and `make test` alike."""
from __future__ import annotations

from collections.abc import Callable

import pytest

FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture
def fault_figures(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """`fault_figures(name, text)`: one summary line `FAULT name: text` for this test."""
    lines = request.config.stash.setdefault(FIGURES, [])

    def record(name: str, text: str) -> None:
        lines.append(f"FAULT {name}: {text}")

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    lines = config.stash.get(FIGURES, [])
    if lines:
        terminalreporter.section("fault figures")
        for line in lines:
            terminalreporter.write_line(line)
