"""Languages of the HTML report (reports/i18n.py): en, ja, ko.

Unit checks of the formatting functions, then the worked examples rendered through the real
command line in every language: the same figures, each formatted for its locale, and each
regime's claim section in the form its contract asks for."""
from __future__ import annotations

import html
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from monitor.config import load_config
from reports import i18n
from reports.i18n import default_language, format_date, format_money, format_percent_text
from tests.support import run_cli
from tests.test_worked_examples import (
    EX1_MAINTENANCE_START,
    EX1_OUTAGE_START,
    EX3_OUTAGE_START,
    SEOUL,
    TOKYO,
    _explain,
    local,
    month_bounds,
    run_of,
    utc_regime,
    write_config,
    write_samples,
)

LANGS = ("en", "ja", "ko")


# --- formatting ----------------------------------------------------------------------------------

@pytest.mark.parametrize("amount, currency, lang, text", [
    ("5400", "JPY", "ja", "5,400円"),
    ("9754", "JPY", "ja", "9,754円"),
    ("0", "JPY", "ja", "0円"),
    ("5400", "JPY", "en", "JPY 5,400"),
    ("5400", "JPY", "ko", "JP¥5,400"),
    ("123456", "KRW", "ko", "₩123,456"),
    ("308641", "KRW", "ko", "₩308,641"),
    ("123456", "KRW", "en", "KRW 123,456"),
    ("123456", "KRW", "ja", "₩123,456"),
    ("1234.5", "USD", "en", "USD 1,234.50"),
    ("1234.50", "EUR", "ko", "€1,234.50"),
])
def test_format_money(amount, currency, lang, text):
    assert format_money(Decimal(amount), currency, lang) == text


def test_format_money_never_rounds():
    assert format_money(Decimal("0.125"), "USD", "en") == "USD 0.125"
    assert format_money(Decimal("5400.9"), "JPY", "ja") == "5,400.9円"


@pytest.mark.parametrize("lang", LANGS)
def test_percent_keeps_the_truncated_digits(lang):
    assert format_percent_text("99.898148", lang) == "99.898148%"
    assert format_percent_text("99.999999", lang) == "99.999999%"
    assert format_percent_text("100.000000", lang) == "100.000000%"
    assert format_percent_text(None, lang) == "–"


@pytest.mark.parametrize("lang, text", [("ja", "2026年12月30日"), ("ko", "2026년 12월 30일"),
                                        ("en", "December 30, 2026")])
def test_format_date(lang, text):
    assert format_date(date(2026, 12, 30), lang) == text


@pytest.mark.parametrize("lang, text", [("ja", "2026年11月"), ("ko", "2026년 11월"), ("en", "November 2026")])
def test_format_month(lang, text):
    assert i18n.format_month(date(2026, 11, 1), lang) == text


def test_default_language(tmp_path):
    cfg = write_config(tmp_path, domains=[{"name": "d"}], contracts=[
        {"id": "c1", "customer": "C", "regime": "utc", "domains": ["d"], "plan": "paid", "currency": "USD",
         "monthly_fee": "1000"}],
        regimes={"utc": utc_regime(), "utc-ja": utc_regime(language="ja"),
                 "lw-custom": {"extends": "lineworks", "title": "LW copy"}})
    regimes = load_config(cfg).regimes
    assert default_language(regimes["lineworks"]) == "ja"
    assert default_language(regimes["kddi"]) == "ja"
    assert default_language(regimes["lineworks-kr"]) == "ko"
    assert default_language(regimes["ncloud-workplace"]) == "ko"
    assert default_language(regimes["utc"]) == "en"
    assert default_language(regimes["utc-ja"]) == "ja"
    assert default_language(regimes["lw-custom"]) == "ja"  # inherits the language it extends


def test_catalog_is_complete():
    for key, entry in {**i18n.CATALOG, **i18n.WARNING_TITLES}.items():
        assert set(entry) == set(LANGS), key
        placeholders = {lang: set(re.findall(r"\{(\w+)\}", entry[lang])) for lang in LANGS}
        assert placeholders["en"] == placeholders["ja"] == placeholders["ko"], key


def test_unknown_language():
    with pytest.raises(ValueError):
        format_money(Decimal(1), "JPY", "fr")


# --- the reports in every language --------------------------------------------------------------

def _render(cfg: Path, period: str, lang: str | None) -> str:
    args = ["report", "--period", period, "--format", "html", "--config", str(cfg)]
    if lang:
        args += ["--lang", lang]
    res = run_cli(*args, cwd=cfg.parent)
    assert res.returncode == 0, _explain(res)
    assert res.stdout.count("<!DOCTYPE html>") == 1
    return res.stdout


def _ingest(cfg: Path, samples: Path) -> None:
    res = run_cli("ingest", str(samples), "--config", str(cfg), cwd=cfg.parent)
    assert res.returncode == 0, _explain(res)


@pytest.fixture(scope="module")
def ex1(tmp_path_factory):
    d = tmp_path_factory.mktemp("ex1")
    cfg = write_config(
        d, domains=[{"name": "works-mail"}],
        contracts=[{"id": "acme-lw", "customer": "ACME K.K.", "regime": "lineworks", "domains": ["works-mail"],
                    "plan": "paid", "currency": "JPY", "unit_price": "540", "licenses": 100}],
        windows=[{"kind": "maintenance", "domains": ["works-mail"], "start": EX1_MAINTENANCE_START,
                  "end": local(TOKYO, 2026, 11, 15, 3, 0), "announced_at": local(TOKYO, 2026, 11, 1, 10, 0),
                  "reason": "storage firmware upgrade"}])
    start, end = month_bounds(TOKYO, "2026-11")
    _ingest(cfg, write_samples(d / "s.jsonl", "works-mail", start, end,
                               down=run_of(EX1_OUTAGE_START, 44) + run_of(EX1_MAINTENANCE_START, 60)))
    return {lang: _render(cfg, "2026-11", lang) for lang in (None, *LANGS)}


@pytest.fixture(scope="module", params=["notice", "detection"])
def ex3(request, tmp_path_factory):
    d = tmp_path_factory.mktemp("ex3")
    cfg = write_config(
        d, domains=[{"name": "mail"}],
        contracts=[{"id": "ws-mail", "customer": "Example Corp.", "regime": "ncloud-workplace", "domains": ["mail"],
                    "plan": "paid", "currency": "KRW", "awareness": request.param,
                    "service": [{"domain": "mail", "monthly_fee": "1234567"}]}],
        notices=[{"contract": "ws-mail", "domain": "mail", "at": local(SEOUL, 2026, 12, 3, 15, 0),
                  "kind": "customer"}])
    start, end = month_bounds(SEOUL, "2026-12")
    _ingest(cfg, write_samples(d / "s.jsonl", "mail", start, end, down=run_of(EX3_OUTAGE_START, 500)))
    return request.param, {lang: _render(cfg, "2026-12", lang) for lang in (None, *LANGS)}


def figure_text(text: str, name: str, scope: str | None = None) -> tuple[str, str]:
    """(data-value, visible text) of the element marked data-figure=NAME (no scope: contract level)."""
    scope_attr = f' data-scope="{scope}"' if scope else ""
    match = re.search(rf'<span[^>]*? data-figure="{name}"{scope_attr} data-value="([^"]*)">([^<]*)</span>', text)
    assert match, (name, scope)
    return match.group(1), html.unescape(match.group(2))


def section(text: str, sid: str) -> str:
    start = text.index(f'id="{sid}"')
    return html.unescape(text[start:text.index("</section>", start)])


@pytest.mark.parametrize("lang, amount, deadline, days, credit_applies", [
    ("ja", "5,400円", "2026年12月30日", "3日分", "2027年3月1日"),
    ("ko", "JP¥5,400", "2026년 12월 30일", "3일분", "2027년 3월 1일"),
    ("en", "JPY 5,400", "December 30, 2026", "3 service days", "March 1, 2027"),
])
def test_example1_in_every_language(ex1, lang, amount, deadline, days, credit_applies):
    text = ex1[lang]
    assert f'<html lang="{lang}">' in text
    assert figure_text(text, "credit_amount") == ("5400", amount)
    assert figure_text(text, "claim_deadline") == ("2026-12-30", deadline)
    assert figure_text(text, "availability", "acme-lw") == ("99.898148", "99.898148%")
    assert figure_text(text, "credit_days", "acme-lw")[0] == "3"
    assert figure_text(text, "credit_days", "acme-lw")[1] == days
    assert figure_text(text, "downtime_minutes", "acme-lw")[0] == "44"
    summary = section(text, "summary")
    assert credit_applies in summary and "43,200" in summary
    assert html.unescape(text).count(amount) >= 2  # summary and claim


def test_example1_defaults_to_japanese(ex1):
    assert ex1[None] == ex1["ja"]


def test_example1_labels_are_translated(ex1):
    assert (
        "概要" in ex1["ja"] and "障害一覧" in ex1["ja"] and "除外期間" in ex1["ja"] and "定期メンテナンス" in ex1["ja"]
    )
    assert "요약" in ex1["ko"] and "장애 목록" in ex1["ko"] and "제외 기간" in ex1["ko"] and "정기 점검" in ex1["ko"]
    assert "Summary" in ex1["en"] and "Outages" in ex1["en"] and "Exclusion windows" in ex1["en"]
    for lang in ("ja", "ko"):
        assert ">Summary<" not in ex1[lang] and ">Outages<" not in ex1[lang]
    # outage and window times in the contract's zone, localized
    assert "2026年11月10日 10:00 JST" in ex1["ja"] and "2026년 11월 10일 10:00 JST" in ex1["ko"]
    assert "November 10, 2026 10:00 JST" in ex1["en"]
    assert "2026年11月1日 10:00 JST" in ex1["ja"]  # the maintenance's announcement


def test_example1_claim_is_a_lineworks_art24_request(ex1):
    claim = section(ex1["ja"], "claim")
    assert "LINE WORKS 利用規約 第24条 ③ に基づく補償の請求" in claim
    assert "2026年12月30日" in claim and "5,400円" in claim and "3日分" in claim and "30日以内" in claim
    en = section(ex1["en"], "claim")
    assert "Art. 24 ③" in en and "December 30, 2026" in en and "JPY 5,400" in en
    assert "第24条 ③" in en  # the contract's own wording follows in parentheses


def test_example3_in_every_language(ex3):
    awareness, texts = ex3
    amount, figure = ("123456", "₩123,456") if awareness == "notice" else ("308641", "₩308,641")
    shown = {"ko": figure, "ja": figure, "en": f"KRW {amount[:3]},{amount[3:]}"}
    availability = "99.014336" if awareness == "notice" else "98.879928"
    percent = "10" if awareness == "notice" else "25"
    for lang in LANGS:
        text = texts[lang]
        assert figure_text(text, "credit_amount") == (amount, shown[lang]), lang
        assert figure_text(text, "availability", "mail") == (availability, f"{availability}%"), lang
        assert figure_text(text, "credit_percent", "mail")[0] == percent, lang
        assert 'data-figure="claim_deadline"' not in text  # WORKPLACE sets no claim window
    assert texts[None] == texts["ko"]
    assert figure_text(texts["ko"], "credit_percent", "mail")[1] == f"월 이용 요금의 {percent}%"
    assert "2026년 12월 3일 14:00 KST" in texts["ko"] and "2026年12月3日 14:00 KST" in texts["ja"]


def test_example3_claim_states_reason_amount_and_basis(ex3):
    awareness, texts = ex3
    for lang in LANGS:
        claim = section(texts[lang], "claim")
        for term in ("청구 사유", "청구 금액", "산정 근거"):
            assert term in claim, (lang, term)
        assert "제3조 ⑤ ②" in claim, lang
        # the basis: the outage list and the formula with the contract's numbers
        assert "(44,640 − " in claim and "1234567 KRW x " in claim, lang
    ko = section(texts["ko"], "claim")
    if awareness == "notice":
        assert "₩123,456" in ko and "99.014336%" in ko and "440분" in ko and "₩1,234,567의 10%" in ko
    else:
        assert "₩308,641" in ko and "98.879928%" in ko and "500분" in ko


def test_lineworks_kr_claim_is_korean(tmp_path):
    cfg = write_config(tmp_path, domains=[{"name": "kr-mail"}], contracts=[
        {"id": "kr", "customer": "KR Co.", "regime": "lineworks-kr", "domains": ["kr-mail"], "plan": "paid",
         "currency": "KRW", "unit_price": "6000", "licenses": 100}])
    start, end = month_bounds(SEOUL, "2026-11")
    _ingest(cfg, write_samples(tmp_path / "s.jsonl", "kr-mail", start, end,
                               down=run_of(local(SEOUL, 2026, 11, 10, 10, 0), 432)))  # exactly 99.0% -> 7 days
    text = _render(cfg, "2026-11", None)
    assert '<html lang="ko">' in text
    claim = section(text, "claim")
    assert "LINE WORKS 이용약관 제20조 ①4에 따른 보상 청구" in claim and "7일분" in claim and "익월" in claim
    assert figure_text(text, "credit_amount") == ("140000", "₩140,000")  # 6000 x 7/30 x 100
