"""Unigram+bigram counting throughput: `wit queries` (Beam) vs a plain Counter pass.

Generates (once, cached) a multi-file MediaWiki XML dump of at least 200 MB of
wikitext, then in one run, over the same files:
  1. baseline: one Python process reads each dump with the same streaming reader,
     reduces wikitext with the same `to_plain_text`, tokenizes with
     `queries.normalize.tokenize` and updates two `collections.Counter`s
     (unigrams, and bigrams as `zip(tokens, tokens[1:])`);
  2. `wit queries` on 1 worker in-process (FnApiRunner `in_memory`): the per-core
     rate compared with the baseline;
  3. `wit queries` with `--direct_running_mode multi_processing` on 1 worker and on
     N workers: the 1 -> N scaling, measured in the same runner mode so that both
     sides pay the same SDK-worker start-up (the in-process -> N figure is printed
     too).
Prints MB/s (wall clock), MB per CPU-second and the load average for every run,
the per-core ratios and the speed-ups, and checks that every run found the same
word counts as the baseline. `--repeat R` runs the whole sequence R times.

    .venv/bin/python bench/queries_throughput.py [--mb 200] [--files 8] [--workers 2] [--repeat 1]
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time

import psutil

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from queries import dumps, wikitext  # noqa: E402
from queries.command import QueriesConfig  # noqa: E402
from queries.normalize import tokenize  # noqa: E402
from queries.pipeline import run_pipeline  # noqa: E402
from wit_pipeline.core import files  # noqa: E402
from wit_pipeline.run.worlds import wiki as synthetic  # noqa: E402


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


class CpuMeter:
    """CPU seconds used by this process and its (worker) subprocesses during a block.

    Wall-clock rates on a shared machine measure the other tenants too; CPU time is
    what a core actually spent on our work. Subprocesses are sampled while they run
    (they exit before the block ends), so their last < 0.2 s may be missed."""

    def __enter__(self):
        self._process = psutil.Process()
        self._start = self._process.cpu_times()
        self._children: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.2):
            for child in self._process.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    times = child.cpu_times()
                    self._children[child.pid] = times.user + times.system

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        end = self._process.cpu_times()
        self.main_seconds = end.user - self._start.user + end.system - self._start.system
        self.child_seconds = sorted(self._children.values(), reverse=True)
        self.seconds = self.main_seconds + sum(self.child_seconds)

    def critical_path(self) -> float:
        """CPU seconds of this process plus the busiest worker: the wall time the run
        would take on free cores if it were purely CPU-bound and its workers never
        waited on each other (an estimate for a loaded machine, not a measurement)."""
        return self.main_seconds + (self.child_seconds[0] if self.child_seconds else 0.0)


def baseline(paths: list[str]) -> tuple[float, collections.Counter]:
    started = time.perf_counter()
    unigrams: collections.Counter = collections.Counter()
    bigrams: collections.Counter = collections.Counter()
    for path in paths:
        with open(path, "rb") as f:
            for article in dumps.iter_articles(f, path):
                tokens = tokenize(wikitext.to_plain_text(article.text))
                unigrams.update(tokens)
                bigrams.update(zip(tokens, tokens[1:]))
    return time.perf_counter() - started, unigrams


def ours(paths: list[str], mode: str, workers: int, min_word_count: int) -> tuple[float, dict]:
    out = tempfile.mkdtemp(prefix="wit-queries-bench-")
    argv = ["--direct_running_mode", mode, "--direct_num_workers", str(workers)]
    config = QueriesConfig(out=out, dump_paths=tuple(paths), min_word_count=min_word_count, min_bigram_count=1000,
                           count_shards=64)
    started = time.perf_counter()
    run_pipeline(config, argv)
    seconds = time.perf_counter() - started
    table = files.read_parquet(os.path.join(out, "queries.parquet")).to_pylist()
    shutil.rmtree(out, ignore_errors=True)
    return seconds, {r["query"]: r["count"] for r in table if r["source"] == "unigram"}


def _line(label: str, megabytes: float, seconds: float, cpu: CpuMeter, load: float) -> str:
    return (f"{label:<36s}{seconds:7.1f} s  {megabytes / seconds:6.2f} MB/s   cpu {cpu.seconds:6.1f} s  "
            f"{megabytes / cpu.seconds:6.2f} MB/cpu-s   load {load:4.2f}")


def run_once(paths: list[str], megabytes: float, workers: int) -> bool:
    load = os.getloadavg()[0]
    with CpuMeter() as base_cpu:
        base_s, base_unigrams = baseline(paths)
    print(_line("baseline Counter pass (1 process):", megabytes, base_s, base_cpu, load), flush=True)
    expected = {w: n for w, n in base_unigrams.items() if n >= 100}
    runs = {}
    for key, label, mode, n in (("in_process", "wit queries, 1 worker in-process:", "in_memory", 1),
                                ("mp1", "wit queries, 1 worker multi_processing:", "multi_processing", 1),
                                ("mpn", f"wit queries, {workers} workers multi_processing:", "multi_processing",
                                 workers)):
        load = os.getloadavg()[0]
        with CpuMeter() as cpu:
            seconds, counts = ours(paths, mode, n, 100)
        runs[key] = (seconds, cpu.seconds, counts == expected, cpu.critical_path())
        print(_line(label, megabytes, seconds, cpu, load), flush=True)
        if mode == "multi_processing":
            print(f"    cpu: this process {cpu.main_seconds:.1f} s, workers "
                  f"{', '.join(f'{c:.1f}' for c in cpu.child_seconds if c >= 0.05)} s", flush=True)
    same = all(ok for _, _, ok, _ in runs.values())
    in_process, mp1, mpn = runs["in_process"], runs["mp1"], runs["mpn"]
    print(f"word counts >= 100 identical to the baseline in every run: {same} ({len(expected):,} words)")
    print(f"per-core ratio, 1 worker in-process vs baseline (wall clock): {base_s / in_process[0]:.2f}x")
    print(f"per-core ratio, 1 worker in-process vs baseline (CPU time):   {base_cpu.seconds / in_process[1]:.2f}x")
    print(f"speed-up 1 -> {workers} workers, multi_processing (wall clock): {mp1[0] / mpn[0]:.2f}x")
    print(f"speed-up 1 worker in-process -> {workers} workers multi_processing (wall clock): "
          f"{in_process[0] / mpn[0]:.2f}x")
    print(f"extra CPU of {workers} workers vs 1 (multi_processing): {mpn[1] / mp1[1] - 1:+.0%}")
    print(f"speed-up 1 -> {workers} workers estimated from CPU critical paths (free cores, CPU-bound): "
          f"{mp1[3] / mpn[3]:.2f}x")
    print(f"load average after the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus "
          "(other tenants inflate wall-clock times; the speed-up needs free cores)", flush=True)
    return same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=200, help="megabytes of wikitext to generate")
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="run the whole sequence this many times")
    parser.add_argument("--workdir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "queries"))
    args = parser.parse_args()

    paths = ensure_dumps(os.path.join(args.workdir, "dump"), args.mb, args.files)
    megabytes = sum(os.path.getsize(p) for p in paths) / 1e6
    print(f"input: {len(paths)} files, {megabytes:.1f} MB of dump XML; cpus={os.cpu_count()} "
          f"load={os.getloadavg()[0]:.2f}", flush=True)
    same = True
    for run in range(1, args.repeat + 1):
        if args.repeat > 1:
            print(f"--- run {run}/{args.repeat}", flush=True)
        same = run_once(paths, megabytes, args.workers) and same
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
