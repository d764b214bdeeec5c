"""The database's one writer: work on the daemon's Storage runs in a worker thread, one piece at a
time, so the event loop keeps probing while a minute of 10,000 domains is written (hundreds of
milliseconds) and no two pieces of work interleave on the one connection."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from monitor.storage import Storage

T = TypeVar("T")


class StorageWriter:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._lock = asyncio.Lock()

    async def run(self, work: Callable[[Storage], T]) -> T:
        """`work(storage)` in a worker thread, after every piece of work submitted before it."""
        async with self._lock:
            return await asyncio.to_thread(work, self.storage)

    def close(self) -> None:
        self.storage.close()
