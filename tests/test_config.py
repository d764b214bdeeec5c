"""`slamon check-config`: a valid file exits 0; a broken one exits 2 and names every problem as
`file:line: key.path: message`, never with a traceback (interfaces.md, "Command line").

Config texts are written by hand so that line numbers are under the test's control. A line
that must be reported carries a trailing `# !name` marker; `marked_line` finds its number, so
the expected numbers are exact without being hard-coded twice.
"""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.support import month_lines, write_config, write_jsonl

# `file:line: key.path: message`; the key path never contains ": ", the message may
PROBLEM_RE = re.compile(r"^(?P<file>.+?):(?P<line>\d+): (?P<path>.+?): (?P<message>.+)$")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def marked_line(text: str, marker: str) -> int:
    """The 1-based number of the only line carrying `# !marker`."""
    hits = [i for i, line in enumerate(text.splitlines(), start=1)
            if re.search(rf"#\s*!{re.escape(marker)}\b", line)]
    assert len(hits) == 1, f"marker {marker!r} on lines {hits}"
    return hits[0]


def check(slamon, config: Path | str, cwd: Path):
    res = slamon("check-config", "--config", str(config), cwd=cwd)
    assert "Traceback" not in res.stderr, res.stderr
    return res


def problems(res, shown_file: str) -> list[dict]:
    """stderr parsed into problems; every line must have the documented form."""
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert lines, f"no problems printed (exit {res.returncode})\n{res.stdout}"
    parsed = []
    for line in lines:
        m = PROBLEM_RE.match(line)
        assert m, f"not `file:line: key.path: message`: {line!r}"
        assert m["file"] == shown_file, line
        parsed.append({"line": int(m["line"]), "path": m["path"], "message": m["message"]})
    return parsed


# --------------------------------------------------------------------------------------------
# a valid configuration, with every documented section
# --------------------------------------------------------------------------------------------

VALID = """\
[monitor]
database = "var/slamon.db"
listen = "127.0.0.1:9464"

[[domain]]
name = "works-mail"
min_samples = 20
error_threshold = "5%"
  [[domain.probe]]
  url = "https://mail.example.com/health"
  every = "2s"
  timeout = "5s"
  expect_status = [200]

[[domain]]
name = "ws-docs"

[[contract]]
id = "acme-lw"
customer = "ACME K.K."
regime = "lineworks"
domains = ["works-mail"]
plan = "paid"
currency = "JPY"
unit_price = "540"
licenses = 100
awareness = "detection"
timezone = "Asia/Tokyo"

[[contract]]
id = "acme-strict"
customer = "ACME K.K."
regime = "lw-strict"
domains = ["works-mail"]
currency = "JPY"
unit_price = 540
  [[contract.licenses]]
  since = 2026-11-01
  count = 100
  [[contract.licenses]]
  since = 2026-11-10
  count = 200

[[contract]]
id = "ws"
customer = "Example Corp."
regime = "ncloud-workplace"
domains = ["works-mail", "ws-docs"]
currency = "KRW"
awareness = "notice"
  [[contract.service]]
  domain = "works-mail"
  monthly_fee = "1234567"
  [[contract.service]]
  domain = "ws-docs"
  monthly_fee = 500000

[[contract]]
id = "kddi-std"
customer = "Example K.K."
regime = "kddi"
domains = ["works-mail"]
unit_price = "594"
licenses = 80
billing_day = 15

[[contract]]
id = "cloud"
customer = "Cloud GmbH"
regime = "my-cloud"
domains = ["ws-docs"]
currency = "EUR"
monthly_fee = "1000.50"

[[window]]
kind = "maintenance"
domains = ["works-mail"]
start = 2026-11-15T02:00:00+09:00
end = 2026-11-15T03:00:00+09:00
announced_at = 2026-11-01T10:00:00+09:00
reason = "storage firmware upgrade"

[[window]]
kind = "customer"
contracts = ["acme-lw"]
start = 2026-11-20T00:00:00Z
end = 2026-11-20T01:00:00Z
reason = "customer's SSO misconfigured"

[[notice]]
contract = "ws"
domain = "ws-docs"
at = 2026-12-03T15:00:00+09:00
kind = "customer"

[regime.lw-strict]
extends = "lineworks"
title = "LINE WORKS with a stricter first tier"
tiers = [
  { lower = "99.5", upper = "99.9", bounds = "[)", credit = "1" },
  { lower = "99.0", upper = "99.5", bounds = "[)", credit = "3" },
  { lower = "95.0", upper = "99.0", bounds = "[)", credit = "7" },
  { upper = "95.0", bounds = "[)", credit = "15" },
]

[regime.my-cloud]
timezone = "Europe/Berlin"
scope = "service"
target = "99.99"
credit_unit = "percent"
tiers = [
  { lower = "99.0", upper = "99.99", bounds = "[)", credit = "10" },
  { upper = "99.0", bounds = "[)", credit = "30" },
]
"""


def test_valid_config_exits_0(slamon, tmp_path):
    cfg = write_config(tmp_path, VALID)
    res = check(slamon, cfg, tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    assert "ok" in res.stdout
    assert "2 domains" in res.stdout and "5 contracts" in res.stdout, res.stdout
    # checking reads the file only: no database is created
    assert not (tmp_path / "var").exists()


def test_default_config_is_config_toml_in_cwd(slamon, tmp_path):
    write_config(tmp_path, VALID)
    res = slamon("check-config", cwd=tmp_path)
    assert res.returncode == 0, res.stderr


# --------------------------------------------------------------------------------------------
# a broken configuration: every problem, each with its exact line and key path
# --------------------------------------------------------------------------------------------

BROKEN = """\
[monitor]
database = "slamon.db"
colour = "blue"                               # !unknown_key

[[domain]]
name = "mail"
  [[domain.probe]]
  url = "https://mail.example.com/health"
  every = "2 seconds"                         # !bad_duration

[[contract]]
id = "c1"
customer = "Unknown Regime Ltd."
regime = "nope"                               # !unknown_regime
domains = ["mail"]
unit_price = "540"
licenses = 10

[[contract]]
id = "c2"
customer = "Ghost Domain Ltd."
regime = "lineworks"
domains = ["ghost"]                           # !unknown_domain
unit_price = 540.0                            # !float_money
licenses = 10

[[contract]]
id = "fine"
customer = "Fine Ltd."
regime = "lineworks"
domains = ["mail"]
unit_price = "540"
licenses = 10

[[window]]
kind = "maintenance"
domains = ["mail"]
start = 2026-11-15T03:00:00+09:00
end = 2026-11-15T02:00:00+09:00               # !end_before_start
reason = "backwards"

[[window]]
kind = "maintenance"
domains = ["mail"]
start = 2026-11-16T03:00:00                   # !local_datetime
end = 2026-11-16T04:00:00+09:00
reason = "no offset"

[[notice]]
contract = "fine"
at = 2026-12-03T15:00:00                      # !local_notice
kind = "customer"

[regime.overlap]
timezone = "UTC"
scope = "contract"
target = "99.9"
credit_unit = "percent"
tiers = [                                     # !overlapping_tiers
  { lower = "99.0", upper = "99.9", bounds = "[]", credit = "10" },
  { upper = "99.0", bounds = "[]", credit = "20" },
]
"""

# marker -> (key path, words the message must contain)
BROKEN_EXPECTED = {
    "unknown_key": ("monitor.colour", ["unknown key"]),
    "bad_duration": ("domain[0].probe[0].every", ["duration", "2 seconds"]),
    "unknown_regime": ("contract[0].regime", ["unknown regime", "nope"]),
    "unknown_domain": ("contract[1].domains", ["unknown domain", "ghost"]),
    "float_money": ("contract[1].unit_price", ["float"]),
    "end_before_start": ("window[0].end", ["after start"]),
    "local_datetime": ("window[1].start", ["offset"]),
    "local_notice": ("notice[0].at", ["offset"]),
    "overlapping_tiers": ("regime.overlap.tiers", ["99.0%"]),
}


def test_broken_config_reports_every_error_with_line_and_key(slamon, tmp_path):
    cfg = write_config(tmp_path, BROKEN)
    res = check(slamon, cfg, tmp_path)
    assert res.returncode == 2, res.stdout
    assert res.stdout == ""
    got = problems(res, str(cfg))

    expected = {(marked_line(BROKEN, m), path) for m, (path, _) in BROKEN_EXPECTED.items()}
    assert {(p["line"], p["path"]) for p in got} == expected, res.stderr
    assert len(got) == len(expected), f"duplicated problems:\n{res.stderr}"
    by_path = {p["path"]: p for p in got}
    for marker, (path, words) in BROKEN_EXPECTED.items():
        for word in words:
            assert word in by_path[path]["message"], (marker, by_path[path])


def test_problem_file_is_named_as_given_on_the_command_line(slamon, tmp_path):
    write_config(tmp_path, BROKEN)
    res = check(slamon, "config.toml", tmp_path)
    assert res.returncode == 2
    got = problems(res, "config.toml")
    assert (marked_line(BROKEN, "unknown_key"), "monitor.colour") in {(p["line"], p["path"]) for p in got}


def test_toml_syntax_error_names_its_line(slamon, tmp_path):
    text = ('[monitor]\ndatabase = "slamon.db"\n\n[[domain]]\nname = "mail"\n'
            'min_samples = = 3                 # !syntax\n')
    cfg = write_config(tmp_path, text)
    res = check(slamon, cfg, tmp_path)
    assert res.returncode == 2
    [problem] = problems(res, str(cfg))
    assert problem["line"] == marked_line(text, "syntax")
    assert problem["path"] == "(syntax)"


def test_unterminated_string_is_a_syntax_error_not_a_crash(slamon, tmp_path):
    text = '[monitor]\ndatabase = "slamon.db\n'
    cfg = write_config(tmp_path, text)
    res = check(slamon, cfg, tmp_path)
    assert res.returncode == 2
    [problem] = problems(res, str(cfg))
    assert problem["line"] == 2 and problem["path"] == "(syntax)"


def test_missing_config_file(slamon, tmp_path):
    res = check(slamon, tmp_path / "nope.toml", tmp_path)
    assert res.returncode == 2
    assert str(tmp_path / "nope.toml") in res.stderr
    assert "no such file" in res.stderr.lower()
    assert res.stdout == ""


def test_missing_default_config_file(slamon, tmp_path):
    res = slamon("check-config", cwd=tmp_path)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "config.toml" in res.stderr and "no such file" in res.stderr.lower()


def test_config_path_that_is_a_directory(slamon, tmp_path):
    (tmp_path / "dir.toml").mkdir()
    res = check(slamon, tmp_path / "dir.toml", tmp_path)
    assert res.returncode == 2
    assert "dir.toml" in res.stderr


# --------------------------------------------------------------------------------------------
# malformed shapes: always exit 2 in the documented form, never a traceback
# --------------------------------------------------------------------------------------------

MINIMAL = """\
[monitor]
database = "slamon.db"
[[domain]]
name = "mail"
[[contract]]
id = "c1"
customer = "X"
regime = "lineworks"
domains = ["mail"]
unit_price = "540"
licenses = 10
"""

MALFORMED = {
    "domain-is-an-integer": ('domain = 5\n', "domain"),
    "monitor-is-a-string": ('monitor = "x"\n', "monitor"),
    "window-domains-is-a-string": (
        MINIMAL + '[[window]]\nkind = "maintenance"\ndomains = "mail"\nstart = 2026-11-15T02:00:00Z\n'
                  'end = 2026-11-15T03:00:00Z\nreason = "r"\n', "window[0].domains"),
    "window-start-is-a-date": (
        MINIMAL + '[[window]]\nkind = "maintenance"\ndomains = ["mail"]\nstart = 2026-11-15\n'
                  'end = 2026-11-15T03:00:00Z\nreason = "r"\n', "window[0].start"),
    "window-start-is-a-time": (
        MINIMAL + '[[window]]\nkind = "maintenance"\ndomains = ["mail"]\nstart = 02:00:00\n'
                  'end = 2026-11-15T03:00:00Z\nreason = "r"\n', "window[0].start"),
    "regime-is-an-integer": (MINIMAL + '[regime]\nx = 5\n', "regime.x"),
    "regime-tiers-are-integers": (MINIMAL + '[regime.x]\nextends = "lineworks"\ntiers = [1, 2]\n',
                                  "regime.x.tiers[0]"),
    "regime-extends-unknown": (MINIMAL + '[regime.x]\nextends = "nope"\n', "regime.x.extends"),
    "regime-redefines-builtin": (MINIMAL + '[regime.lineworks]\ntarget = "99.0"\n', "regime.lineworks"),
    "licenses-are-integers": (MINIMAL.replace("licenses = 10", "licenses = [1, 2]"), "contract[0].licenses[0]"),
    "licenses-since-is-a-datetime": (
        MINIMAL.replace("licenses = 10", "[[contract.licenses]]\nsince = 2026-11-10T00:00:00\ncount = 2"),
        "contract[0].licenses[0].since"),
    "notice-domain-is-an-integer": (
        MINIMAL + '[[notice]]\ncontract = "c1"\ndomain = 5\nat = 2026-12-03T15:00:00+09:00\n', "notice[0].domain"),
    "threshold-is-a-float": (MINIMAL.replace('name = "mail"', 'name = "mail"\nerror_threshold = 0.05'),
                             "domain[0].error_threshold"),
    "money-is-nan": (MINIMAL.replace('unit_price = "540"', "unit_price = nan"), "contract[0].unit_price"),
    "money-is-not-a-number": (MINIMAL.replace('unit_price = "540"', 'unit_price = "540 yen"'),
                              "contract[0].unit_price"),
    "unknown-time-zone": (MINIMAL + 'timezone = "Mars/Olympus"\n', "contract[0].timezone"),
    "percent-regime-without-fee": (
        MINIMAL.replace('regime = "lineworks"', 'regime = "ncloud-workplace"'), "contract[0].service"),
}


@pytest.mark.parametrize("text, path", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_shapes_exit_2_without_traceback(slamon, tmp_path, text, path):
    cfg = write_config(tmp_path, text)
    res = check(slamon, cfg, tmp_path)
    assert res.returncode == 2, res.stdout
    got = problems(res, str(cfg))
    assert path in {p["path"] for p in got}, res.stderr
    n_lines = len(text.splitlines())
    assert all(1 <= p["line"] <= max(n_lines, 1) for p in got), res.stderr


# --------------------------------------------------------------------------------------------
# a custom regime that extends a built-in one
# --------------------------------------------------------------------------------------------

EXTENDS = """\
[monitor]
database = "slamon.db"

[[domain]]
name = "works-mail"

[[contract]]
id = "strict"
customer = "ACME K.K."
regime = "lw-strict"
domains = ["works-mail"]
currency = "JPY"
unit_price = "540"
licenses = 100

[regime.lw-strict]
extends = "lineworks"
tiers = [
  { lower = "99.5", upper = "99.9", bounds = "[)", credit = "1" },
  { lower = "99.0", upper = "99.5", bounds = "[)", credit = "3" },
  { lower = "95.0", upper = "99.0", bounds = "[)", credit = "7" },
  { upper = "95.0", bounds = "[)", credit = "15" },
]
"""


def test_regime_extending_lineworks_with_changed_tiers_is_accepted_and_used(slamon, tmp_path):
    cfg = write_config(tmp_path, EXTENDS)
    res = check(slamon, cfg, tmp_path)
    assert res.returncode == 0, res.stderr

    # and the changed table is what the report applies: 44 down minutes in November 2026
    # (99.898148%) fall in the new 99.5% <= A < 99.9% tier worth 1 day, not lineworks' 3
    outage = datetime(2026, 11, 10, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    samples = write_jsonl(tmp_path / "s.jsonl", month_lines("works-mail", "Asia/Tokyo", 2026, 11, [(outage, 44)]))
    res = slamon("ingest", samples, "--config", cfg, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = slamon("report", "--period", "2026-11", "--config", cfg, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    [contract] = res.json()["contracts"]
    assert contract["regime"] == "lw-strict"
    assert contract["timezone"] == "Asia/Tokyo"          # inherited from lineworks
    assert contract["claim_deadline"] == "2026-12-30"    # inherited claim window
    [scope] = contract["scopes"]
    assert scope["availability"] == "99.898148"
    assert scope["credit_days"] == 1
    assert scope["credit_amount"] == "1800"              # 540 x 1/30 x 100
