"""/reports/: the index of frozen monthly reports, their files (and nothing else), and each
month's credits as CSV for billing, through the daemon's own HTTP app."""
from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from monitor.config import parse_config
from monitor.daemon import Daemon
from reports.contracts import Window
from tests.support import (
    AFTER_NOVEMBER_TOKYO,
    MONTH_OF_NOVEMBER_TOKYO,
    minute_index,
    minute_row,
    november_with_44_down,
    publish_reports,
)

UTC = UTC
JST = timezone(timedelta(hours=9))

CONFIG = """
[monitor]
database = "slamon.db"
listen = "127.0.0.1:0"
reports_dir = "reports"

[[domain]]
name = "mail"

[[domain]]
name = "web"

[[contract]]
id = "acme"
customer = "ACME"
regime = "lineworks"
domains = ["mail"]
unit_price = "540"
licenses = 100

[[contract]]
id = "beta"
customer = "Beta & Co"
regime = "lineworks"
domains = ["web"]
unit_price = "540"
licenses = 50
"""

AFTER_END = AFTER_NOVEMBER_TOKYO


@pytest.fixture
def daemon(tmp_path: Path):
    """November 2026 written for both contracts: 44 minutes down on each domain (acme 5,400 JPY,
    beta 2,700 JPY), then a window on web makes beta's revision 2 (no credit)."""
    cfg_path = tmp_path / "config.toml"
    cfg_path.write_text(CONFIG)
    daemon = Daemon(parse_config(CONFIG, cfg_path))
    for domain in ("mail", "web"):
        november_with_44_down(daemon.storage, domain)
    publish_reports(daemon, AFTER_END)
    daemon.storage.add_window(Window(kind="maintenance", start=datetime(2026, 11, 1, 16, 40, tzinfo=JST),
                                     end=datetime(2026, 11, 1, 16, 50, tzinfo=JST), reason="switch swap",
                                     domains=("web",), announced_at=datetime(2026, 10, 20, tzinfo=JST)),
                              actor="test")
    publish_reports(daemon, AFTER_END + timedelta(minutes=5))
    yield daemon
    daemon.storage.close()


async def raw_status(client: TestClient, target: str) -> int:
    """The status of a request line sent as is (no client-side normalisation of .. or %2e)."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return int(status_line.split()[1])


async def test_index_lists_every_contract_by_month_with_credit_revision_and_working_links(daemon):
    async with TestClient(TestServer(daemon.app)) as client:
        resp = await client.get("/reports/")
        assert resp.status == 200 and resp.content_type == "text/html"
        page = await resp.text()
        assert "2026-11" in page and "acme" in page and "Beta &amp; Co" in page
        assert "5400 JPY" in page and "switch swap" in page  # beta's latest revision and its diff
        links = re.findall(r'href="(/reports/2026-11/[^"]+)"', page)
        assert {link.rsplit("/", 1)[1] for link in links} >= {
            "acme.json", "acme.md", "acme.csv", "beta.json", "beta.r2.json", "beta.r2.md", "beta.r2.csv"}
        types_ = {"json": "application/json", "md": "text/markdown", "csv": "text/csv", "html": "text/html"}
        reports_dir = daemon.config.monitor.reports_dir
        for link in links:
            got = await client.get(link)
            assert got.status == 200, link
            assert got.content_type == types_[link.rsplit(".", 1)[1]]
            assert await got.read() == (reports_dir / "2026-11" / link.rsplit("/", 1)[1]).read_bytes()
        assert "/reports/credits-2026-11.csv" in page
        redirect = await client.get("/reports", allow_redirects=False)
        assert redirect.status == 302 and redirect.headers["Location"] == "/reports/"


async def test_the_status_page_links_the_index(daemon):
    async with TestClient(TestServer(daemon.app)) as client:
        assert 'href="/reports/"' in await (await client.get("/")).text()


@pytest.mark.parametrize("target", [
    "/reports/../config.toml",
    "/reports/%2e%2e/config.toml",
    "/reports/%2E%2E/config.toml",
    "/reports/2026-11/..%2f..%2fconfig.toml",
    "/reports/2026-11/%2e%2e%2f%2e%2e%2fconfig.toml",
    "/reports/2026-11/..%5c..%5cconfig.toml",
    "/reports/2026-11/../../config.toml",
    "/reports/..%2fconfig.toml",
    "/reports/2026-11/acme.json%00.csv",
    "/reports/2026-11/.acme.json",
    "/reports/2026-11/slamon.db",
    "/reports/2026-13/acme.json",
    "/reports/2026-11/acme.toml",
    "/reports/2026-11/nothere.json",
    "/reports/%2e%2e/slamon.db",
])
async def test_no_file_outside_the_reports_is_served(daemon, target):
    async with TestClient(TestServer(daemon.app)) as client:
        assert await raw_status(client, target) in (400, 404)
        assert await raw_status(client, "/reports/2026-11/acme.json") == 200


async def test_a_symlink_out_of_the_reports_dir_is_not_followed(daemon, tmp_path):
    (daemon.config.monitor.reports_dir / "2026-11" / "leak.json").symlink_to(tmp_path / "config.toml")
    async with TestClient(TestServer(daemon.app)) as client:
        assert (await client.get("/reports/2026-11/leak.json")).status == 404


async def test_credits_csv_has_one_row_per_credit_due_from_the_latest_revision(daemon):
    async with TestClient(TestServer(daemon.app)) as client:
        resp = await client.get("/reports/credits-2026-11.csv")
        assert resp.status == 200 and resp.content_type == "text/csv"
        rows = list(csv.DictReader(io.StringIO(await resp.text())))
        assert rows == [{"contract": "acme", "customer": "ACME", "regime": "lineworks", "period": "2026-11",
                         "revision": "1", "currency": "JPY", "credit_amount": "5400",
                         "claim_deadline": rows[0]["claim_deadline"], "credit_applies": rows[0]["credit_applies"],
                         "status": "final", "coverage": "100.000000"}]
        report = daemon.storage.latest_report_revision("acme", "2026-11")["report"]
        assert rows[0]["claim_deadline"] == (report["claim_deadline"] or "")
        assert rows[0]["credit_applies"] == (report["credit_applies"] or "")
        assert (await client.get("/reports/credits-2026-10.csv")).status == 404
        assert (await client.get("/reports/credits-2026-1.csv")).status == 404


async def test_credits_csv_follows_a_revision_that_creates_a_credit(daemon):
    """Late data for web (11 more minutes down): beta's revision 3 owes a credit again."""
    web = daemon.storage.domain_ids(["web"])["web"]
    start = minute_index(MONTH_OF_NOVEMBER_TOKYO)
    daemon.storage.add_minute_counts([minute_row(web, start + i, 20, 20) for i in range(2000, 2011)])
    publish_reports(daemon, AFTER_END + timedelta(minutes=10))
    async with TestClient(TestServer(daemon.app)) as client:
        rows = list(csv.DictReader(io.StringIO(await (await client.get("/reports/credits-2026-11.csv")).text())))
        assert [(r["contract"], r["revision"], r["credit_amount"]) for r in rows] == [
            ("acme", "1", "5400"), ("beta", "3", "2700")]
        page = await (await client.get("/reports/")).text()
        assert "beta.r3.json" in page and "beta.r2.json" in page
