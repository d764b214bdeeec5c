"""The HTML monthly report (`slamon report --format html`, reports/html.py).

Months are generated with the worked examples' helpers and go through the real command line
(`slamon ingest`, `slamon report --format html --out DIR`). Checked: one self-contained file per
contract, one heat-map cell per day of the month in the contract's zone (also across DST), the
data-figure values against the JSON report, determinism, the embedded evidence and its digest,
print CSS, the formula with the contract's numbers, escaping, and revisions."""
from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.accounting import build_reports
from monitor.config import load_config
from monitor.storage import Storage
from reports.evidence import build_evidence, evidence_digest
from reports.formats import contract_json
from reports.html import json_script, render_contract_html
from tests.support import run_cli
from tests.test_worked_examples import (
    BERLIN,
    BERLIN_REGIME,
    EX1_MAINTENANCE_START,
    EX1_OUTAGE_START,
    EX3_OUTAGE_START,
    SEOUL,
    TOKYO,
    _explain,
    local,
    month_bounds,
    run_of,
    write_config,
    write_samples,
)

NASTY_REASON = "firmware </script><script>alert(1)</script> & <b>upgrade</b>"


def _ingest(cfg: Path, samples: Path) -> None:
    res = run_cli("ingest", str(samples), "--config", str(cfg), cwd=cfg.parent)
    assert res.returncode == 0, _explain(res)


def html_report(cfg: Path, period: str, out: Path | None, *extra: str) -> str:
    args = ["report", "--period", period, "--format", "html", "--config", str(cfg), *extra]
    if out is not None:
        args += ["--out", str(out)]
    res = run_cli(*args, cwd=cfg.parent)
    assert res.returncode == 0, _explain(res)
    return res.stdout


def json_report(cfg: Path, period: str) -> dict:
    res = run_cli("report", "--period", period, "--format", "json", "--config", str(cfg), cwd=cfg.parent)
    assert res.returncode == 0, _explain(res)
    return res.json()


def results_of(cfg: Path, period: str):
    """What `slamon report` computes now (a month not over yet is provisional)."""
    config = load_config(cfg)
    with Storage(config.monitor.database, must_exist=True) as storage:
        return build_reports(config, storage, period, as_of=datetime.now(UTC))


@pytest.fixture(scope="module")
def ex1(tmp_path_factory):
    """Worked example 1 (lineworks, November 2026), plus a kddi contract on the same domain, and
    a maintenance reason full of markup."""
    d = tmp_path_factory.mktemp("ex1")
    cfg = write_config(
        d,
        domains=[{"name": "works-mail"}],
        contracts=[{"id": "acme-lw", "customer": "ACME K.K.", "regime": "lineworks",
                    "domains": ["works-mail"], "plan": "paid", "currency": "JPY",
                    "unit_price": "540", "licenses": 100},
                   {"id": "acme-kddi", "customer": "ACME K.K. (KDDI)", "regime": "kddi",
                    "domains": ["works-mail"], "plan": "paid", "currency": "JPY",
                    "unit_price": "594", "licenses": 100, "billing_day": 15}],
        windows=[{"kind": "maintenance", "domains": ["works-mail"], "start": EX1_MAINTENANCE_START,
                  "end": local(TOKYO, 2026, 11, 15, 3, 0), "announced_at": local(TOKYO, 2026, 11, 1, 10, 0),
                  "reason": NASTY_REASON}],
    )
    start, end = month_bounds(TOKYO, "2026-11")
    _ingest(cfg, write_samples(d / "samples.jsonl", "works-mail", start, end,
                               down=run_of(EX1_OUTAGE_START, 44) + run_of(EX1_MAINTENANCE_START, 60)))
    out = d / "html"
    html_report(cfg, "2026-11", out)
    return cfg, out


@pytest.fixture(scope="module")
def ex3(tmp_path_factory):
    """Worked example 3 (ncloud-workplace, December 2026, awareness = notice)."""
    d = tmp_path_factory.mktemp("ex3")
    cfg = write_config(
        d,
        domains=[{"name": "mail"}],
        contracts=[{"id": "ws-mail", "customer": "Example Corp.", "regime": "ncloud-workplace",
                    "domains": ["mail"], "plan": "paid", "currency": "KRW", "awareness": "notice",
                    "service": [{"domain": "mail", "monthly_fee": "1234567"}]}],
        notices=[{"contract": "ws-mail", "domain": "mail", "at": local(SEOUL, 2026, 12, 3, 15, 0),
                  "kind": "customer"}],
    )
    start, end = month_bounds(SEOUL, "2026-12")
    _ingest(cfg, write_samples(d / "samples.jsonl", "mail", start, end, down=run_of(EX3_OUTAGE_START, 500)))
    out = d / "html"
    html_report(cfg, "2026-12", out)
    return cfg, out


def day_cells(text: str) -> list[str]:
    return re.findall(r'<rect class="day" data-date="(\d{4}-\d{2}-\d{2})"', text)


def cell_attrs(text: str, day: str) -> dict[str, str]:
    match = re.search(r'<rect class="day" data-date="' + day + r'"([^>]*)>', text)
    assert match, day
    return dict(re.findall(r'([\w-]+)="([^"]*)"', match.group(1)))


def figures(text: str) -> list[dict[str, str]]:
    out = []
    for tag in re.findall(r"<[^>]*data-figure=[^>]*>", text):
        out.append({k: html.unescape(v) for k, v in re.findall(r'(data-[\w-]+)="([^"]*)"', tag)})
    return out


def script_block(text: str, block_id: str):
    match = re.search(r'<script type="application/json" id="' + block_id + r'">(.*?)</script>', text, re.S)
    assert match, f"no {block_id} block"
    return json.loads(match.group(1))


# --- files, self-containment ------------------------------------------------------------------

def test_one_file_per_contract(ex1):
    _, out = ex1
    assert sorted(p.name for p in out.iterdir()) == ["acme-kddi-2026-11.html", "acme-lw-2026-11.html"]


def test_stdout_without_out_prints_every_contract(ex1):
    cfg, out = ex1
    text = html_report(cfg, "2026-11", None)
    assert text.count("<!DOCTYPE html>") == 2
    assert (out / "acme-lw-2026-11.html").read_text(encoding="utf-8") in text


@pytest.mark.parametrize("name", ["acme-lw-2026-11.html", "acme-kddi-2026-11.html"])
def test_self_contained(ex1, name):
    text = (ex1[1] / name).read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    for bad in ('src="http', "src='http", 'href="http', "href='http", "<link", "@import", "url(http",
                "<img", "<iframe"):
        assert bad not in text, bad
    outside = re.sub(r'<script type="application/json" id="[\w-]+">.*?</script>', "", text, flags=re.S)
    assert "<script" not in outside, "no executable scripts"
    assert "<style>" in text and "<svg" in text
    for ref in re.findall(r"url\(([^)]*)\)", text):
        assert ref.startswith("#"), ref


def test_print_css(ex1):
    text = (ex1[1] / "acme-lw-2026-11.html").read_text(encoding="utf-8")
    assert re.search(r"@page\s*\{[^}]*size:\s*A4", text)
    assert re.search(r"@page\s*\{[^}]*margin:", text)
    assert "@media print" in text and "break-inside: avoid" in text
    assert "display: none" not in text  # nothing is hidden in print


# --- heat map ----------------------------------------------------------------------------------

def test_heat_map_november_tokyo_has_30_cells(ex1):
    text = (ex1[1] / "acme-lw-2026-11.html").read_text(encoding="utf-8")
    cells = day_cells(text)
    assert cells == [f"2026-11-{d:02d}" for d in range(1, 31)]
    assert cell_attrs(text, "2026-11-10")["data-counted"] == "44"
    assert cell_attrs(text, "2026-11-10")["data-level"] == "2"
    assert cell_attrs(text, "2026-11-15")["data-excluded"] == "60"
    assert cell_attrs(text, "2026-11-15")["data-counted"] == "0"
    assert sum(int(cell_attrs(text, c)["data-counted"]) for c in cells) == 44
    assert all(cell_attrs(text, c)["data-minutes"] == "1440" for c in cells)
    assert 'fill="url(#slamon-hatch)"' in text and 'id="slamon-hatch"' in text


def test_heat_map_december_seoul_has_31_cells(ex3):
    text = (ex3[1] / "ws-mail-2026-12.html").read_text(encoding="utf-8")
    cells = day_cells(text)
    assert cells == [f"2026-12-{d:02d}" for d in range(1, 32)]
    attrs = cell_attrs(text, "2026-12-03")
    assert (attrs["data-counted"], attrs["data-before-notice"]) == ("440", "60")


@pytest.mark.parametrize("period, short_day, minutes", [("2027-03", "2027-03-28", "1380"),
                                                         ("2027-10", "2027-10-31", "1500")])
def test_heat_map_dst_zone(tmp_path, period, short_day, minutes):
    cfg = write_config(tmp_path, domains=[{"name": "de-mail"}],
                       contracts=[{"id": "berlin-co", "customer": "Beispiel GmbH", "regime": "berlin",
                                   "domains": ["de-mail"], "plan": "paid", "currency": "EUR",
                                   "monthly_fee": "1000"}],
                       regimes={"berlin": BERLIN_REGIME})
    year, month = map(int, period.split("-"))
    start, end = month_bounds(BERLIN, period)
    # an outage across local midnight: 23:50-00:40 on the 9th/10th
    _ingest(cfg, write_samples(tmp_path / "s.jsonl", "de-mail", start, end,
                               down=run_of(local(BERLIN, year, month, 9, 23, 50), 50)))
    out = tmp_path / "html"
    html_report(cfg, period, out, "--lang", "en")
    text = (out / f"berlin-co-{period}.html").read_text(encoding="utf-8")
    cells = day_cells(text)
    assert cells == [f"{period}-{d:02d}" for d in range(1, 32)]
    assert cell_attrs(text, short_day)["data-minutes"] == minutes
    assert cell_attrs(text, f"{period}-09")["data-counted"] == "10"
    assert cell_attrs(text, f"{period}-10")["data-counted"] == "40"
    assert sum(int(cell_attrs(text, c)["data-minutes"]) for c in cells) == json_report(cfg, period)[
        "contracts"][0]["total_minutes"]


# --- figures, evidence, determinism --------------------------------------------------------------

@pytest.mark.parametrize("which, name, period", [("ex1", "acme-lw-2026-11.html", "2026-11"),
                                                 ("ex1", "acme-kddi-2026-11.html", "2026-11"),
                                                 ("ex3", "ws-mail-2026-12.html", "2026-12")])
def test_figures_equal_the_json_report(request, which, name, period):
    cfg, out = request.getfixturevalue(which)
    text = (out / name).read_text(encoding="utf-8")
    contract = next(c for c in json_report(cfg, period)["contracts"] if f"{c['id']}-{period}.html" == name)
    found = figures(text)
    by_name = {}
    for f in found:
        by_name.setdefault(f["data-figure"], []).append(f)
    def contract_level(fig):
        hits = [f for f in by_name.get(fig, []) if "data-scope" not in f]
        assert len(hits) == 1, (fig, hits)
        return hits[0]["data-value"]
    assert contract_level("credit_amount") == contract["credit_amount"]
    assert contract_level("total_minutes") == str(contract["total_minutes"])
    if contract["claim_deadline"]:
        assert contract_level("claim_deadline") == contract["claim_deadline"]
    for scope in contract["scopes"]:
        def one(fig, scope=scope):
            hits = [f for f in by_name[fig] if f.get("data-scope") == scope["scope"]]
            assert len(hits) == 1, (fig, hits)
            return hits[0]["data-value"]
        assert one("availability") == scope["availability"]
        assert one("downtime_minutes") == str(scope["downtime_minutes"])
        assert one("credit_amount") == scope["credit_amount"]
        assert one("before_notice_minutes") == str(scope["before_notice_minutes"])
        assert one("unknown_minutes") == str(scope["unknown_minutes"])
        if scope["credit_days"] is not None:
            assert one("credit_days") == str(scope["credit_days"])
        else:
            assert one("credit_percent") == scope["credit_percent"]
    # the JSON report also carries the evidence itself; everything else is the same
    contract = {k: v for k, v in contract.items() if k not in ("evidence", "evidence_digest")}
    assert script_block(text, "slamon-report") == {**contract, "period": period}
    # and every marked figure agrees with the embedded report (what --verify checks)
    scopes = {s["scope"]: s for s in contract["scopes"]}
    for f in found:
        source = scopes[f["data-scope"]] if "data-scope" in f else contract
        assert f["data-value"] == str(source[f["data-figure"]]), f


def test_known_figures_of_the_worked_examples(ex1, ex3):
    lw = figures((ex1[1] / "acme-lw-2026-11.html").read_text(encoding="utf-8"))
    assert {(f["data-figure"], f["data-value"]) for f in lw} >= {
        ("credit_amount", "5400"), ("availability", "99.898148"), ("downtime_minutes", "44"),
        ("credit_days", "3"), ("claim_deadline", "2026-12-30"), ("total_minutes", "43200")}
    wp = figures((ex3[1] / "ws-mail-2026-12.html").read_text(encoding="utf-8"))
    assert {(f["data-figure"], f["data-value"]) for f in wp} >= {
        ("credit_amount", "123456"), ("availability", "99.014336"), ("downtime_minutes", "440"),
        ("credit_percent", "10"), ("before_notice_minutes", "60"), ("total_minutes", "44640")}
    assert not [f for f in wp if f["data-figure"] == "claim_deadline"]  # WORKPLACE sets no deadline


@pytest.mark.parametrize("which, name", [("ex1", "acme-lw-2026-11.html"), ("ex3", "ws-mail-2026-12.html")])
def test_evidence_block_and_digest(request, which, name):
    cfg, out = request.getfixturevalue(which)
    text = (out / name).read_text(encoding="utf-8")
    evidence = script_block(text, "slamon-evidence")
    [meta] = re.findall(r'<meta name="slamon-evidence-digest" content="(sha256:[0-9a-f]{64})">', text)
    assert meta == evidence_digest(evidence)
    period = evidence["period"]
    [result] = [r for r in results_of(cfg, period) if f"{r.contract.id}-{period}.html" == name]
    assert evidence == json.loads(json.dumps(build_evidence(result)))
    assert meta == evidence_digest(build_evidence(result))


def test_verify_accepts_the_report(ex1, ex3):
    """`slamon report --verify` (another part of the CLI) recomputes the figures of these files."""
    for out, name in ((ex1[1], "acme-lw-2026-11.html"), (ex1[1], "acme-kddi-2026-11.html"),
                      (ex3[1], "ws-mail-2026-12.html")):
        res = run_cli("report", "--verify", str(out / name))
        assert res.returncode == 0 and "verified" in res.stdout, _explain(res)


def test_deterministic(ex1, tmp_path):
    cfg, out = ex1
    again = tmp_path / "again"
    html_report(cfg, "2026-11", again)
    for p in out.iterdir():
        assert (again / p.name).read_bytes() == p.read_bytes(), p.name
    [result, _] = results_of(cfg, "2026-11")
    assert render_contract_html(result) == render_contract_html(result)
    assert render_contract_html(result) == (out / "acme-lw-2026-11.html").read_text(encoding="utf-8")


def test_markup_in_data_is_escaped(ex1):
    text = (ex1[1] / "acme-lw-2026-11.html").read_text(encoding="utf-8")
    outside = re.sub(r'<script type="application/json" id="[\w-]+">.*?</script>', "", text, flags=re.S)
    assert "<script" not in outside and "alert(1)</script>" not in text
    assert html.escape(NASTY_REASON) in text
    assert "<\\/script>" in text  # inside the JSON blocks
    assert len(re.findall(r"</script>", text)) == 2
    evidence = script_block(text, "slamon-evidence")
    assert [w["reason"] for w in evidence["windows"]] == [NASTY_REASON]


def test_json_script_escaping():
    text = json_script({"a": "</script><!-- x"})
    assert "</" not in text and "<!--" not in text
    assert json.loads(text) == {"a": "</script><!-- x"}


# --- contents ------------------------------------------------------------------------------------

def test_formula_shows_the_contracts_numbers(ex1):
    text = html.unescape((ex1[1] / "acme-lw-2026-11.html").read_text(encoding="utf-8"))
    assert "(43,200 − 44) / 43,200 = 99.898148%" in text
    assert "540 JPY x 3 days / 30 x 100 IDs = 5400 -> 5400 JPY" in text
    kddi = html.unescape((ex1[1] / "acme-kddi-2026-11.html").read_text(encoding="utf-8"))
    assert "(594 JPY incl. tax / 1.1) = 540 JPY x 3 days / 30 x 100 IDs" in kddi


def test_summary_outages_windows_timeline_clauses(ex1):
    text = (ex1[1] / "acme-lw-2026-11.html").read_text(encoding="utf-8")
    summary = text[text.index('id="summary"'):text.index("</section>", text.index('id="summary"'))]
    for needle in ("5,400円", "99.898148%", "2026年12月30日", "2027年3月1日", "3日分"):
        assert needle in summary, needle
    # the outage table and its timeline
    assert "2026年11月10日 10:00 JST" in text and "2026年11月10日 10:44 JST" in text
    assert text.count('<svg class="timeline"') == 1
    assert re.search(r'<rect class="segment counted" [^>]*width="(\d+(\.\d+)?)"', text)
    # the exclusion window with its notice time
    assert 'data-announced-at="2026-11-01T10:00:00+09:00"' in text and "2026年11月1日 10:00 JST" in text
    for clause in ("Art. 24 ③ (claim within 30 days)", "Art. 15 ②-③ (maintenance, 7 days&#39; notice)"):
        assert clause in text
    assert 'id="warnings"' in text


def test_timeline_shows_before_notice_and_notice(ex3):
    text = (ex3[1] / "ws-mail-2026-12.html").read_text(encoding="utf-8")
    segments = re.findall(r'<rect class="segment ([\w-]+)"', text)
    assert segments == ["before_notice", "counted"]
    assert '<line class="notice"' in text
    assert "60분" in text and "440분" in text


def test_warnings_listed(tmp_path):
    """A maintenance window without a recorded announcement is flagged in the HTML too."""
    cfg = write_config(tmp_path, domains=[{"name": "works-mail"}],
                       contracts=[{"id": "acme-lw", "customer": "ACME", "regime": "lineworks",
                                   "domains": ["works-mail"], "plan": "paid", "currency": "JPY",
                                   "unit_price": "540", "licenses": 100}],
                       windows=[{"kind": "maintenance", "domains": ["works-mail"], "start": EX1_MAINTENANCE_START,
                                 "end": local(TOKYO, 2026, 11, 15, 3, 0), "reason": "unannounced"}])
    start, end = month_bounds(TOKYO, "2026-11")
    _ingest(cfg, write_samples(tmp_path / "s.jsonl", "works-mail", start, end, down=run_of(EX1_MAINTENANCE_START, 60)))
    text = html_report(cfg, "2026-11", None, "--lang", "en")
    assert 'data-warning="maintenance_no_notice"' in text
    assert "maintenance without recorded notice" in text
    assert "not recorded" in text
    assert "No credit is owed for this month" in text


def test_revision_and_diff(ex1):
    cfg, out = ex1
    [result, _] = results_of(cfg, "2026-11")
    first = render_contract_html(result, lang="en")
    assert "Revision" not in first and 'class="revision"' not in first
    second = render_contract_html(result, lang="en", revision=2,
                                  diff=["credit_amount: 0 -> 5400", "window <config-1> added"])
    assert "Revision 2" in second and '<meta name="slamon-revision" content="2">' in second
    assert "credit_amount: 0 -&gt; 5400" in second and "window &lt;config-1&gt; added" in second
    assert "第2版" in render_contract_html(result, lang="ja", revision=2)
    assert render_contract_html(result, lang="en", revision=2, diff=["x"]) == \
        render_contract_html(result, lang="en", revision=2, diff=("x",))
    with pytest.raises(ValueError):
        render_contract_html(result, revision=0)
    with pytest.raises(ValueError):
        render_contract_html(result, lang="fr")


def test_report_json_block_matches_contract_json(ex1):
    cfg, out = ex1
    [result, _] = results_of(cfg, "2026-11")
    text = render_contract_html(result, lang="ko")
    assert script_block(text, "slamon-report") == json.loads(json.dumps({**contract_json(result), "period": "2026-11"}))
