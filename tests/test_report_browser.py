"""The HTML monthly report (`slamon report --format html --out DIR`) as a reader sees it, in a real
headless Chromium driven by Playwright.

Each case generates a real month through the real command line (`slamon ingest` and
`slamon report --format html --out DIR`, the data of regimes.md's worked examples), serves the
output directory on 127.0.0.1 and opens `CONTRACT-YYYY-MM.html` in Debian's Chromium
(/usr/bin/chromium, installed by scripts/system-deps.sh; `playwright install` is never used).
Every request other than the report document itself is blocked and recorded: the report must be
one self-contained file. The tests check that the key figures are visible (not merely present in
the markup), that the heat map has exactly one cell per day of the month in the contract's time
zone, that print media still shows the summary, and keep a full-page screenshot and an A4 PDF
of each report in tests/artifacts/ (git-ignored) for a human to look at.

The same months (plus a month with recorded claims and a deadline on a Sunday, and a month with
insufficient evidence) are also rendered in en, ja and ko (`--lang`) to check what a reader of
each language sees: the calendar legend's labels never overlap; a Japanese or Korean report shows
no English label (outside the evidence digest, IDs, names and the warning messages); and printed
to an A4 PDF, page 1 carries the issue date, the summary and the claim and is filled, and every
page is numbered "i / N" (the PDF's text is read with pdftotext from Debian's poppler-utils).

A missing Chromium (or pdftotext) fails these tests: they are declared dependencies, not optional
ones."""
from __future__ import annotations

import calendar
import contextlib
import functools
import http.server
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from reports import i18n
from reports.html import NODATA_FILL
from tests.support import REPO, run_cli
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
    write_config,
    write_samples,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}
ARTIFACTS = REPO / "tests" / "artifacts"
MIN_PNG_BYTES = 10_000


# --------------------------------------------------------------------------------------------
# the months: worked examples 1 (30-day month) and 3 (31-day month) of regimes.md section 4
# --------------------------------------------------------------------------------------------

def example1_lineworks_november(d: Path) -> tuple[Path, Path]:
    """lineworks, November 2026 (Asia/Tokyo), 540 JPY x 100 IDs, 44 down minutes plus a
    60-minute maintenance window -> 99.898148%, 3 days, 5,400 JPY."""
    cfg = write_config(
        d,
        domains=[{"name": "works-mail"}],
        contracts=[{"id": "acme-lw", "customer": "ACME K.K.", "regime": "lineworks",
                    "domains": ["works-mail"], "plan": "paid", "currency": "JPY",
                    "unit_price": "540", "licenses": 100}],
        windows=[{"kind": "maintenance", "domains": ["works-mail"],
                  "start": EX1_MAINTENANCE_START, "end": local(TOKYO, 2026, 11, 15, 3, 0),
                  "announced_at": local(TOKYO, 2026, 11, 1, 10, 0),
                  "reason": "storage firmware upgrade"}],
    )
    start, end = month_bounds(TOKYO, "2026-11")
    samples = write_samples(d / "samples.jsonl", "works-mail", start, end,
                            down=run_of(EX1_OUTAGE_START, 44) + run_of(EX1_MAINTENANCE_START, 60))
    return cfg, samples


def example3_workplace_december(d: Path) -> tuple[Path, Path]:
    """ncloud-workplace, December 2026 (Asia/Seoul), service "mail" at 1,234,567 KRW, 500 down
    minutes from detection -> 98.879928%, 25%, 308,641 KRW."""
    cfg = write_config(
        d,
        domains=[{"name": "mail"}],
        contracts=[{"id": "ws-mail", "customer": "Example Corp.", "regime": "ncloud-workplace",
                    "domains": ["mail"], "plan": "paid", "currency": "KRW", "awareness": "detection",
                    "service": [{"domain": "mail", "monthly_fee": "1234567"}]}],
    )
    start, end = month_bounds(SEOUL, "2026-12")
    samples = write_samples(d / "samples.jsonl", "mail", start, end, down=run_of(EX3_OUTAGE_START, 500))
    return cfg, samples


@dataclass(frozen=True)
class Case:
    name: str                 # artifacts are tests/artifacts/report-<name>.png / .pdf
    build: Callable[[Path], tuple[Path, Path]]
    contract: str
    period: str               # YYYY-MM, a month in the contract's time zone
    amount: str               # the credit as any locale of the report groups it
    availability: str
    outage_day: date          # the day of the outage, local time; the 1st of the month is healthy

    @property
    def days(self) -> list[date]:
        year, month = map(int, self.period.split("-"))
        return [date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)]


CASES = [
    Case("lineworks-2026-11", example1_lineworks_november, "acme-lw", "2026-11",
         amount="5,400", availability="99.898148", outage_day=date(2026, 11, 10)),
    Case("ncloud-workplace-2026-12", example3_workplace_december, "ws-mail", "2026-12",
         amount="308,641", availability="98.879928", outage_day=date(2026, 12, 3)),
]


# --------------------------------------------------------------------------------------------
# fixtures: the browser, the generated reports, a local server, an opened page
# --------------------------------------------------------------------------------------------

def require_chromium() -> None:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} not found: run `bash scripts/system-deps.sh` "
                    "(Debian packages `chromium` and `chromium-driver`)", pytrace=False)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A persistent Chromium context with a fresh user-data directory, for the whole module."""
    require_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(f"the playwright package is missing ({exc}): `pip install -e '.[test]'` "
                    "(never `playwright install`: the tests use Debian's /usr/bin/chromium)", pytrace=False)
    pw = sync_playwright().start()
    try:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM),
            headless=True, args=CHROMIUM_ARGS, viewport=VIEWPORT, locale="en-US", timezone_id="UTC")
        context.set_default_timeout(15_000)
        yield context
        context.close()
    finally:
        pw.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A static HTTP server on 127.0.0.1 over a directory the reports are written into."""
    root = tmp_path_factory.mktemp("served")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module", params=CASES, ids=[c.name for c in CASES])
def report(request, tmp_path_factory, server):
    """(case, URL of its HTML report) after `slamon ingest` and `slamon report --format html`."""
    case: Case = request.param
    root, base = server
    work = tmp_path_factory.mktemp(case.name)
    cfg, samples = case.build(work)
    res = run_cli("ingest", str(samples), "--config", str(cfg), cwd=work)
    assert res.returncode == 0, _explain(res)
    out = root / case.name  # not called `reports/`: see tests/test_report_cli.py
    res = run_cli("report", "--period", case.period, "--format", "html", "--out", str(out),
                  "--config", str(cfg), cwd=work)
    assert res.returncode == 0, _explain(res)
    name = f"{case.contract}-{case.period}.html"
    assert sorted(p.name for p in out.iterdir()) == [name], _explain(res)
    return case, f"{base}/{case.name}/{name}"


@dataclass
class Opened:
    page: object
    case: Case
    url: str
    attempts: list[str]       # every request but the document itself (all blocked)
    errors: list[str]         # uncaught page errors and console errors


@contextlib.contextmanager
def open_page(browser, case, url: str) -> Iterator[Opened]:
    """A new page on the report at `url`; every other request is blocked and recorded."""
    page = browser.new_page()
    attempts: list[str] = []
    errors: list[str] = []

    def route(r):
        if r.request.url == url:
            r.continue_()
        else:
            where = "local" if urlsplit(r.request.url).hostname in ("127.0.0.1", "localhost") else "non-local"
            attempts.append(f"{where} {r.request.resource_type} {r.request.url}")
            r.abort("blockedbyclient")

    page.route("**/*", route)
    page.on("websocket", lambda ws: attempts.append(f"websocket {ws.url}"))
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text}"))
    response = page.goto(url, wait_until="load")
    assert response is not None and response.ok, f"{url}: {response and response.status}"
    page.wait_for_load_state("networkidle")
    try:
        yield Opened(page, case, url, attempts, errors)
    finally:
        page.close()


@pytest.fixture
def opened(browser, report):
    case, url = report
    with open_page(browser, case, url) as o:
        yield o


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------

FIGURES = ("credit_amount", "availability")


def expected_figure(case: Case, figure: str) -> str:
    return {"credit_amount": case.amount, "availability": case.availability}[figure]


def assert_figures_visible(o: Opened, *, above_the_fold: bool) -> None:
    body = o.page.locator("body").inner_text()  # innerText: rendered text only
    for figure in FIGURES:
        want = expected_figure(o.case, figure)
        loc = o.page.locator(f'[data-figure="{figure}"]')
        assert loc.count() >= 1, f'no element with data-figure="{figure}"'
        first = loc.first
        assert first.is_visible(), f'data-figure="{figure}" is not visible'
        text = first.inner_text()
        assert want in text, f'data-figure="{figure}" shows {text!r}, expected it to contain {want!r}'
        assert want in body, f"{want!r} is not in the rendered text of the page"
        if above_the_fold:
            box = first.bounding_box()
            assert box is not None and box["y"] + box["height"] <= VIEWPORT["height"], (
                f'data-figure="{figure}" is below the first screen ({box}): the summary belongs at the top')


def day_cells(page):
    """The heat map's day cells: `rect.day` when the map is SVG, else the elements with data-date."""
    cells = page.locator("rect.day")
    return cells if cells.count() else page.locator("[data-date]")


def cell_look(cell) -> tuple:
    return cell.evaluate("""el => { const s = getComputedStyle(el);
        return [s.fill, s.backgroundColor, s.opacity, el.getAttribute('class')]; }""")


# --------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------

def test_chromium_is_installed():
    """Fails (the browser tests below then error) when Debian's Chromium is missing."""
    require_chromium()


def test_report_is_self_contained(opened):
    """Nothing but the report document is requested: no stylesheet, script, font or image from
    anywhere (all blocked and recorded), and the page raises no error."""
    assert opened.attempts == [], "the report is not self-contained; it requested:\n" + "\n".join(opened.attempts)
    assert opened.errors == []


def test_key_figures_visible(opened):
    """The credit amount and the availability are rendered, visible, and on the first screen."""
    assert_figures_visible(opened, above_the_fold=True)


def test_heat_map_has_one_cell_per_local_day(opened):
    """Exactly one visible cell per calendar day of the month in the contract's time zone (30 for
    November in Asia/Tokyo, 31 for December in Asia/Seoul; a UTC month would start a day early),
    and the outage day does not look like a healthy day."""
    case, page = opened.case, opened.page
    cells = day_cells(page)
    n = cells.count()
    assert n == len(case.days), f"heat map has {n} day cells, expected {len(case.days)} for {case.period}"
    dates = [cells.nth(i).get_attribute("data-date") for i in range(n)]
    if any(dates):
        assert sorted(dates) == [d.isoformat() for d in case.days], f"data-date values: {dates}"
    hidden = [dates[i] or i for i in range(n) if not cells.nth(i).is_visible()]
    assert hidden == [], f"heat map cells not visible: {hidden}"
    if any(dates):
        by_date = {d: cells.nth(i) for i, d in enumerate(dates)}
        healthy, outage = case.days[0].isoformat(), case.outage_day.isoformat()
        assert cell_look(by_date[outage]) != cell_look(by_date[healthy]), (
            f"the outage day {outage} looks like the healthy day {healthy}")


def test_print_media_keeps_summary(opened):
    """Printed (media=print), the summary figures are still shown."""
    opened.page.emulate_media(media="print")
    assert_figures_visible(opened, above_the_fold=False)
    assert day_cells(opened.page).count() == len(opened.case.days), "the heat map is not in the printed page"


def test_screenshot_and_pdf_artifacts(opened):
    """A full-page screenshot and an A4 PDF, kept in tests/artifacts/ for a human to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = ARTIFACTS / f"report-{opened.case.name}.png"
    pdf = ARTIFACTS / f"report-{opened.case.name}.pdf"
    opened.page.screenshot(path=str(png), full_page=True)
    opened.page.pdf(path=str(pdf), format="A4", print_background=True)
    print(f"\nscreenshot: {png}\npdf: {pdf}")
    assert png.stat().st_size > MIN_PNG_BYTES, f"{png} is only {png.stat().st_size} bytes"
    head = pdf.read_bytes()[:5]
    assert head == b"%PDF-", f"{pdf} does not start like a PDF: {head!r}"



# --------------------------------------------------------------------------------------------
# every language: legend, untranslated labels, the printed PDF
# --------------------------------------------------------------------------------------------

LANGS = ("en", "ja", "ko")


def july_lineworks_with_claims(d: Path) -> tuple[Path, Path]:
    """lineworks, July 2026: 500 down minutes (98.879928%, 7 days, 12,193 JPY); the deadline 30
    August 2026 is a Sunday (a note on the Civil Code's extension); claims recorded below."""
    cfg = write_config(
        d, domains=[{"name": "works-mail"}],
        contracts=[{"id": "acme-lw", "customer": "ACME K.K.", "regime": "lineworks", "domains": ["works-mail"],
                    "plan": "paid", "currency": "JPY", "unit_price": "540", "licenses": 100, "account": "WM-0042"}],
        windows=[{"kind": "emergency", "domains": ["works-mail"], "start": local(TOKYO, 2026, 7, 20, 1, 0),
                  "end": local(TOKYO, 2026, 7, 20, 2, 0), "reason": "urgent patch"}])
    start, end = month_bounds(TOKYO, "2026-07")
    return cfg, write_samples(d / "samples.jsonl", "works-mail", start, end,
                              down=run_of(local(TOKYO, 2026, 7, 10, 10, 0), 500))


def october_insufficient(d: Path) -> tuple[Path, Path]:
    """lineworks, October 2026, observed only until the 21st: insufficient evidence."""
    cfg = write_config(
        d, domains=[{"name": "works-mail"}],
        contracts=[{"id": "acme-lw", "customer": "ACME K.K.", "regime": "lineworks", "domains": ["works-mail"],
                    "plan": "paid", "currency": "JPY", "unit_price": "540", "licenses": 100}])
    start, _ = month_bounds(TOKYO, "2026-10")
    return cfg, write_samples(d / "samples.jsonl", "works-mail", start, local(TOKYO, 2026, 10, 21, 0, 0),
                              down=run_of(local(TOKYO, 2026, 10, 5, 10, 0), 500))


@dataclass(frozen=True)
class Month:
    name: str
    build: Callable[[Path], tuple[Path, Path]]
    contract: str
    period: str
    timezone: str
    claims: tuple[tuple[str, str], ...] = ()   # (filed_at, reference) recorded with `slamon claims add`


MONTHS = {m.name: m for m in (
    Month("lineworks-2026-11", example1_lineworks_november, "acme-lw", "2026-11", TOKYO),
    Month("lineworks-2026-07", july_lineworks_with_claims, "acme-lw", "2026-07", TOKYO,
          claims=(("2026-08-03T10:00:00+09:00", "T-1"), ("2026-08-05T10:00:00+09:00", "T-2"),
                  ("2026-09-02T10:00:00+09:00", "T-3"))),
    Month("insufficient-2026-10", october_insufficient, "acme-lw", "2026-10", TOKYO),
    Month("ncloud-workplace-2026-12", example3_workplace_december, "ws-mail", "2026-12", SEOUL),
)}
LOCALIZED = [(m, lang) for m in MONTHS for lang in LANGS]


@pytest.fixture(scope="module")
def localized(tmp_path_factory, server):
    """get(month, lang) -> URL of the month's report rendered with `--lang`, built on first use."""
    root, base = server
    built: dict[str, Path] = {}

    def get(name: str, lang: str) -> str:
        month = MONTHS[name]
        if name not in built:
            work = tmp_path_factory.mktemp(f"{name}-langs")
            cfg, samples = month.build(work)
            res = run_cli("ingest", str(samples), "--config", str(cfg), cwd=work)
            assert res.returncode == 0, _explain(res)
            for filed, ref in month.claims:
                res = run_cli("claims", "add", month.contract, "--period", month.period, "--filed-at", filed,
                              "--reference", ref, "--config", str(cfg), cwd=work)
                assert res.returncode == 0, _explain(res)
            built[name] = cfg
        out = root / "langs" / name / lang
        if not out.exists():
            cfg = built[name]
            res = run_cli("report", "--period", month.period, "--format", "html", "--lang", lang, "--out", str(out),
                          "--config", str(cfg), cwd=cfg.parent)
            assert res.returncode == 0, _explain(res)
        return f"{base}/langs/{name}/{lang}/{month.contract}-{month.period}.html"

    return get


def boxes_overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


@pytest.mark.parametrize("name, lang", LOCALIZED, ids=[f"{m}-{lang}" for m, lang in LOCALIZED])
def test_calendar_legend_labels_do_not_overlap(browser, localized, name, lang):
    """Every entry of the heat map's legend (swatch and label) has its own box: no two intersect,
    none is cut off, and the legend sits below the calendar, not on it."""
    with open_page(browser, None, localized(name, lang)) as o:
        page = o.page
        legends = page.locator(".hm-legend").all()
        assert len(legends) == page.locator("svg.heatmap").count() >= 1, "each calendar has its legend"
        for legend in legends:
            entries = legend.locator("li").all()
            assert len(entries) == 6, "five levels of counted downtime and 'no data'"
            labels = [e.locator(".label") for e in entries]
            boxes = [lbl.bounding_box() for lbl in labels]
            swatches = [e.locator(".swatch").bounding_box() for e in entries]
            texts = [lbl.inner_text() for lbl in labels]
            assert all(boxes) and all(swatches)
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    for a, b in ((boxes[i], boxes[j]), (boxes[i], swatches[j]), (swatches[i], boxes[j])):
                        assert not boxes_overlap(a, b), f"{lang}: legend {texts[i]!r} overlaps {texts[j]!r}"
            for lbl, box in zip(labels, boxes, strict=True):
                full = lbl.evaluate("el => [el.scrollWidth, el.clientWidth]")
                assert full[0] <= full[1] + 1, f"{lang}: legend label {lbl.inner_text()!r} is cut off"
                assert box["x"] + box["width"] <= VIEWPORT["width"]
            svg = page.locator(f'svg.heatmap[data-scope="{legend.get_attribute("data-scope")}"]').bounding_box()
            assert min(b["y"] for b in boxes) >= svg["y"] + svg["height"] - 0.5, "the legend overlaps the calendar"


# English words of the report's own labels and regime data that a Japanese or Korean reader must
# not see; names, IDs, the evidence digest and the warning messages are not checked
ENGLISH_LABELS = ("paid", "Revision", "days", "JPY x", "->", "Art.", "Terms of Service", "incl. tax", "IDs",
                  "rounded", "Summary", "Claim", "filed", "deadline", "invoice", "compensation", "excluded",
                  "counted", "maintenance", "emergency", "provisional", "insufficient", "no data", "Sunday",
                  "public holiday", "Civil Code", "Civil Act", "Provider", "Issued", "Status", "Verdict",
                  "unit price", "as quoted", "bundle terms", "not given", "estimated", "Calendar", "Period")
NOT_CHECKED = ".digest, .message, .id, .party, .user-text, .regime-id, script, style, title"

VISIBLE_TEXT = """skip => {
    const out = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
        const node = walker.currentNode, el = node.parentElement, text = node.textContent.trim();
        if (!text || !el || el.closest(skip)) continue;
        const style = getComputedStyle(el), box = el.getBoundingClientRect();
        const hidden = style.visibility === 'hidden' || style.display === 'none';
        if (hidden || (box.width === 0 && box.height === 0)) continue;
        out.push(text);
    }
    return out;
}"""


def english_labels_in(text: str) -> list[str]:
    found = []
    for label in ENGLISH_LABELS:
        pattern = re.escape(label) if not label.replace(" ", "").replace(".", "").isalpha() else \
            r"(?<![\w-])" + re.escape(label) + r"(?![\w-])"
        if re.search(pattern, text, flags=0 if label[0].isupper() else re.I):
            found.append(label)
    return found


@pytest.mark.parametrize("name, lang", [(m, lang) for m, lang in LOCALIZED if lang != "en"],
                         ids=[f"{m}-{lang}" for m, lang in LOCALIZED if lang != "en"])
def test_no_english_labels_in_japanese_and_korean(browser, localized, name, lang):
    with open_page(browser, None, localized(name, lang)) as o:
        texts = o.page.evaluate(VISIBLE_TEXT, NOT_CHECKED)
        assert len(texts) > 100
        leaks = [(t, english_labels_in(t)) for t in texts if english_labels_in(t)]
        assert leaks == [], f"{name} in {lang} shows English: " + "; ".join(f"{t!r} {w}" for t, w in leaks[:10])
    # the checker itself finds what it is for
    assert english_labels_in("acme-lw (paid)") == ["paid"] and english_labels_in("5400 -> 5400 JPY") == ["->"]
    assert english_labels_in("Art. 24 ③") == ["Art."] and english_labels_in("540 JPY x 3 days") == ["days", "JPY x"]


def require_pdftotext() -> None:
    if not (shutil.which("pdftotext") and shutil.which("pdfinfo")):
        pytest.fail("pdftotext/pdfinfo not found: run `bash scripts/system-deps.sh` (Debian package "
                    "`poppler-utils`)", pytrace=False)


def pdf_pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def pdf_text(pdf: Path, page: int) -> str:
    return subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), "-layout", str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout


def body_bottom(pdf: Path, page: int) -> float:
    """Where the last line of a page's body ends, as a fraction of the page's height (the footer
    in the bottom margin is not counted)."""
    out = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), "-bbox", str(pdf), "-"],
                         capture_output=True, text=True, check=True).stdout
    height = float(re.search(r'<page width="[\d.]+" height="([\d.]+)"', out).group(1))
    margin = 12 / 25.4 * 72  # words starting in the last 12 mm: the footer, in the 15 mm bottom margin
    bottoms = [float(y) for y0, y in re.findall(r'yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)"', out)
               if float(y0) < height - margin]
    return max(bottoms) / height


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("name, lang", LOCALIZED, ids=[f"{m}-{lang}" for m, lang in LOCALIZED])
def test_printed_pdf_page_one_and_page_numbers(browser, localized, name, lang):
    """A4 PDF: at most 3 pages, each numbered "i / N"; page 1 shows the issue date, the summary
    and the claim, and is filled (its body reaches the last quarter of the page)."""
    require_pdftotext()
    month = MONTHS[name]
    with open_page(browser, None, localized(name, lang)) as o:
        claim_heading = o.page.locator("#claim h2").inner_text()
        amount = o.page.locator('#summary .amount').inner_text()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        pdf = ARTIFACTS / f"report-{name}-{lang}.pdf"
        o.page.pdf(path=str(pdf), format="A4", print_background=True)
    pages = pdf_pages(pdf)
    assert 1 <= pages <= 3, f"{pdf}: {pages} pages"
    texts = [pdf_text(pdf, i) for i in range(1, pages + 1)]
    for i, text in enumerate(texts, start=1):
        footer = text.rstrip().splitlines()[-1]  # the last line of the page: the bottom margin boxes
        assert re.search(rf"(?<!\d){i}\s*/\s*{pages}\s*$", footer), \
            f"{pdf}: page {i} has no page number '{i} / {pages}'"
    first = squeeze(texts[0])
    issued = i18n.format_date(datetime.now(UTC).astimezone(ZoneInfo(month.timezone)).date(), lang)
    for what, needle in (("issue date", issued), ("claim heading", claim_heading), ("credit amount", amount),
                         ("summary", i18n.t("summary", lang))):
        assert squeeze(needle) in first, f"{pdf}: page 1 lacks the {what} {needle!r}"
    assert body_bottom(pdf, 1) > 0.75, f"{pdf}: page 1 is half empty"


@pytest.mark.parametrize("lang", LANGS)
def test_insufficient_month_does_not_look_healthy(browser, localized, lang):
    """The banner is the first thing on the screen; days without data are grey, unlike both a
    healthy day and the outage day."""
    with open_page(browser, None, localized("insufficient-2026-10", lang)) as o:
        page = o.page
        banner = page.locator("#status-banner")
        assert banner.is_visible() and "64.516129%" in banner.inner_text()
        assert banner.bounding_box()["y"] < 50
        cells = {c.get_attribute("data-date"): c for c in page.locator("rect.day").all()}
        nodata = [d for d, c in cells.items() if c.get_attribute("data-state") == "nodata"]
        assert nodata == [f"2026-10-{d}" for d in range(21, 32)]
        grey = cells["2026-10-25"].evaluate("el => getComputedStyle(el).fill")
        assert grey == "rgb({}, {}, {})".format(*(int(NODATA_FILL[i:i + 2], 16) for i in (1, 3, 5)))
        assert cell_look(cells["2026-10-25"]) != cell_look(cells["2026-10-01"])  # healthy
        assert cell_look(cells["2026-10-25"]) != cell_look(cells["2026-10-05"])  # the outage
        assert "64.516129%" in page.locator("#claim").inner_text()
