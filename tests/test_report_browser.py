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

A missing Chromium fails these tests: it is a declared dependency, not an optional one."""
from __future__ import annotations

import calendar
import functools
import http.server
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import pytest

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


@pytest.fixture
def opened(browser, report):
    case, url = report
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
    yield Opened(page, case, url, attempts, errors)
    page.close()


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
