"""The HTML monthly report (`slamon report --format html`, reports/html.py).

Months are generated with the worked examples' helpers and go through the real command line
(`slamon ingest`, `slamon report --format html --out DIR`). Checked: one self-contained file per
contract, one heat-map cell per day of the month in the contract's zone (also across DST), the
data-figure values against the JSON report, determinism, the embedded evidence and its digest,
print CSS, the formula with the contract's numbers, escaping, and revisions; page 1's header
(issue date and parties), the claim with its recorded claims and their steps, the deadline's
rest-day note, and months that are not final (insufficient evidence: banner, grey calendar days,
no amount presented as owed)."""
from __future__ import annotations

import html
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.accounting import build_reports
from monitor.config import load_config
from monitor.storage import Storage
from reports.evidence import build_evidence, evidence_digest
from reports.formats import contract_json
from reports.html import NODATA_FILL, _window_verdict, css_string, json_script, render_contract_html
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
    # the CLI issues the report today in the contract's zone (shown on page 1)
    issued_on = datetime.now(UTC).astimezone(ZoneInfo(result.period.timezone)).date()
    assert render_contract_html(result, issued_on=issued_on) == \
        (out / "acme-lw-2026-11.html").read_text(encoding="utf-8")


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


# --- page 1: header, parties, claim ---------------------------------------------------------------

LANGS = ("en", "ja", "ko")


def visible(fragment: str) -> str:
    """The text a reader sees in an HTML fragment: no tags, attributes, scripts or styles."""
    fragment = re.sub(r"<(script|style|title)\b.*?</\1>", "", fragment, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


def block(text: str, element_id: str) -> str:
    """The markup of the element with this id, up to the end of its section / dl / div."""
    start = text.index(f'id="{element_id}"')
    start = text.rindex("<", 0, start)
    tag = re.match(r"<(\w+)", text[start:]).group(1)
    return text[start:text.index(f"</{tag}>", start)]


@pytest.mark.parametrize("lang, issued, provider, account", [
    ("en", "December 1, 2026", "Works Mobile Japan Corp.", "not given"),
    ("ja", "2026年12月1日", "Works Mobile Japan Corp.", "未登録"),
    ("ko", "2026년 12월 1일", "Works Mobile Japan Corp.", "미등록"),
])
def test_parties_block_on_page_one(ex1, lang, issued, provider, account):
    """Issue date, provider (the regime's), customer, account and contract id in a header block,
    before the summary, which comes before the claim, which comes before the scopes."""
    [result, _] = results_of(ex1[0], "2026-11")
    text = render_contract_html(result, lang=lang, issued_on=date(2026, 12, 1))
    parties = block(text, "parties")
    assert 'data-issued-on="2026-12-01"' in parties
    shown = visible(parties)
    for needle in (issued, provider, "ACME K.K.", account, "acme-lw"):
        assert needle in shown, (lang, needle)
    assert text.index('id="parties"') < text.index('id="summary"') < text.index('id="claim"') \
        < text.index('<section class="scope"') < text.index('id="warnings"')
    # no issue date given: none shown
    assert "data-issued-on" not in render_contract_html(result, lang=lang)


def test_account_reference_shown(tmp_path):
    cfg = write_config(tmp_path, domains=[{"name": "works-mail"}],
                       contracts=[{"id": "acme-lw", "customer": "ACME K.K.", "regime": "lineworks",
                                   "domains": ["works-mail"], "plan": "paid", "currency": "JPY",
                                   "unit_price": "540", "licenses": 100, "account": "WM-0042"}])
    start, end = month_bounds(TOKYO, "2026-11")
    _ingest(cfg, write_samples(tmp_path / "s.jsonl", "works-mail", start, end, down=run_of(EX1_OUTAGE_START, 44)))
    text = html_report(cfg, "2026-11", None, "--lang", "ko")
    parties = block(text, "parties")
    assert 'data-party="account">WM-0042<' in parties
    today = datetime.now(UTC).astimezone(ZoneInfo(TOKYO)).date()
    assert f'data-issued-on="{today.isoformat()}"' in parties  # the CLI's issue date: today in Tokyo


@pytest.fixture(scope="module")
def july(tmp_path_factory):
    """lineworks, July 2026: 500 down minutes (98.879928%, 7 days); the claim deadline 30 August
    2026 is a Sunday. Three claims: on time, a duplicate, and one after the deadline; and an
    emergency window, which lineworks counts."""
    d = tmp_path_factory.mktemp("july")
    cfg = write_config(
        d, domains=[{"name": "works-mail"}],
        contracts=[{"id": "acme-lw", "customer": "ACME K.K.", "regime": "lineworks", "domains": ["works-mail"],
                    "plan": "paid", "currency": "JPY", "unit_price": "540", "licenses": 100}],
        windows=[{"kind": "emergency", "domains": ["works-mail"], "start": local(TOKYO, 2026, 7, 20, 1, 0),
                  "end": local(TOKYO, 2026, 7, 20, 2, 0), "reason": "urgent patch"}])
    start, end = month_bounds(TOKYO, "2026-07")
    _ingest(cfg, write_samples(d / "s.jsonl", "works-mail", start, end,
                               down=run_of(local(TOKYO, 2026, 7, 10, 10, 0), 500)))
    for filed, ref in (("2026-08-03T10:00:00+09:00", "T-1"), ("2026-08-05T10:00:00+09:00", ""),
                       ("2026-09-02T10:00:00+09:00", "T-3")):
        args = ["claims", "add", "acme-lw", "--period", "2026-07", "--filed-at", filed, "--config", str(cfg)]
        res = run_cli(*args, *(["--reference", ref] if ref else []), cwd=d)
        assert res.returncode == 0, _explain(res)
    [result] = results_of(cfg, "2026-07")
    return result


@pytest.mark.parametrize("lang, expected", [
    ("en", {"filed": "August 3, 2026 10:00 JST", "month": "November 2026", "amount": "JPY 12,193",
            "window": "Claim window: filed August 3, 2026, by the deadline August 30, 2026",
            "price": "Unit price on the claim date August 3, 2026: JPY 540; compensation JPY 12,193",
            "late": "after the deadline August 30, 2026", "duplicate": "claimed by db-1", "clause": "(Art. 24 ③)"}),
    ("ja", {"filed": "2026年8月3日 10:00 JST", "month": "2026年11月", "amount": "12,193円",
            "window": "請求期限: 2026年8月3日に請求 (期限 2026年8月30日 以内)",
            "price": "請求日 2026年8月3日 の基準単価: 540円、補償額 12,193円",
            "late": "期限 2026年8月30日 を過ぎているため", "duplicate": "請求 db-1 で請求済み",
            "clause": "(第24条 ③)"}),
    ("ko", {"filed": "2026년 8월 3일 10:00 JST", "month": "2026년 11월", "amount": "JP¥12,193",
            "window": "청구 기한: 2026년 8월 3일에 청구 (기한 2026년 8월 30일 이내)",
            "price": "청구일 2026년 8월 3일의 기준 단가: JP¥540, 보상 금액 JP¥12,193",
            "late": "기한 2026년 8월 30일이 지나", "duplicate": "청구 db-1으로 이미 청구", "clause": "(제24조 ③)"}),
])
def test_claims_rendered_with_their_steps(july, lang, expected):
    """Each recorded claim: filed at, reference, on time, billing month, amount, and its steps
    with their clauses, all in the report's language."""
    text = render_contract_html(july, lang=lang)
    claim = block(text, "claim")
    records = re.findall(r'<div class="claim-record" data-claim-id="(db-\d)" data-on-time="(\w+)" '
                         r'data-billing-month="([\d-]*)" data-amount="(\d+)">', claim)
    assert records == [("db-1", "true", "2026-11", "12193"), ("db-2", "true", "", "0"), ("db-3", "false", "", "0")]
    assert re.findall(r'<li data-rule="(\w+)"', claim) == ["claim_window", "claim_price", "deduction",
                                                             "claim_window", "duplicate", "claim_window"]
    assert 'class="untranslated"' not in claim
    shown = " ".join(visible(claim).split())
    for key, needle in expected.items():
        assert needle in shown, (lang, key, needle)
    assert "T-1" in shown and "T-3" in shown
    if lang != "en":
        for english in ("filed", "deadline", "Art.", "invoice", "compensation", "JPY"):
            assert english not in shown, (lang, english)


@pytest.mark.parametrize("lang, needles", [
    ("en", ("August 30, 2026 falls on a Sunday", "Civil Code of Japan, Art. 142", "August 31, 2026")),
    ("ja", ("2026年8月30日は日曜日", "民法 第142条", "2026年8月31日に満了")),
    ("ko", ("2026년 8월 30일은(는) 일요일", "일본 민법 제142조", "2026년 8월 31일에 만료")),
])
def test_deadline_note_next_to_the_deadline(july, lang, needles):
    """A deadline on a Sunday: the civil code's extension as a note, the contractual deadline kept."""
    assert july.deadline_note is not None and july.claim_deadline == date(2026, 8, 30)
    text = render_contract_html(july, lang=lang)
    summary = block(text, "summary")
    assert 'data-figure="claim_deadline" data-value="2026-08-30"' in summary
    note = visible(summary[summary.index('class="deadline-note"'):])
    for needle in needles:
        assert needle in note, (lang, needle)
        assert needle in " ".join(visible(block(text, "claim")).split()), (lang, needle)
    if lang != "en":
        assert "Civil Code" not in visible(text) and "Sunday" not in visible(text)


@pytest.mark.parametrize("lang, verdict, title", [
    ("en", "counted: an emergency is no pre-scheduled interruption", "emergency maintenance counted as downtime"),
    ("ja", "算定対象: 緊急のメンテナンスは事前に予定された中断ではないため", "算定対象となる緊急メンテナンス"),
    ("ko", "산정 대상: 긴급 점검은 사전에 예정된 중단이 아님", "장애 시간에 산정되는 긴급 점검"),
])
def test_window_verdict_and_warning_title(july, lang, verdict, title):
    text = render_contract_html(july, lang=lang)
    row = re.search(r'<tr data-window="config-1">.*?</tr>', text).group(0)
    assert 'data-verdict="emergency_counted"' in row and verdict in visible(row)
    assert title in visible(block(text, "warnings"))


@pytest.fixture(scope="module")
def insufficient(tmp_path_factory):
    """lineworks, October 2026, observed only until 21 October (64.516129% of the month, below the
    default 90%): insufficient evidence, although the 500 down minutes would give 7 days."""
    d = tmp_path_factory.mktemp("insufficient")
    cfg = write_config(
        d, domains=[{"name": "works-mail"}],
        contracts=[{"id": "acme-lw", "customer": "ACME K.K.", "regime": "lineworks", "domains": ["works-mail"],
                    "plan": "paid", "currency": "JPY", "unit_price": "540", "licenses": 100}])
    start, _ = month_bounds(TOKYO, "2026-10")
    _ingest(cfg, write_samples(d / "s.jsonl", "works-mail", start, local(TOKYO, 2026, 10, 21, 0, 0),
                               down=run_of(local(TOKYO, 2026, 10, 5, 10, 0), 500)))
    [result] = results_of(cfg, "2026-10")
    return result


@pytest.mark.parametrize("lang, banner, status, amount", [
    ("en", "Insufficient evidence (64.516129% observed", "insufficient evidence (64.516129% observed)", "JPY 12,193"),
    ("ja", "証跡不足 (観測率 64.516129%", "証跡不足 (観測率 64.516129%)", "12,193円"),
    ("ko", "증적 부족 (관측률 64.516129%", "증적 부족 (관측률 64.516129%)", "JP¥12,193"),
])
def test_insufficient_evidence_banner_and_grey_calendar(insufficient, lang, banner, status, amount):
    assert insufficient.status == "insufficient_evidence" and insufficient.credit_amount == 12193
    text = render_contract_html(insufficient, lang=lang)
    # the banner comes first
    assert text.index('id="status-banner"') < text.index("<header>")
    assert banner in visible(block(text, "status-banner"))
    summary = visible(block(text, "summary"))
    assert status in summary
    # the claim box says so and presents no amount as owed
    claim = block(text, "claim")
    assert 'data-status="insufficient_evidence"' in claim
    assert banner.split(" (")[0] in visible(claim) and amount not in visible(claim)
    assert {"en": "not owed", "ja": "支払対象外", "ko": "지급 대상 아님"}[lang] in summary
    # days with no data are grey, not the green of "no counted downtime"
    for day in range(1, 32):
        attrs = cell_attrs(text, f"2026-10-{day:02d}")
        if day < 21:
            assert attrs["data-state"] == "data" and attrs["fill"] != NODATA_FILL, day
        else:
            assert attrs["data-state"] == "nodata" and attrs["fill"] == NODATA_FILL, day
    legend = re.search(r'<ul class="hm-legend".*?</ul>', text, re.S).group(0)
    assert 'data-level="nodata"' in legend and NODATA_FILL in legend
    assert {"en": "no data", "ja": "データなし", "ko": "데이터 없음"}[lang] in visible(legend)


def test_a_final_month_has_no_banner(ex1):
    text = (ex1[1] / "acme-lw-2026-11.html").read_text(encoding="utf-8")
    assert 'id="status-banner"' not in text and 'data-state="nodata"' not in text
    assert "確定 (観測率 100.000000%)" in visible(block(text, "summary"))


@pytest.mark.parametrize("lang, lw, kddi", [
    ("ja", "540円 × 3日 ÷ 30 × 100 ID = 5,400円", "594円 (税込) ÷ 1.1 = 540円 × 3日 ÷ 30 × 100 ID = 5,400円"),
    ("ko", "JP¥540 × 3일 ÷ 30 × ID 100개 = JP¥5,400",
     "JP¥594 (세금 포함) ÷ 1.1 = JP¥540 × 3일 ÷ 30 × ID 100개 = JP¥5,400"),
    ("en", "JPY 540 × 3 days ÷ 30 × 100 IDs = JPY 5,400",
     "JPY 594 incl. tax ÷ 1.1 = JPY 540 × 3 days ÷ 30 × 100 IDs = JPY 5,400"),
])
def test_formula_is_localized(ex1, lang, lw, kddi):
    """The amount's formula in the report's language with money formatted; the English formula of
    the JSON report stays only as data-formula."""
    lw_result, kddi_result = results_of(ex1[0], "2026-11")
    for result, formula in ((lw_result, lw), (kddi_result, kddi)):
        text = render_contract_html(result, lang=lang)
        [code] = re.findall(r'<code class="amount-formula" data-formula="([^"]*)">([^<]*)</code>', text)
        assert html.unescape(code[0]) == result.scopes[0].amount.formula
        assert html.unescape(code[1]) == formula
        shown = visible(text)
        assert "->" not in shown and "JPY x" not in shown and " x " not in html.unescape(code[1])


@pytest.mark.parametrize("lang, clause", [("ja", "第24条 ③ (30日以内の請求)"), ("ko", "제24조 ③ (30일 이내 청구)"),
                                          ("en", "Art. 24 ③ (claim within 30 days)")])
def test_subtitle_and_clauses_in_the_report_language(ex1, lang, clause):
    [result, _] = results_of(ex1[0], "2026-11")
    text = render_contract_html(result, lang=lang)
    assert clause in visible(block(text, "clauses"))
    assert 'data-clause="Art. 24 ③ (claim within 30 days)"' in text  # the JSON report's clause
    sub = visible(re.search(r'<p class="sub">.*?</p>', text).group(0))
    assert result.regime.title_in(lang) in sub
    if lang != "en":
        assert "Art." not in visible(block(text, "clauses")) and "Terms of Service" not in sub
    assert script_block(text, "slamon-report")["regime_title"] == "LINE WORKS Terms of Service, Art. 24 (SLA)"


def test_page_numbers_and_page_one_in_print_css(ex1):
    text = (ex1[1] / "acme-lw-2026-11.html").read_text(encoding="utf-8")
    page = re.search(r"@page\s*\{.*?\n\}", text, re.S).group(0)
    assert "@bottom-right" in page and 'counter(page) " / " counter(pages)' in page
    assert "@bottom-left" in page and "SLA 月次報告書 2026年11月" in page


@pytest.mark.parametrize("code, en, ja, ko", [
    (None, "excluded", "除外", "제외"),
    ("maintenance_not_preannounced", "counted: not announced before it began", "算定対象: 開始前に告知されていないため",
     "산정 대상: 시작 전에 공지되지 않음"),
    ("maintenance_overrun", "excluded up to its announced end (November 15, 2026 03:00 JST); the overrun counts",
     "告知された終了時刻 (2026年11月15日 03:00 JST) まで除外、超過分は算定対象",
     "공지된 종료 시각(2026년 11월 15일 03:00 JST)까지 제외, 초과분은 산정 대상"),
    ("emergency_counted", "counted: an emergency is no pre-scheduled interruption",
     "算定対象: 緊急のメンテナンスは事前に予定された中断ではないため",
     "산정 대상: 긴급 점검은 사전에 예정된 중단이 아님"),
])
def test_window_verdicts_in_every_language(code, en, ja, ko):
    """contract_json's counted_because (WindowUse.reason) as the windows table shows it."""
    window = {"counted_because": code,
              "excluded_until": "2026-11-15T03:00:00+09:00" if code == "maintenance_overrun" else None}
    assert [_window_verdict(window, ZoneInfo(TOKYO), lang) for lang in LANGS] == [en, ja, ko]


def test_page_footer_string_cannot_leave_the_style_element():
    """The @page footer carries the customer's name: it is a CSS string that no quote, backslash
    or `</style>` can end."""
    text = str(css_string('ACME "K.K." </style><script>x</script> \\ & co'))
    assert text.startswith('"') and text.endswith('"') and '"' not in text[1:-1]
    assert "<" not in text and ">" not in text and "&" not in text and "\\\\" not in text
    assert text == '"ACME \\22 K.K.\\22  \\3c /style\\3e \\3c script\\3e x\\3c /script\\3e  \\5c  \\26  co"'
