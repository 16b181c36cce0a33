"""wit download vs img2dataset on the same loopback photo server, same settings, one run.

    make bench-venv && .venv/bin/python bench/download_vs_img2dataset.py

Generates photo-like JPEGs (320-1400 px, 100-400 kB), serves them from a threaded
loopback server in its own process, then runs img2dataset (from .venv-anchor) and
`wit download` one after the other with the same image size, resize mode, encode
quality, shard size and 2 worker processes, and prints samples/s and the ratio.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import io
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def photo_like(rng: random.Random, index: int) -> bytes:
    """Smooth random scene plus sensor-like noise, tuned to land in 100-400 kB."""
    long_side = rng.randint(320, 1400)
    short_side = int(long_side * rng.uniform(0.6, 0.9))
    width, height = (long_side, short_side) if index % 3 else (short_side, long_side)
    np_rng = np.random.default_rng(index)
    base = Image.fromarray(np_rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)).resize((width, height), Image.BICUBIC)
    target = rng.uniform(110_000, 380_000)
    sigma, quality = 6.0, 90
    for _ in range(30):  # a few encode passes to find the noise level that hits the size
        noise = np_rng.normal(0, sigma, (height, width, 3))
        pixels = np.clip(np.asarray(base, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
        size = buffer.tell()
        if 100_000 <= size <= 400_000:
            return buffer.getvalue()
        if size < 100_000 and sigma >= 40:  # small images saturate: spend bytes on quality instead
            quality = min(quality + 2, 100)
        else:
            sigma = min(sigma * (target / size) ** 1.3, 40.0)
    raise RuntimeError(f"image {index}: could not reach 100-400 kB (last {size} bytes)")


def make_images(directory: Path, count: int) -> list[int]:
    directory.mkdir(parents=True, exist_ok=True)
    sizes = []
    rng = random.Random(0)
    for i in range(count):
        path = directory / f"{i}.jpg"
        if not path.exists():
            path.write_bytes(photo_like(rng, i))
        else:
            rng.randint(320, 1400), rng.uniform(0.6, 0.9), rng.uniform(110_000, 380_000)
        sizes.append(path.stat().st_size)
    return sizes


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass


def _serve(directory: str, port_queue) -> None:
    handler = functools.partial(_QuietHandler, directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    port_queue.put(server.server_address[1])
    server.serve_forever()


def run(command: list[str], env: dict | None = None) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stdout[-3000:])
        raise SystemExit(f"command failed: {' '.join(command)}")
    return elapsed


def count_successes_img2dataset(out: Path) -> int:
    return sum(json.loads(p.read_text())["successes"] for p in out.glob("*_stats.json"))


def count_successes_wit(out: Path) -> int:
    return json.loads((out / "stats.json").read_text())["successes"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--resize-mode", default="border")
    parser.add_argument("--encode-quality", type=int, default=95)
    parser.add_argument("--samples-per-shard", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--per-host-connections", type=int, default=None,
                        help="wit's per-host cap (default: --threads, as img2dataset has none and the loopback "
                             "server is one host)")
    parser.add_argument("--repeat", type=int, default=2, help="alternating rounds; medians are compared")
    parser.add_argument("--work", default=str(ROOT / "bench" / "out" / "download"))
    parser.add_argument("--anchor-python", default=str(ROOT / ".venv-anchor" / "bin" / "python"))
    args = parser.parse_args()

    work = Path(args.work)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}", flush=True)
    sizes = make_images(work / "images", args.images)
    print(f"{len(sizes)} JPEGs, {min(sizes) / 1e3:.0f}-{max(sizes) / 1e3:.0f} kB, mean {np.mean(sizes) / 1e3:.0f} kB")
    port_queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(str(work / "images"), port_queue), daemon=True)
    server.start()
    port = port_queue.get(timeout=30)
    urls = work / "urls.parquet"
    pq.write_table(pa.table({"url": [f"http://127.0.0.1:{port}/{i}.jpg" for i in range(args.images)],
                             "caption": [f"photo number {i}" for i in range(args.images)]}), urls)
    anchor = [args.anchor_python, "-m", "img2dataset.main", "--url_list", str(urls), "--input_format", "parquet",
              "--url_col", "url", "--caption_col", "caption", "--output_format", "webdataset",
              "--image_size", str(args.image_size), "--resize_mode", args.resize_mode,
              "--encode_quality", str(args.encode_quality), "--number_sample_per_shard", str(args.samples_per_shard),
              "--processes_count", str(args.processes), "--thread_count", str(args.threads),
              "--distributor", "multiprocessing", "--enable_wandb", "False", "--output_folder"]
    wit = [sys.executable, "-m", "wit_pipeline.cli", "download", "--url-list", str(urls),
           "--image-size", str(args.image_size), "--resize-mode", args.resize_mode,
           "--encode-quality", str(args.encode_quality), "--samples-per-shard", str(args.samples_per_shard),
           "--threads", str(args.threads), "--allow-private-networks", "--ignore-robots",
           "--per-host-connections", str(args.per_host_connections or args.threads)]
    variants = {
        "img2dataset": (anchor, count_successes_img2dataset),
        # wit's default: one process, downloads and Pillow work (which releases the GIL) in threads
        "wit": (wit + ["--out"], count_successes_wit),
        "wit-2proc": (wit + ["--direct_running_mode", "multi_processing",
                             "--direct_num_workers", str(args.processes), "--out"], count_successes_wit),
    }
    try:
        rates: dict[str, list[float]] = {name: [] for name in variants}
        for round_ in range(args.repeat):  # alternate the tools so machine noise hits both alike
            for name, (command, count) in variants.items():
                out = work / f"out-{name}"
                shutil.rmtree(out, ignore_errors=True)
                elapsed = run(command + [str(out)], dict(os.environ, NO_ALBUMENTATIONS_UPDATE="1"))
                successes = count(out)
                if successes != args.images:
                    raise SystemExit(f"{name} produced {successes} samples, expected {args.images}")
                rates[name].append(successes / elapsed)
                print(f"round {round_ + 1} {name:12s} {successes} samples in {elapsed:.1f} s "
                      f"= {rates[name][-1]:.1f} samples/s", flush=True)
        results = {name: float(np.median(values)) for name, values in rates.items()}
        for name, rate in results.items():
            print(f"median {name:12s} {rate:.1f} samples/s")
        for name in ("wit", "wit-2proc"):
            print(f"ratio {name}/img2dataset: {results[name] / results['img2dataset']:.2f}x")
        print(f"(image_size={args.image_size}, resize_mode={args.resize_mode}, quality={args.encode_quality}, "
              f"samples_per_shard={args.samples_per_shard}, img2dataset processes={args.processes}, "
              f"threads={args.threads}, wit per-host connections={args.per_host_connections or args.threads}, "
              f"cores={os.cpu_count()}, load average {os.getloadavg()[0]:.2f})")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
