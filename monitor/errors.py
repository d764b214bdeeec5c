"""Small named exceptions; the CLI turns each into a one-line message and an exit code."""
from __future__ import annotations

from dataclasses import dataclass


class SlamonError(Exception):
    """Base of every error the CLI reports without a traceback."""

    exit_code = 1


class InputError(SlamonError):
    """The user's input (arguments, files, payloads) is wrong: exit 2."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}"


class ConfigError(InputError):
    """Every problem found in a configuration file, each with file, line and key path."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
