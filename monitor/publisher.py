"""Report publishing: each contract's month written once it has ended in the contract's zone,
frozen as revision 1, and revised (revision N+1 beside the earlier files, with the list of
changes) when its inputs change later. The database remembers what was written: a restart
neither writes a report twice nor skips one. Also the queries behind the /reports/ index and
each month's credits CSV."""
from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from monitor.accounting import build_reports
from monitor.config import Config
from monitor.errors import InputError
from monitor.storage import Row, Storage
from reports.accounting import ContractResult
from reports.compensation import add_months
from reports.contracts import Contract
from reports.formats import contract_markdown, report_csv, report_json
from reports.html import render_contract_html
from reports.revisions import describe_changes, snapshot, unchanged, with_revision_block

log = logging.getLogger("slamon.reports")
REVISION_MONTHS = 3  # frozen reports older than this are no longer recomputed
CLOSE_MARGIN_SECONDS = 60  # after a month's last minute closes, before its report is due


@dataclass
class ReportPublisher:
    """Writes the due monthly reports of a config into its reports_dir. `max_timeout` is the
    slowest probe's timeout: a month's last minute is closed that long after it ends."""

    _said: set[tuple[str, ...]] = field(default_factory=set)  # said once, not every 5 minutes

    def _once(self, key: tuple[str, ...], message: str, **extra: Any) -> None:
        if key not in self._said:
            self._said.add(key)
            log.info(message, extra=extra)

    @staticmethod
    def _this_month(config: Config, contract: Contract, now: datetime) -> datetime:
        return now.astimezone(ZoneInfo(config.timezone_of(contract))).replace(
            day=1, hour=0, minute=0, second=0, microsecond=0)

    def _last_month(self, config: Config, contract: Contract, now: datetime,
                    max_timeout: float) -> tuple[datetime, str] | None:
        """(start of this month in the contract's zone, label of last month), or None while last
        month's final minute may still be open."""
        this_month = self._this_month(config, contract, now)
        if now < this_month + timedelta(seconds=60 + max_timeout + CLOSE_MARGIN_SECONDS):
            return None  # the last minute of the month may still be open
        return this_month, add_months(this_month.date(), -1).strftime("%Y-%m")

    def _render(self, fmt: str, label: str, results: list[ContractResult], revision: int,
                diff: Sequence[str], issued_on: date) -> str | None:
        """A report's text; None when the HTML renderer failed (the other formats still go out)."""
        if fmt == "json":
            data = report_json(label, results)
            if revision > 1:
                data["revision"] = revision
                data["diff"] = list(diff)
            return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
        if fmt == "md":
            text = contract_markdown(results[0])
            return with_revision_block(text, revision, list(diff)) if revision > 1 else text
        if fmt == "csv":
            return report_csv(label, results)
        try:
            return render_contract_html(results[0], revision=revision, diff=tuple(diff), issued_on=issued_on)
        except Exception:
            log.exception("HTML report not rendered", extra={"contract": results[0].contract.id, "period": label,
                                                             "revision": revision})
            return None

    @staticmethod
    def _write_file(path: Path, text: str) -> str:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        return hashlib.sha256(text.encode()).hexdigest()

    def write_due(self, storage: Storage, config: Config, now: datetime, max_timeout: float) -> list[Path]:
        """Write each contract's last month once it has ended in the contract's zone (and its last
        minute has closed): revision 1, frozen. A later change of its inputs is `revise`'s
        business, never a rewrite."""
        work = self.due_work(storage, config, now, max_timeout)
        return self.record(storage, work)

    def revise(self, storage: Storage, config: Config, now: datetime, max_timeout: float) -> list[Path]:
        """Recompute the frozen reports of the last REVISION_MONTHS months; where the inputs or
        figures changed (a window or notice added or ended, late data), write revision N+1 as
        CONTRACT.rN.EXT beside the earlier ones, with the list of changes. Nothing is rewritten."""
        return self.record(storage, self.revision_work(storage, config, now, max_timeout))

    def publish(self, storage: Storage, config: Config, now: datetime, max_timeout: float) -> list[Path]:
        """Write what is due, then revise what changed."""
        return self.write_due(storage, config, now, max_timeout) + self.revise(storage, config, now, max_timeout)

    # Each run has two halves: the work (read the minutes, compute, render and write the files),
    # which may run in another process with its own connection, and the record of it (which
    # files, which revision), written by the daemon's one writer.

    def due_work(self, storage: Storage, config: Config, now: datetime, max_timeout: float) -> Work:
        """The files of every report that is due, written; their record still to be made. All
        contracts of one month are computed in one pass over the minutes."""
        work = Work()
        due: dict[str, list[tuple[Contract, list[str], Row | None]]] = {}
        for contract in config.contracts.values():
            when = self._last_month(config, contract, now, max_timeout)
            if when is None:
                continue
            label = when[1]
            formats = [f for f in config.monitor.report_formats if not storage.report_written(contract.id, label, f)]
            latest = storage.latest_report_revision(contract.id, label)
            if formats or latest is None:
                due.setdefault(label, []).append((contract, formats, latest))
        for label, entries in sorted(due.items()):
            ids = [contract.id for contract, _, _ in entries]
            try:
                results = {r.contract.id: r for r in build_reports(config, storage, label, ids, as_of=now)}
            except InputError as exc:
                for contract_id in ids:
                    work.note((contract_id, label), "monthly report not written", contract=contract_id,
                              period=label, why=str(exc))
                continue
            for contract, formats, latest in entries:
                self._due_one(config, label, results[contract.id], formats, latest, now, work)
        return work

    def _due_one(self, config: Config, label: str, result: ContractResult, formats: list[str], latest: Row | None,
                 now: datetime, work: Work) -> None:
        contract = result.contract
        snap = snapshot(result)
        if latest is not None and not unchanged(latest, snap):
            # a format added to revision 1 later must show revision 1's figures: the changed
            # figures go to the next revision, with all formats
            work.note((contract.id, label, "frozen"), "report formats not added to a frozen revision "
                      "whose inputs changed since", contract=contract.id, period=label, formats=formats)
            return
        folder = config.monitor.reports_dir / label
        folder.mkdir(parents=True, exist_ok=True)
        files = []
        for fmt in formats:
            text = self._render(fmt, label, [result], 1, [], self._issued_on(result, now))
            if text is None:
                continue
            path = folder / f"{contract.id}.{fmt}"
            files.append((fmt, str(path), self._write_file(path, text)))
        work.items.append(Publication(
            contract.id, label, 1, tuple(files), first=latest is None, evidence_digest=snap.digest,
            credit_amount=str(result.credit_amount), currency=contract.currency, diff=(),
            evidence=snap.evidence_text, report=snap.report_text))

    def revision_work(self, storage: Storage, config: Config, now: datetime, max_timeout: float) -> Work:
        work = Work()
        due_labels: dict[str, list[str]] = {}  # one computation per month for all its contracts
        for contract in config.contracts.values():
            due = self._last_month(config, contract, now, max_timeout)
            this_month = due[0] if due else self._this_month(config, contract, now)
            since = add_months(this_month.date(), -REVISION_MONTHS).strftime("%Y-%m")
            for label in storage.report_periods(contract.id, since):
                due_labels.setdefault(label, []).append(contract.id)
        for label, ids in sorted(due_labels.items()):
            try:
                results = build_reports(config, storage, label, ids, as_of=now)
            except InputError as exc:
                work.note((label, "revise"), "frozen reports not recomputed", period=label, contracts=ids,
                          why=str(exc))
                continue
            for result in results:
                self._revise(storage, config, label, result, now, work)
        return work

    @staticmethod
    def _issued_on(result: ContractResult, now: datetime) -> date:
        return now.astimezone(ZoneInfo(result.period.timezone)).date()

    def _revise(self, storage: Storage, config: Config, label: str, result: ContractResult,
                now: datetime, work: Work) -> None:
        contract = result.contract
        latest = storage.latest_report_revision(contract.id, label)
        snap = snapshot(result)
        if latest is None or unchanged(latest, snap):
            return
        revision = latest["revision"] + 1
        diff = describe_changes(latest["evidence"], latest["report"], snap.evidence, snap.report)
        folder = config.monitor.reports_dir / label
        folder.mkdir(parents=True, exist_ok=True)
        files = []
        for fmt in config.monitor.report_formats:
            text = self._render(fmt, label, [result], revision, diff, self._issued_on(result, now))
            if text is None:
                continue
            path = folder / f"{contract.id}.r{revision}.{fmt}"
            files.append((fmt, str(path), self._write_file(path, text)))
        work.items.append(Publication(
            contract.id, label, revision, tuple(files), first=False, evidence_digest=snap.digest,
            credit_amount=str(result.credit_amount), currency=contract.currency, diff=tuple(diff),
            evidence=snap.evidence_text, report=snap.report_text))

    def record(self, storage: Storage, work: Work) -> list[Path]:
        """Record what `work` wrote (revision 1's files with their revision, or a revision N+1),
        each report in one transaction, and say what happened."""
        for key, message, extra in work.notes:
            self._once(key, message, **extra)
        written = []
        for item in work.items:
            with storage.db.atomic():
                if item.revision == 1:
                    for fmt, path, sha in item.files:
                        storage.record_report(item.contract, item.period, fmt, path, sha)
                if item.revision > 1 or item.first:
                    storage.add_report_revision(
                        item.contract, item.period, item.revision, evidence_digest=item.evidence_digest,
                        credit_amount=item.credit_amount, currency=item.currency, diff=list(item.diff),
                        evidence=item.evidence, report=item.report,
                        files={} if item.revision == 1 else {fmt: {"path": path, "sha256": sha}
                                                             for fmt, path, sha in item.files})
            paths = [Path(path) for _, path, _ in item.files]
            written += paths
            if item.revision == 1:
                for file in paths:
                    log.info("monthly report written", extra={"contract": item.contract, "period": item.period,
                                                              "path": str(file)})
            else:
                log.warning("monthly report revised", extra={"contract": item.contract, "period": item.period,
                                                             "revision": item.revision, "diff": list(item.diff)})
        return written


@dataclass(frozen=True)
class Publication:
    """A report whose files are written and whose record is still to be made."""

    contract: str
    period: str
    revision: int
    files: tuple[tuple[str, str, str], ...]     # (format, path, sha256)
    first: bool                                  # revision 1 has no revision row yet
    evidence_digest: str
    credit_amount: str
    currency: str
    diff: tuple[str, ...]
    evidence: str
    report: str


@dataclass
class Work:
    """What one run of the publisher did: reports to record, and things to say (once each)."""

    items: list[Publication] = field(default_factory=list)
    notes: list[tuple[tuple[str, ...], str, dict[str, Any]]] = field(default_factory=list)

    def note(self, key: tuple[str, ...], message: str, **extra: Any) -> None:
        self.notes.append((key, message, extra))

    def __add__(self, other: Work) -> Work:
        return Work(self.items + other.items, self.notes + other.notes)


# --- what has been published ---------------------------------------------------------------------

CREDIT_COLUMNS = ("contract", "customer", "regime", "period", "revision", "currency", "credit_amount",
                  "claim_deadline", "credit_applies", "status", "coverage")


def report_index(storage: Storage) -> list[dict[str, Any]]:
    """Every frozen report, newest month first: its revisions (oldest first), each with its files
    as {format: file name} in the month's folder."""
    first_files: dict[tuple[str, str], dict[str, str]] = {}
    for row in storage.written_report_files():
        first_files.setdefault((row["contract"], row["period"]), {})[row["format"]] = Path(row["path"]).name
    reports: dict[tuple[str, str], dict[str, Any]] = {}
    for rev in storage.report_revisions(skip=("evidence",)):
        entry = reports.setdefault((rev["period"], rev["contract"]), {
            "period": rev["period"], "contract": rev["contract"], "revisions": []})
        files = first_files.get((rev["contract"], rev["period"]), {}) if rev["revision"] == 1 else \
            {fmt: Path(f["path"]).name for fmt, f in rev["files"].items()}
        entry["revisions"].append({"revision": rev["revision"], "credit_amount": rev["credit_amount"],
                                   "status": (rev["report"] or {}).get("status", "final"),
                                   "coverage": (rev["report"] or {}).get("coverage", ""),
                                   "currency": rev["currency"], "written_at": rev["written_at"], "diff": rev["diff"],
                                   "evidence_digest": rev["evidence_digest"], "files": dict(sorted(files.items()))})
    return sorted(reports.values(), key=lambda e: (-int(e["period"].replace("-", "")), e["contract"]))


def credits_due(storage: Storage, period: str) -> list[dict[str, Any]] | None:
    """The latest revision's credit of every contract reported for the month, where one is owed
    or where the month is not final (insufficient evidence: its zero is not a finding); None when
    no report of that month exists."""
    revisions = storage.report_revisions(period=period, skip=("evidence",))
    if not revisions:
        return None
    latest: dict[str, dict[str, Any]] = {}
    for rev in revisions:  # oldest first: the last one wins
        latest[rev["contract"]] = rev
    rows = []
    for contract, rev in sorted(latest.items()):
        report = rev["report"]
        status = report.get("status", "final")
        if Decimal(rev["credit_amount"]) == 0 and status == "final":
            continue
        rows.append({"contract": contract, "customer": report.get("customer", ""), "regime": report.get("regime", ""),
                     "period": period, "revision": rev["revision"], "currency": rev["currency"],
                     "credit_amount": rev["credit_amount"], "claim_deadline": report.get("claim_deadline") or "",
                     "credit_applies": report.get("credit_applies") or "", "status": status,
                     "coverage": report.get("coverage", "")})
    return rows
