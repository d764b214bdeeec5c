"""The operator's changes to what happened: exclusion windows and notices recorded in the
database, each with one audit row. One implementation for `slamon windows|notices` and the admin
API; both hand in the same plain-data fields (a payload, or the command line's flags)."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from monitor.config import Config, parse_claim, parse_notice, parse_window
from monitor.errors import InputError
from monitor.storage import Storage
from reports.contracts import Claim, Notice, Window
from reports.fields import KeyPath, Problems, path_str


class InvalidChange(InputError):
    """The fields of a change are wrong; `problems` names each key (the CLI and the API each say
    where the fields came from)."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{key_text(path)}: {message}" for path, message in problems.items))


def key_text(path: KeyPath) -> str:
    """A problem's key without the entity it was parsed under ("window", "notice")."""
    return path_str(path[1:]) if len(path) > 1 else str(path[0])


def window_number(ref: str) -> int:
    """The database id of a window written `db-3` or `3`."""
    raw = ref.removeprefix("db-")
    if not (raw.isascii() and raw.isdigit() and 0 < len(raw) <= 18 and int(raw) > 0):
        raise InputError(f"window id must be a database window id such as db-3 or 3, got {ref[:40]!r} "
                         f"(windows from config.toml are changed in the file)")
    return int(raw)


def add_window(storage: Storage, config: Config, fields: Mapping[str, Any], actor: str) -> Window:
    problems = Problems()
    window = parse_window(("window",), dict(fields), problems, config.domains, config.contracts, source="database")
    if problems or window is None:
        raise InvalidChange(problems)
    window_id = storage.add_window(window, actor=actor)
    return Window(kind=window.kind, start=window.start, end=window.end, reason=window.reason,
                  domains=window.domains, contracts=window.contracts, announced_at=window.announced_at,
                  id=f"db-{window_id}", source="database")


def end_window(storage: Storage, ref: str, at: datetime, reason: str, actor: str) -> dict[str, Any]:
    """Set the end of a database window (earlier or later), audited; returns its row."""
    return storage.end_window(window_number(ref), at, actor=actor, reason=reason)


def add_notice(storage: Storage, config: Config, fields: Mapping[str, Any], actor: str) -> Notice:
    problems = Problems()
    notice = parse_notice(("notice",), dict(fields), problems, config.contracts, source="database")
    if problems or notice is None:
        raise InvalidChange(problems)
    notice_id = storage.add_notice(notice, actor=actor)
    return Notice(contract=notice.contract, at=notice.at, kind=notice.kind, domain=notice.domain,
                  note=notice.note, id=f"db-{notice_id}", source="database")


def add_claim(storage: Storage, config: Config, fields: Mapping[str, Any], actor: str) -> Claim:
    problems = Problems()
    claim = parse_claim(("claim",), dict(fields), problems, config.contracts)
    if claim is not None and claim.corrects:
        month = storage.claims(claim.contract, claim.period)
        if claim.corrects not in {c.id for c in month}:
            problems.add(("claim", "corrects"), f"{claim.corrects} is not a recorded claim of {claim.contract} "
                                                f"{claim.period}")
        elif claim.corrects in {c.corrects for c in month}:
            problems.add(("claim", "corrects"), f"{claim.corrects} is corrected already")
    if problems or claim is None:
        raise InvalidChange(problems)
    claim_id = storage.add_claim(claim, actor=actor)
    return Claim(contract=claim.contract, period=claim.period, filed_at=claim.filed_at, reference=claim.reference,
                 id=f"db-{claim_id}", source="database", corrects=claim.corrects)


def claim_json(c: Claim) -> dict[str, Any]:
    return {"id": c.id, "contract": c.contract, "period": c.period, "filed_at": c.filed_at.isoformat(),
            "reference": c.reference, "corrects": c.corrects or None}


def all_windows(storage: Storage, config: Config) -> list[Window]:
    return list(config.windows) + storage.windows()


def all_notices(storage: Storage, config: Config) -> list[Notice]:
    return list(config.notices) + storage.notices()


def window_json(w: Window) -> dict[str, Any]:
    return {"id": w.id, "source": w.source, "kind": w.kind, "domains": list(w.domains),
            "contracts": list(w.contracts), "start": w.start.isoformat(),
            "end": w.end.isoformat() if w.end else None,
            "announced_at": w.announced_at.isoformat() if w.announced_at else None,
            "announced_end": w.announced_end.isoformat() if w.announced_end else None, "reason": w.reason}


def notice_json(n: Notice) -> dict[str, Any]:
    return {"id": n.id, "source": n.source, "contract": n.contract, "domain": n.domain,
            "at": n.at.isoformat(), "kind": n.kind, "note": n.note}
