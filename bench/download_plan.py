"""How `wit download`'s launcher scales with the number of input rows (issue 13, item 1).

    .venv/bin/python bench/download_plan.py [--rows 1000000 10000000] [--files 100]

For each row count and format (parquet, tsv) it writes that many url rows spread over
`--files` files (kept under bench/out/download_plan/ for the next run), then runs the
launcher — everything `wit download` does before its pipeline starts — in a fresh
process, and prints its wall time, its peak RSS (and the growth over the imports), the
bytes it wrote under OUT, and the ratios of the largest row count to the smallest.
Goal: within 1.2x at 10x the rows, and written bytes independent of the row count.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent

# Runs in a fresh interpreter, so imports and caches of one measurement never help another.
LAUNCHER = textwrap.dedent("""
    import json, resource, sys, time
    from wit_pipeline.core import files
    from wit_pipeline.core.options import pipeline_options
    from wit_pipeline.download.command import DownloadConfig, launch

    inputs, out = sys.argv[1], sys.argv[2]
    config = DownloadConfig(inputs=(inputs,), out=out, show_progress=False).validate()
    options = pipeline_options([])
    files.lock_out(out, "download")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    launched = launch(config, options)
    elapsed = time.perf_counter() - started
    print(json.dumps({"seconds": elapsed, "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "rss_before_kb": rss_before, "files": len(launched.inputs)}))
""")


def make_inputs(directory: Path, rows: int, files: int, fmt: str) -> None:
    done = directory / ".complete"
    if done.exists():
        return
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    per_file = rows // files
    for index in range(files):
        first = index * per_file
        numbers = range(first, first + per_file)
        table = pa.table({"url": [f"http://img{n % 50_000}.example.com/photos/{n}.jpg" for n in numbers],
                          "caption": [f"a photo of thing number {n} in the park" for n in numbers]})
        path = directory / f"part-{index:05d}.{fmt}"
        if fmt == "parquet":
            pq.write_table(table, path)
        else:
            pa_csv.write_csv(table, path, pa_csv.WriteOptions(delimiter="\t", quoting_style="none"))
    done.touch()


def bytes_under(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def measure(inputs: Path, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", LAUNCHER, str(inputs), str(out)], capture_output=True,
                            text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    measured["process_seconds"] = time.perf_counter() - started
    measured["written_bytes"] = bytes_under(out)
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--formats", nargs="+", default=["parquet", "tsv"])
    parser.add_argument("--repeat", type=int, default=3, help="launcher runs per case; the median is kept")
    parser.add_argument("--work", default=str(ROOT / "bench" / "out" / "download_plan"))
    args = parser.parse_args()
    work = Path(args.work)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}, "
          f"{os.cpu_count()} cores", flush=True)
    results: dict[tuple[str, int], dict] = {}
    for fmt in args.formats:
        for rows in args.rows:
            make_inputs(work / f"{fmt}-{rows}", rows, args.files, fmt)
        runs: dict[int, list[dict]] = {rows: [] for rows in args.rows}
        for _round in range(args.repeat):  # alternate the sizes so machine noise hits both alike
            for rows in args.rows:
                runs[rows].append(measure(work / f"{fmt}-{rows}", work / "out"))
        for rows in args.rows:
            ordered = sorted(runs[rows], key=lambda m: m["seconds"])
            median = ordered[len(ordered) // 2]
            median["fastest"] = ordered[0]["seconds"]  # the launcher's own cost, least disturbed by other jobs
            median["peak_rss_kb"] = max(run["peak_rss_kb"] for run in ordered)
            median["input_bytes"] = bytes_under(work / f"{fmt}-{rows}")
            results[fmt, rows] = median
            print(f"{fmt:8s} {rows:>11,} rows in {args.files} files ({median['input_bytes'] / 1e6:,.0f} MB): "
                  f"launcher {median['seconds']:.3f} s median, {median['fastest']:.3f} s fastest "
                  f"(process {median['process_seconds']:.1f} s), "
                  f"peak RSS {median['peak_rss_kb'] / 1024:.0f} MB "
                  f"(+{(median['peak_rss_kb'] - median['rss_before_kb']) / 1024:.1f} MB over the imports), "
                  f"wrote {median['written_bytes']:,} bytes", flush=True)
    low, high = min(args.rows), max(args.rows)
    for fmt in args.formats:
        small, large = results[fmt, low], results[fmt, high]
        print(f"{fmt:8s} {high // low}x rows: launcher time {large['seconds'] / small['seconds']:.2f}x median, "
              f"{large['fastest'] / small['fastest']:.2f}x fastest, "
              f"peak RSS {large['peak_rss_kb'] / small['peak_rss_kb']:.2f}x, "
              f"bytes written {large['written_bytes'] / small['written_bytes']:.2f}x")
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
