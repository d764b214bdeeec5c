"""The daemon's HTTP listener: the reads (/, /metrics, /api/v1/status, contracts, accounting), the
changes (windows, window end, notices, pushed samples), bearer-token auth on every change, 400
with a message for bad input, nothing written on refusal (the sqlite tables are counted
read-only, WAL allows it), one audit row per accepted change, and the token never appearing in
any output.

The daemon runs in this process, in a thread with its own event loop, on a clock moved by hand
(at 2026-11-20 10:00:30 UTC); the tests talk to its real listener on 127.0.0.1. Month-to-date
accounting needs stored samples in the current month, so the module's database is filled with
`slamon ingest` (minute aggregates for the last few minutes) before the daemon starts."""
from __future__ import annotations

import asyncio
import io
import json
import logging
import secrets
import sqlite3
import threading
import urllib.error
import urllib.request
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.config import load_config
from monitor.daemon import Daemon
from monitor.runtime import JsonFormatter
from tests.support import FakeClock, aggregate_lines, minute_index, run_cli, stored_minutes, write_config, write_jsonl

UTC = UTC
TOKYO = ZoneInfo("Asia/Tokyo")
START = datetime(2026, 11, 20, 10, 0, 30, tzinfo=UTC)
CLOCK = FakeClock(START)  # the module's daemon's clock; now_utc() reads it

CONFIG = """\
[monitor]
database = "slamon.db"
listen = "127.0.0.1:0"
reports_dir = "reports"
{extra}

[[domain]]
name = "mail"

[[domain]]
name = "drive"

[[contract]]
id = "acme-lw"
customer = "ACME K.K."
regime = "lineworks"
domains = ["mail"]
unit_price = "540"
licenses = 100

[[contract]]
id = "acme-wp"
customer = "ACME Korea"
regime = "ncloud-workplace"
domains = ["mail", "drive"]
currency = "KRW"
awareness = "detection"
  [[contract.service]]
  domain = "mail"
  monthly_fee = "1234567"
  [[contract.service]]
  domain = "drive"
  monthly_fee = "456000"
"""


# --- the daemon ----------------------------------------------------------------------------------

class InProcessDaemon:
    """A Daemon started on its own event loop in a thread, its log lines collected as JSON."""

    def __init__(self, workdir: Path, config: Path, clock: FakeClock, token: str | None) -> None:
        self.workdir, self.clock, self.token = workdir, clock, token
        self.db = workdir / "slamon.db"
        self._log = io.StringIO()
        self._handler = logging.StreamHandler(self._log)
        self._handler.setFormatter(JsonFormatter())
        root = logging.getLogger()
        self._level = root.level
        root.addHandler(self._handler)
        root.setLevel(logging.DEBUG)  # the most verbose logging must still not show the token
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="daemon", daemon=True)
        self._thread.start()
        self.daemon = Daemon(load_config(config), clock)
        self.call(self.daemon.start())
        host, port = self.daemon.addresses[0]
        self.base = f"http://{host}:{port}"

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def advance_to(self, moment: datetime) -> None:
        self.call(self.clock.advance_to(moment))

    def stop(self) -> None:
        if self._thread.is_alive():
            if self.daemon.addresses:
                self.call(self.daemon.stop())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()
            logging.getLogger().removeHandler(self._handler)
            logging.getLogger().setLevel(self._level)

    def stderr(self) -> str:
        return self._log.getvalue()



def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ingest_current_month(clock: FakeClock, cfg: Path) -> None:
    """Minute aggregates (all up) for both domains: the last 10 minutes, never before the start of
    the month in Asia/Tokyo (= Asia/Seoul), always including the current minute."""
    now = minute_index(clock.now())
    month_start = clock.now().astimezone(TOKYO).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    rows = [(m, 30, 0) for m in range(max(now - 10, minute_index(month_start)), now + 1)]
    samples = write_jsonl(cfg.parent / "history.jsonl", aggregate_lines("mail", rows) + aggregate_lines("drive", rows))
    result = run_cli("ingest", "--config", cfg, samples)
    assert result.returncode == 0, result.stderr


def start_daemon(workdir: Path, *, token: str | None, extra_config: str = "", ingest: bool = True,
                 clock: FakeClock | None = None) -> InProcessDaemon:
    """The daemon on `clock` (a fresh one at START by default); the caller sets the token's
    environment variable."""
    clock = clock or FakeClock(START)
    cfg = write_config(workdir, CONFIG.format(extra=extra_config))
    if ingest:
        ingest_current_month(clock, cfg)
    return InProcessDaemon(workdir, cfg, clock, token)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    token = secrets.token_urlsafe(32)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SLAMON_ADMIN_TOKEN", token)
        d = start_daemon(tmp_path_factory.mktemp("api"), token=token, clock=CLOCK)
        try:
            yield d
        finally:
            d.stop()


# --- HTTP ------------------------------------------------------------------------------------------

@dataclass
class Reply:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def request(d: InProcessDaemon, method: str, path: str, body=None, *, raw: bytes | None = None,
            token: str | None = None, headers: dict[str, str] | None = None) -> Reply:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(d.base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, dict(exc.headers), exc.read())


def get(d: InProcessDaemon, path: str) -> Reply:
    return request(d, "GET", path)


def post(d: InProcessDaemon, path: str, body=None, *, auth: bool = True, **kw) -> Reply:
    if auth and "token" not in kw:
        kw["token"] = d.token
    return request(d, "POST", path, body, **kw)


# --- the database, read-only -----------------------------------------------------------------------

def counts(d: InProcessDaemon) -> dict[str, int]:
    with sqlite3.connect(f"file:{d.db}?mode=ro", uri=True) as db:
        return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("windows", "notices", "claims", "audit_log")}


def audit_rows(d: InProcessDaemon, after_id: int = 0) -> list[dict]:
    with sqlite3.connect(f"file:{d.db}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM audit_log WHERE id > ? ORDER BY id", [after_id])]


def last_audit_id(d: InProcessDaemon) -> int:
    with sqlite3.connect(f"file:{d.db}?mode=ro", uri=True) as db:
        return db.execute("SELECT COALESCE(MAX(id), 0) FROM audit_log").fetchone()[0]


def assert_refused(d: InProcessDaemon, reply: Reply, status: int, *needles: str) -> None:
    assert reply.status == status, (reply.status, reply.body)
    assert reply.headers.get("Content-Type", "").startswith("application/json")
    message = reply.json()["error"]
    assert isinstance(message, str) and message
    for needle in needles:
        assert needle.lower() in message.lower(), (needle, message)


def now_utc() -> datetime:
    return CLOCK.now()


def a_window(**overrides) -> dict:
    start = now_utc().replace(second=0, microsecond=0) - timedelta(minutes=30)
    window = {"kind": "maintenance", "domains": ["mail"], "start": iso(start),
              "end": iso(start + timedelta(hours=1)), "announced_at": iso(start - timedelta(days=10)),
              "reason": "storage firmware upgrade"}
    window.update(overrides)
    return {k: v for k, v in window.items() if v is not None}  # None: leave the key out


def a_notice(**overrides) -> dict:
    notice = {"contract": "acme-lw", "domain": "mail", "at": iso(now_utc() - timedelta(minutes=5)),
              "kind": "customer", "note": "mail bounced for the sales team"}
    notice.update(overrides)
    return {k: v for k, v in notice.items() if v is not None}


def open_minute(d: InProcessDaemon) -> datetime:
    """The current minute, once it is one the daemon observes whole: during the minute it started
    in (observed_since is the next one) and for minutes in the future nothing is open, so the
    daemon's clock moves on to the first observed minute."""
    observed = datetime.fromisoformat(get(d, "/api/v1/status").json()["observed_since"])
    if d.clock.now() < observed + timedelta(seconds=1):
        d.advance_to(observed + timedelta(seconds=1))
    return d.clock.now().replace(second=0, microsecond=0)


# ===================================================================================================
# reads
# ===================================================================================================

def test_status(daemon):
    reply = get(daemon, "/api/v1/status")
    assert reply.status == 200
    data = reply.json()
    assert [d["domain"] for d in data["domains"]] == ["mail", "drive"]
    assert all(d["probes"] == 0 for d in data["domains"])
    assert data["degraded"] is False
    started = datetime.fromisoformat(data["started_at"])
    assert abs((now_utc() - started).total_seconds()) < 600
    observed = datetime.fromisoformat(data["observed_since"])
    assert observed.second == 0 and observed > started - timedelta(minutes=1)
    assert data["month_to_date_at"] is not None


def test_contracts(daemon):
    reply = get(daemon, "/api/v1/contracts")
    assert reply.status == 200
    assert reply.json() == [
        {"id": "acme-lw", "customer": "ACME K.K.", "regime": "lineworks", "domains": ["mail"], "plan": "paid",
         "currency": "JPY"},
        {"id": "acme-wp", "customer": "ACME Korea", "regime": "ncloud-workplace", "domains": ["mail", "drive"],
         "plan": "paid", "currency": "KRW"},
    ]


def test_accounting_month_to_date(daemon):
    reply = get(daemon, "/api/v1/contracts/acme-lw/accounting")
    assert reply.status == 200, reply.body
    data = reply.json()
    assert data["id"] == "acme-lw" and data["regime"] == "lineworks" and data["timezone"] == "Asia/Tokyo"
    assert data["computed_at"]
    assert [s["scope"] for s in data["scopes"]] == ["acme-lw"]
    assert data["scopes"][0]["downtime_minutes"] == 0

    wp = get(daemon, "/api/v1/contracts/acme-wp/accounting")
    assert wp.status == 200, wp.body
    assert sorted(s["scope"] for s in wp.json()["scopes"]) == ["drive", "mail"]  # per-service scopes


@pytest.mark.parametrize("contract", ["nope", "ACME-LW", "acme-lw2"])
def test_accounting_unknown_contract_is_404(daemon, contract):
    reply = get(daemon, f"/api/v1/contracts/{contract}/accounting")
    assert_refused(daemon, reply, 404, "unknown contract", contract)


def test_status_page(daemon):
    reply = get(daemon, "/")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/html")
    page = reply.text
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert "<td>mail</td>" in page and "<td>drive</td>" in page
    assert "acme-lw" in page and "acme-wp" in page  # month-to-date rows
    assert daemon.token not in page


def test_metrics(daemon):
    reply = get(daemon, "/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    text = reply.text
    for name in ("slamon_monitor_degraded", "slamon_samples_dropped_total", "slamon_db_write_errors_total",
                 "slamon_minute_close_lag_seconds", "slamon_scope_downtime_seconds",
                 "slamon_scope_availability_ratio"):
        assert f"\n{name}" in text or text.startswith(name), name
    assert 'contract="acme-lw"' in text
    assert daemon.token not in text


def test_reads_need_no_token(daemon):
    for path in ("/", "/metrics", "/api/v1/status", "/api/v1/contracts", "/api/v1/audit",
                 "/api/v1/contracts/acme-lw/accounting"):
        assert get(daemon, path).status == 200, path


# ===================================================================================================
# auth: every change endpoint, every bad credential, nothing changed
# ===================================================================================================

def _change_requests(d: InProcessDaemon) -> list[tuple[str, dict]]:
    """One valid request per change endpoint (window end against a real open window)."""
    created = post(d, "/api/v1/windows", a_window(end=None, reason="open window for the auth tests"))
    assert created.status == 201, created.body
    return [
        ("/api/v1/windows", a_window()),
        (f"/api/v1/windows/{created.json()['id']}/end", {"at": iso(now_utc()), "reason": "done"}),
        ("/api/v1/notices", a_notice()),
        ("/api/v1/claims", {"contract": "acme-lw", "period": "2026-11", "filed_at": iso(now_utc())}),
        ("/api/v1/samples", {"samples": [{"domain": "mail", "ts": iso(open_minute(d) + timedelta(seconds=1)),
                                          "status": 200}]}),
    ]


def _bad_credentials(token: str) -> list[tuple[str, dict[str, str]]]:
    different = "".join("A" if c != "A" else "B" for c in token)
    assert len(different) == len(token) and different != token
    return [
        ("no Authorization header", {}),
        ("empty bearer", {"Authorization": "Bearer "}),
        ("wrong token", {"Authorization": "Bearer not-the-token"}),
        ("same length, different", {"Authorization": f"Bearer {different}"}),
        ("prefix of the token", {"Authorization": f"Bearer {token[:-1]}"}),
        ("first half of the token", {"Authorization": f"Bearer {token[: len(token) // 2]}"}),
        ("token plus a character", {"Authorization": f"Bearer {token}x"}),
        ("token without the Bearer scheme", {"Authorization": token}),
        ("lower-case scheme", {"Authorization": f"bearer {token}"}),
        ("Basic scheme", {"Authorization": f"Basic {token}"}),
        ("token in another header", {"X-Slamon-Token": token}),
    ]


def test_changes_without_the_right_token_are_401_and_change_nothing(daemon):
    changes = _change_requests(daemon)
    before = counts(daemon)
    for path, body in changes:
        for what, headers in _bad_credentials(daemon.token):
            reply = request(daemon, "POST", path, body, headers=headers)
            assert reply.status == 401, (path, what, reply.status, reply.body)
            assert reply.json() == {"error": "missing or wrong bearer token"}, (path, what)
            assert daemon.token not in reply.text
    assert counts(daemon) == before
    # the window the auth tests were to end is still open
    window_id = changes[1][0].split("/")[4].removeprefix("db-")
    with sqlite3.connect(f"file:{daemon.db}?mode=ro", uri=True) as db:
        assert db.execute('SELECT "end" FROM windows WHERE id = ?', [int(window_id)]).fetchone() == (None,)


def test_the_same_requests_with_the_token_are_accepted(daemon):
    """Guards the test above: its requests were refused for the credentials, not the payloads."""
    expected = {"/api/v1/windows": 201, "/api/v1/notices": 201, "/api/v1/claims": 201, "/api/v1/samples": 202}
    for path, body in _change_requests(daemon):
        reply = post(daemon, path, body)
        assert reply.status == expected.get(path, 200), (path, reply.body)


def test_unauthorised_bad_payload_is_401_not_400(daemon):
    """Auth comes first: without the token a caller learns nothing about validation."""
    before = counts(daemon)
    reply = post(daemon, "/api/v1/windows", raw=b"{not json", auth=False)
    assert reply.status == 401
    reply = post(daemon, "/api/v1/windows/db-999999/end", {"reason": "x"}, auth=False)
    assert reply.status == 401
    assert counts(daemon) == before


def test_other_methods_on_the_api_need_the_token_too(daemon):
    before = counts(daemon)
    for method in ("PUT", "DELETE", "PATCH"):
        reply = request(daemon, method, "/api/v1/windows", a_window())
        assert reply.status == 401, (method, reply.status)
        reply = request(daemon, method, "/api/v1/windows", a_window(), token=daemon.token)
        assert reply.status == 405, (method, reply.status)
    assert counts(daemon) == before


# ===================================================================================================
# windows
# ===================================================================================================

def test_add_window_returns_db_id_and_writes_one_audit_row(daemon):
    before, last = counts(daemon), last_audit_id(daemon)
    body = a_window()
    reply = post(daemon, "/api/v1/windows", body)
    assert reply.status == 201, reply.body
    window_id = reply.json()["id"]
    assert reply.json() == {"id": window_id} and window_id.startswith("db-") and window_id[3:].isdigit()
    after = counts(daemon)
    assert after["windows"] == before["windows"] + 1
    assert after["audit_log"] == before["audit_log"] + 1
    assert after["notices"] == before["notices"]

    [row] = audit_rows(daemon, last)
    assert row["actor"] == "api"
    assert (row["action"], row["entity"], row["entity_id"]) == ("add", "window", window_id[3:])
    assert row["before"] is None
    stored = json.loads(row["after"])
    assert stored["kind"] == "maintenance" and stored["domains"] == ["mail"] and stored["contracts"] == []
    assert datetime.fromisoformat(stored["start"]) == datetime.fromisoformat(body["start"])
    assert datetime.fromisoformat(stored["end"]) == datetime.fromisoformat(body["end"])
    assert datetime.fromisoformat(stored["announced_at"]) == datetime.fromisoformat(body["announced_at"])
    assert stored["created_by"] == "api"
    assert row["reason"] == "storage firmware upgrade"
    assert datetime.fromisoformat(row["at"]).tzinfo is not None

    # the audit endpoint shows the same row
    listed = [r for r in get(daemon, "/api/v1/audit").json() if r["id"] == row["id"]]
    assert listed and listed[0]["after"] == stored


def test_actor_header_names_the_actor(daemon):
    last = last_audit_id(daemon)
    reply = post(daemon, "/api/v1/windows", a_window(contracts=["acme-wp"], domains=[], kind="customer"),
                 headers={"X-Slamon-Actor": "alice"})
    assert reply.status == 201, reply.body
    [row] = audit_rows(daemon, last)
    assert row["actor"] == "api:alice"
    assert json.loads(row["after"])["created_by"] == "api:alice"

    last = last_audit_id(daemon)
    reply = post(daemon, "/api/v1/notices", a_notice(), headers={"X-Slamon-Actor": "b" * 300})
    assert reply.status == 201, reply.body
    [row] = audit_rows(daemon, last)
    assert row["actor"] == "api:" + "b" * 100  # capped


def test_window_shows_in_month_to_date_accounting(daemon):
    reply = post(daemon, "/api/v1/windows", a_window(reason="visible in accounting"))
    assert reply.status == 201, reply.body
    window_id = reply.json()["id"]
    data = get(daemon, "/api/v1/contracts/acme-lw/accounting").json()
    [scope] = data["scopes"]
    uses = [w for w in scope["excluded_windows"] if w["id"] == window_id]
    assert len(uses) == 1
    assert uses[0]["kind"] == "maintenance" and uses[0]["reason"] == "visible in accounting"
    # ncloud-workplace is per service: the window on "mail" is in the mail scope, not in drive
    wp = {s["scope"]: s for s in get(daemon, "/api/v1/contracts/acme-wp/accounting").json()["scopes"]}
    assert window_id in [w["id"] for w in wp["mail"]["excluded_windows"]]
    assert window_id not in [w["id"] for w in wp["drive"]["excluded_windows"]]


def test_window_outside_the_month_is_not_in_accounting(daemon):
    old = a_window(start="2020-01-01T00:00:00Z", end="2020-01-01T01:00:00Z", reason="long ago")
    reply = post(daemon, "/api/v1/windows", old)
    assert reply.status == 201, reply.body
    [scope] = get(daemon, "/api/v1/contracts/acme-lw/accounting").json()["scopes"]
    assert reply.json()["id"] not in [w["id"] for w in scope["excluded_windows"]]


WINDOW_PROBLEMS = [
    # (what, payload or raw bytes, words the message must contain)
    ("not JSON", b"{kind: maintenance", ["not json"]),
    ("empty body", b"", ["not json"]),
    ("JSON array", b"[]", ["json object"]),
    ("JSON string", b'"window"', ["json object"]),
    ("missing reason", a_window(reason=None), ["reason", "required"]),
    ("empty reason", a_window(reason="  "), ["reason"]),
    ("end before start", a_window(start="2026-11-15T03:00:00Z", end="2026-11-15T02:00:00Z"),
     ["end", "after start"]),
    ("end equals start", a_window(start="2026-11-15T03:00:00Z", end="2026-11-15T03:00:00Z"),
     ["end", "after start"]),
    ("unknown domain", a_window(domains=["nosuch"]), ["unknown domain", "nosuch"]),
    ("unknown contract", a_window(domains=[], contracts=["nosuch-c"]), ["unknown contract", "nosuch-c"]),
    ("no scope", a_window(domains=[]), ["domains", "contracts"]),
    ("unknown key", a_window(colour="red"), ["colour", "unknown key"]),
    ("start without offset", a_window(start="2026-11-15T02:00:00"), ["start", "offset"]),
    ("end without offset", a_window(end="2026-11-15T04:00:00"), ["end", "offset"]),
    ("announced_at without offset", a_window(announced_at="2026-11-01T10:00:00"), ["announced_at", "offset"]),
    ("start not a timestamp", a_window(start="yesterday"), ["start", "rfc 3339"]),
    ("start a number", a_window(start=1700000000), ["start", "timestamp"]),
    ("missing start", a_window(start=None), ["start", "required"]),
    ("unknown kind", a_window(kind="holiday"), ["kind", "holiday"]),
    ("missing kind", a_window(kind=None), ["kind", "required"]),
    ("domains not a list", a_window(domains="mail"), ["domains"]),
]


@pytest.mark.parametrize("what,payload,needles", WINDOW_PROBLEMS, ids=[p[0] for p in WINDOW_PROBLEMS])
def test_bad_window_is_400_and_changes_nothing(daemon, what, payload, needles):
    if isinstance(payload, dict):
        payload = {k: v for k, v in payload.items() if v is not None}
        raw = json.dumps(payload).encode()
    else:
        raw = payload
    before = counts(daemon)
    reply = post(daemon, "/api/v1/windows", raw=raw)
    assert_refused(daemon, reply, 400, *needles)
    assert counts(daemon) == before


def test_open_window_then_end_it(daemon):
    start = now_utc().replace(second=0, microsecond=0) - timedelta(minutes=20)
    created = post(daemon, "/api/v1/windows", a_window(start=iso(start), end=None, kind="force_majeure",
                                                       announced_at=None, reason="regional outage"))
    assert created.status == 201, created.body
    window_id = created.json()["id"]
    [scope] = get(daemon, "/api/v1/contracts/acme-lw/accounting").json()["scopes"]
    [use] = [w for w in scope["excluded_windows"] if w["id"] == window_id]
    assert use["end"] is None

    before, last = counts(daemon), last_audit_id(daemon)
    end = start + timedelta(minutes=10)
    reply = post(daemon, f"/api/v1/windows/{window_id}/end", {"at": iso(end), "reason": "network restored"},
                 headers={"X-Slamon-Actor": "oncall"})
    assert reply.status == 200, reply.body
    after_row = reply.json()
    assert after_row["id"] == int(window_id[3:])
    assert datetime.fromisoformat(after_row["end"]) == end
    after = counts(daemon)
    assert after["audit_log"] == before["audit_log"] + 1
    assert after["windows"] == before["windows"]  # ended, not added

    [row] = audit_rows(daemon, last)
    assert row["actor"] == "api:oncall"
    assert (row["action"], row["entity"], row["entity_id"]) == ("end", "window", window_id[3:])
    assert row["reason"] == "network restored"
    assert json.loads(row["before"])["end"] is None
    assert datetime.fromisoformat(json.loads(row["after"])["end"]) == end
    assert json.loads(row["after"]) == after_row

    [scope] = get(daemon, "/api/v1/contracts/acme-lw/accounting").json()["scopes"]
    [use] = [w for w in scope["excluded_windows"] if w["id"] == window_id]
    assert datetime.fromisoformat(use["end"]) == end

    # a window's end can be moved again (since 4cc3d01 also later); each move is one audit row
    before, last = counts(daemon), last_audit_id(daemon)
    later = end + timedelta(minutes=5)
    again = post(daemon, f"/api/v1/windows/{window_id}/end", {"at": iso(later), "reason": "flapped again"})
    assert again.status == 200, again.body
    assert counts(daemon)["audit_log"] == before["audit_log"] + 1
    [row] = audit_rows(daemon, last)
    assert (row["action"], row["reason"], row["actor"]) == ("end", "flapped again", "api")
    assert datetime.fromisoformat(json.loads(row["before"])["end"]) == end
    assert datetime.fromisoformat(json.loads(row["after"])["end"]) == later


def test_end_without_at_ends_now(daemon):
    created = post(daemon, "/api/v1/windows", a_window(end=None, reason="ends now"))
    assert created.status == 201
    t0 = now_utc()
    reply = post(daemon, f"/api/v1/windows/{created.json()['id']}/end", {"reason": "finished"})
    assert reply.status == 200, reply.body
    end = datetime.fromisoformat(reply.json()["end"])
    assert t0 - timedelta(seconds=5) <= end <= now_utc() + timedelta(seconds=5)


@pytest.fixture
def open_window(daemon) -> str:
    start = now_utc().replace(second=0, microsecond=0) - timedelta(hours=1)
    reply = post(daemon, "/api/v1/windows", a_window(start=iso(start), end=None, reason="to be ended"))
    assert reply.status == 201, reply.body
    return reply.json()["id"]


END_PROBLEMS = [
    ("not JSON", b"at=now", ["not json"]),
    ("JSON array", b'[{"reason": "x"}]', ["json object"]),
    ("missing reason", {"at": "NOW"}, ["reason"]),
    ("empty reason", {"at": "NOW", "reason": " "}, ["reason"]),
    ("reason not a string", {"at": "NOW", "reason": 42}, ["reason"]),
    ("end before start", {"at": "2020-01-01T00:00:00Z", "reason": "x"}, ["not after", "start"]),
    ("at without offset", {"at": "2026-11-15T02:00:00", "reason": "x"}, ["at", "offset"]),
    ("at not a timestamp", {"at": "soon", "reason": "x"}, ["at", "rfc 3339"]),
    ("unknown key", {"at": "NOW", "reason": "x", "colour": "red"}, ["colour", "unknown key"]),
]


@pytest.mark.parametrize("what,payload,needles", END_PROBLEMS, ids=[p[0] for p in END_PROBLEMS])
def test_bad_window_end_is_400_and_changes_nothing(daemon, open_window, what, payload, needles):
    if isinstance(payload, dict):
        payload = {k: (iso(now_utc()) if v == "NOW" else v) for k, v in payload.items()}
        raw = json.dumps(payload).encode()
    else:
        raw = payload
    before = counts(daemon)
    reply = post(daemon, f"/api/v1/windows/{open_window}/end", raw=raw)
    assert_refused(daemon, reply, 400, *needles)
    assert counts(daemon) == before
    with sqlite3.connect(f"file:{daemon.db}?mode=ro", uri=True) as db:
        assert db.execute('SELECT "end" FROM windows WHERE id = ?', [int(open_window[3:])]).fetchone() == (None,)


@pytest.mark.parametrize("window_id,needles", [
    ("db-999999", ["no window", "999999"]),
    ("config-1", ["db-3"]),
    ("db-x", ["db-3"]),
    ("42abc", ["db-3"]),
])
def test_end_of_unknown_or_config_window_is_400(daemon, window_id, needles):
    before = counts(daemon)
    reply = post(daemon, f"/api/v1/windows/{window_id}/end", {"at": iso(now_utc()), "reason": "x"})
    assert_refused(daemon, reply, 400, *needles)
    assert counts(daemon) == before


# ===================================================================================================
# notices
# ===================================================================================================

def test_add_notice_returns_db_id_and_writes_one_audit_row(daemon):
    before, last = counts(daemon), last_audit_id(daemon)
    body = a_notice(kind="provider", note="status page announcement")
    reply = post(daemon, "/api/v1/notices", body)
    assert reply.status == 201, reply.body
    notice_id = reply.json()["id"]
    assert reply.json() == {"id": notice_id} and notice_id.startswith("db-") and notice_id[3:].isdigit()
    after = counts(daemon)
    assert after["notices"] == before["notices"] + 1
    assert after["audit_log"] == before["audit_log"] + 1
    assert after["windows"] == before["windows"]
    [row] = audit_rows(daemon, last)
    assert row["actor"] == "api"
    assert (row["action"], row["entity"], row["entity_id"]) == ("add", "notice", notice_id[3:])
    assert row["before"] is None
    stored = json.loads(row["after"])
    assert stored["contract"] == "acme-lw" and stored["domain"] == "mail" and stored["kind"] == "provider"
    assert stored["note"] == "status page announcement"
    assert datetime.fromisoformat(stored["at"]) == datetime.fromisoformat(body["at"])
    assert row["reason"] == "status page announcement"

    # it is in the month-to-date accounting of its contract
    [scope] = get(daemon, "/api/v1/contracts/acme-lw/accounting").json()["scopes"]
    assert notice_id in [n["id"] for n in scope["notices"]]


def test_notice_defaults(daemon):
    """kind defaults to customer, domain and note are optional; the audit reason is then made up."""
    last = last_audit_id(daemon)
    reply = post(daemon, "/api/v1/notices", {"contract": "acme-wp", "at": iso(now_utc())})
    assert reply.status == 201, reply.body
    [row] = audit_rows(daemon, last)
    stored = json.loads(row["after"])
    assert stored["kind"] == "customer" and stored["domain"] is None and stored["note"] == ""
    assert row["reason"] == "customer notice"


NOTICE_PROBLEMS = [
    ("not JSON", b"contract=acme-lw", ["not json"]),
    ("JSON array", b'[{"contract": "acme-lw"}]', ["json object"]),
    ("unknown contract", a_notice(contract="nosuch"), ["unknown contract", "nosuch"]),
    ("missing contract", a_notice(contract=None), ["contract", "required"]),
    ("domain not of the contract", a_notice(domain="drive"), ["drive", "not a domain of contract"]),
    ("unknown key", a_notice(colour="red"), ["colour", "unknown key"]),
    ("at without offset", a_notice(at="2026-11-15T02:00:00"), ["at", "offset"]),
    ("at a date only", a_notice(at="2026-11-15"), ["at", "offset"]),
    ("missing at", a_notice(at=None), ["at", "required"]),
    ("unknown kind", a_notice(kind="rumour"), ["kind", "rumour"]),
    ("note not a string", a_notice(note=5), ["note"]),
]


@pytest.mark.parametrize("what,payload,needles", NOTICE_PROBLEMS, ids=[p[0] for p in NOTICE_PROBLEMS])
def test_bad_notice_is_400_and_changes_nothing(daemon, what, payload, needles):
    if isinstance(payload, dict):
        raw = json.dumps({k: v for k, v in payload.items() if v is not None}).encode()
    else:
        raw = payload
    before = counts(daemon)
    reply = post(daemon, "/api/v1/notices", raw=raw)
    assert_refused(daemon, reply, 400, *needles)
    assert counts(daemon) == before


# ===================================================================================================
# pushed samples
# ===================================================================================================

def test_push_samples_for_the_open_minute_is_202(daemon):
    minute = open_minute(daemon)
    before = counts(daemon)
    samples = [
        {"domain": "mail", "ts": iso(minute + timedelta(seconds=1)), "status": 200},
        {"domain": "mail", "ts": iso(minute + timedelta(seconds=2)), "status": 503},
        {"domain": "mail", "ts": iso(minute + timedelta(seconds=3)), "outcome": "timeout"},
        {"domain": "mail", "minute": iso(minute), "requests": 10, "errors": 1},
        {"domain": "mail", "ts": (minute + timedelta(seconds=4)).astimezone(TOKYO).isoformat(), "status": 404},
    ]
    reply = post(daemon, "/api/v1/samples", {"samples": samples})
    assert reply.status == 202, reply.body
    assert reply.json() == {"accepted": 5}
    # samples are data, not configuration: no window, notice or audit row
    assert counts(daemon) == before


def _good(minute: datetime) -> dict:
    # the domain "drive" only ever gets accepted samples from the last test, which counts them
    return {"domain": "drive", "ts": iso(minute + timedelta(seconds=5)), "status": 200}


def _sample_problems():
    def at(minute, **kw):
        return {"domain": "mail", "ts": iso(minute + timedelta(seconds=1)), "status": 200, **kw}
    return [
        ("not JSON", lambda m: b"samples", ["not json"]),
        ("JSON array", lambda m: json.dumps([at(m)]).encode(), ["json object"]),
        ("no samples key", lambda m: {"sample": [at(m)]}, ["samples"]),
        ("empty list", lambda m: {"samples": []}, ["at least 1"]),
        ("samples not a list", lambda m: {"samples": at(m)}, ["samples"]),
        ("sample not an object", lambda m: {"samples": [_good(m), "mail 200"]}, ["samples[1]", "object"]),
        ("unknown domain", lambda m: {"samples": [_good(m), at(m, domain="nosuch")]},
         ["samples[1]", "unknown domain", "nosuch"]),
        ("closed minute (the one the daemon started in)",
         lambda m: {"samples": [_good(m), at(START_MINUTE[0])]}, ["samples[1]", "not open"]),
        ("past minute", lambda m: {"samples": [_good(m), at(m - timedelta(days=1))]}, ["samples[1]", "not open"]),
        ("ts without offset", lambda m: {"samples": [_good(m), at(m, ts="2026-11-22T03:00:00")]},
         ["samples[1]", "ts", "offset"]),
        ("ts not a timestamp", lambda m: {"samples": [_good(m), at(m, ts="now")]}, ["samples[1]", "ts"]),
        ("ts missing", lambda m: {"samples": [_good(m), {"domain": "mail", "status": 200}]}, ["samples[1]", "ts"]),
        ("status not an integer", lambda m: {"samples": [_good(m), at(m, status="200")]},
         ["samples[1]", "status"]),
        ("status out of range", lambda m: {"samples": [_good(m), at(m, status=999)]}, ["samples[1]", "999"]),
        ("unknown outcome", lambda m: {"samples": [_good(m), {"domain": "mail", "ts": iso(m), "outcome": "meh"}]},
         ["samples[1]", "outcome"]),
        ("aggregate errors > requests",
         lambda m: {"samples": [_good(m), {"domain": "mail", "minute": iso(m), "requests": 1, "errors": 2}]},
         ["samples[1]", "errors <= requests"]),
        ("aggregate negative",
         lambda m: {"samples": [_good(m), {"domain": "mail", "minute": iso(m), "requests": -1, "errors": -1}]},
         ["samples[1].requests", "at least 0"]),
        # issue 9: these were accepted, or answered 500
        ("requests 10**20 (beyond SQLite's integers)",
         lambda m: {"samples": [_good(m), {"domain": "mail", "minute": iso(m), "requests": 10**20, "errors": 0}]},
         ["samples[1].requests", "at most 1000000000"]),
        ("requests 2**63",
         lambda m: {"samples": [_good(m), {"domain": "mail", "minute": iso(m), "requests": 2**63, "errors": 0}]},
         ["samples[1].requests", "at most"]),
        ("outcome a list (unhashable)",
         lambda m: {"samples": [_good(m), {"domain": "mail", "ts": iso(m), "outcome": []}]},
         ["samples[1].outcome", "must be one of"]),
        ("domain a list", lambda m: {"samples": [_good(m), {"domain": ["mail"], "ts": iso(m), "status": 200}]},
         ["samples[1].domain", "string"]),
        ("nested 10,000 deep", lambda m: b'{"samples": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
         ["nests deeper than 16"]),
        ("aggregate float requests",
         lambda m: {"samples": [_good(m), {"domain": "mail", "minute": iso(m), "requests": 1.0, "errors": 0}]},
         ["samples[1]", "integer"]),
    ]


SAMPLE_PROBLEMS = _sample_problems()
START_MINUTE: list[datetime] = []  # filled from the running daemon's status


@pytest.mark.parametrize("what,make,needles", SAMPLE_PROBLEMS, ids=[p[0] for p in SAMPLE_PROBLEMS])
def test_bad_samples_are_400_and_none_is_taken(daemon, what, make, needles):
    observed = datetime.fromisoformat(get(daemon, "/api/v1/status").json()["observed_since"])
    START_MINUTE[:] = [observed - timedelta(minutes=1)]
    minute = open_minute(daemon)
    payload = make(minute)
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    before = counts(daemon)
    reply = post(daemon, "/api/v1/samples", raw=raw)
    assert_refused(daemon, reply, 400, *needles)
    assert counts(daemon) == before


@pytest.mark.parametrize("ahead", [timedelta(days=1), timedelta(days=365 * 70)], ids=["tomorrow", "2090s"])
def test_push_for_a_future_minute_is_400(daemon, ahead):
    """A minute that has not begun is not "currently open": accepting it parks samples in memory
    that are written, as if observed, only when that minute closes (or never, after a restart)."""
    minute = now_utc().replace(second=0, microsecond=0) + ahead
    reply = post(daemon, "/api/v1/samples", {"samples": [{"domain": "mail", "ts": iso(minute), "status": 200}]})
    assert_refused(daemon, reply, 400, "samples[0]")


def test_pushed_aggregate_minute_must_be_a_whole_minute(daemon):
    """`slamon ingest` refuses {"minute": "...:30Z"} (minute must be a whole minute); the push
    form is documented as the same line forms."""
    minute = open_minute(daemon)
    reply = post(daemon, "/api/v1/samples", {"samples": [
        {"domain": "mail", "minute": iso(minute + timedelta(seconds=30)), "requests": 5, "errors": 0}]})
    assert_refused(daemon, reply, 400, "samples[0]", "whole minute")


def test_push_for_the_start_minute_names_the_fix(daemon):
    started = datetime.fromisoformat(get(daemon, "/api/v1/status").json()["started_at"])
    reply = post(daemon, "/api/v1/samples", {"samples": [
        {"domain": "mail", "ts": iso(started), "status": 200}]})
    assert_refused(daemon, reply, 400, "not open", "slamon ingest")


# ===================================================================================================
# reads of the admin endpoints and misc
# ===================================================================================================

def test_minutes_endpoint_reads_stored_minutes(daemon):
    start = now_utc() - timedelta(hours=1)
    reply = get(daemon, f"/api/v1/minutes?domain=mail&start={iso(start)}&end={iso(now_utc())}")
    assert reply.status == 200, reply.body
    rows = reply.json()
    assert rows and all(r["requests"] == 30 and r["state"] == "up" for r in rows)
    bad = get(daemon, f"/api/v1/minutes?domain=nosuch&start={iso(start)}&end={iso(now_utc())}")
    assert_refused(daemon, bad, 400, "unknown domain")


def test_oversized_body_is_refused(daemon):
    before = counts(daemon)
    reply = post(daemon, "/api/v1/notices", raw=b'{"note": "' + b"x" * (2 << 20) + b'"}')
    assert reply.status in (400, 413)
    assert counts(daemon) == before


# ===================================================================================================
# claims
# ===================================================================================================

def test_add_a_claim_then_list_it(daemon):
    before, last = counts(daemon), last_audit_id(daemon)
    reply = post(daemon, "/api/v1/claims", {"contract": "acme-lw", "period": "2026-11",
                                            "filed_at": "2026-12-10T10:00:00+09:00", "reference": "ticket 42"},
                 headers={"X-Slamon-Actor": "billing"})
    assert reply.status == 201, reply.body
    claim_id = reply.json()["id"]
    assert counts(daemon)["claims"] == before["claims"] + 1
    [row] = audit_rows(daemon, last)
    assert (row["entity"], row["entity_id"], row["actor"]) == ("claim", claim_id[3:], "api:billing")
    listed = get(daemon, "/api/v1/claims?contract=acme-lw&period=2026-11").json()
    assert {"id": claim_id, "contract": "acme-lw", "period": "2026-11", "filed_at": "2026-12-10T10:00:00+09:00",
            "reference": "ticket 42", "corrects": None} in listed


CLAIM_PROBLEMS = [
    ("unknown contract", {"contract": "nosuch", "period": "2026-11", "filed_at": "2026-12-10T10:00:00Z"},
     ["unknown contract", "nosuch"]),
    ("bad period", {"contract": "acme-lw", "period": "2026-13", "filed_at": "2026-12-10T10:00:00Z"}, ["period"]),
    ("no filed_at", {"contract": "acme-lw", "period": "2026-11"}, ["filed_at", "required"]),
    ("filed_at without offset", {"contract": "acme-lw", "period": "2026-11", "filed_at": "2026-12-10T10:00:00"},
     ["filed_at", "offset"]),
    ("unknown key", {"contract": "acme-lw", "period": "2026-11", "filed_at": "2026-12-10T10:00:00Z", "x": 1},
     ["x", "unknown key"]),
]


@pytest.mark.parametrize("what,payload,needles", CLAIM_PROBLEMS, ids=[p[0] for p in CLAIM_PROBLEMS])
def test_bad_claim_is_400_and_changes_nothing(daemon, what, payload, needles):
    before = counts(daemon)
    reply = post(daemon, "/api/v1/claims", payload)
    assert_refused(daemon, reply, 400, *needles)
    assert counts(daemon) == before


# ===================================================================================================
# the token never leaks; runs late so the log has seen every request above
# ===================================================================================================

def test_token_never_in_outputs_or_log(daemon):
    # once more: a refused and an accepted change, then look everywhere
    assert post(daemon, "/api/v1/notices", a_notice(), token=daemon.token[:-1]).status == 401
    assert post(daemon, "/api/v1/notices", a_notice()).status == 201
    for path in ("/", "/metrics", "/api/v1/status", "/api/v1/contracts", "/api/v1/audit",
                 "/api/v1/contracts/acme-lw/accounting"):
        assert daemon.token not in get(daemon, path).text, path
    log = daemon.stderr()
    assert log.strip(), "the daemon logged nothing at all"
    assert '"slamon running"' in log
    assert daemon.token not in log
    assert daemon.token[: len(daemon.token) // 2] not in log  # not even partly


# ===================================================================================================
# shutdown flushes the open minute: all-or-nothing pushes, counted exactly (stops the module's daemon)
# ===================================================================================================

def test_zz_pushed_samples_are_stored_all_or_nothing(daemon):
    # the clock in an open minute, so the stop's flush (through "now") writes it
    observed = datetime.fromisoformat(get(daemon, "/api/v1/status").json()["observed_since"])
    minute = open_minute(daemon)
    # refused batch: a good "drive" sample then a bad one
    refused = post(daemon, "/api/v1/samples", {"samples": [
        {"domain": "drive", "minute": iso(minute), "requests": 1000, "errors": 999},
        {"domain": "nosuch", "ts": iso(minute), "status": 200}]})
    assert refused.status == 400
    accepted = post(daemon, "/api/v1/samples", {"samples": [
        {"domain": "drive", "minute": iso(minute), "requests": 40, "errors": 1},
        {"domain": "drive", "ts": iso(minute + timedelta(seconds=2)), "status": 500},
        {"domain": "drive", "ts": iso(minute + timedelta(seconds=3)), "status": 200}]})
    assert accepted.status == 202, accepted.body
    daemon.stop()
    assert '"stopped"' in daemon.stderr()
    rows = [(r["minute"], r["requests"], r["errors"])
            for r in stored_minutes(daemon.db, "drive", start=int(observed.timestamp()) // 60)]
    assert rows == [(int(minute.timestamp()) // 60, 42, 2)], rows


# ===================================================================================================
# no token configured: changes are disabled
# ===================================================================================================

@pytest.mark.parametrize("setup", ["unset", "empty", "other variable"])
def test_changes_disabled_without_admin_token(tmp_path, setup, monkeypatch):
    if setup == "unset":
        monkeypatch.delenv("SLAMON_ADMIN_TOKEN", raising=False)
        d = start_daemon(tmp_path / "d", token=None, ingest=False)
        env_name = "SLAMON_ADMIN_TOKEN"
    elif setup == "empty":
        monkeypatch.setenv("SLAMON_ADMIN_TOKEN", "")
        d = start_daemon(tmp_path / "d", token="", ingest=False)
        env_name = "SLAMON_ADMIN_TOKEN"
    else:  # the config names another variable; SLAMON_ADMIN_TOKEN is set but is not the one
        env_name = "SLAMON_TEST_API_TOKEN_" + secrets.token_hex(4).upper()
        monkeypatch.setenv("SLAMON_ADMIN_TOKEN", "decoy-token")
        d = start_daemon(tmp_path / "d", token="decoy-token", ingest=False,
                         extra_config=f'admin_token_env = "{env_name}"')
    try:
        assert get(d, "/api/v1/status").status == 200  # reads still work
        before = counts(d)
        tokens = [None, "", "decoy-token", "anything"]
        for path, body in [("/api/v1/windows", a_window()), ("/api/v1/notices", a_notice()),
                           ("/api/v1/windows/db-1/end", {"reason": "x"}),
                           ("/api/v1/samples", {"samples": [{"domain": "mail", "ts": iso(now_utc()),
                                                             "status": 200}]})]:
            for token in tokens:
                reply = request(d, "POST", path, body, token=token)
                assert_refused(d, reply, 401, "changes are disabled", f"${env_name}")
        assert counts(d) == before
    finally:
        d.stop()


def test_custom_token_variable_is_used(tmp_path, monkeypatch):
    env_name = "SLAMON_TEST_API_TOKEN_" + secrets.token_hex(4).upper()
    token = secrets.token_urlsafe(24)
    monkeypatch.setenv("SLAMON_ADMIN_TOKEN", "decoy-token")
    monkeypatch.setenv(env_name, token)
    d = start_daemon(tmp_path / "d", token="decoy-token", ingest=False,
                     extra_config=f'admin_token_env = "{env_name}"')
    try:
        d.token = token
        assert post(d, "/api/v1/notices", a_notice(), token="decoy-token").status == 401
        assert post(d, "/api/v1/notices", a_notice(), token=token).status == 201
        assert token not in d.stderr()
    finally:
        d.stop()

