"""The command line explains itself: every command and option has help, `--version` answers, and
the configuration can be named before or after the subcommand or through $SLAMON_CONFIG."""
from __future__ import annotations

import argparse
from importlib import metadata

import pytest

from monitor.cli import build_parser
from tests.support import REPO, run_cli, run_cli_process


def walk(parser: argparse.ArgumentParser, prefix: str = "slamon"):
    """(command path, parser) for the parser and every subcommand below it."""
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, f"{prefix} {name}")


COMMANDS = list(walk(build_parser()))


def test_the_walk_finds_every_command():
    names = {name for name, _ in COMMANDS}
    assert {"slamon run", "slamon report", "slamon windows add", "slamon windows end", "slamon notices list",
            "slamon ingest", "slamon check-config"} <= names


@pytest.mark.parametrize("name,parser", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_and_option_has_help(name, parser):
    missing = []
    if name != "slamon" and not parser.description:
        missing.append("the command's description")
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            missing += [f"subcommand {choice.dest}" for choice in action._choices_actions if not choice.help]
            continue
        if not action.help or action.help == argparse.SUPPRESS:
            missing.append("/".join(action.option_strings) or action.dest)
    assert not missing, f"{name}: no help for {', '.join(missing)}"


def test_help_text_is_printed():
    result = run_cli("windows", "end", "--help")
    assert result.returncode == 0
    assert "db-3" in result.stdout and "--reason" in result.stdout and "--at" in result.stdout


def test_version():
    result = run_cli_process("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"slamon {metadata.version('slamon')}"


GOOD = """
[monitor]
database = "slamon.db"

[[domain]]
name = "mail"
"""


def test_config_before_or_after_the_subcommand_or_from_the_environment(tmp_path):
    cfg = tmp_path / "tour.toml"
    cfg.write_text(GOOD)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for args, env in ((("--config", cfg, "check-config"), {}), (("check-config", "--config", cfg), {}),
                      (("check-config",), {"SLAMON_CONFIG": str(cfg)}),
                      (("--config", cfg, "windows", "list"), {}), (("windows", "list", "--config", cfg), {}),
                      (("windows", "--config", cfg, "list"), {})):
        result = run_cli(*args, cwd=elsewhere, env=env)
        assert result.returncode == 0, (args, env, result.stderr)
    # after the subcommand wins over before it, and both over the environment
    bad = tmp_path / "bad.toml"
    bad.write_text("[monitor]\nbogus = 1\n")
    result = run_cli("--config", bad, "check-config", "--config", cfg, cwd=elsewhere, env={"SLAMON_CONFIG": str(bad)})
    assert result.returncode == 0 and "tour.toml: ok" in result.stdout, result.stderr
    result = run_cli("--config", bad, "check-config", cwd=elsewhere, env={"SLAMON_CONFIG": str(cfg)})
    assert result.returncode == 2 and "bogus" in result.stderr


def test_without_any_config_it_is_config_toml_of_the_working_directory():
    result = run_cli("check-config", cwd=REPO, env={"SLAMON_CONFIG": ""})
    assert result.returncode == 0 and result.stdout.startswith("config.toml: ok"), result.stderr
