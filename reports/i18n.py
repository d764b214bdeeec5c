"""Labels and locale formatting for the HTML report: English, Japanese and Korean.

Numbers, dates and currencies are formatted with Babel for the report's locale, with two
house rules the contracts' own documents follow:

- Japanese yen in Japanese read ``5,400円`` (Babel's ``￥5,400`` is replaced: the number is
  formatted by Babel and 円 appended).
- In English, amounts carry the ISO code before the number, ``JPY 5,400`` / ``KRW 123,456``:
  ``¥`` is shared by the yen and the yuan, so the code is the unambiguous choice on a claim.

Korean uses Babel's ko_KR currency format (``₩123,456``). Percentages are never re-rounded:
the report's truncated 6-decimal text (``99.898148``) is only given locale digit grouping.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from babel.dates import format_date as _babel_date
from babel.dates import format_skeleton, get_day_names
from babel.numbers import format_currency, format_decimal

from reports.compensation import MINOR_UNITS
from reports.regimes import Regime

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
