"""Small named exceptions of the domain library; the CLI turns each into a one-line message."""
from __future__ import annotations


class SlamonError(Exception):
    """Base of every error the CLI reports without a traceback."""

    exit_code = 1


class InputError(SlamonError):
    """The user's input (arguments, files, payloads) is wrong: exit 2, HTTP 400."""

    exit_code = 2
