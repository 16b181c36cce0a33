"""Beam metrics, one scheme for every stage.

Counters live in the namespace `wit.<stage>` (`wit.queries`, `wit.harvest`, ...) and are
named `group.name` (`filtered.empty_text`, `skipped.not_html`), so a stage reads all of
its own back with one query after the pipeline finished and groups them by prefix for
its summary. On a cluster the runner aggregates them across workers; committed values
are preferred, attempted ones stand in where a runner commits none (the DirectRunner in
some modes).
"""
from __future__ import annotations

import functools

from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter


def namespace(stage: str) -> str:
    return f"wit.{stage}"


@functools.lru_cache(maxsize=None)
def counter(stage: str, name: str):
    """The counter `name` of `stage`; cached, since hot DoFns count per element."""
    return Metrics.counter(namespace(stage), name)


def count(stage: str, name: str, n: int = 1) -> None:
    counter(stage, name).inc(n)


def read_counters(result, stage: str) -> dict[str, int]:
    """Every counter of `stage` in a finished pipeline result, by name."""
    totals: dict[str, int] = {}
    for found in result.metrics().query(MetricsFilter().with_namespace(namespace(stage)))["counters"]:
        value = found.committed if found.committed is not None else found.attempted
        name = found.key.metric.name
        totals[name] = totals.get(name, 0) + int(value or 0)
    return totals


def group(counters: dict[str, int], prefix: str) -> dict[str, int]:
    """The counters named `prefix.NAME`, as {NAME: value}, sorted by name."""
    return {name[len(prefix) + 1:]: value for name, value in sorted(counters.items())
            if name.startswith(prefix + ".")}
