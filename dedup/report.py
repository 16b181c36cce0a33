"""`report.json` and `report.html` from the detection outputs in an audit directory.

Per eval set (SPEC): `size`, `overlap` (eval images with at least one match), `overlap_pct`,
`threshold`, plus the pHash distance, how many dataset samples matched, which detector
flagged the matches, the distribution of each eval image's top-1 similarity (to judge
the threshold), and with a checkpoint the zero-shot All/Clean/Overlap analysis.
The HTML page shows the matched pairs side by side as inline base64 JPEG thumbnails,
so it is a single self-contained file.
"""
from __future__ import annotations

import base64
import html
import io
import math

import numpy as np

from wit_pipeline.clip import evalsets
from dedup.weights import EMBEDDINGS_OFF_REASON
from wit_pipeline.core import files
THUMBNAIL_SIZE = 160
# Damaged shards named in the printed summary; report.json and unreadable.parquet hold all.
SUMMARY_DAMAGED_SHARDS = 10


def _quantiles(values: np.ndarray) -> dict | None:
    if len(values) == 0:
        return None
    return {name: float(np.quantile(values, q)) for name, q in
            (("min", 0.0), ("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))}


def eval_set_report(name: str, eval_set, ev, overlap, nearest, config) -> dict:
    ids = overlap.column("eval_id").to_pylist()
    sims = np.array(overlap.column("similarity").to_pylist(), dtype=np.float32)
    dists = np.array(overlap.column("phash_distance").to_pylist(), dtype=np.int16)
    by_sim = sims >= config.similarity if config.similarity is not None else np.zeros(len(sims), bool)
    by_phash = dists <= config.phash_distance
    size = len(ev.table) + len(ev.undecodable)
    overlapping = sorted(set(ids))
    top1 = np.array([s[0] for s in nearest.column("nearest_similarities").to_pylist() if s], dtype=np.float32)
    return {
        "path": eval_set.path,
        "kind": eval_set.kind,
        "size": size,
        "undecodable": len(ev.undecodable),
        "overlap": len(overlapping),
        "overlap_pct": 100.0 * len(overlapping) / size if size else 0.0,
        "threshold": config.similarity,
        "phash_distance": config.phash_distance,
        "matched_pairs": len(ids),
        "matched_dataset_samples": len(set(overlap.column("key").to_pylist())),
        "pairs_by_detector": {"similarity_only": int((by_sim & ~by_phash).sum()),
                              "phash_only": int((by_phash & ~by_sim).sum()),
                              "both": int((by_sim & by_phash).sum())},
        "nearest_similarity": _quantiles(top1),
    }


def _thumbnail(data: bytes | None) -> str:
    if not data:
        return ""
    from dedup.features import decode

    try:
        img = decode(data)
    except Exception:
        return ""
    img.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def dataset_images(wanted: dict[str, set[str]]) -> dict[str, bytes]:
    """key -> image bytes for a few samples, `wanted` maps shard tar -> keys (the readable
    part of a damaged shard serves too)."""
    from shards.reader import ReadProblem, read_samples

    found = {}
    for tar, keys in sorted(wanted.items()):
        for sample in read_samples(tar):
            if not isinstance(sample, ReadProblem) and sample.key in keys:
                found[sample.key] = sample.image
    return found


def _descending_similarity(value: float) -> float:
    # NaN (pHash-only runs score nothing) sorts after every scored pair, never at random.
    return -value if value == value else math.inf


def shown_pairs(overlap, limit: int) -> list[dict]:
    rows = overlap.to_pylist()
    rows.sort(key=lambda r: (_descending_similarity(r["similarity"]), r["phash_distance"], r["eval_id"], r["key"]))
    return rows[:limit]


def _fmt(value, pct=False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if pct:
        return f"{100 * value:.2f}%"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def render_html(report: dict, pairs: dict[str, list[dict]], eval_thumbs: dict[str, dict[str, str]],
                data_thumbs: dict[str, str]) -> str:
    out = ["<!doctype html><html><head><meta charset='utf-8'><title>wit overlap audit</title><style>",
           "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
           "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:middle}"
           "img{max-width:160px;max-height:160px}.pair td{text-align:center}</style></head><body>",
           "<h1>Overlap audit</h1>"]
    model, dataset = report["model"], report["dataset"]
    if report["embedding_detector"] == "on":
        rule = (f"Model <b>{html.escape(model['clip_model'])}</b> (weights: "
                f"{html.escape(str(model['clip_pretrained']))}); overlap when cosine similarity &ge; "
                f"{report['thresholds']['similarity']} or pHash distance &le; {report['thresholds']['phash_distance']}")
    else:
        rule = (f"<b>Embedding detector off</b> ({html.escape(EMBEDDINGS_OFF_REASON)}); overlap when pHash "
                f"distance &le; {report['thresholds']['phash_distance']}")
    out.append(f"<p>{rule}. Dataset: {dataset['samples']:,} samples in {dataset['shards']} shard(s), "
               f"{dataset['undecodable']} undecodable, {dataset['unreadable_samples']} unreadable in "
               f"{dataset['damaged_shards']} damaged shard(s).</p>")
    if report["damaged_shards"]:
        out.append("<h2>Damaged shards</h2><table><tr><th>shard</th><th>samples read</th>"
                   "<th>unreadable samples</th><th>first problems</th></tr>")
        for d in report["damaged_shards"]:
            out.append(f"<tr><td>{html.escape(d['shard'])}</td><td>{d['samples_read']:,}</td>"
                       f"<td>{d['unreadable_samples']:,}</td>"
                       f"<td>{'<br>'.join(html.escape(p) for p in d['first_problems'])}</td></tr>")
        out.append("</table>")
    if "duplicates" in report:
        dup = report["duplicates"]
        out.append("<h2>Removed samples by reason</h2><table><tr><th>reason</th><th>removed</th></tr>")
        for reason, count in dup["removed_by_reason"].items():
            out.append(f"<tr><td>{html.escape(reason)}</td><td>{count:,}</td></tr>")
        out.append("</table>")
    out.append("<h2>Eval sets</h2><table><tr><th>eval set</th><th>size</th><th>overlap</th><th>overlap %</th>"
               "<th>matched samples</th><th>acc All</th><th>acc Clean</th><th>acc Overlap</th>"
               "<th>All &minus; Clean</th><th>p-value</th></tr>")
    for name, ev in report["eval_sets"].items():
        zs = ev.get("zero_shot") or {}
        acc = zs.get("accuracy", {})
        out.append(f"<tr><td>{html.escape(name)}</td><td>{ev['size']:,}</td><td>{ev['overlap']:,}</td>"
                   f"<td>{ev['overlap_pct']:.2f}</td><td>{ev['matched_dataset_samples']:,}</td>"
                   f"<td>{_fmt(acc.get('all'), True)}</td><td>{_fmt(acc.get('clean'), True)}</td>"
                   f"<td>{_fmt(acc.get('overlap'), True)}</td><td>{_fmt(zs.get('all_minus_clean'), True)}</td>"
                   f"<td>{_fmt(zs.get('binomial_p_value'))}</td></tr>")
    out.append("</table>")
    for name, rows in pairs.items():
        ev = report["eval_sets"][name]
        out.append(f"<h2>{html.escape(name)}: {len(rows)} of {ev['matched_pairs']:,} matched pairs</h2>")
        if not rows:
            out.append("<p>No overlap found.</p>")
            continue
        out.append("<table class='pair'><tr><th>eval image</th><th>dataset sample</th><th>similarity</th>"
                   "<th>pHash distance</th><th>eval id</th><th>key</th></tr>")
        for r in rows:
            e_src = eval_thumbs.get(name, {}).get(r["eval_id"], "")
            d_src = data_thumbs.get(r["key"], "")
            out.append(f"<tr><td><img src='{e_src}' alt='eval'></td><td><img src='{d_src}' alt='sample'></td>"
                       f"<td>{r['similarity']:.4f}</td><td>{r['phash_distance']}</td>"
                       f"<td>{html.escape(r['eval_id'])}</td><td>{html.escape(r['key'])}</td></tr>")
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)


def build_report(out_dir: str, prep, evals: dict, *, zero_shot_checkpoint: str | None = None,
                 report_pairs: int = 50, features: dict | None = None, extra: dict | None = None) -> dict:
    config = prep.config
    dataset = files.read_json(files.join(out_dir, "_dataset.json")) if files.exists(
        files.join(out_dir, "_dataset.json")) else {"samples": 0, "undecodable": 0, "damaged_shards": 0,
                                                    "unreadable_samples": 0, "damaged": []}
    damaged = dataset.pop("damaged")
    report = {
        "model": {"clip_model": config.clip_model, "clip_pretrained": config.clip_pretrained,
                  "model_tag": prep.tag, "device": config.device, "search_backend": config.search_backend},
        "embedding_detector": "on" if config.embeddings else f"off: {EMBEDDINGS_OFF_REASON}",
        "thresholds": {"similarity": config.similarity, "phash_distance": config.phash_distance},
        "dataset": {"shards": len(prep.shards), **dataset},
        "damaged_shards": damaged,
        "features": features or {},
        "eval_sets": {},
    }
    report.update(extra or {})
    pairs, eval_thumbs, wanted = {}, {}, {}
    for name, ev in sorted(evals.items()):
        overlap = files.read_parquet(files.join(out_dir, f"overlap-{name}.parquet"))
        nearest = files.read_parquet(files.join(out_dir, f"nearest-{name}.parquet"))
        entry = eval_set_report(name, prep.eval_sets[name], ev, overlap, nearest, config)
        if zero_shot_checkpoint:
            eval_set = prep.eval_sets[name]
            if not eval_set.classnames:
                entry["zero_shot"] = {"skipped": "no class names: zero-shot needs an image-folder eval set"}
            else:
                from dedup import overlap_stats
                from dedup.embed import resolve_device

                print(f"zero-shot: {name} ({entry['size']:,} images, {len(eval_set.classnames)} classes)", flush=True)
                correct = overlap_stats.zero_shot_correct(
                    zero_shot_checkpoint,
                    ((img.eval_id, img.label, img.data) for img in evalsets.iter_images(eval_set)),
                    list(eval_set.classnames), device=resolve_device(config.device))
                entry["zero_shot"] = overlap_stats.accuracy_split(correct, overlap.column("eval_id").to_pylist())
                entry["zero_shot"]["checkpoint"] = zero_shot_checkpoint
        report["eval_sets"][name] = entry
        pairs[name] = shown_pairs(overlap, report_pairs)
        ids = {r["eval_id"] for r in pairs[name]}
        eval_thumbs[name] = {i: _thumbnail(b) for i, b in evalsets.read_images(prep.eval_sets[name], ids).items()}
        for r in pairs[name]:
            wanted.setdefault(r["shard"], set()).add(r["key"])
    sizes = [e["overlap_pct"] for e in report["eval_sets"].values()]
    report["overlap_pct_mean"] = float(np.mean(sizes)) if sizes else None
    data_thumbs = {k: _thumbnail(b) for k, b in dataset_images(wanted).items()}
    files.write_json(files.join(out_dir, "report.json"), report)
    files.write_bytes(files.join(out_dir, "report.html"),
                      render_html(report, pairs, eval_thumbs, data_thumbs).encode("utf-8"))
    return report


def _damaged_summary(damaged: list[dict]) -> dict:
    """shard -> one line, for the first few damaged shards."""
    lines = {d["shard"]: f"{d['unreadable_samples']} unreadable sample(s), {d['samples_read']} read; "
                         f"{d['first_problems'][0]}" for d in damaged[:SUMMARY_DAMAGED_SHARDS]}
    if len(damaged) > SUMMARY_DAMAGED_SHARDS:
        lines["more"] = f"{len(damaged) - SUMMARY_DAMAGED_SHARDS} more damaged shard(s): see report.json"
    return lines


def summary_stats(report: dict) -> dict:
    stats = {"dataset": report["dataset"], "embedding_detector": report["embedding_detector"],
             "thresholds": report["thresholds"], "eval_sets": {}}
    if report["damaged_shards"]:
        stats["damaged_shards"] = _damaged_summary(report["damaged_shards"])
    for name, ev in report["eval_sets"].items():
        entry = {"size": ev["size"], "overlap": ev["overlap"], "overlap_pct": ev["overlap_pct"],
                 "matched_dataset_samples": ev["matched_dataset_samples"]}
        zs = ev.get("zero_shot")
        if zs and "accuracy" in zs:
            entry["accuracy_all"] = zs["accuracy"]["all"]
            entry["accuracy_clean"] = zs["accuracy"]["clean"]
            entry["accuracy_overlap"] = zs["accuracy"]["overlap"]
            entry["all_minus_clean"] = zs["all_minus_clean"]
            entry["binomial_p_value"] = zs["binomial_p_value"]
            entry["binomial_test"] = zs["binomial_test"]
        stats["eval_sets"][name] = entry
    if "duplicates" in report:
        stats["duplicates"] = report["duplicates"]
    if "filtered" in report:
        stats["filtered"] = report["filtered"]
    return stats
