"""What a command shows its user: a live progress line on stderr while it works (local runs;
Beam metrics carry the same counts), and the one-screen summary it ends with, with
`OUT/stats.json` holding the same numbers."""
from __future__ import annotations

import sys
import threading
import time

from wit_pipeline.core import files
def format_summary(title: str, stats: dict) -> str:
    lines = [f"== {title} =="]

    def walk(prefix: str, value, depth: int) -> None:
        if isinstance(value, dict):
            if prefix:
                lines.append(f"{'  ' * depth}{prefix}:")
                depth += 1
            for key in value:
                walk(str(key), value[key], depth)
        else:
            if isinstance(value, float):
                value = f"{value:,.4g}"
            elif isinstance(value, int) and not isinstance(value, bool):
                value = f"{value:,}"
            lines.append(f"{'  ' * depth}{prefix}: {value}")

    walk("", stats, 0)
    return "\n".join(lines)


def finish(out: str, title: str, stats: dict, stream=None) -> None:
    """Write OUT/stats.json and print the summary."""
    files.makedirs(out)
    files.write_json(files.join(out, "stats.json"), stats)
    print(format_summary(title, stats), file=stream or sys.stdout, flush=True)


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
