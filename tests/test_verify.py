"""`slamon report --verify FILE`: reports embed the evidence their figures were computed from and
its digest; verification recomputes the figures from that evidence alone (no config, no database).

Reports are made through the real command line (ingest + report) with the worked examples'
helpers; verification runs the real command line too, from a directory without config.toml.
"""
from __future__ import annotations

import html
import json
from datetime import timedelta
from pathlib import Path

import pytest

from reports.accounting import minute_to_index
from reports.evidence import (
    SCHEMA,
    canonical_json,
    compact_minutes,
    evidence_digest,
    expand_minutes,
    figure_attrs,
    figure_value,
    recompute,
    script_json,
)
from reports.formats import contract_json
from reports.minutes import Count
from reports.verify import verify
from tests.support import aggregate_lines, minute_index
from tests.test_worked_examples import (
    BERLIN,
    BERLIN_REGIME,
    EX1_MAINTENANCE_START,
    EX1_OUTAGE_START,
    EX3_OUTAGE_START,
    SEOUL,
    TOKYO,
    contract_for,
    ingest,
    local,
    month_bounds,
    report,
    run_of,
    write_config,
    write_samples,
)

EVIDENCE_KEYS = ("evidence", "evidence_digest")


# --------------------------------------------------------------------------------------------
# report makers (worked examples through the CLI)
# --------------------------------------------------------------------------------------------

def example1(slamon, tmp_path: Path, reason: str = "storage firmware upgrade") -> dict:
    """lineworks, November 2026: 44 down minutes and a 60-minute maintenance window -> 5,400 JPY."""
    period = "2026-11"
    cfg = write_config(
        tmp_path, domains=[{"name": "works-mail"}],
        contracts=[{"id": "acme-lw", "customer": "ACME K.K.", "regime": "lineworks", "domains": ["works-mail"],
                    "plan": "paid", "currency": "JPY", "unit_price": "540", "licenses": 100}],
        windows=[{"kind": "maintenance", "domains": ["works-mail"], "start": EX1_MAINTENANCE_START,
                  "end": local(TOKYO, 2026, 11, 15, 3, 0), "announced_at": local(TOKYO, 2026, 11, 1, 10, 0),
                  "reason": reason}])
    start, end = month_bounds(TOKYO, period)
    samples = write_samples(tmp_path / "samples.jsonl", "works-mail", start, end,
                            down=run_of(EX1_OUTAGE_START, 44) + run_of(EX1_MAINTENANCE_START, 60))
    ingest(slamon, cfg, samples)
    return report(slamon, cfg, period)


def example3_notice(slamon, tmp_path: Path) -> dict:
    """ncloud-workplace, December 2026, customer notice an hour into a 500-minute outage."""
    period = "2026-12"
    cfg = write_config(
        tmp_path, domains=[{"name": "mail"}],
        contracts=[{"id": "ws-mail", "customer": "Example Corp.", "regime": "ncloud-workplace", "domains": ["mail"],
                    "plan": "paid", "currency": "KRW", "awareness": "notice",
                    "service": [{"domain": "mail", "monthly_fee": "1234567"}]}],
        notices=[{"contract": "ws-mail", "domain": "mail", "at": local(SEOUL, 2026, 12, 3, 15, 0),
                  "kind": "customer"}])
    start, end = month_bounds(SEOUL, period)
    samples = write_samples(tmp_path / "samples.jsonl", "mail", start, end, down=run_of(EX3_OUTAGE_START, 500))
    ingest(slamon, cfg, samples)
    return report(slamon, cfg, period)


def example4_kddi(slamon, tmp_path: Path) -> dict:
    period = "2026-10"
    cfg = write_config(
        tmp_path, domains=[{"name": "works"}],
        contracts=[{"id": "kddi-std", "customer": "Example K.K.", "regime": "kddi", "domains": ["works"],
                    "plan": "paid", "currency": "JPY", "unit_price": "594", "licenses": 80}])
    start, end = month_bounds(TOKYO, period)
    samples = write_samples(tmp_path / "samples.jsonl", "works", start, end,
                            down=run_of(local(TOKYO, 2026, 10, 10, 10, 0), 500))
    ingest(slamon, cfg, samples)
    return report(slamon, cfg, period)


def lineworks_kr(slamon, tmp_path: Path) -> dict:
    """Example 2's 95.0% boundary under lineworks-kr, with license steps changing mid-month and a
    minute of too few samples (unknown)."""
    period = "2026-11"
    contract = contract_for("lineworks-kr", "c1", "svc",
                            licenses=[{"count": 100}, {"since": "2026-11-20", "count": 120}])
    cfg = write_config(tmp_path, domains=[{"name": "svc"}], contracts=[contract])
    start, end = month_bounds(SEOUL, period)
    odd = local(SEOUL, 2026, 11, 20, 9, 0)
    samples = write_samples(tmp_path / "samples.jsonl", "svc", start, end,
                            down=run_of(local(SEOUL, 2026, 11, 10, 10, 0), 2160),
                            special={odd: aggregate_lines("svc", [(minute_index(odd), 7, 7)])})
    ingest(slamon, cfg, samples)
    return report(slamon, cfg, period)


def berlin_dst(slamon, tmp_path: Path) -> dict:
    """A custom regime on Europe/Berlin months: March 2027 has 44,580 minutes."""
    period = "2027-03"
    cfg = write_config(
        tmp_path, domains=[{"name": "de-mail"}],
        contracts=[{"id": "berlin-co", "customer": "Beispiel GmbH", "regime": "berlin", "domains": ["de-mail"],
                    "plan": "paid", "currency": "EUR", "monthly_fee": "1000"}],
        regimes={"berlin": {**BERLIN_REGIME, "extends": "ncloud-workplace"}})
    start, end = month_bounds(BERLIN, period)
    samples = write_samples(tmp_path / "samples.jsonl", "de-mail", start, end,
                            down=run_of(local(BERLIN, 2027, 3, 28, 1, 30), 45))  # across the DST switch
    ingest(slamon, cfg, samples)
    return report(slamon, cfg, period)


def save(tmp_path: Path, data: dict, name: str = "report.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def run_verify(slamon, path: Path, tmp_path: Path):
    """--verify from a directory without config.toml: the file is all it needs."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    return slamon("report", "--verify", str(path), cwd=elsewhere)


def figures_only(contract: dict) -> dict:
    return {k: v for k, v in contract.items() if k not in EVIDENCE_KEYS}


def redigest(contract: dict) -> None:
    contract["evidence_digest"] = evidence_digest(contract["evidence"])


# --------------------------------------------------------------------------------------------
# JSON reports
# --------------------------------------------------------------------------------------------

def test_json_report_embeds_evidence_and_verifies(slamon, tmp_path):
    data = example1(slamon, tmp_path)
    [c] = data["contracts"]
    ev = c["evidence"]
    assert ev["schema"] == SCHEMA
    assert c["evidence_digest"] == evidence_digest(ev)
    assert c["evidence_digest"].startswith("sha256:") and len(c["evidence_digest"]) == 7 + 64
    assert ev["regime"]["name"] == "lineworks" and ev["regime"]["definition"]["timezone"] == TOKYO
    assert [w["reason"] for w in ev["windows"]] == ["storage firmware upgrade"]

    res = run_verify(slamon, save(tmp_path, data), tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip().endswith(
        f"report.json: verified (1 contract; evidence {c['evidence_digest']}; slamon {ev['software']['version']})")
    assert "note:" not in res.stdout


def test_missing_minutes_are_compacted_into_gaps(slamon, tmp_path):
    """Minutes without data are runs in "gaps", not one [m, 0, 0] entry each: here the first six
    hours of November. Nothing was stored before them, so the history before the month is empty."""
    period = "2026-11"
    cfg = write_config(tmp_path, domains=[{"name": "works-mail"}],
                       contracts=[contract_for("lineworks", "acme-lw", "works-mail")])
    start, end = month_bounds(TOKYO, period)
    late_start = start + timedelta(hours=6)
    samples = write_samples(tmp_path / "samples.jsonl", "works-mail", late_start, end,
                            down=run_of(EX1_OUTAGE_START, 44))
    ingest(slamon, cfg, samples)
    data = report(slamon, cfg, period)
    [c] = data["contracts"]
    [scope] = c["evidence"]["scopes"]
    first = minute_to_index(start)
    assert scope["range"] == [first, minute_to_index(end)]
    assert scope["gaps"] == [[first, minute_to_index(late_start)]]
    assert len(scope["minutes"]) == 44 and all(r == 20 and e == 20 for _, r, e in scope["minutes"])
    assert scope["minutes"][0][0] == minute_to_index(EX1_OUTAGE_START)
    assert c["scopes"][0]["unknown_minutes"] == 360
    assert contract_json(recompute(c["evidence"])) == figures_only(c)
    res = run_verify(slamon, save(tmp_path, data), tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


def test_compaction_round_trip():
    one = {m: {"mail": c} for m, c in {5: Count(0, 0), 6: Count(0, 0), 7: Count(3, 1), 8: Count(0, 0),
                                        20: Count(20, 20), 21: Count(0, 0), 22: Count(0, 0)}.items()}
    gaps, rows = compact_minutes(one, ["mail"])
    assert gaps == [[5, 7], [8, 9], [21, 23]]
    assert rows == [[7, 3, 1], [20, 20, 20]]
    assert expand_minutes({"domains": ["mail"], "gaps": gaps, "minutes": rows}) == one


def test_compaction_of_a_pooled_scope_keeps_each_domain():
    """A gap is a minute no domain of the scope has a request in; every other minute keeps each
    domain's counts, in the order of the scope's domains."""
    pooled = {5: {"mail": Count(0, 0), "drive": Count(0, 0)}, 6: {"mail": Count(0, 0), "drive": Count(30, 0)},
              7: {"mail": Count(20, 20), "drive": Count(30, 1)}}
    gaps, rows = compact_minutes(pooled, ["mail", "drive"])
    assert gaps == [[5, 6]]
    assert rows == [[6, 0, 0, 30, 0], [7, 20, 20, 30, 1]]
    assert expand_minutes({"domains": ["mail", "drive"], "gaps": gaps, "minutes": rows}) == pooled


def test_tampered_figure_is_named(slamon, tmp_path):
    data = example1(slamon, tmp_path)
    c = data["contracts"][0]
    assert c["credit_amount"] == "5400"
    c["credit_amount"] = "54000"
    c["scopes"][0]["availability"] = "99.998148"
    res = run_verify(slamon, save(tmp_path, data), tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert f"{tmp_path / 'report.json'}: contract acme-lw: figure credit_amount differs: recorded \"54000\", " \
           f"recomputed \"5400\"" in lines
    assert any("scope acme-lw: figure availability differs: recorded \"99.998148\", recomputed \"99.898148\"" in line
               for line in lines), lines
    assert "verified" not in res.stdout
    assert len(lines) == 2  # the digest still matches: only the figures were changed


@pytest.mark.parametrize("what", ["minute-errors", "window-end"])
def test_tampered_input_breaks_the_digest(slamon, tmp_path, what):
    data = example1(slamon, tmp_path)
    c = data["contracts"][0]
    recorded = c["evidence_digest"]
    if what == "minute-errors":
        c["evidence"]["scopes"][0]["minutes"][0][2] = 0   # a down minute made healthy
    else:
        c["evidence"]["windows"][0]["end"] = "2026-11-15T04:00:00+09:00"
    res = run_verify(slamon, save(tmp_path, data), tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "contract acme-lw: evidence was changed: digest sha256:" in res.stdout
    assert f"but the report records {recorded}" in res.stdout
    assert evidence_digest(c["evidence"]) in res.stdout


@pytest.mark.parametrize("what", ["minute-errors", "window-end"])
def test_tampered_input_with_a_new_digest_changes_the_figures(slamon, tmp_path, what):
    """Re-digesting a changed input hides the change from the digest, not from the recomputation."""
    data = example1(slamon, tmp_path)
    c = data["contracts"][0]
    if what == "minute-errors":
        c["evidence"]["scopes"][0]["minutes"][0][2] = 0   # 43 down minutes: no credit
    else:
        c["evidence"]["windows"][0]["end"] = "2026-11-15T02:30:00+09:00"  # 30 maintenance minutes count
    redigest(c)
    res = run_verify(slamon, save(tmp_path, data), tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "evidence was changed" not in res.stdout
    if what == "minute-errors":
        assert "figure credit_amount differs: recorded \"5400\", recomputed \"0\"" in res.stdout
        assert "figure downtime_minutes differs: recorded 44, recomputed 43" in res.stdout
    else:
        assert "figure downtime_minutes differs: recorded 44, recomputed 74" in res.stdout
        assert "figure excluded_minutes differs" in res.stdout


@pytest.mark.parametrize("make", [example1, example3_notice, example4_kddi, lineworks_kr, berlin_dst],
                         ids=["lineworks-ex1", "ncloud-workplace-ex3-notice", "kddi-ex4", "lineworks-kr",
                              "custom-dst-berlin"])
def test_recompute_equals_the_report(slamon, tmp_path, make):
    """Every figure (not only the checked ones) comes back from the evidence alone."""
    data = make(slamon, tmp_path)
    [c] = data["contracts"]
    result = recompute(json.loads(json.dumps(c["evidence"])))
    assert contract_json(result) == figures_only(c)
    res = run_verify(slamon, save(tmp_path, data), tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "verified (1 contract;" in res.stdout
    # the HTML report of the same month verifies too, its shown figures included
    text = html_report(slamon, tmp_path, data)
    assert verify(text, "html") == []
    assert 'data-figure="credit_amount"' in text and "data-scope=" in text


def test_recompute_keeps_notice_and_dst_details(slamon, tmp_path):
    data = example3_notice(slamon, tmp_path)
    s = data["contracts"][0]["scopes"][0]
    assert (s["downtime_minutes"], s["before_notice_minutes"], s["credit_amount"]) == (440, 60, "123456")
    assert data["contracts"][0]["evidence"]["notices"][0]["kind"] == "customer"
    (tmp_path / "berlin").mkdir()
    berlin = berlin_dst(slamon, tmp_path / "berlin")["contracts"][0]
    assert berlin["total_minutes"] == 44580 and berlin["scopes"][0]["downtime_minutes"] == 45
    definition = berlin["evidence"]["regime"]["definition"]
    assert definition["timezone"] == BERLIN and "extends" not in definition  # stored after `extends`
    assert definition["cap"] == "50" and definition["notice_based"] is True  # inherited from ncloud-workplace


def test_several_contracts_pooled_and_service_scopes(slamon, tmp_path):
    """Two contracts in one report: a contract-scoped one pooling two domains, a service-scoped one
    with two scopes; every contract is verified, and a change to either is found."""
    period = "2026-11"
    cfg = write_config(
        tmp_path, domains=[{"name": "a", "min_samples": 10}, {"name": "b", "error_threshold": "10%"}],
        contracts=[contract_for("lineworks", "pooled", "a", domains=["a", "b"]),
                   {"id": "svc", "customer": "Svc Corp.", "regime": "ncloud-workplace", "domains": ["a", "b"],
                    "plan": "paid", "currency": "KRW",
                    "service": [{"domain": "a", "monthly_fee": "1000000"}, {"domain": "b", "monthly_fee": "500000"}]}])
    start, end = month_bounds(TOKYO, period)
    write_samples(tmp_path / "a.jsonl", "a", start, end, down=run_of(local(TOKYO, 2026, 11, 3, 4, 0), 300))
    write_samples(tmp_path / "b.jsonl", "b", start + timedelta(days=1), end,
                  down=run_of(local(TOKYO, 2026, 11, 3, 4, 0), 200))
    ingest(slamon, cfg, tmp_path / "a.jsonl")
    ingest(slamon, cfg, tmp_path / "b.jsonl")
    data = report(slamon, cfg, period)
    assert [c["id"] for c in data["contracts"]] == ["pooled", "svc"]
    pooled, svc = data["contracts"]
    assert [s["domains"] for s in pooled["evidence"]["scopes"]] == [["a", "b"]]
    assert [s["scope"] for s in svc["evidence"]["scopes"]] == ["a", "b"]
    for c in data["contracts"]:
        assert contract_json(recompute(c["evidence"])) == figures_only(c)

    res = run_verify(slamon, save(tmp_path, data), tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"verified (2 contracts; evidence {pooled['evidence_digest']}, {svc['evidence_digest']};" in res.stdout

    recomputed = svc["scopes"][1]["credit_percent"]
    svc["scopes"][1]["credit_percent"] = "0"
    res = run_verify(slamon, save(tmp_path, data), tmp_path)
    assert res.returncode == 1
    assert res.stdout.splitlines() == [
        f"{tmp_path / 'report.json'}: contract svc: scope b: figure credit_percent differs: recorded \"0\", "
        f"recomputed {json.dumps(recomputed)}"]


def test_other_software_version_is_a_note_not_a_failure(slamon, tmp_path):
    data = example4_kddi(slamon, tmp_path)
    c = data["contracts"][0]
    running = c["evidence"]["software"]["version"]
    c["evidence"]["software"]["version"] = "0.0.1"
    redigest(c)
    res = run_verify(slamon, save(tmp_path, data), tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"note: made by slamon 0.0.1, verified with slamon {running}" in res.stdout
    assert "verified (1 contract;" in res.stdout and "slamon 0.0.1)" in res.stdout


def test_unreadable_and_unrecognised_files_exit_2(slamon, tmp_path):
    res = run_verify(slamon, tmp_path / "missing.json", tmp_path)
    assert res.returncode == 2 and "cannot read" in res.stderr and "Traceback" not in res.stderr
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    res = run_verify(slamon, tmp_path / "notes.txt", tmp_path)
    assert res.returncode == 2 and "not a slamon report" in res.stderr
    (tmp_path / "other.json").write_text('{"period": "2026-11", "contracts": [{"id": "x"}]}', encoding="utf-8")
    res = run_verify(slamon, tmp_path / "other.json", tmp_path)
    assert res.returncode == 2 and "no embedded evidence" in res.stderr
    (tmp_path / "broken.json").write_text('{"period": ', encoding="utf-8")
    res = run_verify(slamon, tmp_path / "broken.json", tmp_path)
    assert res.returncode == 2 and "not JSON" in res.stderr
    (tmp_path / "page.html").write_text("<html><body>hi</body></html>", encoding="utf-8")
    res = run_verify(slamon, tmp_path / "page.html", tmp_path)
    assert res.returncode == 2 and "no slamon-evidence" in res.stderr


def test_report_without_period_or_verify_is_an_input_error(slamon, tmp_path):
    res = slamon("report", cwd=tmp_path)
    assert res.returncode == 2 and "--period" in res.stderr


def test_malformed_evidence_with_matching_digest_is_a_problem(slamon, tmp_path):
    data = example1(slamon, tmp_path)
    c = data["contracts"][0]
    c["evidence"]["regime"]["definition"]["tiers"] = []
    redigest(c)
    res = run_verify(slamon, save(tmp_path, data), tmp_path)
    assert res.returncode == 1
    assert "contract acme-lw: the evidence cannot be recomputed: the embedded regime is invalid" in res.stdout


# --------------------------------------------------------------------------------------------
# HTML reports
# --------------------------------------------------------------------------------------------

HTML_FIGURES = ("credit_amount", "availability", "downtime_minutes", "credit_days", "credit_percent")


def hand_html(contract: dict, period: str) -> str:
    """A minimal HTML report with the documented blocks, built from a JSON report's contract
    (used while reports/html.py is not there)."""
    figures = figures_only(contract)
    rows = [f'<p>Credit: <strong{figure_attrs("credit_amount", figures["credit_amount"])}>'
            f'{html.escape(figures["credit_amount"])} {figures["currency"]}</strong></p>',
            f'<p>Claim by <time{figure_attrs("claim_deadline", figures["claim_deadline"])}>'
            f'{figures["claim_deadline"] or "-"}</time></p>']
    for s in figures["scopes"]:
        rows.append("<table><tr>" + "".join(
            f'<td{figure_attrs(name, s[name], scope=s["scope"])}>{html.escape(figure_value(s[name]))}</td>'
            for name in HTML_FIGURES) + "</tr></table>")
    return ("<!doctype html>\n<html><head><meta charset=\"utf-8\">\n"
            f'<meta name="slamon-evidence-digest" content="{contract["evidence_digest"]}">\n'
            f'<script type="application/json" id="slamon-evidence">{script_json(contract["evidence"])}</script>\n'
            '<script type="application/json" id="slamon-report">'
            f'{script_json({**figures, "period": period})}</script>\n'
            f"<title>SLA report</title></head><body>\n" + "\n".join(rows) + "\n</body></html>\n")


def html_report(slamon, tmp_path: Path, data: dict) -> str:
    """The real `slamon report --format html` output (the config of the report's tmp_path)."""
    [c] = data["contracts"]
    cfg = tmp_path / "config.toml"
    res = slamon("report", "--period", data["period"], "--format", "html", "--config", str(cfg), cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert 'id="slamon-evidence"' in res.stdout and c["evidence_digest"] in res.stdout
    return res.stdout


def replace_script(text: str, block_id: str, data: dict) -> str:
    """`text` with the JSON of <script type="application/json" id=block_id> replaced by `data`."""
    opening = f'<script type="application/json" id="{block_id}">'
    start = text.index(opening) + len(opening)
    end = text.index("</script>", start)
    return text[:start] + script_json(data) + text[end:]


def embedded(text: str, block_id: str) -> dict:
    opening = f'<script type="application/json" id="{block_id}">'
    start = text.index(opening) + len(opening)
    return json.loads(text[start:text.index("</script>", start)])


def test_html_report_verifies_with_script_close_in_an_input(slamon, tmp_path):
    """A window reason containing </script> must not end the evidence block early."""
    data = example1(slamon, tmp_path, reason="firmware </script><!-- upgrade")
    text = html_report(slamon, tmp_path, data)
    assert "firmware <\\/script>" in text
    assert embedded(text, "slamon-evidence") == data["contracts"][0]["evidence"]
    path = tmp_path / "acme-lw-2026-11.html"
    path.write_text(text, encoding="utf-8")
    assert verify(text, "html") == []
    res = run_verify(slamon, path, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    digest = data["contracts"][0]["evidence_digest"]
    assert f"acme-lw-2026-11.html: verified (1 contract; evidence {digest};" in res.stdout


def test_html_tampered_visible_figure(slamon, tmp_path):
    data = example1(slamon, tmp_path)
    text = html_report(slamon, tmp_path, data)
    tampered = text.replace('data-figure="credit_amount" data-value="5400"', 'data-figure="credit_amount" '
                            'data-value="540"', 1)
    assert tampered != text
    problems = verify(tampered, "html")
    assert problems == ['contract acme-lw: shown figure credit_amount differs: shown "540", embedded report "5400"']
    path = tmp_path / "r.html"
    path.write_text(tampered, encoding="utf-8")
    res = run_verify(slamon, path, tmp_path)
    assert res.returncode == 1 and "shown figure credit_amount differs" in res.stdout


def test_html_tampered_scope_figure_and_embedded_report(slamon, tmp_path):
    data = example1(slamon, tmp_path)
    text = html_report(slamon, tmp_path, data)
    scope_attr = 'data-figure="downtime_minutes" data-scope="acme-lw" data-value="44"'
    assert scope_attr in text
    problems = verify(text.replace(scope_attr, scope_attr.replace('"44"', '"4"')), "html")
    assert problems == ['contract acme-lw: shown figure downtime_minutes of scope acme-lw differs: shown "4", '
                        'embedded report "44"']
    # the embedded report changed along with the shown figure: the recomputation disagrees
    shown = text.replace('data-figure="credit_amount" data-value="5400"', 'data-figure="credit_amount" '
                         'data-value="0"', 1)
    report_data = embedded(text, "slamon-report")
    assert report_data["period"] == "2026-11" and "evidence" not in report_data
    report_data["credit_amount"] = "0"
    problems = verify(replace_script(shown, "slamon-report", report_data), "html")
    assert problems == ['contract acme-lw: figure credit_amount differs: recorded "0", recomputed "5400"']


def test_html_tampered_evidence(slamon, tmp_path):
    data = example1(slamon, tmp_path)
    text = html_report(slamon, tmp_path, data)
    evidence = embedded(text, "slamon-evidence")
    evidence["scopes"][0]["minutes"][0][2] = 0
    problems = verify(replace_script(text, "slamon-evidence", evidence), "html")
    assert problems[0].startswith("contract acme-lw: evidence was changed: digest sha256:")
    assert f"but the report records {data['contracts'][0]['evidence_digest']}" in problems[0]
    assert "contract acme-lw: figure credit_amount differs: recorded \"5400\", recomputed \"0\"" in problems
    # with the digest meta tag rewritten too, the figures still give it away
    rewritten = replace_script(text, "slamon-evidence", evidence).replace(
        data["contracts"][0]["evidence_digest"], evidence_digest(evidence))
    problems = verify(rewritten, "html")
    assert not any("evidence was changed" in p for p in problems)
    assert "contract acme-lw: figure credit_amount differs: recorded \"5400\", recomputed \"0\"" in problems


def test_hand_made_html_with_the_documented_blocks_verifies(slamon, tmp_path):
    """The documented format, independent of the real template: any page with these blocks."""
    data = example3_notice(slamon, tmp_path)
    text = hand_html(data["contracts"][0], data["period"])
    assert verify(text, "html") == []
    assert verify(text.replace('data-value="123456"', 'data-value="308641"'), "html") == [
        'contract ws-mail: shown figure credit_amount differs: shown "308641", embedded report "123456"',
        'contract ws-mail: shown figure credit_amount of scope mail differs: shown "308641", embedded report "123456"']


def test_script_json_round_trips():
    data = {"reason": "a </script> b <!-- c --> </SCRIPT>", "n": [1, "<\\/"]}
    text = script_json(data)
    assert "</" not in text and "<!--" not in text
    assert json.loads(text) == data
    assert canonical_json(json.loads(text)) == canonical_json(data)
