"""How good are the pairs `wit harvest` keeps? Precision and recall of its keep decision on labelled pages (issue 15).

    PYTHONPATH=$PWD .venv/bin/python bench/pair_quality.py [--pages 120] [--seed 15] [--queries 200000] [--wat]
        [any wit harvest flag, e.g. --keep-page-chrome or --text-source alt, to see what a rule is worth]

The labelled set: pages of `wit_pipeline.run.worlds.web` (news, wiki, shop, blog,
Internet-Archive-like and photo sites, English and four other languages; site chrome
repeated on every page of a site), where every `<img>` carries the truth: keep (a
descriptive English caption, and which source holds it: alt, figcaption, thumbcaption,
aria-label or title) or drop, with a category (chrome, icon, rating, button, avatar,
tiny, spacer, empty, too_short, file_name, non_english, site_repeated). The pages are
written as a Common Crawl WARC (and WAT with `--wat`) with a query list in `wit queries`'
format that contains every word the captions use, and `wit harvest` runs on them with
its defaults (and a per-query cap above any count, so the cap drops nothing).

An image is kept when a candidate row has its URL; a kept image is right when the
row's text is the labelled text from the labelled source. Prints, per archive kind:
precision and recall of the keep decision (goal: precision >= 0.95, recall >= 0.9), how
many kept images got the labelled text, the false keeps by drop category and the misses
by keep category and text source, and the per-rule counts from `stats.json` (`filtered`,
`pairs`, `language`) with an example of each rule from `skipped_examples.json`.
A WAT holds only the `src`, `alt` and `title` of each image: captions in figcaption,
thumbcaption or aria-label, and lazy images whose `src` is a placeholder, cannot be found
there, so its recall is lower by construction. Exits non-zero when the WARC run misses the goal.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from wit_pipeline import cli
from wit_pipeline.run.worlds import web as web_world

PRECISION_GOAL, RECALL_GOAL = 0.95, 0.9


def harvest(kind: str, archive: Path, queries: Path, out: Path, extra: list[str]) -> tuple[dict, dict, list[dict]]:
    """Run `wit harvest` on one archive; (stats.json, skipped_examples.json, candidate rows)."""
    argv = ["harvest", "--queries", str(queries), "--out", str(out), f"--{kind}", str(archive),
            "--per-query-cap", "100000000", *extra]
    started = time.monotonic()
    log = out.parent / f"harvest-{kind}.log"
    with open(log, "w") as stream, contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
        status = cli.main(argv)
    if status != 0:
        raise SystemExit(f"wit harvest --{kind} failed (exit {status}); its output: {log}")
    print(f"  wit harvest --{kind}: {time.monotonic() - started:.1f}s (output in {log.name})", flush=True)
    stats = json.loads((out / "stats.json").read_text())
    examples_path = out / "skipped_examples.json"
    examples = json.loads(examples_path.read_text()) if examples_path.exists() else {}
    rows = [row for path in sorted(out.glob("candidates-*.parquet")) for row in pq.read_table(path).to_pylist()]
    return stats, examples, rows


def score(images: list, rows: list[dict], url_of) -> dict:
    """Confusion of the keep decision over labelled images; `url_of(image)` is the URL the archive shows."""
    kept = {}
    for row in rows:
        kept.setdefault(row["url"], row)
    counts, false_keeps, misses = Counter(), Counter(), Counter()
    for image in images:
        row = kept.get(url_of(image)) if url_of(image) else None
        if image.label == web_world.KEEP:
            if row is None:
                counts["fn"] += 1
                misses[image.category, image.text_source] += 1
            else:
                counts["tp"] += 1
                right = row["text"] == image.text and row.get("text_source", image.text_source) == image.text_source
                counts["right_text"] += right
        elif row is not None:
            counts["fp"] += 1
            false_keeps[image.category, row["text"]] += 1
        else:
            counts["tn"] += 1
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    return {"counts": counts, "precision": tp / (tp + fp) if tp + fp else 0.0,
            "recall": tp / (tp + fn) if tp + fn else 0.0, "false_keeps": false_keeps, "misses": misses}


def report(kind: str, result: dict, stats: dict, examples: dict) -> None:
    counts = result["counts"]
    print(f"\n== {kind}: precision {result['precision']:.3f}, recall {result['recall']:.3f} "
          f"(goal >= {PRECISION_GOAL}, >= {RECALL_GOAL})")
    print(f"  kept {counts['tp'] + counts['fp']} images: {counts['tp']} labelled keep "
          f"({counts['right_text']} with the labelled text and source), {counts['fp']} labelled drop; "
          f"missed {counts['fn']} of {counts['tp'] + counts['fn']} keeps; dropped {counts['tn']} drops")
    if result["false_keeps"]:
        print("  false keeps (drop category, text):")
        for (category, text), n in result["false_keeps"].most_common(12):
            print(f"    {n:4d}  {category:14s} {text[:90]!r}")
    if result["misses"]:
        print("  misses (keep category, text source):")
        for (category, source), n in result["misses"].most_common():
            print(f"    {n:4d}  {category:14s} {source}")
    print("  per rule (stats.json; an example from skipped_examples.json):")
    for group in ("filtered", "pairs", "language"):
        for name, n in sorted((stats.get(group) or {}).items(), key=lambda item: -item[1]):
            example = (examples.get(f"{group}.{name}") or examples.get(name) or [""])[0]
            print(f"    {group + '.' + name:38s} {n:6d}  {str(example)[:70]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=120, help="web-world pages (default 120)")
    parser.add_argument("--seed", type=int, default=15, help="web-world seed (default 15)")
    parser.add_argument("--queries", type=int, default=200_000, help="query-list size (default 200000)")
    parser.add_argument("--wat", action="store_true", help="also harvest the WAT of the same pages")
    parser.add_argument("--work", help="folder for the archives and outputs (default: a temporary one)")
    args, extra = parser.parse_known_args(argv)

    with tempfile.TemporaryDirectory(prefix="pair_quality-") as scratch:
        work = Path(args.work or scratch)
        work.mkdir(parents=True, exist_ok=True)
        pages = list(web_world.WebWorld(seed=args.seed).pages(args.pages))
        images = [image for page in pages for image in page.images]
        labels = Counter(image.label for image in images)
        with_text = sum(1 for image in images if image.text)
        print(f"{len(pages)} pages of {len({page.site for page in pages})} sites: {len(images)} labelled images "
              f"({with_text} with a text), {labels[web_world.KEEP]} keep / {labels[web_world.DROP]} drop")
        by_category = Counter((image.label, image.category) for image in images)
        print("  " + ", ".join(f"{label} {category} {n}" for (label, category), n in sorted(by_category.items())))
        warc, wat, queries = work / "pages.warc.gz", work / "pages.wat.gz", work / "queries.parquet"
        web_world.write_archives(pages, warc_path=str(warc), wat_path=str(wat) if args.wat else None)
        web_world.write_queries(str(queries), args.queries, seed=args.seed)

        stats, examples, rows = harvest("warc", warc, queries, work / "out-warc", extra)
        warc_result = score(images, rows, lambda image: image.url)
        report("WARC", warc_result, stats, examples)
        if args.wat:
            stats, examples, rows = harvest("wat", wat, queries, work / "out-wat", extra)
            report("WAT (alt and title only)", score(images, rows, lambda image: image.src_url), stats, examples)
    met = warc_result["precision"] >= PRECISION_GOAL and warc_result["recall"] >= RECALL_GOAL
    print(f"\nWARC goal {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
