"""Small named exceptions of the runtime; the CLI turns each into a one-line message and an exit
code, the API into a 4xx with a message."""
from __future__ import annotations

from dataclasses import dataclass

from reports.errors import InputError, SlamonError

__all__ = ["ConfigError", "InputError", "Problem", "SlamonError"]


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
