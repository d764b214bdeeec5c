"""Languages of the HTML report (reports/i18n.py): en, ja, ko.

Unit checks of the formatting functions, then the worked examples rendered through the real
command line in every language: the same figures, each formatted for its locale, and each
regime's claim section in the form its contract asks for. Then what is written from data rather
than looked up: the amount formula from Amount.terms, clause references, rest days, regime titles
and clauses by language, and every claim rule's step."""
from __future__ import annotations

import html
import re
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.config import load_config
from reports import i18n
from reports.claims import evaluate_claims
from reports.compensation import days_credit, percent_credit
from reports.contracts import Claim, Contract, Invoice, LicenseStep, PriceStep
from reports.fields import Problems
from reports.html import claim_step_text
from reports.i18n import default_language, format_date, format_money, format_percent_text
from reports.regimes import builtin_regimes, parse_regime
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


# --- the amount formula from Amount.terms ------------------------------------------------------------

def _days(unit_price: str, *, tax: bool = False, days: int = 3, divisor: int = 30, ids: int = 100,
          unit: Fraction = Fraction(1)):
    return days_credit(Decimal(unit_price), include_tax=tax, tax_rate=Fraction(1, 10), credit_days=Fraction(days),
                       divisor=divisor, licenses=ids, currency="JPY", rounding="down", unit=unit)


@pytest.mark.parametrize("amount, lang, text", [
    (_days("540"), "ja", "540円 × 3日 ÷ 30 × 100 ID = 5,400円"),
    (_days("540"), "en", "JPY 540 × 3 days ÷ 30 × 100 IDs = JPY 5,400"),
    (_days("540"), "ko", "JP¥540 × 3일 ÷ 30 × ID 100개 = JP¥5,400"),
    (_days("594", tax=True, ids=80), "ja", "594円 (税込) ÷ 1.1 = 540円 × 3日 ÷ 30 × 80 ID = 4,320円"),
    (_days("594", tax=True, ids=80, divisor=31), "ja",
     "594円 (税込) ÷ 1.1 = 540円 × 3日 ÷ 31 × 80 ID = 4,180.645161…円 → 4,180円 (1円未満切り捨て)"),
    (_days("600", tax=True, days=7, divisor=31, ids=1, unit=Fraction(10)), "en",
     "JPY 600 incl. tax ÷ 1.1 = JPY 545.454545… × 7 days ÷ 31 × 1 ID = JPY 123.167155… → JPY 120 "
     "(rounded down to JPY 10)"),
    (_days("6000", days=1, divisor=30, ids=100), "ko", "JP¥6,000 × 1일 ÷ 30 × ID 100개 = JP¥20,000"),
    (percent_credit(Decimal("1234567"), Fraction(10), currency="KRW", rounding="down", unit=Fraction(1)), "ko",
     "₩1,234,567 × 10% = ₩123,456.7 → ₩123,456 (₩1 미만 버림)"),
    (percent_credit(Decimal("1234567"), Fraction(25), currency="KRW", rounding="down", unit=Fraction(1)), "en",
     "KRW 1,234,567 × 25% = KRW 308,641.75 → KRW 308,641 (rounded down to KRW 1)"),
    (percent_credit(Decimal("1000"), Fraction(10), currency="EUR", rounding="half_up", unit=Fraction(1, 100)), "ja",
     "€1,000.00 × 10% = €100.00"),
])
def test_amount_formula_in_the_report_language(amount, lang, text):
    """Built from Amount.terms, money formatted by format_money; Amount.formula (JSON, Markdown)
    stays as it was."""
    assert i18n.amount_formula(amount.terms, lang) == text
    assert "->" not in text and " x " not in text


def test_amount_formula_text_is_unchanged():
    assert _days("540").formula == "540 JPY x 3 days / 30 x 100 IDs = 5400 -> 5400 JPY (rounded down to 1)"
    assert _days("594", tax=True, ids=80).formula == (
        "(594 JPY incl. tax / 1.1) = 540 JPY x 3 days / 30 x 80 IDs = 4320 -> 4320 JPY (rounded down to 1)")
    terms = _days("594", tax=True, ids=80).terms
    assert (terms["kind"], terms["unit_price"], terms["tax_rate"], terms["price"], terms["credit_days"],
            terms["divisor"], terms["licenses"], terms["rounded"]) == (
        "days", Decimal(594), Fraction(1, 10), Fraction(540), Fraction(3), 30, 80, Decimal(4320))


# --- clause references, rest days ---------------------------------------------------------------------

@pytest.mark.parametrize("text, en, ja, ko", [
    ("Art. 24 ③", "Art. 24 ③", "第24条 ③", "제24조 ③"),
    ("Art. 24 ② 1, Art. 15 ②-③", "Art. 24 ② 1, Art. 15 ②-③", "第24条 ② 1, 第15条 ②-③", "제24조 ② 1, 제15조 ②-③"),
    ("LINE WORKS 利用規約 第24条 ④, 料金表 第1表", "LINE WORKS Terms of Service, Art. 24 ④, Tariff, Table 1",
     "LINE WORKS 利用規約 第24条 ④, 料金表 第1表", "LINE WORKS 이용약관 제24조 ④, 요금표 제1표"),
    ("LINE WORKS Terms of Service, Art. 24 ⑨", "LINE WORKS Terms of Service, Art. 24 ⑨", "LINE WORKS 利用規約 第24条 ⑨",
     "LINE WORKS 이용약관 제24조 ⑨"),
    ("民法 第142条 (Civil Code of Japan, Art. 142)", "民法 第142条 (Civil Code of Japan, Art. 142)", "民法 第142条",
     "일본 민법 제142조"),
    ("민법 제161조 (Civil Act of Korea, Art. 161)", "민법 제161조 (Civil Act of Korea, Art. 161)", "韓国民法 第161条",
     "민법 제161조"),
])
def test_clause_references_in_every_language(text, en, ja, ko):
    assert [i18n.clause_ref(text, lang) for lang in LANGS] == [en, ja, ko]


def test_every_built_in_rule_clause_reads_in_japanese_and_korean():
    for regime in builtin_regimes().values():
        for clause in [*regime.rule_clauses.values(), regime.deadline_extension_clause]:
            for lang in ("ja", "ko"):
                shown = i18n.clause_ref(clause, lang)
                assert not re.search(r"Art\.|Terms of Service|Civil|Tariff", shown), (regime.name, clause, lang)


@pytest.mark.parametrize("why, day, country, lang, text", [
    ("Sunday", date(2026, 8, 30), "JP", "ja", "日曜日"),
    ("Sunday", date(2026, 8, 30), "JP", "ko", "일요일"),
    ("Saturday", date(2026, 10, 3), "KR", "en", "Saturday"),
    ("public holiday (Mountain Day)", date(2026, 8, 11), "JP", "ja", "祝日 (山の日)"),
    ("public holiday (Mountain Day)", date(2026, 8, 11), "JP", "en", "public holiday (Mountain Day)"),
    ("public holiday (Chuseok)", date(2026, 9, 25), "KR", "ko", "공휴일(추석)"),
])
def test_rest_day_in_every_language(why, day, country, lang, text):
    assert i18n.rest_day(why, day, country, lang) == text


# --- regime titles and clauses by language ------------------------------------------------------------

JSON_TITLES = {  # what contract_json has always said: the default language's title
    "lineworks": "LINE WORKS Terms of Service, Art. 24 (SLA)",
    "lineworks-kr": "LINE WORKS 이용약관 제20조 ①4 (as quoted in the NAVER Cloud WORKPLACE bundle terms)",
    "ncloud-workplace": "NAVER Cloud Platform WORKPLACE 결합상품 이용약관 제3조 ⑤ (LINE WORKS 제20조 ①4 대체)",
    "kddi": "LINE WORKS with KDDI 利用規約 (第4条, 通則, 料金表) / LINE WORKS 利用規約 第24条",
}


def test_built_in_regimes_have_every_language():
    regimes = builtin_regimes()
    assert {name: r.title for name, r in regimes.items()} == JSON_TITLES
    assert regimes["lineworks"].clauses[1] == "Art. 24 ③ (claim within 30 days)"
    assert regimes["kddi"].clauses[1] == "通則 4 (税抜額による計算)"
    for regime in regimes.values():
        for lang in LANGS:
            assert regime.title_in(lang) and len(regime.clauses_in(lang)) == len(regime.clauses), (regime.name, lang)
        for lang in ("ja", "ko"):
            for text in (regime.title_in(lang), *regime.clauses_in(lang)):
                assert not re.search(r"Art\.|Terms|as quoted|bundle|claim|days", text), (regime.name, lang, text)


def _regime(**extra):
    problems = Problems()
    regime = parse_regime("custom", {**utc_regime(), **extra}, ("regime", "custom"), problems)
    return regime, [f"{'.'.join(map(str, p))}: {m}" for p, m in problems.items]


def test_regime_title_and_clauses_by_language():
    regime, problems = _regime(language="ja", title={"en": "My SLA", "ja": "私の SLA"},
                               clauses={"en": ["Art. 1", "Art. 2"], "ja": ["第1条", "第2条"]})
    assert problems == []
    assert (regime.title, regime.clauses) == ("私の SLA", ("第1条", "第2条"))  # the regime's language
    assert (regime.title_in("en"), regime.clauses_in("en")) == ("My SLA", ("Art. 1", "Art. 2"))
    assert (regime.title_in("ko"), regime.clauses_in("ko")) == ("私の SLA", ("第1条", "第2条"))  # the default
    regime, _ = _regime(language="ja", title={"default": "en", "en": "My SLA", "ja": "私の SLA"})
    assert regime.title == "My SLA" and regime.title_in("ja") == "私の SLA"
    regime, _ = _regime(title="Plain", clauses=["a", "b"])  # the single form, as before
    assert (regime.title, regime.title_in("ja"), regime.clauses_in("ko")) == ("Plain", "Plain", ("a", "b"))


@pytest.mark.parametrize("extra, problem", [
    ({"title": {"fr": "x"}}, "regime.custom.title.fr: unknown language"),
    ({"title": {"default": "ko", "en": "x"}}, "regime.custom.title: needs an entry for its default language 'ko'"),
    ({"title": {}}, "regime.custom.title: needs at least one language"),
    ({"title": 3}, "regime.custom.title: expected a string or a table of them by language"),
    ({"clauses": {"en": ["a", "b"], "ja": ["a"]}}, "regime.custom.clauses.ja: lists 1 clauses, the default language 2"),
    ({"clauses": {"en": ["a", ""]}}, "regime.custom.clauses.en: expected a list of non-empty strings"),
])
def test_regime_title_and_clause_problems(extra, problem):
    regime, problems = _regime(**extra)
    assert regime is None and any(p.startswith(problem) for p in problems), problems


# --- claim steps in every language ----------------------------------------------------------------------

def _claim_steps(**contract):
    base = {"id": "c", "customer": "C", "regime": "lineworks", "domains": ("d",), "currency": "JPY",
            "prices": (PriceStep(None, Decimal(540)),), "licenses": (LicenseStep(None, 100),)}
    claim = Claim("c", "2026-07", datetime(2026, 8, 3, 10, 0, tzinfo=ZoneInfo(TOKYO)), "T-1", id="db-1")
    [result] = evaluate_claims(Contract(**{**base, **contract}), builtin_regimes()["lineworks"], [claim],
                               date(2026, 8, 30), lambda day: Decimal(100000), TOKYO)
    return result


@pytest.mark.parametrize("lang", LANGS)
def test_every_claim_rule_reads_in_the_report_language(lang):
    capped = _claim_steps(starts=date(2026, 7, 1))  # an estimated invoice, then 12 months of fees
    recorded = _claim_steps(invoices=(Invoice("2026-11", Decimal(1000)),))
    gone = _claim_steps(ends=date(2026, 9, 30))  # no invoice after the deduction date
    assert [s.rule for s in capped.steps] == ["claim_window", "claim_price", "deduction", "invoice_cap",
                                               "liability_cap"]
    assert [s.rule for s in recorded.steps][-1] == "invoice_cap"
    assert [s.rule for s in gone.steps][-1] == "no_invoice"
    texts = {s.rule: claim_step_text(s, lang) for r in (capped, gone) for s in r.steps}
    assert all(texts.values()), texts
    recorded_cap = claim_step_text(recorded.steps[-1], lang)
    money = {"en": ("JPY 54,000", "JPY 1,000", "JPY 0", "JPY 100,000"),
             "ja": ("54,000円", "1,000円", "0円", "100,000円"),
             "ko": ("JP¥54,000", "JP¥1,000", "JP¥0", "JP¥100,000")}[lang]
    estimated = {"en": "(estimated)", "ja": "(推定)", "ko": "(추정)"}[lang]
    assert money[0] in texts["invoice_cap"] and estimated in texts["invoice_cap"]
    assert recorded_cap is not None and money[1] in recorded_cap and estimated not in recorded_cap
    assert money[2] in texts["liability_cap"] and money[3] in texts["claim_price"]
    assert i18n.format_number(365, lang) in texts["no_invoice"]
    assert {"en": "November 2026", "ja": "2026年11月", "ko": "2026년 11월"}[lang] in texts["deduction"]
    if lang != "en":
        for text in texts.values():
            assert not re.search(r"[A-Za-z]{3,}", text.replace("JP", "")), text
