"""Inputs an attacker or an unlucky user brings (issue 10, items 14, 23 and 24): huge
16-bit images, url lists with undecodable captions, and errors that must end the process
cleanly. Every fixture is generated here; servers are loopback. (Dumps in other encodings,
item 23's other half: tests/queries/test_dump_encodings.py.)"""
from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import threading
import time
import tracemalloc

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from shards.writer import shard_complete
from tests.download.fixtures import download
from wit_pipeline.core.tables import INPUT_ERROR, INPUT_STATUS, read_list
from wit_pipeline.download import images as images_module
from wit_pipeline.download.images import ImageOptions, PixelBudget, decoded_pixels, process_image
from wit_pipeline.download.pipeline import DownloadShardFn
from wit_pipeline.download.plan import InputFile, ShardSpec
from wit_pipeline.download.worker import WorkerSettings
from wit_pipeline.run.loopback import send, serve
from wit_pipeline.core.net import FetchPolicy
from wit_pipeline.harvest.sources.lists import url_list_images
from wit_pipeline.harvest.sources.archives import Skip

LOCAL = FetchPolicy(allow_private_networks=True, timeout=2.0, retries=0, max_bytes=5_000_000)


def png(img: Image.Image) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return buffer.getvalue()


def wit(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wit_pipeline.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONUNBUFFERED="1"))


# ------------------------------------------------------------ 24: clean exits after errors

def test_error_right_after_reading_a_list_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "in.csv").write_text("address,caption\nhttp://h.example/a.jpg,a\n")
    result = wit("download", "--url-list", str(tmp_path / "in.csv"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr == (f"wit download: error: {tmp_path / 'in.csv'}: no url column 'url' "
                             "(columns: ['address', 'caption']); set --url-col\n")


_READ_THEN_FAIL = """
import sys
from wit_pipeline.core import files
from wit_pipeline.core.tables import read_list
read_list(sys.argv[1], "csv", "url", "auto")
files.read_parquet(sys.argv[2])
print("error: bad input", file=sys.stderr)
sys.exit(2)
"""


@pytest.mark.parametrize("runs", [6, pytest.param(40, marks=pytest.mark.slow)])
def test_exit_right_after_arrow_reads_never_aborts(tmp_path, runs):
    """Arrow's reader threads used to release a Python file object after the read returned;
    at interpreter exit that aborted the process ("terminate called without an active
    exception", exit 134) about once in 4 to 150 runs, depending on the machine: a few
    runs in every suite, 40 with --run-slow."""
    (tmp_path / "in.csv").write_text("url,caption\n" + "http://h.example/a.jpg,a\n" * 20_000)
    pq.write_table(pa.table({"url": ["http://h.example/a.jpg"] * 20_000}), tmp_path / "in.parquet")
    for _ in range(runs):
        result = subprocess.run([sys.executable, "-c", _READ_THEN_FAIL, str(tmp_path / "in.csv"),
                                 str(tmp_path / "in.parquet")], capture_output=True, text=True, timeout=120)
        assert (result.returncode, result.stderr) == (2, "error: bad input\n")


def test_teardown_during_a_shard_leaves_it_unfinished_not_wrong(tmp_path):
    """Beam's multi-threaded runner tears a DoFn down from another thread while it still
    processes a shard (after another bundle failed). The rows in flight must not record the
    shutdown as their status in a shard that then looks complete."""
    pixel = png(Image.new("RGB", (40, 30), (10, 120, 200)))

    def slow(h):
        time.sleep(0.05)
        send(h, pixel, content_type="image/png")

    with serve(fallback=slow) as server:
        piece = tmp_path / "piece.parquet"
        pq.write_table(pa.table({"url": [server.url(f"/{i}.png") for i in range(200)],
                                 "caption": [f"c{i}" for i in range(200)]}), piece)
        fn = DownloadShardFn(WorkerSettings(
            out_dir=str(tmp_path / "out"), samples_per_shard=1000, image=ImageOptions(image_size=16), policy=LOCAL,
            threads=4, decode_processes=0, host_failure_limit=0, run_id="teardown", one_process=True,
            show_progress=False))
        fn.setup()
        outcome = {}
        file = InputFile(index=0, path=str(piece), fmt="parquet", size=piece.stat().st_size, url_col="url",
                         caption_col="caption", rows=200)

        def run():
            try:
                outcome["stats"] = list(fn.process(ShardSpec(shard_id=0, file=file, first_row=0, rows=200)))
            except Exception as exc:  # noqa: BLE001 - the test inspects it
                outcome["error"] = exc

        worker = threading.Thread(target=run)
        worker.start()
        time.sleep(0.5)
        fn.teardown()
        worker.join(30)
    assert "stats" not in outcome
    assert str(outcome["error"]) == "shard 0 left unfinished: the worker was shut down after a failure elsewhere"
    assert not shard_complete(str(tmp_path / "out"), 0)
    assert not [p for p in os.listdir(tmp_path / "out") if p.startswith(".tmp-")]


# ------------------------------------------------------------ 14: 16-bit images, bounded memory

def _float_reference(img: Image.Image) -> bytes:
    """What the converter computed before (whole-image float64): the bytes to keep."""
    array = np.asarray(img).astype(np.float64)
    if img.mode == "F":
        return np.clip(array, 0, 255).astype(np.uint8).tobytes()
    peak = 65535.0 if img.mode.startswith("I;16") else max(float(array.max()), 1.0)
    return np.clip(array * (255.0 / peak), 0, 255).astype(np.uint8).tobytes()


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I", "F"])
def test_wide_images_convert_exactly_as_the_float_reference(mode, monkeypatch):
    monkeypatch.setattr(images_module, "_CONVERT_BAND_PIXELS", 1000)  # many bands, a ragged last one
    rng = np.random.default_rng(7)
    shape = (203, 97)
    if mode.startswith("I;16"):
        values = rng.integers(0, 65536, shape, dtype=np.uint16)
        img = Image.frombytes(mode, shape[::-1], values.astype(">u2" if mode == "I;16B" else "<u2").tobytes())
    elif mode == "I":
        img = Image.fromarray(rng.integers(-5000, 400_000, shape, dtype=np.int32))
    else:
        img = Image.fromarray(rng.normal(100, 120, shape).astype(np.float32))
    converted = images_module._wide_to_l(img)
    assert converted.mode == "L" and converted.size == img.size
    assert converted.tobytes() == _float_reference(img)


def test_large_16_bit_png_decodes_in_bounded_memory():
    side = 3000  # 9 megapixels in a ~120 KB file
    ramp = (np.arange(side, dtype=np.uint32)[None, :] * 7 + np.arange(side, dtype=np.uint32)[:, None] * 3) % 65536
    data = png(Image.fromarray(ramp.astype(np.uint16)))
    del ramp
    assert len(data) < 200_000
    tracemalloc.start()
    try:
        out = process_image(data, ImageOptions(image_size=64))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (out.width, out.height, out.original_width) == (64, 64, side)
    # Whole-image float64 arrays cost 24 bytes a pixel here (206 MB); the banded
    # conversion holds the 8-bit result and one band.
    assert peak < 3 * side * side, f"{peak / 2**20:.0f} MB for {side}x{side}"


def test_decoded_pixels_reads_the_header_only():
    assert decoded_pixels(png(Image.new("I;16", (300, 200))), ImageOptions()) == 60_000
    jpeg = io.BytesIO()
    Image.new("RGB", (1600, 1200)).save(jpeg, "JPEG")
    # A JPEG 8x larger than its target is decoded at 1/4 scale (libjpeg's DCT scaling).
    assert decoded_pixels(jpeg.getvalue(), ImageOptions(image_size=256)) == 400 * 300
    assert decoded_pixels(b"<html>", ImageOptions()) == 0
    assert decoded_pixels(png(Image.new("L", (400, 400))), ImageOptions(max_pixels=1000)) == 0


def test_pixel_budget_bounds_what_is_held_at_once_and_serves_in_order():
    budget = PixelBudget(100)
    lock = threading.Lock()
    held, peak, order = [0], [0], []

    def decode(name, pixels, seconds):
        with budget.hold(pixels):
            with lock:
                order.append(name)
                held[0] += min(pixels, 100)
                peak[0] = max(peak[0], held[0])
            time.sleep(seconds)
            with lock:
                held[0] -= min(pixels, 100)

    threads = [threading.Thread(target=decode, args=(f"small{i}", 30, 0.05)) for i in range(6)]
    threads.insert(3, threading.Thread(target=decode, args=("huge", 500, 0.05)))  # bigger than the budget
    for thread in threads:
        thread.start()
        time.sleep(0.005)  # arrival order
    for thread in threads:
        thread.join()
    assert peak[0] <= 100 and budget.in_use == 0
    # First come, first served: the huge image is not overtaken by the small ones after it.
    assert order == ["small0", "small1", "small2", "huge", "small3", "small4", "small5"]


def test_download_decodes_no_more_pixels_at_once_than_the_budget(tmp_path, monkeypatch):
    side = 700
    body = png(Image.fromarray(np.full((side, side), 40000, np.uint16)))
    lock = threading.Lock()
    running, most = [0], [0]
    real = process_image

    def counting(data, opts):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.02)
            return real(data, opts)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr("wit_pipeline.download.worker.process_image", counting)
    with serve(fallback=lambda h: send(h, body, content_type="image/png")) as server:
        (tmp_path / "urls.csv").write_text("url,caption\n" + "".join(
            f"{server.url(f'/{i}.png')},picture {i}\n" for i in range(12)))
        opts = ImageOptions(image_size=32, decode_pixel_budget=int(side * side * 1.5))
        totals = download([str(tmp_path / "urls.csv")], tmp_path / "out", LOCAL, opts, threads=8)
    assert totals["status"] == {"success": 12}
    assert most[0] == 1  # eight threads, but one 0.49-megapixel decode at a time


def test_decode_pixel_budget_flag_is_checked():
    with pytest.raises(ValueError, match="--decode-pixel-budget must be positive"):
        ImageOptions(decode_pixel_budget=0).validate()


# ------------------------------------------------------------ 23: url lists with undecodable captions

LATIN1_CAPTION = "bad café".encode("latin-1")


def _write_list(path, fmt: str, rows: list[tuple[bytes, bytes]]) -> str:
    if fmt == "parquet":
        pq.write_table(pa.table({"url": pa.array([u for u, _ in rows], pa.binary()),
                                 "caption": pa.array([c for _, c in rows], pa.binary())}), path)
    elif fmt == "jsonl":
        path.write_bytes(b"".join(b'{"url": "%s", "caption": "%s", "note": "n\xe9"}\n' % row for row in rows))
    else:
        sep = b"\t" if fmt == "tsv" else b","
        path.write_bytes(b"url" + sep + b"caption\n" + b"".join(u + sep + c + b"\n" for u, c in rows))
    return str(path)


def _rows(base: str) -> list[tuple[bytes, bytes]]:
    return [(f"{base}/a.png".encode(), "grüße".encode()), (f"{base}/b.png".encode(), LATIN1_CAPTION),
            (f"{base}/c\xe9.png".encode("latin-1"), b"fine"), (f"{base}/d.png".encode(), b"plain")]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_each_row_of_a_list_is_decoded_on_its_own(tmp_path, fmt):
    path = _write_list(tmp_path / f"list.{fmt}", fmt, _rows("http://h.example"))
    table = read_list(path, fmt, "url", "auto")
    assert table.column(INPUT_STATUS).to_pylist() == [None, "invalid_caption", "invalid_url", None]
    assert table.column(INPUT_ERROR).to_pylist() == [
        None, f"{path} row 1: column 'caption' is not UTF-8 text: {LATIN1_CAPTION!r}",
        f"{path} row 2: column 'url' is not UTF-8 text: b'http://h.example/c\\xe9.png'", None]
    assert table.column("caption").to_pylist() == ["grüße", "bad caf\ufffd", "fine", "plain"]
    if fmt == "jsonl":  # other text columns keep their rows, with U+FFFD for what is not UTF-8
        assert table.column("note").to_pylist() == ["n\ufffd"] * 4


def test_clean_lists_get_no_status_columns(tmp_path):
    path = _write_list(tmp_path / "ok.tsv", "tsv", [(b"http://h.example/a.png", "grüße".encode())])
    assert read_list(path, "tsv", "url", "auto").column_names == ["url", "caption"]


def test_download_records_undecodable_rows_and_keeps_the_rest(tmp_path):
    pixel = png(Image.new("RGB", (40, 30), (10, 120, 200)))
    with serve(fallback=lambda h: send(h, pixel, content_type="image/png")) as server:
        path = _write_list(tmp_path / "list.tsv", "tsv", _rows(server.url("")))
        totals = download([path], tmp_path / "out", LOCAL, ImageOptions(image_size=32))
    assert totals["status"] == {"success": 2, "invalid_caption": 1, "invalid_url": 1}
    rows = pq.read_table(tmp_path / "out" / "00000.parquet").to_pylist()
    assert [r["status"] for r in rows] == ["success", "invalid_caption", "invalid_url", "success"]
    assert rows[1]["error_message"] == f"{path} row 1: column 'caption' is not UTF-8 text: {LATIN1_CAPTION!r}"
    assert rows[1]["caption"] == "bad caf\ufffd" and rows[0]["caption"] == "grüße"
    assert INPUT_STATUS not in rows[0] and INPUT_ERROR not in rows[0]


def test_harvest_skips_undecodable_rows_with_their_reason(tmp_path):
    path = _write_list(tmp_path / "list.csv", "csv", _rows("http://h.example"))
    items = list(url_list_images(path))
    skips = [item for item in items if isinstance(item, Skip)]
    assert [(s.reason, s.detail.split(":")[0]) for s in skips] == [("invalid_caption", f"{path} row 1"),
                                                                   ("invalid_url", f"{path} row 2")]
    assert [item.text for item in items if hasattr(item, "text")] == ["grüße", "plain"]


@pytest.mark.parametrize("name,data", [
    ("cut.csv.gz", gzip.compress(b"url,caption\n" + b"http://h.example/a.png,x\n" * 500)[:-12]),
    ("fake.csv.gz", b"url,caption\nhttp://h.example/a.png,x\n"),
    ("bad.parquet", b"PAR1 this is not parquet"),
])
def test_unreadable_lists_are_errors_naming_the_file(tmp_path, name, data):
    (tmp_path / name).write_bytes(data)
    fmt = "parquet" if "parquet" in name else "csv"
    with pytest.raises(ValueError, match=f"cannot read {tmp_path / name} as {fmt}"):
        read_list(str(tmp_path / name), fmt, "url", "auto")
