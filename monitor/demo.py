"""A demo target the daemon can serve itself, so a newcomer sees a down minute within minutes:
every `fail_every_minutes` UTC minutes, for `fail_for_minutes`, a share of requests get 503."""
from __future__ import annotations

import itertools
from fractions import Fraction

from aiohttp import web

from monitor.clock import Clock
from monitor.config import DemoSettings


def failing(settings: DemoSettings, epoch_seconds: float) -> bool:
    minute = int(epoch_seconds // 60)
    return minute % settings.fail_every_minutes < settings.fail_for_minutes


def build_demo_app(settings: DemoSettings, clock: Clock) -> web.Application:
    # one counter per path: probes of several domains interleave, and a shared counter would
    # hand all the failures to one of them
    counters: dict[str, itertools.count[int]] = {}
    ratio: Fraction = settings.error_ratio

    async def handle(request: web.Request) -> web.Response:
        n = next(counters.setdefault(request.path, itertools.count()))
        # deterministic share: request n fails iff floor((n+1)*p) > floor(n*p)
        if failing(settings, clock.wall()) and (n + 1) * ratio.numerator // ratio.denominator > \
                n * ratio.numerator // ratio.denominator:
            return web.Response(status=503, text="demo: scheduled failure\n")
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
