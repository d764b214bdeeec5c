"""Labels and locale formatting for the HTML report: English, Japanese and Korean.

Numbers, dates and currencies are formatted with Babel for the report's locale, with two
house rules the contracts' own documents follow:

- Japanese yen in Japanese read ``5,400円`` (Babel's ``￥5,400`` is replaced: the number is
  formatted by Babel and 円 appended).
- In English, amounts carry the ISO code before the number, ``JPY 5,400`` / ``KRW 123,456``:
  ``¥`` is shared by the yen and the yuan, so the code is the unambiguous choice on a claim.

Korean uses Babel's ko_KR currency format (``₩123,456``). Percentages are never re-rounded:
the report's truncated 6-decimal text (``99.898148``) is only given locale digit grouping.

Besides the labels (CATALOG, WARNING_TITLES), three things are written in the report's language
from data rather than looked up: the amount formula (`amount_formula`, from Amount.terms:
``540円 × 3日 ÷ 30 × 100 ID = 5,400円``), clause references taken from regime data
(`clause_ref`: ``Art. 24 ③`` -> ``第24条 ③`` / ``제24조 ③``) and the rest day a deadline falls on
(`rest_day`, holiday names from the `holidays` package in the report's language).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

import holidays
from babel.dates import format_date as _babel_date
from babel.dates import format_skeleton, get_day_names
from babel.numbers import format_currency, format_decimal

from reports.compensation import MINOR_UNITS, AmountTerm, exact_decimal_text, to_decimal
from reports.regimes import WEEKDAYS, Regime

LANGUAGES = ("en", "ja", "ko")
LOCALES = {"en": "en_US", "ja": "ja_JP", "ko": "ko_KR"}
# the built-in regimes' own languages; a custom regime says its own (`language`, default "en")
REGIME_LANGUAGES = {"lineworks": "ja", "kddi": "ja", "lineworks-kr": "ko", "ncloud-workplace": "ko"}


def check_language(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown report language {lang!r} (known: {', '.join(LANGUAGES)})")
    return lang


def default_language(regime: Regime) -> str:
    """lineworks/kddi -> ja, lineworks-kr/ncloud-workplace -> ko, custom -> its `language`."""
    if regime.builtin and regime.name in REGIME_LANGUAGES:
        return REGIME_LANGUAGES[regime.name]
    lang = regime.language or "en"
    return lang if lang in LANGUAGES else "en"


def locale_of(lang: str) -> str:
    return LOCALES[check_language(lang)]


# --- formatting ------------------------------------------------------------------------------

def _digits(currency: str) -> int:
    return MINOR_UNITS.get(currency, 2)


def _decimals(value: Decimal) -> int:
    """How many digits a finite decimal has after the point (0 for 5400, 2 for 12.50)."""
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):  # "n", "N", "F": NaN or infinity, never an amount
        raise ValueError(f"not a finite amount: {value}")
    return max(0, -exponent)


def format_number(value: int | Decimal | str, lang: str) -> str:
    """An integer count with the locale's grouping: 43,200."""
    return format_decimal(Decimal(value), format="#,##0", locale=locale_of(lang))


def format_money(amount: Decimal, currency: str, lang: str) -> str:
    """ja JPY -> ``5,400円``; ko KRW -> ``₩123,456``; en -> ``JPY 5,400``. Never re-rounds:
    an amount with more decimals than the currency's shows them all."""
    amount = Decimal(amount)
    locale = locale_of(lang)
    places = max(_digits(currency), _decimals(amount))
    pattern = "#,##0" + ("." + "0" * places if places else "")
    number = format_decimal(amount, format=pattern, locale=locale, decimal_quantization=False)
    if lang == "ja" and currency == "JPY":
        return number + "円"
    if lang == "en":
        return f"{currency} {number}"
    return format_currency(amount, currency, format="¤#,##0" + ("." + "0" * places if places else ""),
                           locale=locale, currency_digits=False, decimal_quantization=False)


def format_percent_text(text: str | None, lang: str) -> str:
    """The report's truncated percentage text (``99.898148``) with a percent sign; its digits are
    kept as they are (no rounding), grouped by the locale."""
    if text is None:
        return "–"
    value = Decimal(text)
    places = _decimals(value)
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return format_decimal(value, format=pattern, locale=locale_of(lang), decimal_quantization=False) + "%"


def format_date(day: date | None, lang: str) -> str:
    """en ``December 30, 2026``, ja ``2026年12月30日``, ko ``2026년 12월 30일``."""
    if day is None:
        return "–"
    return _babel_date(day, format="long", locale=locale_of(lang))


def format_month(day: date, lang: str) -> str:
    """en ``November 2026``, ja ``2026年11月``, ko ``2026년 11월``."""
    return format_skeleton("yMMMM", day, locale=locale_of(lang))


def format_datetime(moment: datetime, lang: str) -> str:
    """A local date and time with the zone's abbreviation or offset: 2026年11月10日 10:00 JST."""
    zone = moment.tzname() or moment.strftime("%z")
    return f"{format_date(moment.date(), lang)} {moment:%H:%M} {zone}"


def format_time(moment: datetime) -> str:
    return f"{moment:%H:%M}"


def weekday_names(lang: str) -> list[str]:
    """Monday first, abbreviated."""
    names = get_day_names("abbreviated", context="format", locale=locale_of(lang))
    return [names[i] for i in range(7)]


def format_month_label(label: str, lang: str) -> str:
    """"2027-03" (YYYY-MM) -> ``March 2027`` / ``2027年3月`` / ``2027년 3월``."""
    year, month = label.split("-")
    return format_month(date(int(year), int(month), 1), lang)


def format_fraction(value: Fraction | int | Decimal, lang: str) -> str:
    """An exact count (credit days, a percentage, a tax factor) with the locale's digits: 3, 1.5,
    1.1; a fraction without a finite decimal form keeps 6 truncated decimals and "…"."""
    value = Fraction(value)
    text = exact_decimal_text(value)
    number = Decimal(text.rstrip("…"))
    places = max(0, -int(number.as_tuple().exponent)) if number != number.to_integral_value() else 0
    pattern = "#,##0" + ("." + "0" * places if places else "")
    shown = format_decimal(number, format=pattern, locale=locale_of(lang), decimal_quantization=False)
    return shown + ("…" if text.endswith("…") else "")


def format_exact_money(value: Fraction | Decimal, currency: str, lang: str) -> str:
    """An exact amount as money: all its decimals (format_money), or 6 truncated decimals and "…"
    when it has no finite decimal form (545.454545…円)."""
    text = exact_decimal_text(Fraction(value))
    money = format_money(Decimal(text.rstrip("…")), currency, lang)
    if text.endswith("…"):
        money = re.sub(r"(\d)(?!.*\d)", "\\1…", money, count=1)
    return money


# --- labels ----------------------------------------------------------------------------------

CATALOG: dict[str, dict[str, str]] = {
    "title": {"en": "SLA report", "ja": "SLA 月次報告書", "ko": "SLA 월간 보고서"},
    "revision": {"en": "Revision {n}", "ja": "第{n}版", "ko": "제{n}판"},
    "changes": {"en": "Changes in this revision", "ja": "この版での変更点", "ko": "이번 판의 변경 사항"},
    "summary": {"en": "Summary", "ja": "概要", "ko": "요약"},
    "customer": {"en": "Customer", "ja": "お客様", "ko": "고객"},
    "contract": {"en": "Contract", "ja": "契約", "ko": "계약"},
    "regime": {"en": "Terms", "ja": "適用規約", "ko": "적용 약관"},
    "period": {"en": "Period", "ja": "対象期間", "ko": "대상 기간"},
    "timezone": {"en": "Time zone", "ja": "タイムゾーン", "ko": "시간대"},
    "total_minutes": {"en": "Minutes in the month", "ja": "当月の総分数", "ko": "해당 월의 총 분"},
    "target": {"en": "Target", "ja": "目標稼働率", "ko": "목표 가용률"},
    "plan": {"en": "Plan", "ja": "プラン", "ko": "요금제"},
    "awareness": {"en": "Counting start", "ja": "算定の起点", "ko": "장애 시간 산정 시작"},
    "awareness.detection": {"en": "from detection", "ja": "検知時点から", "ko": "회사 인지 시점부터"},
    "awareness.notice": {"en": "from the earliest notice", "ja": "最初の通知時点から",
                         "ko": "고객 통지 또는 회사 인지 중 빠른 시점부터"},
    "availability": {"en": "Availability", "ja": "稼働率", "ko": "가용률"},
    "worst_case": {"en": "Worst case (unknown minutes as down)", "ja": "最悪値 (不明分を停止とみなす)",
                   "ko": "최악의 경우 (불명 시간을 장애로 간주)"},
    "tier": {"en": "Tier", "ja": "区分", "ko": "구간"},
    "no_tier": {"en": "at or above target: no credit", "ja": "目標以上: 補償なし", "ko": "목표 이상: 보상 없음"},
    "credit": {"en": "Credit", "ja": "補償", "ko": "보상"},
    "credit_days": {"en": "{n} service days", "ja": "{n}日分", "ko": "{n}일분"},
    "credit_percent": {"en": "{n}% of the monthly fee", "ja": "月額料金の{n}%", "ko": "월 이용 요금의 {n}%"},
    "capped": {"en": "capped", "ja": "上限適用", "ko": "상한 적용"},
    "credit_amount": {"en": "Credit owed", "ja": "補償額", "ko": "보상 금액"},
    "scope_amount": {"en": "Amount", "ja": "金額", "ko": "금액"},
    "downtime": {"en": "Counted downtime", "ja": "算定対象の停止時間", "ko": "산정 대상 장애 시간"},
    "minutes_unit": {"en": "{n} min", "ja": "{n}分", "ko": "{n}분"},
    "claim_deadline": {"en": "Claim deadline", "ja": "請求期限", "ko": "청구 기한"},
    "no_deadline": {"en": "none set by the contract", "ja": "規約上の定めなし", "ko": "약관상 정함 없음"},
    "credit_applies": {"en": "Credit applies", "ja": "補償の適用", "ko": "보상 적용"},
    "credit_applies_none": {"en": "on agreement / claim", "ja": "合意・請求による", "ko": "합의 또는 청구에 따름"},
    "billing_month": {"en": "billing month {start} – {end}", "ja": "料金月 {start}～{end}",
                      "ko": "요금 월 {start} ~ {end}"},
    "formula": {"en": "Calculation", "ja": "計算式", "ko": "산정식"},
    "formula_availability": {"en": "Availability", "ja": "稼働率", "ko": "월 가용률"},
    "formula_amount": {"en": "Amount", "ja": "金額", "ko": "금액"},
    "formula_note": {"en": "percentages truncated to 6 decimals", "ja": "百分率は小数第6位未満切り捨て",
                     "ko": "백분율은 소수점 6자리 미만 버림"},
    "scope": {"en": "Scope", "ja": "対象", "ko": "대상 서비스"},
    "domains": {"en": "Domains", "ja": "ドメイン", "ko": "도메인"},
    "minutes": {"en": "Minutes", "ja": "分数の内訳", "ko": "분 단위 내역"},
    "class.up": {"en": "up", "ja": "正常", "ko": "정상"},
    "class.counted": {"en": "down, counted", "ja": "停止 (算定対象)", "ko": "장애 (산정 대상)"},
    "class.before_notice": {"en": "down before notice (not counted)", "ja": "通知前の停止 (算定対象外)",
                            "ko": "통지 전 장애 (산정 제외)"},
    "class.unknown": {"en": "unknown (too little evidence)", "ja": "不明 (測定不足)", "ko": "불명 (측정 부족)"},
    "class.excluded": {"en": "excluded", "ja": "除外", "ko": "제외"},
    "class.outside": {"en": "outside the month", "ja": "対象月外", "ko": "대상 월 외"},
    "kind.maintenance": {"en": "maintenance", "ja": "定期メンテナンス", "ko": "정기 점검"},
    "kind.customer": {"en": "customer cause", "ja": "お客様起因", "ko": "고객 귀책"},
    "kind.force_majeure": {"en": "force majeure", "ja": "不可抗力", "ko": "불가항력"},
    "kind.free": {"en": "free period", "ja": "無償期間", "ko": "무상 기간"},
    "total": {"en": "total", "ja": "合計", "ko": "합계"},
    "heatmap": {"en": "Calendar of the month", "ja": "月間カレンダー", "ko": "월간 달력"},
    "heatmap_note": {"en": "Colour: counted downtime of the day ({tz}). Hatched: excluded minutes. "
                           "Dashed outline: unknown minutes.",
                     "ja": "色: その日の算定対象停止時間 ({tz})。斜線: 除外分。破線枠: 不明分。",
                     "ko": "색: 그날의 산정 대상 장애 시간 ({tz}). 빗금: 제외 시간. 점선 테두리: 불명 시간."},
    "legend.none": {"en": "no counted downtime", "ja": "停止なし", "ko": "장애 없음"},
    "outages": {"en": "Outages", "ja": "障害一覧", "ko": "장애 목록"},
    "no_outages": {"en": "No outage with counted or before-notice minutes.",
                   "ja": "算定対象となる障害はありません。", "ko": "산정 대상 장애가 없습니다."},
    "timeline": {"en": "Outage timeline", "ja": "障害タイムライン", "ko": "장애 타임라인"},
    "start": {"en": "Start", "ja": "開始", "ko": "시작"},
    "end": {"en": "End", "ja": "終了", "ko": "종료"},
    "down_minutes": {"en": "Down minutes", "ja": "停止分数", "ko": "장애 분"},
    "counted": {"en": "Counted", "ja": "算定対象", "ko": "산정 대상"},
    "before_notice": {"en": "Before notice", "ja": "通知前", "ko": "통지 전"},
    "notice_marker": {"en": "notice", "ja": "通知", "ko": "통지"},
    "windows": {"en": "Exclusion windows", "ja": "除外期間", "ko": "제외 기간"},
    "no_windows": {"en": "No exclusion window applies.", "ja": "適用される除外期間はありません。",
                   "ko": "적용되는 제외 기간이 없습니다."},
    "kind": {"en": "Kind", "ja": "種別", "ko": "종류"},
    "announced": {"en": "Announced", "ja": "告知日時", "ko": "공지 일시"},
    "not_announced": {"en": "not recorded", "ja": "記録なし", "ko": "기록 없음"},
    "open_end": {"en": "open", "ja": "未定", "ko": "미정"},
    "excluded_minutes": {"en": "Excluded minutes", "ja": "除外分数", "ko": "제외 분"},
    "reason": {"en": "Reason", "ja": "理由", "ko": "사유"},
    "notices": {"en": "Notices", "ja": "通知", "ko": "통지"},
    "notice.customer": {"en": "customer notice", "ja": "お客様からの通知", "ko": "고객 통지"},
    "notice.provider": {"en": "provider awareness", "ja": "事業者の認知", "ko": "회사 인지"},
    "warnings": {"en": "Warnings", "ja": "警告", "ko": "경고"},
    "no_warnings": {"en": "none", "ja": "なし", "ko": "없음"},
    "warning_note": {"en": "", "ja": "(警告本文は英語で記録されています)", "ko": "(경고 본문은 영어로 기록됩니다)"},
    "diff_note": {"en": "", "ja": "(変更内容は英語で記録されています)", "ko": "(변경 내용은 영어로 기록됩니다)"},
    "clauses": {"en": "Contract clauses applied", "ja": "適用した規約条項", "ko": "적용 약관 조항"},
    "claim": {"en": "Claim", "ja": "請求", "ko": "청구"},
    "evidence": {"en": "Evidence digest", "ja": "証跡ダイジェスト", "ko": "증적 다이제스트"},
    "evidence_note": {"en": "The inputs of this report are embedded in this file (slamon-evidence); "
                            "`slamon report --verify FILE` recomputes the figures from them.",
                      "ja": "本報告書の入力データはこのファイルに埋め込まれています (slamon-evidence)。"
                            "`slamon report --verify FILE` で再計算できます。",
                      "ko": "이 보고서의 입력 데이터는 이 파일에 포함되어 있습니다 (slamon-evidence). "
                            "`slamon report --verify FILE`로 재계산할 수 있습니다."},
    "software": {"en": "Software", "ja": "ソフトウェア", "ko": "소프트웨어"},
}

# warning codes -> short localized titles (the message itself stays as accounting wrote it)
WARNING_TITLES: dict[str, dict[str, str]] = {
    "licenses_unknown": {"en": "licence count unknown", "ja": "ID 数不明", "ko": "라이선스 수 불명"},
    "price_unknown": {"en": "price or fee unknown", "ja": "単価・料金不明", "ko": "단가·요금 불명"},
    "plan_not_eligible": {"en": "plan not eligible", "ja": "補償対象外のプラン", "ko": "보상 대상이 아닌 요금제"},
    "credit_capped": {"en": "credit capped", "ja": "補償上限の適用", "ko": "보상 상한 적용"},
    "coverage_too_low": {"en": "coverage too low to decide", "ja": "測定不足で区分を確定できません",
                         "ko": "측정 부족으로 구간을 확정할 수 없음"},
    "exact_tier_boundary": {"en": "exactly on a tier boundary", "ja": "区分の境界値ちょうど", "ko": "구간 경계값과 정확히 일치"},
    "maintenance_no_notice": {"en": "maintenance without recorded notice", "ja": "告知記録のないメンテナンス",
                              "ko": "공지 기록이 없는 점검"},
    "maintenance_short_notice": {"en": "maintenance on short notice", "ja": "告知期間不足のメンテナンス",
                                 "ko": "공지 기간이 부족한 점검"},
}


def t(key: str, lang: str, **values: Any) -> str:
    """The label `key` in `lang` (English when a language lacks it), with {values} filled in."""
    entry = CATALOG[key]
    text = entry.get(lang) or entry["en"]
    return text.format(**values) if values else text


def warning_title(code: str, lang: str) -> str:
    entry = WARNING_TITLES.get(code)
    return (entry.get(lang) or entry["en"]) if entry else code


# the claim section: each regime's claim is written the way its contract asks for it; where the
# report's language is not the contract's, the contract's own term follows in parentheses
CATALOG.update({
    "claim.nothing": {"en": "No credit is owed for this month: there is nothing to claim.",
                      "ja": "当月は補償の対象となりません。請求する補償はありません。",
                      "ko": "이번 달은 보상 대상이 아닙니다. 청구할 금액이 없습니다."},
    # NAVER Cloud WORKPLACE Art. 3 ⑤ ②: reason, amount and basis of the calculation
    "claim.ncloud.heading": {"en": "Compensation claim under NAVER Cloud WORKPLACE bundle terms Art. 3 ⑤ ②",
                             "ja": "NAVER Cloud WORKPLACE 結合商品利用約款 第3条 ⑤ ② に基づく補償請求",
                             "ko": "NAVER Cloud WORKPLACE 결합상품 이용약관 제3조 ⑤ ②에 따른 손해배상 청구"},
    "claim.ncloud.reason": {"en": "Reason for the claim", "ja": "請求理由", "ko": "청구 사유"},
    "claim.ncloud.amount": {"en": "Amount claimed", "ja": "請求金額", "ko": "청구 금액"},
    "claim.ncloud.basis": {"en": "Basis of the calculation", "ja": "算定根拠", "ko": "산정 근거"},
    "claim.ncloud.reason_text": {
        "en": "The monthly availability of the individual service {scope} in {month} was {availability}, "
              "below the guaranteed {target} (failure time counted from the customer's notice or the "
              "company's awareness, whichever was earlier: {downtime}).",
        "ja": "{month}の個別サービス {scope} の月間可用率は {availability} で、保証水準 {target} を下回りました"
              "(障害時間はお客様の通知または事業者の認知のいずれか早い時点から算定: {downtime})。",
        "ko": "{month} 개별 서비스 {scope}의 월 가용률이 {availability}로 보장 수준 {target}에 미달하였습니다"
              "(장애 시간은 고객 통지 또는 회사 인지 중 빠른 시점부터 산정: {downtime}).",
    },
    "claim.ncloud.amount_text": {"en": "{percent}% of the monthly fee {fee} = {amount}",
                                 "ja": "月額利用料金 {fee} の {percent}% = {amount}",
                                 "ko": "월 이용 요금 {fee}의 {percent}% = {amount}"},
    "claim.ncloud.basis_text": {"en": "The outages listed below and the formula:",
                                "ja": "下記の障害一覧および計算式:", "ko": "아래 장애 목록 및 산정식:"},
    "claim.ncloud.total": {"en": "Total amount claimed", "ja": "請求金額合計", "ko": "청구 금액 합계"},
    # LINE WORKS Art. 24 ③ (lineworks, kddi)
    "claim.lw.heading": {"en": "Compensation request under LINE WORKS Terms of Service Art. 24 ③",
                         "ja": "LINE WORKS 利用規約 第24条 ③ に基づく補償の請求",
                         "ko": "LINE WORKS 이용약관 제24조 ③에 따른 보상 청구"},
    "claim.lw.request": {
        "en": "The customer requests compensation of {days} service days ({amount}) for {month}, in which the "
              "monthly operating-hour rate was {availability} (target {target}).",
        "ja": "{month}の月間稼働率が {availability} (目標 {target}) であったため、{days}日分の補償 ({amount}) を請求します。",
        "ko": "{month}의 월간 가동 시간 비율이 {availability}(목표 {target})이므로 {days}일분의 보상({amount})을 청구합니다.",
    },
    "claim.lw.deadline": {
        "en": "This request must reach the provider by {deadline} (within 30 days of becoming eligible, Art. 24 ③); "
              "after that date the right to compensation is lost.",
        "ja": "本請求は {deadline} までに行う必要があります (補償対象となった日から30日以内、第24条 ③)。"
              "期限を過ぎると補償を受ける権利は失われます。",
        "ko": "이 청구는 {deadline}까지 하여야 합니다(보상 대상이 된 날부터 30일 이내, 제24조 ③). "
              "기한이 지나면 보상 받을 권리가 소멸합니다.",
    },
    "claim.lw.deduction": {
        "en": "The credit is deducted from the invoice issued after the last day of the second month following "
              "the month of the claim (Art. 24 ⑤), from {applies}; it is capped at that invoice (Art. 24 ⑥).",
        "ja": "補償額は請求月の翌々月末日以降に発行される請求書から控除されます (第24条 ⑤、{applies} 以降)。"
              "控除額はその請求額を上限とします (第24条 ⑥)。",
        "ko": "보상 금액은 청구한 달의 다다음 달 말일 이후 발행되는 청구서에서 차감됩니다(제24조 ⑤, {applies}부터). "
              "차감액은 해당 청구 금액을 한도로 합니다(제24조 ⑥).",
    },
    "claim.kddi.billing": {"en": "KDDI billing month (料金月) in which the credit falls: {start} – {end}.",
                           "ja": "補償が適用される料金月: {start}～{end}。",
                           "ko": "보상이 적용되는 KDDI 요금 월(料金月): {start} ~ {end}."},
    "claim.kddi.tax": {"en": "Computed on tax-excluded prices and truncated below 1 yen (通則 4, 5).",
                       "ja": "税抜額により計算し、1円未満の端数は切り捨てます (通則 4、5)。",
                       "ko": "세금 제외 금액으로 계산하고 1엔 미만은 버립니다(通則 4, 5)."},
    # lineworks-kr: Korean terms Art. 20 ①4
    "claim.lwkr.heading": {"en": "Compensation claim under LINE WORKS Terms Art. 20 ①4 (Korea)",
                           "ja": "LINE WORKS 利用約款 (韓国) 第20条 ①4 に基づく補償請求",
                           "ko": "LINE WORKS 이용약관 제20조 ①4에 따른 보상 청구"},
    "claim.lwkr.request": {
        "en": "The customer claims {days} free service days ({amount}) for {month}, in which the monthly "
              "operating-hour rate was {availability} (target {target}).",
        "ja": "{month}の月間稼働率が {availability} (目標 {target}) であったため、{days}日分の無償提供 ({amount}) を請求します。",
        "ko": "{month}의 월간 가동 시간 비율이 {availability}(목표 {target})이므로 {days}일분의 무상 서비스({amount})를 청구합니다.",
    },
    "claim.lwkr.when": {"en": "The service days are provided in the month after the agreement on the compensation.",
                        "ja": "無償提供は補償の合意日の翌月に行われます。",
                        "ko": "보상은 보상 합의일의 익월에 제공됩니다."},
    # any other (custom) regime
    "claim.generic.heading": {"en": "Claim", "ja": "請求", "ko": "청구"},
    "claim.generic.request": {"en": "Credit for {month}: {credit} = {amount}.",
                              "ja": "{month}の補償: {credit} = {amount}。",
                              "ko": "{month} 보상: {credit} = {amount}."},
    "claim.generic.deadline": {"en": "Claim by {deadline}.", "ja": "請求期限: {deadline}。", "ko": "청구 기한: {deadline}."},
})


# the header, status, claims recorded, formula terms and window verdicts
CATALOG.update({
    "issued_on": {"en": "Issued", "ja": "発行日", "ko": "발행일"},
    "provider": {"en": "Provider", "ja": "提供事業者", "ko": "서비스 제공자"},
    "account": {"en": "Customer account", "ja": "お客様アカウント", "ko": "고객 계정"},
    "contract_id": {"en": "Contract ID", "ja": "契約 ID", "ko": "계약 ID"},
    "not_given": {"en": "not given", "ja": "未登録", "ko": "미등록"},
    "plan.paid": {"en": "paid", "ja": "有償", "ko": "유료"},
    "plan.free": {"en": "free", "ja": "無償", "ko": "무료"},
    "plan.trial": {"en": "trial", "ja": "トライアル", "ko": "체험"},
    "status": {"en": "Status", "ja": "確定状況", "ko": "확정 상태"},
    "status.final": {"en": "final ({coverage} observed)", "ja": "確定 (観測率 {coverage})",
                     "ko": "확정 (관측률 {coverage})"},
    "status.provisional": {"en": "provisional: the month is not over", "ja": "暫定: 対象月はまだ終わっていません",
                           "ko": "잠정: 대상 월이 아직 끝나지 않았습니다"},
    "status.insufficient_evidence": {"en": "insufficient evidence ({coverage} observed)",
                                     "ja": "証跡不足 (観測率 {coverage})", "ko": "증적 부족 (관측률 {coverage})"},
    "banner.provisional": {
        "en": "Provisional: the month is not over. The figures cover the month so far and will change; the "
              "report becomes final once the month has ended.",
        "ja": "暫定: 対象月はまだ終わっていません。数値はこれまでの分であり、今後変わります。月が終わると確定します。",
        "ko": "잠정: 대상 월이 아직 끝나지 않았습니다. 수치는 지금까지의 결과이며 바뀔 수 있습니다. 월이 끝나면 확정됩니다.",
    },
    "banner.insufficient_evidence": {
        "en": "Insufficient evidence ({coverage} observed; a final report needs {min}). Minutes without "
              "evidence are counted as available here: the figures are not the month's availability, and "
              "no amount is owed on the basis of this report.",
        "ja": "証跡不足 (観測率 {coverage}、確定には {min} 以上が必要です)。証跡のない時間は稼働として数えているため、"
              "以下の数値は当月の稼働率ではなく、この報告書に基づいて支払われる補償額はありません。",
        "ko": "증적 부족 (관측률 {coverage}, 확정에는 {min} 이상 필요). 증적이 없는 시간은 가용으로 계산되었으므로 "
              "아래 수치는 해당 월의 가용률이 아니며, 이 보고서를 근거로 지급할 보상 금액은 없습니다.",
    },
    "credit_amount.provisional": {"en": "Credit so far (provisional)", "ja": "補償額 (暫定)",
                                  "ko": "보상 금액 (잠정)"},
    "credit_amount.insufficient_evidence": {"en": "Computed credit (not owed: insufficient evidence)",
                                            "ja": "算出額 (証跡不足のため支払対象外)",
                                            "ko": "산출 금액 (증적 부족으로 지급 대상 아님)"},
    "claim.provisional": {
        "en": "Provisional: the month is not over. What follows is a draft; its figures may change before "
              "the month is final.",
        "ja": "暫定: 対象月はまだ終わっていません。以下は下書きであり、月の確定までに数値が変わる可能性があります。",
        "ko": "잠정: 대상 월이 아직 끝나지 않았습니다. 아래 내용은 초안이며 월이 확정되기 전에 수치가 바뀔 수 있습니다.",
    },
    "claim.insufficient_evidence": {
        "en": "Insufficient evidence ({coverage} observed; a final report needs {min}): no claim for an amount "
              "can rest on this report. Collect the missing evidence, or agree on the month with the provider.",
        "ja": "証跡不足 (観測率 {coverage}、確定には {min} 以上が必要): この報告書に基づいて金額を請求することはできません。"
              "不足している証跡を補うか、当月について提供事業者と協議してください。",
        "ko": "증적 부족 (관측률 {coverage}, 확정에는 {min} 이상 필요): 이 보고서를 근거로 금액을 청구할 수 없습니다. "
              "부족한 증적을 보완하거나 해당 월에 대해 서비스 제공자와 협의하십시오.",
    },
    "deadline_note": {
        "en": "{deadline} falls on a {why}: under {clause} the period would end on {extended}. The contract itself "
              "does not say so; this report keeps the contractual deadline.",
        "ja": "{deadline}は{why}のため、{clause}によれば期間は{extended}に満了します。"
              "規約自体にはこの定めがないため、本報告書は規約上の期限を記載しています。",
        "ko": "{deadline}은(는) {why}이므로 {clause}에 따르면 기간은 {extended}에 만료됩니다. "
              "약관 자체에는 이러한 규정이 없으므로 이 보고서는 약관상 기한을 그대로 기재합니다.",
    },
    "rest.holiday": {"en": "public holiday ({name})", "ja": "祝日 ({name})", "ko": "공휴일({name})"},
    "claims.recorded": {"en": "Claims recorded", "ja": "受付済みの請求", "ko": "접수된 청구"},
    "claims.claim": {"en": "Claim {id}", "ja": "請求 {id}", "ko": "청구 {id}"},
    "claims.filed_at": {"en": "Filed", "ja": "請求日時", "ko": "청구 일시"},
    "claims.reference": {"en": "Reference", "ja": "参照番号", "ko": "참조 번호"},
    "claims.on_time": {"en": "Within the deadline", "ja": "期限内の請求", "ko": "기한 내 청구"},
    "claims.yes": {"en": "yes", "ja": "はい", "ko": "예"},
    "claims.no": {"en": "no: filed after the deadline", "ja": "いいえ (期限後の請求)", "ko": "아니요 (기한 후 청구)"},
    "claims.billing_month": {"en": "Deducted from the invoice of", "ja": "控除する請求書", "ko": "차감할 청구서"},
    "claims.no_billing": {"en": "none", "ja": "なし", "ko": "없음"},
    "claims.amount": {"en": "Amount", "ja": "金額", "ko": "금액"},
    "claims.amount_not_final": {"en": "{amount} (computed; not owed on this report)",
                                "ja": "{amount} (算出額。この報告書に基づく支払対象ではありません)",
                                "ko": "{amount} (산출 금액. 이 보고서에 따른 지급 대상 아님)"},
    "claims.steps": {"en": "How the claim was decided", "ja": "判定の過程", "ko": "판정 과정"},
    "step.claim_window.on_time": {"en": "Claim window: filed {filed}, by the deadline {deadline}",
                                  "ja": "請求期限: {filed}に請求 (期限 {deadline} 以内)",
                                  "ko": "청구 기한: {filed}에 청구 (기한 {deadline} 이내)"},
    "step.claim_window.late": {
        "en": "Claim window: filed {filed}, after the deadline {deadline}: the right to the compensation is lost",
        "ja": "請求期限: {filed}に請求。期限 {deadline} を過ぎているため、補償を受ける権利は失われています",
        "ko": "청구 기한: {filed}에 청구. 기한 {deadline}이 지나 보상 받을 권리가 소멸했습니다"},
    "step.duplicate": {"en": "Duplicate: the month's compensation is claimed by {claim}",
                       "ja": "重複: 当月の補償は請求 {claim} で請求済みです",
                       "ko": "중복: 이번 달 보상은 청구 {claim}으로 이미 청구되었습니다"},
    "step.claim_price": {"en": "Unit price on the claim date {filed}: {price}; compensation {amount}",
                         "ja": "請求日 {filed} の基準単価: {price}、補償額 {amount}",
                         "ko": "청구일 {filed}의 기준 단가: {price}, 보상 금액 {amount}"},
    "step.deduction": {"en": "Deduction: from the invoice issued after {last_day}, the invoice of {month}",
                       "ja": "控除: {last_day} より後に発行される請求書 ({month}) から控除します",
                       "ko": "차감: {last_day} 이후 발행되는 청구서({month})에서 차감합니다"},
    "step.no_invoice": {"en": "No invoice arises within {days} days after {last_day}: nothing is paid",
                        "ja": "{last_day} から{days}日以内に請求額が発生しないため、補償は支払われません",
                        "ko": "{last_day}부터 {days}일 이내에 청구 금액이 발생하지 않아 보상이 지급되지 않습니다"},
    "step.invoice_cap": {
        "en": "Invoice cap: the invoice of {month} bills {invoice}{estimated}, less than the compensation: the "
              "compensation is the invoice",
        "ja": "請求額による上限: {month}の請求額 {invoice}{estimated} が補償額を下回るため、補償額は請求額となります",
        "ko": "청구 금액 한도: {month} 청구 금액 {invoice}{estimated}이 보상 금액보다 적으므로 보상 금액은 청구 금액이 됩니다"},
    "step.estimated": {"en": " (estimated)", "ja": " (推定)", "ko": " (추정)"},
    "step.liability_cap": {
        "en": "Liability cap: the fees of the {months} months before the claim come to {paid}: liability is capped "
              "there",
        "ja": "責任の上限: 請求前{months}か月の利用料金は {paid} であり、これを上限とします",
        "ko": "책임 한도: 청구 전 {months}개월의 이용 요금은 {paid}이며 이를 한도로 합니다"},
    "verdict": {"en": "Verdict", "ja": "判定", "ko": "판정"},
    "verdict.excluded": {"en": "excluded", "ja": "除外", "ko": "제외"},
    "verdict.maintenance_not_preannounced": {
        "en": "counted: not announced before it began", "ja": "算定対象: 開始前に告知されていないため",
        "ko": "산정 대상: 시작 전에 공지되지 않음"},
    "verdict.maintenance_overrun": {
        "en": "excluded up to its announced end ({until}); the overrun counts",
        "ja": "告知された終了時刻 ({until}) まで除外、超過分は算定対象",
        "ko": "공지된 종료 시각({until})까지 제외, 초과분은 산정 대상"},
    "verdict.emergency_counted": {
        "en": "counted: an emergency is no pre-scheduled interruption",
        "ja": "算定対象: 緊急のメンテナンスは事前に予定された中断ではないため",
        "ko": "산정 대상: 긴급 점검은 사전에 예정된 중단이 아님"},
    "kind.emergency": {"en": "emergency maintenance", "ja": "緊急メンテナンス", "ko": "긴급 점검"},
    "legend.nodata": {"en": "no data (mostly unknown)", "ja": "データなし (大半が不明)", "ko": "데이터 없음 (대부분 불명)"},
    "class.nodata": {"en": "no data", "ja": "データなし", "ko": "데이터 없음"},
    "heatmap_note_nodata": {"en": "Grey: most of the day's minutes are unknown.",
                            "ja": "灰色: その日の大半が不明。", "ko": "회색: 그날의 대부분이 불명."},
    "page": {"en": "Page", "ja": "ページ", "ko": "페이지"},
    # the amount formula, from Amount.terms (amount_formula)
    "formula.days": {"en": "{n} days", "ja": "{n}日", "ko": "{n}일"},
    "formula.day": {"en": "{n} day", "ja": "{n}日", "ko": "{n}일"},
    "formula.ids": {"en": "{n} IDs", "ja": "{n} ID", "ko": "ID {n}개"},
    "formula.id": {"en": "{n} ID", "ja": "{n} ID", "ko": "ID {n}개"},
    "formula.tax_included": {"en": "{price} incl. tax", "ja": "{price} (税込)", "ko": "{price} (세금 포함)"},
    "rounding.down": {"en": "rounded down to {unit}", "ja": "{unit}未満切り捨て", "ko": "{unit} 미만 버림"},
    "rounding.up": {"en": "rounded up to {unit}", "ja": "{unit}未満切り上げ", "ko": "{unit} 미만 올림"},
    "rounding.half_up": {"en": "rounded half up to {unit}", "ja": "{unit}未満四捨五入", "ko": "{unit} 미만 반올림"},
    "rounding.half_even": {"en": "rounded half to even to {unit}", "ja": "{unit}未満偶数丸め",
                           "ko": "{unit} 미만 짝수 반올림"},
})

WARNING_TITLES.update({
    "insufficient_evidence": {"en": "insufficient evidence", "ja": "証跡不足", "ko": "증적 부족"},
    "maintenance_not_preannounced": {"en": "maintenance not announced in advance", "ja": "事前告知のないメンテナンス",
                                     "ko": "사전 공지 없는 점검"},
    "maintenance_overrun": {"en": "maintenance overran its announced end", "ja": "告知時間を超過したメンテナンス",
                            "ko": "공지 시간을 초과한 점검"},
    "emergency_counted": {"en": "emergency maintenance counted as downtime", "ja": "算定対象となる緊急メンテナンス",
                          "ko": "장애 시간에 산정되는 긴급 점검"},
})


# --- the amount formula ---------------------------------------------------------------------------

def amount_formula(terms: Mapping[str, AmountTerm], lang: str) -> str:
    """The amount's formula in the report's language from Amount.terms, money formatted by
    format_money: ja ``540円 × 3日 ÷ 30 × 100 ID = 5,400円``, en ``JPY 540 × 3 days ÷ 30 × 100 IDs =
    JPY 5,400``; the exact amount and the rounding follow when rounding changed it
    (``= 4,320.5円 → 4,320円 (1円未満切り捨て)``)."""
    currency = str(terms["currency"])
    exact, rounded = Fraction(_number(terms["exact"])), _number(terms["rounded"])
    if not isinstance(rounded, Decimal):
        rounded = to_decimal(Fraction(rounded))

    def money(value: AmountTerm) -> str:
        return format_exact_money(Fraction(_number(value)), currency, lang)

    if terms["kind"] == "days":
        price = money(terms["unit_price"])
        if terms.get("tax_included"):
            factor = format_fraction(1 + Fraction(_number(terms["tax_rate"])), lang)
            price = f"{t('formula.tax_included', lang, price=price)} ÷ {factor} = {money(terms['price'])}"
        days = Fraction(_number(terms["credit_days"]))
        licenses = int(_number(terms["licenses"]))
        head = (f"{price} × {t('formula.day' if days == 1 else 'formula.days', lang, n=format_fraction(days, lang))}"
                f" ÷ {format_number(int(_number(terms['divisor'])), lang)} × "
                f"{t('formula.id' if licenses == 1 else 'formula.ids', lang, n=format_number(licenses, lang))}")
    else:
        head = f"{money(terms['fee'])} × {format_fraction(Fraction(_number(terms['percent'])), lang)}%"
    result = format_money(rounded, currency, lang)
    if exact == Fraction(rounded):
        return f"{head} = {result}"
    unit = format_money(to_decimal(Fraction(_number(terms["unit"]))), currency, lang)
    rounding = t(f"rounding.{terms['rounding']}", lang, unit=unit)
    return f"{head} = {money(exact)} → {result} ({rounding})"


def _number(value: AmountTerm) -> Fraction | Decimal | int:
    if isinstance(value, (Fraction, Decimal, int)):
        return value
    return Fraction(value)


# --- clause references and rest days ----------------------------------------------------------------

# terms of clause references found in regime data (rule_clauses, deadline_extension_clause), in
# each language; longer terms first
_CLAUSE_TERMS: tuple[tuple[str, dict[str, str]], ...] = (
    ("LINE WORKS Terms of Service,", {"ja": "LINE WORKS 利用規約", "ko": "LINE WORKS 이용약관"}),
    ("LINE WORKS Terms of Service", {"ja": "LINE WORKS 利用規約", "ko": "LINE WORKS 이용약관"}),
    ("LINE WORKS 利用規約", {"en": "LINE WORKS Terms of Service,", "ko": "LINE WORKS 이용약관"}),
    ("손해배상금 표", {"en": "compensation table", "ja": "損害賠償金の表"}),
    ("料金表", {"en": "Tariff,", "ko": "요금표"}),
    ("通則", {"en": "General Rules", "ko": "통칙"}),
    ("民法", {"en": "Civil Code of Japan,", "ko": "일본 민법"}),
    ("민법", {"en": "Civil Act of Korea,", "ja": "韓国民法"}),
)
_ARTICLE = re.compile(r"Art\. ?(\d+)|第(\d+)条|제(\d+)조")
_TABLE = re.compile(r"第(\d+)表|제(\d+)표")
_ARTICLE_FORMS = {"en": "Art. {n}", "ja": "第{n}条", "ko": "제{n}조"}
_TABLE_FORMS = {"en": "Table {n}", "ja": "第{n}表", "ko": "제{n}표"}
_GLOSSED = re.compile(r"^(?P<native>.*[\u3000-\u9fff\uac00-\ud7af].*?) \((?P<gloss>[\x20-\x7e]+)\)$")


def clause_ref(text: str, lang: str) -> str:
    """A clause reference from regime data in the report's language: ``Art. 24 ③`` -> ja
    ``第24条 ③`` / ko ``제24조 ③``; ``民法 第142条 (Civil Code of Japan, Art. 142)`` -> ja
    ``民法 第142条`` (the English gloss dropped), ko ``일본 민법 제142조``. English reports keep a
    glossed reference as it is."""
    check_language(lang)
    glossed = _GLOSSED.match(text)
    if glossed:
        if lang == "en":
            return text
        text = glossed.group("native")
    for term, forms in _CLAUSE_TERMS:
        if lang in forms:
            text = text.replace(term, forms[lang])
    text = _ARTICLE.sub(lambda m: _ARTICLE_FORMS[lang].format(n=next(g for g in m.groups() if g)), text)
    text = _TABLE.sub(lambda m: _TABLE_FORMS[lang].format(n=next(g for g in m.groups() if g)), text)
    return re.sub(r",(?=[,)]|$)", "", re.sub(r" {2,}", " ", text)).strip()


_HOLIDAY_LANGUAGES = {"en": "en_US", "ja": "ja", "ko": "ko"}


@lru_cache(maxsize=64)
def _holiday_names(country: str, year: int, lang: str) -> Mapping[date, str]:
    cls = holidays.country_holidays(country).__class__
    supported = getattr(cls, "supported_languages", ())
    wanted = _HOLIDAY_LANGUAGES[lang]
    language = wanted if wanted in supported else getattr(cls, "default_language", None)
    return dict(holidays.country_holidays(country, years=[year], language=language))


def rest_day(why: str, day: date, country: str | None, lang: str) -> str:
    """The rest day a deadline falls on (DeadlineNote.why: "Sunday", "Saturday" or
    "public holiday (NAME)") in the report's language; a holiday's name comes from the
    `holidays` package in that language where it has one."""
    check_language(lang)
    if why.lower() in WEEKDAYS:
        names = get_day_names("wide", context="format", locale=locale_of(lang))
        return str(names[WEEKDAYS.index(why.lower())])
    match = re.fullmatch(r"public holiday \((.*)\)", why)
    if match:
        name = _holiday_names(country, day.year, lang).get(day, match.group(1)) if country else match.group(1)
        return t("rest.holiday", lang, name=name)
    return why
