"""A live progress line on stderr for local runs (Beam metrics carry the same counts)."""
from __future__ import annotations

import sys
import threading
import time


class Progress:
    def __init__(self, label: str, total: int | None = None, interval: float = 2.0, stream=None):
        self.label, self.total, self.interval = label, total, interval
        self.stream = stream or sys.stderr
        self.counts: dict[str, int] = {}
        self.done = 0
        self._lock = threading.Lock()
        self._start = self._last = time.monotonic()

    def update(self, status: str, n: int = 1) -> None:
        with self._lock:
            self.done += n
            self.counts[status] = self.counts.get(status, 0) + n
            now = time.monotonic()
            if now - self._last < self.interval:
                return
            self._last = now
            line = self.line(now)
        print(line, file=self.stream, flush=True)

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self._start, 1e-9)
        of_total = f"/{self.total}" if self.total else ""
        top = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items(), key=lambda kv: -kv[1])[:4])
        return f"{self.label}: {self.done}{of_total} rows, {self.done / elapsed:.1f}/s ({top})"
