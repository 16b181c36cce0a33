"""The one-screen summary every command ends with, and `OUT/stats.json` holding the same numbers."""
from __future__ import annotations

import sys

from wit_pipeline import files


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
