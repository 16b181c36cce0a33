"""`wit download --retry-failed` (issue 13, item 3): failed rows tried again under their own
keys, untouched shards left alone, and each shard old or new across a SIGKILL."""
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pyarrow.parquet as pq
import pytest
from PIL import Image

from shards.reader import iter_members
from shards.verify import verify_shards
from tests.download.fixtures import LOCAL, download
from wit_pipeline.core import files
from wit_pipeline.core.net import FetchPolicy
from wit_pipeline.download import retry
from wit_pipeline.download.images import ImageOptions
from wit_pipeline.download.retry import DEFAULT_RETRY
from wit_pipeline.run.loopback import send, serve


def jpeg(i: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40 + i, 30), (i * 7 % 255, 90, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


class FlakyImages:
    """/img/N.jpg fails once (`status`) for N in `flaky`, then serves; /gone.jpg is always 404."""

    def __init__(self, flaky, status=500, delay=0.0):
        self.flaky, self.status, self.delay = set(flaky), status, delay
        self.failed: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, handler):
        if not handler.path.startswith("/img/"):
            send(handler, b"", 404, "text/plain")
            return
        number = int(handler.path[len("/img/"):-len(".jpg")])
        with self.lock:
            fail = number in self.flaky and handler.path not in self.failed
            self.failed.add(handler.path)
        if fail:
            send(handler, b"try later", self.status, "text/plain", {"Retry-After": "0"})
            return
        time.sleep(self.delay)
        send(handler, jpeg(number))


def write_list(path, server, rows: int, extra=()) -> str:
    urls = [server.url(f"/img/{i}.jpg") for i in range(rows)] + list(extra)
    path.write_text("url,caption\n" + "".join(f"{u},picture {i}\n" for i, u in enumerate(urls)))
    return str(path)


def parquet_rows(out) -> dict:
    return {row["url"]: row for p in sorted(out.glob("0*.parquet")) for row in pq.read_table(p).to_pylist()}


def tar_keys(out) -> list[str]:
    return [key for tar in sorted(out.glob("*.tar")) for key, _ in iter_members(str(tar))]


def test_retry_failed_rows_succeed_under_their_keys_and_other_shards_are_untouched(tmp_path):
    route = FlakyImages(flaky={1, 3, 12})  # shards 0 and 2 of three have a failed row
    with serve(fallback=route) as server:
        urls = write_list(tmp_path / "urls.csv", server, 14, extra=[server.url("/gone.jpg")])
        policy = FetchPolicy(**{**LOCAL.__dict__, "retries": 0})
        first = download([urls], tmp_path / "out", policy, ImageOptions(image_size=16), samples_per_shard=5)
        before = parquet_rows(tmp_path / "out")
        untouched = {name: os.stat(tmp_path / "out" / name).st_mtime_ns
                     for name in ("00001.tar", "00001.parquet", "00001_stats.json")}
        again = download([urls], tmp_path / "out", policy, ImageOptions(image_size=16), samples_per_shard=5,
                         retry_statuses=DEFAULT_RETRY)
        gone_hits = server.hits["/gone.jpg"]
    assert first["status"] == {"http_404": 1, "http_500": 3, "success": 11}
    assert again["status"] == {"http_404": 1, "success": 14}
    assert (again["retried_shards"], again["retried_rows"], again["shards_resumed"]) == (2, 3, 1)
    after = parquet_rows(tmp_path / "out")
    assert {url: row["key"] for url, row in after.items()} == {url: row["key"] for url, row in before.items()}
    for number in (1, 3, 12):
        row = after[server.url(f"/img/{number}.jpg")]
        assert (row["status"], row["error_message"], row["width"]) == ("success", None, 16)
    assert gone_hits == 1  # a 404 is no transient failure: not asked again
    assert untouched == {name: os.stat(tmp_path / "out" / name).st_mtime_ns for name in untouched}
    keys = tar_keys(tmp_path / "out")
    assert len(keys) == len(set(keys)) == 14
    assert verify_shards(str(tmp_path / "out")).ok
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["successes"] == 14
    assert not list((tmp_path / "out" / "_retry").iterdir())


def test_retry_statuses_are_checked():
    assert retry.parse_statuses("timeout, http_5xx,http_404") == ("timeout", "http_5xx", "http_404")
    assert retry.matches("http_502", ("http_5xx",)) and not retry.matches("http_404", ("http_5xx",))
    with pytest.raises(ValueError, match="--retry-failed: 'sucess' is not a failure status"):
        retry.parse_statuses("sucess")
    with pytest.raises(ValueError, match="--retry-failed: 'success' is not a failure status"):
        retry.parse_statuses("success")


def stage_shard(out, shard_id: int, marker: bytes) -> None:
    name = f"{shard_id:05d}"
    for suffix in (".tar", ".parquet", "_stats.json"):
        (out / "_retry").mkdir(exist_ok=True)
        (out / "_retry" / f"{name}{suffix}").write_bytes(marker + suffix.encode())


def shard_files(out, shard_id: int) -> list[bytes]:
    return [(out / f"{shard_id:05d}{suffix}").read_bytes() for suffix in (".tar", ".parquet", "_stats.json")]


def test_a_commit_cut_between_its_renames_is_finished_by_the_next_run(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    for shard_id in (0, 1):
        for suffix in (".tar", ".parquet", "_stats.json"):
            (out / f"{shard_id:05d}{suffix}").write_bytes(b"old" + suffix.encode())
    stage_shard(out, 0, b"new")
    real_rename, renames = files.rename, []

    def killed_after_one(source, destination):
        if renames:
            raise KeyboardInterrupt("killed")  # stands in for SIGKILL: nothing after it runs
        renames.append(source)
        real_rename(source, destination)

    monkeypatch.setattr(files, "rename", killed_after_one)
    with pytest.raises(KeyboardInterrupt):
        retry.commit(str(out), 0)
    monkeypatch.setattr(files, "rename", real_rename)
    assert shard_files(out, 0) == [b"old.tar", b"new.parquet", b"old_stats.json"]  # mixed until recovered
    stage_shard(out, 1, b"new")  # staged but never journaled: the old shard stays
    assert retry.recover(str(out)) == 1
    assert shard_files(out, 0) == [b"new.tar", b"new.parquet", b"new_stats.json"]
    assert shard_files(out, 1) == [b"old.tar", b"old.parquet", b"old_stats.json"]
    assert list((out / "_retry").iterdir()) == []


def cli(*args):
    return subprocess.Popen([sys.executable, "-m", "wit_pipeline.cli", "download", *args],
                            env=dict(os.environ, PYTHONUNBUFFERED="1"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def shard_state(out, shard_id: int) -> str:
    """old (nothing retried yet) or new (every row a success) — anything else is mixed."""
    name = f"{shard_id:05d}"
    stats = json.loads((out / f"{name}_stats.json").read_text())["successes"]
    parquet = sum(row["status"] == "success" for row in pq.read_table(out / f"{name}.parquet").to_pylist())
    samples = sum(1 for _ in iter_members(str(out / f"{name}.tar")))
    return {(0, 0, 0): "old", (8, 8, 8): "new"}.get((stats, parquet, samples), f"mixed {stats}/{parquet}/{samples}")


def test_sigkill_during_retry_leaves_each_shard_old_or_new(tmp_path):
    route = FlakyImages(flaky=range(48), status=503)
    with serve(fallback=route) as server:
        common = ["--url-list", write_list(tmp_path / "urls.csv", server, 48), "--out", str(tmp_path / "out"),
                  "--samples-per-shard", "8", "--image-size", "16", "--threads", "2", "--allow-private-networks",
                  "--retries", "0", "--max-retry-after", "0", "--host-failure-limit", "0"]
        first = cli(*common)
        assert first.wait(120) == 0, first.stdout.read()
        assert {shard_state(tmp_path / "out", i) for i in range(6)} == {"old"}

        route.delay = 0.05
        victim = cli(*common, "--retry-failed")
        deadline = time.monotonic() + 90
        while sum(shard_state(tmp_path / "out", i) == "new" for i in range(6)) < 2:
            assert time.monotonic() < deadline and victim.poll() is None, "the retry ended before it could be killed"
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        retry.recover(str(tmp_path / "out"))  # what the next run does first
        states = [shard_state(tmp_path / "out", i) for i in range(6)]
        assert set(states) <= {"old", "new"} and "old" in states, states

        route.delay = 0.0
        rerun = cli(*common, "--retry-failed")
        output = rerun.communicate(timeout=120)[0]
        assert rerun.returncode == 0, output
    assert [shard_state(tmp_path / "out", i) for i in range(6)] == ["new"] * 6
    keys = tar_keys(tmp_path / "out")
    assert len(keys) == len(set(keys)) == 48
    assert verify_shards(str(tmp_path / "out")).ok
