#!/usr/bin/env python3
"""Writes the bundled sample month (November 2026) for config.toml's domains as JSON Lines.

Deterministic: every minute of the month has 20-40 requests per domain, with
- works-mail down 2026-11-10 10:00-10:43 JST (44 minutes: regimes.md worked example 1),
- works-mail failing during its announced maintenance 2026-11-15 02:00-03:00 JST (excluded),
- works-calendar down 2026-11-18 07:00-07:59 JST, the customer's notice recorded at 07:30,
- works-drive with a 5-minute monitoring gap (unknown minutes) and one minute at exactly 5%.
Outage minutes are written as per-request lines, the rest as per-minute aggregates.
"""
import argparse
import sys
from datetime import UTC, datetime, timedelta, timezone

JST = timezone(timedelta(hours=9))
START = datetime(2026, 11, 1, tzinfo=JST)
END = datetime(2026, 12, 1, tzinfo=JST)


def minutes(start, count):
    return {start + timedelta(minutes=i) for i in range(count)}


DOWN = {
    "works-mail": minutes(datetime(2026, 11, 10, 10, 0, tzinfo=JST), 44)
    | minutes(datetime(2026, 11, 15, 2, 0, tzinfo=JST), 60),
    "works-calendar": minutes(datetime(2026, 11, 18, 7, 0, tzinfo=JST), 60),
}
GAP = {"works-drive": minutes(datetime(2026, 11, 20, 3, 0, tzinfo=JST), 5)}
EXACTLY_5_PERCENT = {"works-drive": datetime(2026, 11, 21, 12, 0, tzinfo=JST)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="-", help="file to write (default: standard output)")
    args = parser.parse_args()
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")
    moment = START
    index = 0
    while moment < END:
        utc = moment.astimezone(UTC)
        stamp = utc.strftime("%Y-%m-%dT%H:%MZ")
        for domain in ("works-mail", "works-drive", "works-calendar"):
            if moment in GAP.get(domain, ()):
                continue
            requests = 20 + (index * 7 + len(domain)) % 21
            if moment in DOWN.get(domain, ()):
                for i in range(20):
                    ts = (utc + timedelta(seconds=3 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")
                    status = 503 if i % 4 else 200
                    out.write(f'{{"ts": "{ts}", "domain": "{domain}", "status": {status}}}\n')
                continue
            errors = 1 if EXACTLY_5_PERCENT.get(domain) == moment else 0
            if errors:
                requests = 20
            out.write(f'{{"minute": "{stamp}", "domain": "{domain}", "requests": {requests}, "errors": {errors}}}\n')
        moment += timedelta(minutes=1)
        index += 1
    if out is not sys.stdout:
        out.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
