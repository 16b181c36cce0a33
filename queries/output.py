"""Writing the final list: queries.parquet, queries.txt and the count-distribution plot."""
from __future__ import annotations

import io
from typing import Sequence

import pyarrow as pa

from queries.schema import PLOT_NAME, QUERIES_PARQUET, QUERIES_TXT, SCHEMA, SOURCES
from queries.union import Candidate
from wit_pipeline.core import files


def to_table(ranked: Sequence[Candidate]) -> pa.Table:
    return pa.table({
        "query": [c.query for c in ranked],
        "source": [c.source for c in ranked],
        "count": pa.array([c.count for c in ranked], pa.int64()),
        "score": pa.array([c.score for c in ranked], pa.float64()),
    }, schema=SCHEMA)


def write_outputs(out: str, ranked: Sequence[Candidate]) -> None:
    files.makedirs(out)
    files.write_parquet(files.join(out, QUERIES_PARQUET), to_table(ranked))
    files.write_bytes(files.join(out, QUERIES_TXT),
                      "".join(c.query + "\n" for c in ranked).encode("utf-8"))
    files.write_bytes(files.join(out, PLOT_NAME), plot_png(ranked))


def plot_png(ranked: Sequence[Candidate]) -> bytes:
    """Rank/frequency (log-log) of each source's count, or views for titles."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), dpi=100)
    axes = figure.add_subplot()
    plotted = False
    for source in SOURCES:
        values = sorted((c.score if source == "title" else c.count for c in ranked
                         if c.source == source), key=lambda v: -(v or 0))
        values = [v for v in values if v]
        if values:
            axes.plot(range(1, len(values) + 1), values, label=f"{source} ({len(values):,})")
            plotted = True
    if plotted:
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.legend()
    else:
        axes.text(0.5, 0.5, "no counted queries", ha="center", va="center")
    axes.set_xlabel("rank within source")
    axes.set_ylabel("count (titles: views)")
    axes.set_title(f"wit queries: {len(ranked):,} queries")
    buffer = io.BytesIO()
    # No timestamp in the PNG metadata: same inputs, same bytes.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
