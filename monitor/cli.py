"""`slamon` command line. User mistakes become one-line errors and exit 2, never tracebacks."""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from monitor.config import Config, load_config, parse_notice, parse_window
from monitor.errors import ConfigError, InputError, Problem, SlamonError
from monitor.values import Problems, path_str

DEFAULT_CONFIG = "config.toml"


def _actor(args) -> str:
    if getattr(args, "actor", None):
        return args.actor
    try:
        user = getpass.getuser()
    except Exception:  # no user database entry (containers)
        user = "unknown"
    return os.environ.get("SLAMON_ACTOR") or f"cli:{user}"


def _storage(config: Config, *, must_exist: bool = False):
    from monitor.storage import Storage
    return Storage(config.monitor.database, must_exist=must_exist)


def _raise_problems(problems: Problems, source: str) -> None:
    if problems:
        raise ConfigError([Problem(source, None, path_str(p), m) for p, m in problems.items])


# --- commands ------------------------------------------------------------------------------

def cmd_run(args) -> int:
    from monitor.daemon import run_daemon
    return run_daemon(args.config)


def cmd_check_config(args) -> int:
    config = load_config(args.config)
    print(f"{args.config}: ok ({len(config.domains)} domains, {len(config.contracts)} contracts, "
          f"{len(config.windows)} windows, {len(config.notices)} notices, "
          f"{len(config.regimes)} regimes)")
    return 0


def cmd_ingest(args) -> int:
    from monitor.ingest import ingest_source
    config = load_config(args.config)
    for name in args.files:  # check every input before the database is touched
        if name != "-" and not os.access(name, os.R_OK):
            raise InputError(f"{name}: cannot read (no such file or no permission); nothing was loaded")
    totals = [0, 0, 0]
    with _storage(config) as storage:
        for name in args.files:
            if name == "-":
                summary = ingest_source(storage, sys.stdin.buffer, "<stdin>", config.domains, seekable=False,
                                        report=lambda line: print(line, file=sys.stderr))
            else:
                try:
                    stream = open(name, "rb")
                except OSError as exc:
                    raise InputError(f"{name}: cannot read: {exc.strerror}") from None
                with stream:
                    summary = ingest_source(storage, stream, name, config.domains, seekable=True,
                                            report=lambda line: print(line, file=sys.stderr))
            print(summary.line())
            totals[0] += summary.loaded
            totals[1] += summary.rejected
            totals[2] += 0 if summary.duplicate_of else 1
    if len(args.files) > 1:
        print(f"total: {totals[0]} loaded, {totals[1]} rejected, {totals[2]} of {len(args.files)} inputs new")
    return 0


def cmd_verify(path: str) -> int:
    """`slamon report --verify FILE`: recompute a report's figures from its embedded evidence."""
    from reports.evidence import Unrecognised, detect_kind, software_version, verify_report
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        checked = verify_report(text, detect_kind(text, path))
    except Unrecognised as exc:
        raise InputError(f"{path}: not a slamon report with embedded evidence: {exc}") from None
    running = software_version()
    for version in checked.versions:
        if version != running:
            print(f"{path}: note: made by slamon {version}, verified with slamon {running}")
    for problem in checked.problems:
        print(f"{path}: {problem}")
    if checked.problems:
        return 1
    n = checked.contracts
    print(f"{path}: verified ({n} contract{'' if n == 1 else 's'}; evidence {', '.join(checked.digests)}; "
          f"slamon {', '.join(checked.versions) or 'unknown'})")
    return 0


def cmd_report(args) -> int:
    if getattr(args, "verify", None):
        return cmd_verify(args.verify)
    if not args.period:
        raise InputError("report needs --period YYYY-MM (or --verify FILE)")
    from reports.accounting import build_reports, parse_period
    from reports.render import contract_markdown, report_csv, report_json
    parse_period(args.period)
    config = load_config(args.config)
    with _storage(config, must_exist=True) as storage:
        results = build_reports(config, storage, args.period, args.contract or ())
    outputs: list[tuple[str, str]] = []
    if args.format == "json":
        outputs.append((f"report-{args.period}.json",
                        json.dumps(report_json(args.period, results), ensure_ascii=False) + "\n"))
    elif args.format == "md":
        outputs += [(f"{r.contract.id}-{args.period}.md", contract_markdown(r)) for r in results]
    elif args.format == "csv":
        outputs.append((f"report-{args.period}.csv", report_csv(args.period, results)))
    elif args.format == "html":
        from reports.html import render_contract_html
        outputs += [(f"{r.contract.id}-{args.period}.html", render_contract_html(r, lang=args.lang))
                    for r in results]
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, text in outputs:
            (out / name).write_text(text, encoding="utf-8")
            print(out / name)
    else:
        sys.stdout.write("\n".join(text for _, text in outputs))
    return 0


def _timestamp_arg(text: str | None, flag: str):
    if text is None:
        return None
    from monitor.values import timestamp
    problems = Problems()
    value = timestamp(text, (flag,), problems)
    _raise_problems(problems, "command line")
    return value


def cmd_windows(args) -> int:
    config = load_config(args.config)
    with _storage(config) as storage:
        if args.action == "add":
            data = {"kind": args.kind, "start": args.start, "reason": args.reason}
            if args.domain:
                data["domains"] = args.domain
            if args.contract:
                data["contracts"] = args.contract
            if args.end:
                data["end"] = args.end
            if args.announced_at:
                data["announced_at"] = args.announced_at
            problems = Problems()
            window = parse_window(("window",), data, problems, config.domains, config.contracts, source="database")
            _raise_problems(problems, "command line")
            window_id = storage.add_window(window, actor=_actor(args))
            print(f"window db-{window_id} added")
        elif args.action == "end":
            at = _timestamp_arg(args.at, "--at") or datetime.now(timezone.utc)
            raw = args.id.removeprefix("db-")
            if not raw.isdigit():
                raise InputError(f"window id must be a database window id such as db-3 or 3, got {args.id!r} "
                                 f"(windows from config.toml are changed in the file)")
            storage.end_window(int(raw), at, actor=_actor(args), reason=args.reason)
            print(f"window db-{raw} ends at {at.isoformat()}")
        else:
            windows = list(config.windows) + storage.windows()
            if args.json:
                print(json.dumps([{"id": w.id, "source": w.source, "kind": w.kind, "domains": list(w.domains),
                                   "contracts": list(w.contracts), "start": w.start.isoformat(),
                                   "end": w.end.isoformat() if w.end else None,
                                   "announced_at": w.announced_at.isoformat() if w.announced_at else None,
                                   "reason": w.reason} for w in windows], ensure_ascii=False, indent=2))
            else:
                for w in windows:
                    targets = ",".join(w.domains + w.contracts)
                    print(f"{w.id}\t{w.kind}\t{targets}\t{w.start.isoformat()}\t"
                          f"{w.end.isoformat() if w.end else 'open'}\t{w.reason}")
    return 0


def cmd_notices(args) -> int:
    config = load_config(args.config)
    with _storage(config) as storage:
        if args.action == "add":
            data = {"contract": args.contract, "at": args.at, "kind": args.kind}
            if args.domain:
                data["domain"] = args.domain
            if args.note:
                data["note"] = args.note
            problems = Problems()
            notice = parse_notice(("notice",), data, problems, config.contracts, source="database")
            _raise_problems(problems, "command line")
            notice_id = storage.add_notice(notice, actor=_actor(args))
            print(f"notice db-{notice_id} added")
        else:
            notices = list(config.notices) + storage.notices()
            if args.json:
                print(json.dumps([{"id": n.id, "source": n.source, "contract": n.contract, "domain": n.domain,
                                   "at": n.at.isoformat(), "kind": n.kind, "note": n.note} for n in notices],
                                 ensure_ascii=False, indent=2))
            else:
                for n in notices:
                    print(f"{n.id}\t{n.kind}\t{n.contract}\t{n.domain or '-'}\t{n.at.isoformat()}\t{n.note}")
    return 0


# --- parser --------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # exit 2 with the usage line, as argparse does, but say where
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="slamon", description="SLA uptime monitoring and downtime accounting")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def with_config(p):
        p.add_argument("--config", default=DEFAULT_CONFIG, help="configuration file (default: config.toml)")
        return p

    p = with_config(sub.add_parser("run", help="the long-running daemon: probes, /metrics, admin API, reports"))
    p.set_defaults(func=cmd_run)

    p = with_config(sub.add_parser("check-config", help="validate the configuration"))
    p.set_defaults(func=cmd_check_config)

    p = with_config(sub.add_parser("ingest", help="load JSON Lines samples ('-' for standard input)"))
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=cmd_ingest)

    p = with_config(sub.add_parser("report", help="the monthly availability and compensation report"))
    p.add_argument("--period", metavar="YYYY-MM", help="the month to report (required unless --verify)")
    p.add_argument("--verify", metavar="FILE", help="recompute a JSON or HTML report's figures from its embedded "
                                                    "evidence; needs no --period or --config")
    p.add_argument("--contract", action="append", metavar="ID", help="only this contract (repeatable)")
    p.add_argument("--format", choices=("json", "md", "csv", "html"), default="json")
    p.add_argument("--lang", choices=("en", "ja", "ko"), help="language of the HTML report (default: the "
                                                             "regime's: lineworks/kddi ja, Korean regimes ko)")
    p.add_argument("--out", metavar="DIR", help="write files into DIR instead of standard output")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("windows", help="exclusion windows in the database")
    wsub = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
    w = with_config(wsub.add_parser("add", help="add an exclusion window"))
    w.add_argument("--kind", required=True, choices=("maintenance", "customer", "force_majeure", "free"))
    w.add_argument("--domain", action="append", help="a domain it applies to (repeatable)")
    w.add_argument("--contract", action="append", help="a contract it applies to (repeatable)")
    w.add_argument("--start", required=True, help="RFC 3339 with offset")
    w.add_argument("--end", help="RFC 3339 with offset; omit for a window still open")
    w.add_argument("--announced-at", help="when the maintenance was announced to customers")
    w.add_argument("--reason", required=True)
    w.add_argument("--actor", help="who makes the change (default: $SLAMON_ACTOR or cli:$USER)")
    w = with_config(wsub.add_parser("end", help="set the end of a database window (audited)"))
    w.add_argument("id")
    w.add_argument("--at", help="RFC 3339 with offset (default: now)")
    w.add_argument("--reason", required=True)
    w.add_argument("--actor")
    w = with_config(wsub.add_parser("list", help="windows from the config and the database"))
    w.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_windows)

    p = sub.add_parser("notices", help="customer and provider notices of unavailability")
    nsub = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
    n = with_config(nsub.add_parser("add", help="record a notice"))
    n.add_argument("--contract", required=True)
    n.add_argument("--domain")
    n.add_argument("--at", required=True, help="RFC 3339 with offset")
    n.add_argument("--kind", choices=("customer", "provider"), default="customer")
    n.add_argument("--note")
    n.add_argument("--actor")
    n = with_config(nsub.add_parser("list"))
    n.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_notices)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return exc.exit_code
    except SlamonError as exc:
        print(f"slamon: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
