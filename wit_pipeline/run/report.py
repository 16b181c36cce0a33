"""The one-page report of a `wit run` / `wit demo` output directory (`wit report OUT`).

Reads what the stages left in OUT/<stage>/ (their stats.json, the query list, the
training log) and writes OUT/report.json (the numbers) and OUT/report.html (the same,
with the query-count distribution and the training curve as inline PNGs). A stage
that has not run is reported as missing, not guessed.
"""
from __future__ import annotations

import base64
import collections
import html
import io
import json

from wit_pipeline.core import files

STAGES = ("queries", "harvest", "download", "dedup", "train")


def _read_json(path: str):
    return files.read_json(path) if files.exists(path) else None


def _training_log(out: str) -> list[dict]:
    path = files.join(out, "train", "log.jsonl")
    if not files.exists(path):
        return []
    records = []
    for line in files.read_bytes(path).decode("utf-8").splitlines():
        line = line.strip()
        if line:
            record = json.loads(line)
            if "loss" in record and "step" in record:
                records.append(record)
    return records


def collect(out: str) -> dict:
    stats = {stage: _read_json(files.join(out, stage, "stats.json")) for stage in STAGES}
    report: dict = {"out": out, "stages_missing": [s for s in STAGES if stats[s] is None]}
    if stats["queries"]:
        query_table = files.read_parquet(files.join(out, "queries", "queries.parquet"))
        counts = [c for c in query_table.column("count").to_pylist() if c is not None]
        report["queries"] = {"total": query_table.num_rows,
                             "by_source": dict(collections.Counter(query_table.column("source").to_pylist())),
                             "counted": len(counts), "count_max": max(counts, default=None),
                             "count_median": sorted(counts)[len(counts) // 2] if counts else None}
    if stats["harvest"]:
        harvest = stats["harvest"]
        report["harvest"] = {key: harvest.get(key) for key in ("inputs", "images_found", "skipped", "filtered",
                                                                "pairs", "queries", "balance")}
    if stats["download"]:
        download = stats["download"]
        report["download"] = {key: download.get(key) for key in ("count", "successes", "failed", "status",
                                                                  "shards", "rows_per_second_this_run")}
    if stats["dedup"]:
        dedup = stats["dedup"]
        report["dedup"] = {"removed_by_reason": dedup.get("duplicates", {}).get("removed_by_reason"),
                           "kept": dedup.get("filtered", {}).get("kept"),
                           "input_samples": dedup.get("filtered", {}).get("input_samples"),
                           "overlap": {name: {k: ev.get(k) for k in ("size", "overlap", "overlap_pct")}
                                       for name, ev in (dedup.get("eval_sets") or {}).items()},
                           "audit_html": files.join(out, "dedup", "audit", "report.html")}
    log = _training_log(out)
    if stats["train"] or log:
        train = stats["train"] or {}
        report["train"] = {"steps": train.get("steps"), "first_loss": train.get("first_loss"),
                           "final_loss": train.get("final_loss"), "samples_per_second": train.get("samples_per_second"),
                           "zero_shot": train.get("zero_shot"),
                           "curve": [{"step": r["step"], "loss": r["loss"]} for r in log]}
    return report


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _plots(out: str, report: dict) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = {}
    if "queries" in report:
        table = files.read_parquet(files.join(out, "queries", "queries.parquet"))
        by_source = collections.defaultdict(list)
        for source, count in zip(table.column("source").to_pylist(), table.column("count").to_pylist()):
            if count:
                by_source[source].append(count)
        if by_source:
            figure, axis = plt.subplots(figsize=(6, 3.2))
            for source, counts in sorted(by_source.items()):
                axis.hist(counts, bins=40, histtype="step", label=source, log=True)
            axis.set_xscale("log")
            axis.set_xlabel("occurrences in the corpus")
            axis.set_ylabel("queries")
            axis.legend()
            plots["query_counts"] = _png(figure)
            plt.close(figure)
    curve = (report.get("train") or {}).get("curve") or []
    if curve:
        figure, axis = plt.subplots(figsize=(6, 3.2))
        axis.plot([p["step"] for p in curve], [p["loss"] for p in curve])
        axis.set_xlabel("step")
        axis.set_ylabel("contrastive loss")
        plots["training_curve"] = _png(figure)
        plt.close(figure)
    return plots


def _table(rows: dict | None) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v) if isinstance(v, (dict, list)) else str(v))}</td></tr>"
                   for k, v in rows.items())
    return f"<table>{body}</table>"


def render_html(report: dict, plots: dict[str, str]) -> str:
    parts = [f"<h1>wit run report</h1><p>{html.escape(report['out'])}</p>"]
    if report["stages_missing"]:
        parts.append(f"<p>Stages not run (no stats.json): {', '.join(report['stages_missing'])}</p>")
    if "queries" in report:
        parts.append("<h2>Queries</h2>" + _table(report["queries"]["by_source"]))
        parts.append(f"<p>{report['queries']['total']:,} queries</p>")
        if "query_counts" in plots:
            parts.append(f'<img alt="query count distribution" src="data:image/png;base64,{plots["query_counts"]}">')
    if "harvest" in report:
        harvest = report["harvest"]
        parts.append("<h2>Harvest</h2><h3>Pairs</h3>" + _table(harvest.get("pairs")))
        parts.append("<h3>Filtered</h3>" + _table(harvest.get("filtered")))
        parts.append("<h3>Skipped</h3>" + _table(harvest.get("skipped")))
    if "download" in report:
        parts.append("<h2>Download</h2>" + _table(report["download"]["status"]))
        parts.append(f"<p>{report['download']['successes']:,} of {report['download']['count']:,} rows "
                     f"succeeded, in {report['download']['shards']} shards</p>")
    if "dedup" in report:
        dedup = report["dedup"]
        rows = "".join(f"<tr><th>{html.escape(name)}</th><td>{ev['size']}</td><td>{ev['overlap']}</td>"
                       f"<td>{ev['overlap_pct']:.2f}%</td></tr>" for name, ev in dedup["overlap"].items())
        parts.append("<h2>Dedup and overlap</h2><table><tr><th>eval set</th><th>size</th><th>overlap</th>"
                     f"<th>overlap %</th></tr>{rows}</table><h3>Removed, by reason</h3>" + _table(dedup["removed_by_reason"]))
        parts.append(f'<p>kept {dedup["kept"]} of {dedup["input_samples"]}; '
                     f'image pairs: <a href="{html.escape(dedup["audit_html"])}">audit report</a></p>')
    if "train" in report:
        train = {k: v for k, v in report["train"].items() if k != "curve"}
        parts.append("<h2>Training</h2>" + _table(train))
        if "training_curve" in plots:
            parts.append(f'<img alt="training curve" src="data:image/png;base64,{plots["training_curve"]}">')
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}")
    return f"<!doctype html><html><head><meta charset='utf-8'><title>wit report</title><style>{style}</style>" \
           f"</head><body>{''.join(parts)}</body></html>"


def write_report(out: str) -> dict:
    """OUT/report.json and OUT/report.html; ValueError when OUT holds no stage's output."""
    report = collect(out)
    if len(report["stages_missing"]) == len(STAGES):
        raise ValueError(f"{out} holds no stage output (expected {', '.join(f'{s}/stats.json' for s in STAGES)})")
    files.write_json(files.join(out, "report.json"), report)
    files.write_bytes(files.join(out, "report.html"), render_html(report, _plots(out, report)).encode("utf-8"))
    return report
