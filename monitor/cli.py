"""`slamon` command line. User mistakes become one-line errors and exit 2, never tracebacks.

The configuration file is `--config FILE` (before or after the subcommand), else $SLAMON_CONFIG,
else config.toml in the working directory."""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import NoReturn

from monitor import admin
from monitor.accounting import build_reports
from monitor.clock import SystemClock, now_utc
from monitor.config import Config, load_config
from monitor.daemon import run_daemon
from monitor.errors import ConfigError, InputError, Problem, SlamonError
from monitor.ingest import ingest_source
from monitor.runtime import LOG_FORMATS
from monitor.sql import UNAVAILABLE, is_url, redact, sqlite_path
from monitor.storage import Storage
from monitor.storage_copy import copy_storage
from reports.accounting import parse_period
from reports.fields import Problems, path_str, timestamp
from reports.formats import contract_markdown, report_csv, report_json
from reports.html import render_contract_html
from reports.minutes import EXCLUSION_KINDS
from reports.verify import Unrecognised, detect_kind, verify_report

DEFAULT_CONFIG = "config.toml"
CONFIG_ENV = "SLAMON_CONFIG"


def version() -> str:
    try:
        return metadata.version("slamon")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def _config_path(args: argparse.Namespace) -> str:
    given: str | None = getattr(args, "config", None) or args.global_config
    return given or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG


def _config(args: argparse.Namespace) -> Config:
    return load_config(_config_path(args))


def _actor(args: argparse.Namespace) -> str:
    if getattr(args, "actor", None):
        return str(args.actor)
    try:
        user = getpass.getuser()
    except Exception:  # no user database entry (containers)
        user = "unknown"
    return os.environ.get("SLAMON_ACTOR") or f"cli:{user}"


def _storage(config: Config, *, must_exist: bool = False) -> Storage:
    return Storage(config.monitor.storage_target, clock=SystemClock(), must_exist=must_exist)


def _raise_problems(problems: Problems, source: str) -> None:
    if problems:
        raise ConfigError([Problem(source, None, path_str(p), m) for p, m in problems.items])


# --- commands ------------------------------------------------------------------------------

def cmd_run(args: argparse.Namespace) -> int:
    return run_daemon(_config_path(args), log_format=args.log_format,
                      log_level=os.environ.get("SLAMON_LOG_LEVEL", "INFO"))


def cmd_check_config(args: argparse.Namespace) -> int:
    path = _config_path(args)
    config = load_config(path)
    print(f"{path}: ok ({len(config.domains)} domains, {len(config.contracts)} contracts, "
          f"{len(config.windows)} windows, {len(config.notices)} notices, "
          f"{len(config.regimes)} regimes)")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    config = _config(args)
    for name in args.files:  # check every input before the database is touched
        if name != "-" and not os.access(name, os.R_OK):
            raise InputError(f"{name}: cannot read (no such file or no permission); nothing was loaded")
    totals = [0, 0, 0]

    def report(line: str) -> None:
        print(line, file=sys.stderr)

    with _storage(config) as storage:
        for name in args.files:
            if name == "-":
                summary = ingest_source(storage, sys.stdin.buffer, "<stdin>", config.domains, seekable=False,
                                        report=report)
            else:
                try:
                    stream = open(name, "rb")
                except OSError as exc:
                    raise InputError(f"{name}: cannot read: {exc.strerror}") from None
                with stream:
                    summary = ingest_source(storage, stream, name, config.domains, seekable=True, report=report)
            print(summary.line())
            totals[0] += summary.loaded
            totals[1] += summary.rejected
            totals[2] += 0 if summary.duplicate_of else 1
    if len(args.files) > 1:
        print(f"total: {totals[0]} loaded, {totals[1]} rejected, {totals[2]} of {len(args.files)} inputs new")
    return 0


def cmd_verify(path: str) -> int:
    """`slamon report --verify FILE`: recompute a report's figures from its embedded evidence."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        checked = verify_report(text, detect_kind(text, path))
    except Unrecognised as exc:
        raise InputError(f"{path}: not a slamon report with embedded evidence: {exc}") from None
    running = version()
    for made_by in checked.versions:
        if made_by != running:
            print(f"{path}: note: made by slamon {made_by}, verified with slamon {running}")
    for problem in checked.problems:
        print(f"{path}: {problem}")
    if checked.problems:
        return 1
    n = checked.contracts
    print(f"{path}: verified ({n} contract{'' if n == 1 else 's'}; evidence {', '.join(checked.digests)}; "
          f"slamon {', '.join(checked.versions) or 'unknown'})")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    if args.verify:
        return cmd_verify(args.verify)
    if not args.period:
        raise InputError("report needs --period YYYY-MM (or --verify FILE)")
    parse_period(args.period)
    config = _config(args)
    with _storage(config, must_exist=True) as storage:
        results = build_reports(config, storage, args.period, args.contract or (), as_of=now_utc(SystemClock()))
    outputs: list[tuple[str, str]] = []
    if args.format == "json":
        outputs.append((f"report-{args.period}.json",
                        json.dumps(report_json(args.period, results), ensure_ascii=False) + "\n"))
    elif args.format == "md":
        outputs += [(f"{r.contract.id}-{args.period}.md", contract_markdown(r)) for r in results]
    elif args.format == "csv":
        outputs.append((f"report-{args.period}.csv", report_csv(args.period, results)))
    elif args.format == "html":
        now = now_utc(SystemClock())
        for r in results:
            issued_on = now.astimezone(r.period.start_local.tzinfo).date()  # today in the contract's zone
            outputs.append((f"{r.contract.id}-{args.period}.html",
                            render_contract_html(r, lang=args.lang, issued_on=issued_on)))
    if args.out:
        out = Path(args.out)
        try:
            out.mkdir(parents=True, exist_ok=True)
            for name, text in outputs:
                (out / name).write_text(text, encoding="utf-8")
                print(out / name)
        except (FileExistsError, NotADirectoryError):
            raise InputError(f"--out {args.out}: not a directory (a file is in the way)") from None
        except OSError as exc:
            raise InputError(f"--out {args.out}: cannot write: {exc.strerror or exc}") from None
    else:
        sys.stdout.write("\n".join(text for _, text in outputs))
    return 0


def _timestamp_arg(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    problems = Problems()
    value = timestamp(text, (flag,), problems)
    _raise_problems(problems, "command line")
    return value


def _invalid_change(exc: admin.InvalidChange) -> ConfigError:
    return ConfigError([Problem("command line", None, path_str(p), m) for p, m in exc.problems.items])


def cmd_windows(args: argparse.Namespace) -> int:
    config = _config(args)
    with _storage(config) as storage:
        if args.action == "add":
            fields = {"kind": args.kind, "start": args.start, "reason": args.reason}
            for key, value in (("domains", args.domain), ("contracts", args.contract), ("end", args.end),
                               ("announced_at", args.announced_at), ("announced_end", args.announced_end)):
                if value:
                    fields[key] = value
            try:
                window = admin.add_window(storage, config, fields, _actor(args))
            except admin.InvalidChange as exc:
                raise _invalid_change(exc) from None
            print(f"window {window.id} added")
        elif args.action == "end":
            at = _timestamp_arg(args.at, "--at") or now_utc(SystemClock())
            admin.end_window(storage, args.id, at, args.reason, _actor(args))
            print(f"window db-{admin.window_number(args.id)} ends at {at.isoformat()}")
        else:
            windows = admin.all_windows(storage, config)
            if args.json:
                print(json.dumps([admin.window_json(w) for w in windows], ensure_ascii=False, indent=2))
            else:
                for w in windows:
                    targets = ",".join(w.domains + w.contracts)
                    print(f"{w.id}\t{w.kind}\t{targets}\t{w.start.isoformat()}\t"
                          f"{w.end.isoformat() if w.end else 'open'}\t{w.reason}")
    return 0


def cmd_notices(args: argparse.Namespace) -> int:
    config = _config(args)
    with _storage(config) as storage:
        if args.action == "add":
            fields = {"contract": args.contract, "at": args.at, "kind": args.kind}
            if args.domain:
                fields["domain"] = args.domain
            if args.note:
                fields["note"] = args.note
            try:
                notice = admin.add_notice(storage, config, fields, _actor(args))
            except admin.InvalidChange as exc:
                raise _invalid_change(exc) from None
            print(f"notice {notice.id} added")
        else:
            notices = admin.all_notices(storage, config)
            if args.json:
                print(json.dumps([admin.notice_json(n) for n in notices], ensure_ascii=False, indent=2))
            else:
                for n in notices:
                    print(f"{n.id}\t{n.kind}\t{n.contract}\t{n.domain or '-'}\t{n.at.isoformat()}\t{n.note}")
    return 0


def cmd_claims(args: argparse.Namespace) -> int:
    config = _config(args)
    with _storage(config) as storage:
        if args.action == "add":
            fields = {"contract": args.contract, "period": args.period, "filed_at": args.filed_at}
            if args.reference:
                fields["reference"] = args.reference
            if args.corrects:
                fields["corrects"] = args.corrects
            try:
                claim = admin.add_claim(storage, config, fields, _actor(args))
            except admin.InvalidChange as exc:
                raise _invalid_change(exc) from None
            print(f"claim {claim.id} added")
        else:
            if args.period:
                parse_period(args.period)
            claims = storage.claims(args.contract, args.period)
            if args.json:
                print(json.dumps([admin.claim_json(c) for c in claims], ensure_ascii=False, indent=2))
            else:
                for c in claims:
                    print(f"{c.id}\t{c.contract}\t{c.period}\t{c.filed_at.isoformat()}\t{c.reference}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """`slamon audit verify`: walk the audit log's and the report ledger's hash chains."""
    config = _config(args)
    with _storage(config, must_exist=True) as storage:
        results = storage.verify_ledgers()
    broken = False
    for result in results:
        if result["broken"]:
            broken = True
            print(f"{result['ledger']}: broken at {result['broken']['row']}: {result['broken']['why']}")
        else:
            print(f"{result['ledger']}: ok ({result['rows']} rows, head {result['head'][:16]})")
    return 1 if broken else 0


def cmd_backup(args: argparse.Namespace) -> int:
    """`slamon backup DEST`: a consistent copy of the database, safe while the daemon writes."""
    config = _config(args)
    dest = Path(args.dest)
    if dest.exists() and not args.force:
        raise InputError(f"{dest}: exists (remove it or pass --force)")
    if dest.is_dir():
        raise InputError(f"{dest}: is a directory; name the file to write")
    with _storage(config, must_exist=True) as storage:
        pages = storage.backup_to(dest)
    print(f"{dest}: backup of {storage.where} ({pages} pages)")
    return 0


def cmd_storage(args: argparse.Namespace) -> int:
    """`slamon storage copy --from URL --to URL`: move an installation between backends."""
    config = _config(args)
    for flag, url in (("--from", args.source), ("--to", args.target)):
        if not is_url(url):
            raise InputError(f"{flag} must be a URL: postgresql://USER@HOST:PORT/DATABASE or sqlite:///PATH, "
                             f"got {redact(url)[:200]!r}")
    source_file = sqlite_path(args.source)
    if source_file is not None and not source_file.exists():
        raise InputError(f"--from {args.source}: no such database")
    with Storage(args.source, clock=SystemClock(), must_exist=True) as source, \
            Storage(args.target, clock=SystemClock()) as target:
        result = copy_storage(source, target, config, now_utc(SystemClock()),
                              say=lambda line: print(line, file=sys.stderr))
    print(f"copied {sum(result.rows.values())} rows from {redact(args.source)} to {redact(args.target)}; verified: "
          f"the same rows and ledger heads, and the reports of {result.period} for {result.contracts_compared} "
          f"contracts are identical")
    return 0


def cmd_quarantine(args: argparse.Namespace) -> int:
    config = _config(args)
    with _storage(config, must_exist=True) as storage:
        if args.action == "list":
            rows = storage.quarantined(include_replayed=args.all)
            if args.json:
                print(json.dumps(rows, ensure_ascii=False, indent=2))
            for row in rows if not args.json else ():
                minute = datetime.fromtimestamp(row["minute"] * 60, UTC).isoformat()
                print(f"{row['id']}\t{row['domain']}\t{minute}\trequests={row['counts']['requests']}\t"
                      f"errors={row['counts']['errors']}\t{row['reason']}\t"
                      f"{'replayed ' + row['replayed_at'] if row['replayed_at'] else 'waiting'}")
            return 0
        try:
            written, _ = storage.replay_quarantined(args.id)
        except (SlamonError,) + UNAVAILABLE:
            raise
        except Exception as exc:
            raise InputError(f"quarantined minute {args.id} still cannot be stored: {type(exc).__name__}: {exc}"
                             ) from None
        print(f"quarantined minute {args.id} " + ("stored" if written else "was already stored: left as it was"))
    return 0


# --- parser --------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # exit 2 with the usage line, as argparse does
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


CONFIG_HELP = f"configuration file (default: ${CONFIG_ENV}, else {DEFAULT_CONFIG})"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="slamon", description="SLA uptime monitoring and downtime accounting: from request "
                                                "outcomes to the compensation a contract owes.")
    parser.add_argument("--version", action="version", version=f"slamon {version()}",
                        help="print slamon's version and exit")
    parser.add_argument("--config", dest="global_config", metavar="FILE", help=CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    def command(parent: argparse._SubParsersAction, name: str, summary: str,  # type: ignore[type-arg]
                func: Callable[[argparse.Namespace], int] | None = None) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=summary, description=summary)
        # SUPPRESS: a level that is not given leaves the others' --config alone
        p.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=CONFIG_HELP)
        if func is not None:
            p.set_defaults(func=func)
        return p

    p = command(sub, "run", "the long-running daemon: probes, minutes, /metrics, admin API, monthly reports",
                cmd_run)
    p.add_argument("--log-format", choices=LOG_FORMATS, default="auto",
                   help="log lines as text or JSON (default auto: text on a terminal, JSON otherwise)")

    command(sub, "check-config", "validate the configuration file; every problem as file:line: key: message",
            cmd_check_config)

    p = command(sub, "ingest", "load JSON Lines samples into the database (idempotent per input)", cmd_ingest)
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="a JSON Lines file of samples (status, outcome or per-minute aggregate lines); "
                        "'-' reads standard input")

    p = command(sub, "report", "the monthly availability and compensation report of every contract",
                cmd_report)
    p.add_argument("--period", metavar="YYYY-MM", help="the month to report (required unless --verify)")
    p.add_argument("--verify", metavar="FILE", help="recompute a JSON or HTML report's figures from its embedded "
                                                    "evidence; needs no --period or --config")
    p.add_argument("--contract", action="append", metavar="ID", help="only this contract (repeatable)")
    p.add_argument("--format", choices=("json", "md", "csv", "html"), default="json",
                   help="json (default, the documented schema with evidence), md for people, csv for "
                        "billing, html (one self-contained page per contract)")
    p.add_argument("--lang", choices=("en", "ja", "ko"), help="language of the HTML report (default: the "
                                                             "regime's: lineworks/kddi ja, Korean regimes ko)")
    p.add_argument("--out", metavar="DIR", help="write files into DIR instead of standard output")

    p = command(sub, "windows", "exclusion windows recorded in the database (audited)", cmd_windows)
    wsub = p.add_subparsers(dest="action", required=True, parser_class=_Parser, metavar="ACTION")
    w = command(wsub, "add", "add an exclusion window")
    w.add_argument("--kind", required=True, choices=EXCLUSION_KINDS, help="why the minutes are excluded")
    w.add_argument("--domain", action="append", help="a domain it applies to (repeatable)")
    w.add_argument("--contract", action="append", help="a contract it applies to (repeatable)")
    w.add_argument("--start", required=True, help="start, RFC 3339 with offset")
    w.add_argument("--end", help="end (exclusive), RFC 3339 with offset; omit for a window still open")
    w.add_argument("--announced-at", help="when the maintenance was announced to customers, RFC 3339")
    w.add_argument("--announced-end", help="the end the maintenance was announced with, if --end is not it "
                                          "(minutes past it are an overrun), RFC 3339")
    w.add_argument("--reason", required=True, help="why: shown in reports and kept in the audit log")
    w.add_argument("--actor", help="who makes the change (default: $SLAMON_ACTOR or cli:$USER)")
    w = command(wsub, "end", "set the end of a database window, earlier or later (audited)")
    w.add_argument("id", help="the window's database id: db-3 or 3 (windows of config.toml change in the file)")
    w.add_argument("--at", help="the end, RFC 3339 with offset (default: now)")
    w.add_argument("--reason", required=True, help="why the end changes: kept in the audit log")
    w.add_argument("--actor", help="who makes the change (default: $SLAMON_ACTOR or cli:$USER)")
    w = command(wsub, "list", "windows from the config and the database")
    w.add_argument("--json", action="store_true", help="one JSON array instead of tab-separated lines")

    p = command(sub, "notices", "customer and provider notices of unavailability (notice-based regimes)",
                cmd_notices)
    nsub = p.add_subparsers(dest="action", required=True, parser_class=_Parser, metavar="ACTION")
    n = command(nsub, "add", "record a notice (audited)")
    n.add_argument("--contract", required=True, help="the contract the notice is about")
    n.add_argument("--domain", help="the service (domain) it names, if it names one")
    n.add_argument("--at", required=True, help="when the notice was given, RFC 3339 with offset")
    n.add_argument("--kind", choices=("customer", "provider"), default="customer",
                   help="customer: the customer told us; provider: we became aware ourselves (default: customer)")
    n.add_argument("--note", help="what was said, for the report and the audit log")
    n.add_argument("--actor", help="who records it (default: $SLAMON_ACTOR or cli:$USER)")
    n = command(nsub, "list", "notices from the config and the database")
    n.add_argument("--json", action="store_true", help="one JSON array instead of tab-separated lines")

    p = command(sub, "claims", "customers' claims for compensation (audited): on time, price, invoice, caps",
                cmd_claims)
    csub = p.add_subparsers(dest="action", required=True, parser_class=_Parser, metavar="ACTION")
    c = command(csub, "add", "record a customer's claim for a contract's month (audited)")
    c.add_argument("contract", metavar="CONTRACT", help="the contract the claim is for")
    c.add_argument("--period", required=True, metavar="YYYY-MM", help="the month whose compensation is claimed")
    c.add_argument("--filed-at", required=True, help="when the claim reached the provider, RFC 3339 with offset")
    c.add_argument("--reference", help="the claim's reference (ticket, letter) for the report and the audit log")
    c.add_argument("--corrects", metavar="ID", help="the id of a claim of the same month recorded by mistake, which "
                                                   "this one replaces (db-N)")
    c.add_argument("--actor", help="who records it (default: $SLAMON_ACTOR or cli:$USER)")
    c = command(csub, "list", "recorded claims")
    c.add_argument("--contract", metavar="ID", help="only this contract's")
    c.add_argument("--period", metavar="YYYY-MM", help="only this month's")
    c.add_argument("--json", action="store_true", help="one JSON array instead of tab-separated lines")

    p = command(sub, "audit", "the tamper-evident audit log and report ledger", cmd_audit)
    asub = p.add_subparsers(dest="action", required=True, parser_class=_Parser, metavar="ACTION")
    command(asub, "verify", "check both hash chains: exit 0 when they hold, 1 naming the first broken row")

    p = command(sub, "backup", "a consistent copy of the database, while the daemon runs (SQLite's backup API)",
                cmd_backup)
    p.add_argument("dest", metavar="DEST", help="the file to write (a database slamon can open as it is)")
    p.add_argument("--force", action="store_true", help="overwrite DEST if it exists")

    p = command(sub, "storage", "the database itself: move an installation between SQLite and PostgreSQL",
                cmd_storage)
    ssub = p.add_subparsers(dest="action", required=True, parser_class=_Parser, metavar="ACTION")
    s = command(ssub, "copy", "copy every table into an empty database and verify the copy (rows, ledger heads, "
                              "last month's reports recomputed on both)")
    s.add_argument("--from", dest="source", required=True, metavar="URL",
                   help="the database to copy: sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE")
    s.add_argument("--to", dest="target", required=True, metavar="URL", help="an empty database to copy into")

    p = command(sub, "quarantine", "closed minutes that could not be stored: inspect and replay them",
                cmd_quarantine)
    qsub = p.add_subparsers(dest="action", required=True, parser_class=_Parser, metavar="ACTION")
    q = command(qsub, "list", "quarantined minutes waiting to be replayed")
    q.add_argument("--all", action="store_true", help="also those already replayed")
    q.add_argument("--json", action="store_true", help="one JSON array instead of tab-separated lines")
    q = command(qsub, "replay", "store a quarantined minute again (after the cause is fixed)")
    q.add_argument("id", type=_positive_id, help="its id, from `slamon quarantine list`")
    return parser


def _positive_id(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 18 and int(text) > 0):
        raise argparse.ArgumentTypeError(f"expected a positive id, got {text[:40]!r}")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return exc.exit_code
    except SlamonError as exc:
        print(f"slamon: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except UNAVAILABLE as exc:  # locked by another writer, full disk, server gone: not the user's mistake
        print(f"slamon: error: the database cannot be used now: {exc}; nothing was changed", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
