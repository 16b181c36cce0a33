"""What a command shows its user, one mechanism for every stage:

- `Progress`: the live progress line of a long loop, on stderr;
- `say`: a one-off note on stderr (`wit train: resumed from ...`);
- `finish` / `format_summary`: the one-screen summary a command ends with, with
  `OUT/stats.json` holding the same numbers.

Progress lines are for people watching: Beam metrics (core/counters) and stats.json
carry the same counts on every runner, so the lines stay off when stderr is no terminal
(a log file, a CI job) unless a command asks for them.
"""
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


def say(label: str, message: str, stream=None) -> None:
    """`label: message` on stderr, at once: what a user should read even in a log file."""
    print(f"{label}: {message}", file=stream or sys.stderr, flush=True)


def _is_terminal(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Progress:
    """A live progress line, printed as a new line at most every `interval` seconds:

        download: 1200/5000 rows, 310.2/s (success 1100, http_404 80)
        train: 120/300 steps, 3.1/s, loss 4.123, epoch 0

    `update(status, n)` counts `n` more items (by `status` when given: the four most
    frequent are shown); keyword fields (`loss=...`) are shown after the rate and kept
    until changed. The rate counts this run's items only (not `initial`, where a resumed
    run starts). Thread-safe, so a DoFn on Beam's in-process workers can feed one line.
    `show`: None prints only when the stream is a terminal, False never, True always.
    """

    def __init__(self, label: str, total: int | None = None, *, unit: str = "rows", initial: int = 0,
                 interval: float = 2.0, stream=None, show: bool | None = None):
        self.label, self.total, self.unit, self.interval = label, total, unit, interval
        self.stream = stream or sys.stderr
        self.show = _is_terminal(self.stream) if show is None else show
        self.counts: dict[str, int] = {}
        self.fields: dict[str, object] = {}
        self.done = self.initial = initial
        self._lock = threading.Lock()
        self._start = self._last = time.monotonic()
        self._printed = initial

    def update(self, status: str | None = None, n: int = 1, **fields) -> None:
        with self._lock:
            self.done += n
            if status is not None:
                self.counts[status] = self.counts.get(status, 0) + n
            self.fields.update(fields)
            now = time.monotonic()
            if not self.show or now - self._last < self.interval:
                return
            self._last, self._printed = now, self.done
            line = self.line(now)
        print(line, file=self.stream, flush=True)

    def close(self) -> None:
        """Print the final state, unless the last line already showed it."""
        with self._lock:
            if not self.show or self._printed == self.done:
                return
            self._printed = self.done
            line = self.line()
        print(line, file=self.stream, flush=True)

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self._start, 1e-9)
        of_total = f"/{self.total}" if self.total else ""
        text = f"{self.label}: {self.done}{of_total} {self.unit}, {(self.done - self.initial) / elapsed:.1f}/s"
        if self.counts:
            top = sorted(self.counts.items(), key=lambda kv: -kv[1])[:4]
            text += f" ({', '.join(f'{k} {v}' for k, v in top)})"
        for name, value in self.fields.items():
            text += f", {name} {value:.4g}" if isinstance(value, float) else f", {name} {value}"
        return text
