"""Unigram+bigram counting throughput: `wit queries` (Beam) vs a plain Counter pass.

Generates (once, cached) a multi-file MediaWiki XML dump of at least 200 MB of
wikitext, then in one run, over the same files:
  1. baseline: one Python process reads each dump with the same streaming reader,
     reduces wikitext with the same `to_plain_text`, tokenizes with
     `queries.normalize.tokenize` and updates two `collections.Counter`s;
  2. `wit queries` counting pipeline on 1 worker (FnApiRunner, in-process);
  3. the same on N workers (`--direct_running_mode multi_processing`).
Prints MB/s, MB/s per core, the per-core ratio and the 1 -> N wall-clock speed-up,
and checks that both sides found the same word counts.

    .venv/bin/python bench/queries_throughput.py [--mb 200] [--workers 2]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from queries import synthetic, wikidump, wikitext  # noqa: E402
from queries.normalize import tokenize  # noqa: E402
from wit_pipeline import files  # noqa: E402
from wit_pipeline.queries import QueryConfig, Sources, run_pipeline  # noqa: E402


def ensure_dumps(directory: str, megabytes: int, num_files: int) -> list[str]:
    marker = os.path.join(directory, "done.json")
    wanted = {"mb": megabytes, "files": num_files, "version": 2}
    if os.path.exists(marker) and json.load(open(marker)) == wanted:
        return sorted(os.path.join(directory, n) for n in os.listdir(directory) if n.endswith(".xml"))
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    print(f"generating {megabytes} MB of wikitext in {num_files} dump files ...", flush=True)
    paths = synthetic.write_bulk_dumps(directory, megabytes * 1_000_000, files=num_files)
    json.dump(wanted, open(marker, "w"))
    return paths


def baseline(paths: list[str]) -> tuple[float, collections.Counter]:
    started = time.perf_counter()
    unigrams: collections.Counter = collections.Counter()
    bigrams: collections.Counter = collections.Counter()
    for path in paths:
        with open(path, "rb") as f:
            for article in wikidump.iter_articles(f, path):
                tokens = tokenize(wikitext.to_plain_text(article.text))
                unigrams.update(tokens)
                bigrams.update(zip(tokens, tokens[1:]))
    return time.perf_counter() - started, unigrams


def ours(paths: list[str], workers: int, min_word_count: int) -> tuple[float, dict]:
    out = tempfile.mkdtemp(prefix="wit-queries-bench-")
    argv = (["--direct_running_mode", "multi_processing", "--direct_num_workers", str(workers)]
            if workers > 1 else ["--direct_running_mode", "in_memory", "--direct_num_workers", "1"])
    config = QueryConfig(min_word_count=min_word_count, min_bigram_count=1000, count_shards=64)
    started = time.perf_counter()
    run_pipeline(Sources(dump_paths=tuple(paths)), config, out, argv)
    seconds = time.perf_counter() - started
    table = files.read_parquet(os.path.join(out, "queries.parquet")).to_pylist()
    shutil.rmtree(out, ignore_errors=True)
    return seconds, {r["query"]: r["count"] for r in table if r["source"] == "unigram"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=200, help="megabytes of wikitext to generate")
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "queries"))
    args = parser.parse_args()

    paths = ensure_dumps(os.path.join(args.workdir, "dump"), args.mb, args.files)
    megabytes = sum(os.path.getsize(p) for p in paths) / 1e6
    print(f"input: {len(paths)} files, {megabytes:.1f} MB of dump XML; cpus={os.cpu_count()} "
          f"load={os.getloadavg()[0]:.2f}", flush=True)

    base_s, base_unigrams = baseline(paths)
    print(f"baseline Counter pass (1 process):  {base_s:7.1f} s  {megabytes / base_s:6.2f} MB/s", flush=True)
    one_s, one_counts = ours(paths, 1, 100)
    print(f"wit queries, 1 worker:              {one_s:7.1f} s  {megabytes / one_s:6.2f} MB/s per core", flush=True)
    many_s, many_counts = ours(paths, args.workers, 100)
    print(f"wit queries, {args.workers} workers:             {many_s:7.1f} s  {megabytes / many_s:6.2f} MB/s "
          f"({megabytes / many_s / args.workers:.2f} MB/s per core)", flush=True)

    expected = {w: n for w, n in base_unigrams.items() if n >= 100}
    same = one_counts == expected and many_counts == expected
    print(f"word counts >= 100 identical to the baseline: {same} ({len(expected):,} words)")
    print(f"per-core ratio, 1 worker vs baseline:  {base_s / one_s:.2f}x")
    print(f"speed-up 1 -> {args.workers} workers (wall clock): {one_s / many_s:.2f}x")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
