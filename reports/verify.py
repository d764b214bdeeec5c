"""`slamon report --verify`: a JSON or HTML report is checked against its own embedded evidence.

(a) the evidence's digest is the one the report records; (b) the figures recomputed from the
evidence are the report's; and for HTML (c) every visible data-figure/data-value is the embedded
report's value. `verify_report(text, kind)` returns what does not match (empty: verified)."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from reports.evidence import (
    CONTRACT_FIGURE_KEYS,
    SCOPE_FIGURE_KEYS,
    EvidenceError,
    evidence_digest,
    figure_value,
    recompute,
)
from reports.formats import contract_json


class _EvidenceHTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: dict[str, list[str]] = {}
        self.digests: list[str] = []
        self.figures: list[dict[str, str | None]] = []
        self._script: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        script_id = a.get("id")
        if tag == "script" and a.get("type") == "application/json" and script_id:
            self._script = script_id
            self.scripts.setdefault(script_id, [])
        elif tag == "meta" and a.get("name") == "slamon-evidence-digest":
            self.digests.append(a.get("content") or "")
        if "data-figure" in a:
            self.figures.append(a)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "script":
            self._script = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self.scripts[self._script].append(data)


# --- verification ----------------------------------------------------------------------------

class Unrecognised(ValueError):
    """The text is not a slamon report with embedded evidence (the CLI exits 2)."""


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)
    contracts: int = 0
    digests: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)


_MISSING = object()


def _shown(value: Any) -> str:
    return "(missing)" if value is _MISSING else json.dumps(value, ensure_ascii=False)


def compare_figures(recorded: Mapping[str, Any], recomputed: Mapping[str, Any], where: str) -> list[str]:
    """One line per documented figure the report states differently from the recomputation."""
    problems = []
    for key in CONTRACT_FIGURE_KEYS:
        got = recorded.get(key, _MISSING)
        if got != recomputed[key]:
            problems.append(f"{where}: figure {key} differs: recorded {_shown(got)}, "
                            f"recomputed {_shown(recomputed[key])}")
    rec_scopes = recorded.get("scopes")
    rec_scopes = {s.get("scope"): s for s in rec_scopes if isinstance(s, dict)} if isinstance(rec_scopes, list) else {}
    new_scopes = {s["scope"]: s for s in recomputed["scopes"]}
    if list(rec_scopes) != list(new_scopes):
        problems.append(f"{where}: scopes differ: recorded {_shown(list(rec_scopes))}, "
                        f"recomputed {_shown(list(new_scopes))}")
    for name, new in new_scopes.items():
        old = rec_scopes.get(name)
        if old is None:
            continue
        for key in SCOPE_FIGURE_KEYS:
            got = old.get(key, _MISSING)
            if got != new[key]:
                problems.append(f"{where}: scope {name}: figure {key} differs: recorded {_shown(got)}, "
                                f"recomputed {_shown(new[key])}")
    return problems


def _check_contract(evidence: Any, recorded_digest: Any, recorded: Mapping[str, Any], period: Any,
                    where: str, out: Verification) -> None:
    out.contracts += 1
    if not isinstance(evidence, dict):
        out.problems.append(f"{where}: the embedded evidence is not a JSON object")
        return
    digest = evidence_digest(evidence)
    out.digests.append(digest)
    version = (evidence.get("software") or {}).get("version") if isinstance(evidence.get("software"), dict) else None
    if version and version not in out.versions:
        out.versions.append(str(version))
    if digest != recorded_digest:
        out.problems.append(f"{where}: evidence was changed: digest {digest} of the embedded evidence, "
                            f"but the report records {recorded_digest}")
    if evidence.get("period") != period:
        out.problems.append(f"{where}: the evidence is for period {_shown(evidence.get('period'))}, "
                            f"the report for {_shown(period)}")
    cid = (evidence.get("contract") or {}).get("id") if isinstance(evidence.get("contract"), dict) else None
    if cid != recorded.get("id"):
        out.problems.append(f"{where}: the evidence is for contract {_shown(cid)}, the report for "
                            f"{_shown(recorded.get('id'))}")
    try:
        result = recompute(evidence)
    except EvidenceError as exc:
        out.problems.append(f"{where}: the evidence cannot be recomputed: {exc}")
        return
    out.problems += compare_figures(recorded, contract_json(result), where)


def _verify_json(text: str, out: Verification) -> None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Unrecognised(f"not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("contracts"), list) or "period" not in data:
        raise Unrecognised("not a slamon JSON report (no period and contracts)")
    if not data["contracts"]:
        raise Unrecognised("the report has no contracts to verify")
    for i, contract in enumerate(data["contracts"]):
        if not isinstance(contract, dict) or "evidence" not in contract:
            raise Unrecognised(f"contract {i + 1} has no embedded evidence (a report from before evidence "
                               f"was embedded cannot be verified)")
        where = f"contract {contract.get('id', i + 1)}"
        _check_contract(contract["evidence"], contract.get("evidence_digest"), contract, data["period"], where, out)


def _verify_html(text: str, out: Verification) -> None:
    parser = _EvidenceHTML()
    try:
        parser.feed(text)
        parser.close()
    except Exception as exc:  # html.parser is lenient; anything it still rejects is not our HTML
        raise Unrecognised(f"not readable HTML ({exc})") from None
    evidence_blocks = parser.scripts.get("slamon-evidence")
    report_blocks = parser.scripts.get("slamon-report")
    if evidence_blocks is None or report_blocks is None:
        raise Unrecognised("not a slamon HTML report: no slamon-evidence and slamon-report script blocks")
    try:
        evidence = json.loads("".join(evidence_blocks))
    except json.JSONDecodeError as exc:
        out.contracts += 1
        out.problems.append(f"the embedded evidence is not JSON ({exc})")
        return
    try:
        report = json.loads("".join(report_blocks))
    except json.JSONDecodeError as exc:
        out.contracts += 1
        out.problems.append(f"the embedded report is not JSON ({exc})")
        return
    if not isinstance(report, dict):
        raise Unrecognised("the slamon-report block is not a JSON object")
    if len(parser.digests) != 1:
        out.problems.append(f"expected one slamon-evidence-digest meta tag, found {len(parser.digests)}")
    where = f"contract {report.get('id')}"
    _check_contract(evidence, parser.digests[0] if parser.digests else None, report, report.get("period"),
                    where, out)
    scopes = {s.get("scope"): s for s in report.get("scopes") or () if isinstance(s, dict)}
    for attrs in parser.figures:
        name, scope, value = attrs.get("data-figure"), attrs.get("data-scope"), attrs.get("data-value")
        label = f"shown figure {name}" + (f" of scope {scope}" if scope is not None else "")
        source = report if scope is None else scopes.get(scope)
        if source is None:
            out.problems.append(f"{where}: {label}: no such scope in the embedded report")
        elif name not in source:
            out.problems.append(f"{where}: {label}: no such figure in the embedded report")
        elif value is None:
            out.problems.append(f"{where}: {label}: has no data-value")
        elif value != figure_value(source[name]):
            out.problems.append(f"{where}: {label} differs: shown {json.dumps(value, ensure_ascii=False)}, "
                                f"embedded report {json.dumps(figure_value(source[name]), ensure_ascii=False)}")


def detect_kind(text: str, name: str = "") -> str:
    head = text.lstrip("\ufeff \t\r\n")[:1]
    if head in ("{", "["):
        return "json"
    if head == "<":
        return "html"
    lowered = name.lower()
    if lowered.endswith(".json"):
        return "json"
    if lowered.endswith((".html", ".htm")):
        return "html"
    raise Unrecognised("neither a JSON nor an HTML report")


def verify_report(text: str, kind: str) -> Verification:
    """Check every contract of a report; raises Unrecognised when it is no slamon report."""
    out = Verification()
    if kind == "json":
        _verify_json(text, out)
    elif kind == "html":
        _verify_html(text, out)
    else:
        raise ValueError(f"kind must be 'json' or 'html', got {kind!r}")
    return out


def verify(text: str, kind: str) -> list[str]:
    """The problems found (empty: every figure is what the embedded evidence gives):
    (a) the evidence's digest is the recorded one; (b) the figures recomputed from it are the
    report's; and for HTML (c) every data-figure/data-value is the embedded report's value."""
    return verify_report(text, kind).problems
