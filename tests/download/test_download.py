import io
import json
import os
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import webdataset as wds
from PIL import Image

from shards.reader import find_shards, iter_samples
from shards.verify import verify_shards
from wit_pipeline.run.loopback import send, serve
from wit_pipeline.download.command import run_download
from wit_pipeline.download.images import ImageOptions
from wit_pipeline.core.net import FetchPolicy

LOCAL = FetchPolicy(allow_private_networks=True, timeout=1.0, retries=1, backoff=0.01, max_bytes=200_000)


def jpeg(size=(320, 240), color=(200, 60, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def png_bomb() -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buffer, "PNG")  # 100M pixels, a few KB on the wire
    return buffer.getvalue()


def truncated(h):
    h.send_response(200)
    h.send_header("Content-Type", "image/jpeg")
    h.send_header("Content-Length", "50000")
    h.end_headers()
    h.wfile.write(jpeg()[:500])
    h.wfile.flush()
    h.close_connection = True


def hang(h):
    time.sleep(3)
    send(h, jpeg())


def endless(h):
    h.send_response(200)
    h.send_header("Content-Type", "image/jpeg")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    chunk = b"\xff" * 65536
    try:
        for _ in range(50):  # 3.2 MB, far past the 200 kB cap
            h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    except (BrokenPipeError, ConnectionResetError):
        pass
    h.close_connection = True


def redirect_to(target):
    def route(h):
        h.send_response(302)
        h.send_header("Location", target)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return route


@pytest.fixture(scope="module")
def site():
    bomb = png_bomb()  # made once: 0.6 s a request on a loaded machine, near the 1 s --timeout
    routes = {
        "/robots.txt": lambda h: send(h, b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"),
        "/ok.jpg": lambda h: send(h, jpeg()),
        "/500": lambda h: send(h, b"oops", 500, "text/plain"),
        "/hang": hang,
        "/truncated": truncated,
        "/html": lambda h: send(h, b"<html><body>hi</body></html>", content_type="text/html"),
        "/random": lambda h: send(h, os.urandom(3000), content_type="image/jpeg"),
        "/loop": redirect_to("/loop"),
        "/big-header": lambda h: send(h, b"x" * 300_000),
        "/big-stream": endless,
        "/bomb.png": lambda h: send(h, bomb, content_type="image/png"),
        "/noai.jpg": lambda h: send(h, jpeg(), headers={"X-Robots-Tag": "noai"}),
        "/private/secret.jpg": lambda h: send(h, jpeg()),
    }
    for i in range(6):  # /r0 -> /r1 -> ... -> /r5 -> /ok.jpg: six redirects, one too many
        routes[f"/r{i}"] = redirect_to(f"/r{i + 1}" if i < 5 else "/ok.jpg")
    routes["/r-short"] = redirect_to("/r3")  # three redirects: fine
    with serve(routes) as server:
        yield server


EXPECTED = {
    "/ok.jpg": "success",
    "/missing.jpg": "http_404",
    "/500": "http_500",
    "/hang": "timeout",
    "/truncated": "truncated",
    "/html": "not_an_image",
    "/random": "not_an_image",
    "/r0": "too_many_redirects",
    "/r-short": "success",
    "/loop": "redirect_loop",
    "/big-header": "too_large",
    "/big-stream": "too_large",
    "/bomb.png": "decompression_bomb",
    "/noai.jpg": "x_robots_tag",
    "/private/secret.jpg": "robots_disallowed",
}


def write_csv(path, rows):
    with open(path, "w") as f:
        f.write("url,caption\n")
        for url, caption in rows:
            f.write(f"{url},{caption}\n")


def test_every_failure_kind_gets_its_status(site, tmp_path):
    urls = [(site.url(path), f"caption {i}") for i, path in enumerate(EXPECTED)]
    urls.append(("", "no url"))
    write_csv(tmp_path / "urls.csv", urls)
    totals = run_download([str(tmp_path / "urls.csv")], str(tmp_path / "out"), LOCAL, ImageOptions(image_size=64),
                          samples_per_shard=8, threads=8, show_progress=False)
    table = pq.read_table([str(p) for p in sorted((tmp_path / "out").glob("0*.parquet"))][0])
    rows = pa.concat_tables([pq.read_table(p) for p in sorted((tmp_path / "out").glob("0*.parquet"))]).to_pylist()
    by_url = {row["url"]: row for row in rows}
    for path, status in EXPECTED.items():
        row = by_url[site.url(path)]
        assert row["status"] == status, (path, row["status"], row["error_message"])
        if status != "success":
            assert row["error_message"], path
    assert by_url[""]["status"] == "invalid_url"
    assert site.hits["/500"] == 2  # retried once
    assert site.hits.get("/private/secret.jpg") is None
    # accounting invariant: every input row is in a parquet; successes == samples in tars
    assert totals["count"] == len(urls) == len(rows)
    samples = [s for tar in find_shards(str(tmp_path / "out")) for s in iter_samples(tar)]
    assert len(samples) == totals["successes"] == sum(r["status"] == "success" for r in rows) == 2
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["status"]["too_large"] == 2
    assert verify_shards(str(tmp_path / "out")).ok
    assert table.column_names[:12] == ["key", "uid", "url", "caption", "status", "error_message", "width",
                                       "height", "original_width", "original_height", "sha256", "phash"]


def test_private_address_refused_without_flag(site, tmp_path):
    write_csv(tmp_path / "urls.csv", [(site.url("/ok.jpg"), "a cat")])
    run_download([str(tmp_path / "urls.csv")], str(tmp_path / "out"), FetchPolicy(timeout=1.0),
                 ImageOptions(), show_progress=False)
    row = pq.read_table(tmp_path / "out" / "00000.parquet").to_pylist()[0]
    assert row["status"] == "private_address"
    assert "127.0.0.1" in row["error_message"]


@pytest.fixture(scope="module")
def photo_site():
    images = {f"/img/{i}.jpg": jpeg((300 + 7 * i, 200 + 3 * i), (i * 9 % 255, 90, 160)) for i in range(60)}
    routes = {path: (lambda data: lambda h: send(h, data))(data) for path, data in images.items()}
    with serve(routes) as server:
        yield server


def candidates_table(server, n):
    return pa.table({
        "uid": [f"u{i}" for i in range(n)],
        "url": [server.url(f"/img/{i}.jpg") for i in range(n)],
        "text": [f"a photo of thing {i}" for i in range(n)],
        "page_url": [server.url("/page.html")] * n,
        "source": ["warc"] * n,
        "matched": [["thing"]] * n,
    })


def test_candidates_parquet_and_webdataset_library_reads_shards(photo_site, tmp_path):
    pq.write_table(candidates_table(photo_site, 25), tmp_path / "candidates-00000.parquet")
    totals = run_download([str(tmp_path / "candidates-*.parquet")], str(tmp_path / "out"), LOCAL,
                          ImageOptions(image_size=64, resize_mode="center_crop"), samples_per_shard=10,
                          threads=4, show_progress=False)
    assert totals["successes"] == 25 and totals["shards"] == 3
    dataset = wds.WebDataset(sorted(str(p) for p in (tmp_path / "out").glob("*.tar")), shardshuffle=False)
    samples = list(dataset.decode("pil").to_tuple("__key__", "jpg", "txt", "json"))
    assert [s[0] for s in samples][:3] == ["000000", "000001", "000002"]  # 10 per shard: 1 index digit
    assert samples[12][0] == "000012"
    key, image, text, meta = samples[12]
    assert image.size == (64, 64) and text == "a photo of thing 12"
    assert meta["uid"] == "u12" and meta["matched"] == ["thing"] and meta["source"] == "warc"
    row = pq.read_table(tmp_path / "out" / "00001.parquet").to_pylist()[2]
    assert row["page_url"] == photo_site.url("/page.html") and len(row["phash"]) == 16 and len(row["sha256"]) == 64


def test_gzipped_url_list(photo_site, tmp_path):
    import gzip
    (tmp_path / "in.csv.gz").write_bytes(gzip.compress(("url,caption\n" + "".join(
        f"{photo_site.url(f'/img/{i}.jpg')},cap {i}\n" for i in range(4))).encode()))
    totals = run_download([str(tmp_path / "in.csv.gz")], str(tmp_path / "out"), LOCAL, ImageOptions(image_size=32),
                          show_progress=False)
    assert totals["successes"] == 4


@pytest.mark.parametrize("fmt", ["tsv", "jsonl"])
def test_other_url_list_formats_and_custom_columns(photo_site, tmp_path, fmt):
    if fmt == "tsv":
        (tmp_path / "in.tsv").write_text("link\talt\n" + "".join(
            f"{photo_site.url(f'/img/{i}.jpg')}\tcap {i}\n" for i in range(3)))
    else:
        (tmp_path / "in.jsonl").write_text("".join(
            json.dumps({"link": photo_site.url(f"/img/{i}.jpg"), "alt": f"cap {i}"}) + "\n" for i in range(3)))
    totals = run_download([str(tmp_path / f"in.{fmt}")], str(tmp_path / "out"), LOCAL, ImageOptions(image_size=32),
                          url_col="link", caption_col="alt", show_progress=False)
    assert totals["successes"] == 3
    rows = pq.read_table(tmp_path / "out" / "00000.parquet").to_pylist()
    assert [r["caption"] for r in rows] == ["cap 0", "cap 1", "cap 2"]


def test_bad_inputs_get_clear_errors(tmp_path):
    (tmp_path / "in.csv").write_text("address,caption\nhttp://x/a.jpg,a\n")
    with pytest.raises(ValueError, match="no url column 'url'"):
        run_download([str(tmp_path / "in.csv")], str(tmp_path / "out"), LOCAL, ImageOptions(), show_progress=False)
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        run_download([str(tmp_path / "nothing-here*.csv")], str(tmp_path / "out"), LOCAL, ImageOptions(),
                     show_progress=False)
    (tmp_path / "in.xyz").write_text("?")
    with pytest.raises(ValueError, match="--input-format"):
        run_download([str(tmp_path / "in.xyz")], str(tmp_path / "out2"), LOCAL, ImageOptions(), show_progress=False)


def cli(*args, **kwargs):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "wit_pipeline.cli", "download", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def shard_contents(out):
    result = {}
    for tar in find_shards(str(out)):
        for sample in iter_samples(tar):
            assert sample.key not in result, f"duplicate key {sample.key}"
            result[sample.key] = (sample.text, sample.image)
    return result


def test_sigkill_then_rerun_gives_the_uninterrupted_keys(tmp_path):
    delay = {"value": 0.0}
    images = {f"/img/{i}.jpg": jpeg((200 + i, 150), (i * 3 % 255, 40, 90)) for i in range(120)}

    def route(h):
        if h.path not in images:  # robots.txt: none
            send(h, b"", 404, "text/plain")
            return
        time.sleep(delay["value"])
        send(h, images[h.path])

    with serve(fallback=route) as server:
        write_csv(tmp_path / "urls.csv", [(server.url(f"/img/{i}.jpg"), f"pic {i}") for i in range(120)])
        common = ["--url-list", str(tmp_path / "urls.csv"), "--samples-per-shard", "10", "--image-size", "48",
                  "--threads", "2", "--allow-private-networks", "--timeout", "5"]
        reference = cli(*common, "--out", str(tmp_path / "ref"))
        assert reference.wait(120) == 0, reference.stdout.read()

        delay["value"] = 0.05
        victim = cli(*common, "--out", str(tmp_path / "killed"))
        deadline = time.monotonic() + 90
        while len(list((tmp_path / "killed").glob("*_stats.json"))) < 3:
            assert time.monotonic() < deadline and victim.poll() is None, "download ended before it could be killed"
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        finished_before = len(list((tmp_path / "killed").glob("*_stats.json")))
        assert 3 <= finished_before < 12
        assert not (tmp_path / "killed" / "stats.json").exists()

        delay["value"] = 0.0
        rerun = cli(*common, "--out", str(tmp_path / "killed"))
        output = rerun.communicate(timeout=120)[0]
        assert rerun.returncode == 0, output
    assert f"shards_resumed: {finished_before}" in output
    assert shard_contents(tmp_path / "killed") == shard_contents(tmp_path / "ref")
    assert len(shard_contents(tmp_path / "ref")) == 120
    assert not list((tmp_path / "killed").glob(".tmp-*"))
    assert verify_shards(str(tmp_path / "killed")).ok


def test_rerun_with_other_inputs_is_refused(photo_site, tmp_path):
    pq.write_table(candidates_table(photo_site, 3), tmp_path / "a.parquet")
    pq.write_table(candidates_table(photo_site, 4), tmp_path / "b.parquet")
    run_download([str(tmp_path / "a.parquet")], str(tmp_path / "out"), LOCAL, ImageOptions(image_size=32),
                 show_progress=False)
    with pytest.raises(ValueError, match="use a new --out"):
        run_download([str(tmp_path / "b.parquet")], str(tmp_path / "out"), LOCAL, ImageOptions(image_size=32),
                     show_progress=False)


def test_decode_process_pool_gives_identical_shards_and_statuses(site, tmp_path):
    paths = ["/ok.jpg", "/html", "/bomb.png", "/r-short", "/missing.jpg"]  # not /random: new bytes each time
    write_csv(tmp_path / "urls.csv", [(site.url(path), f"caption {i}") for i, path in enumerate(paths)])
    for name, processes in (("threads", 0), ("pool", 2)):
        run_download([str(tmp_path / "urls.csv")], str(tmp_path / name), LOCAL, ImageOptions(image_size=48),
                     threads=4, show_progress=False, decode_processes=processes)
    assert (tmp_path / "pool" / "00000.tar").read_bytes() == (tmp_path / "threads" / "00000.tar").read_bytes()
    rows = pq.read_table(tmp_path / "pool" / "00000.parquet").to_pylist()
    assert rows == pq.read_table(tmp_path / "threads" / "00000.parquet").to_pylist()
    # rejections raised inside the pool come back as the same per-row statuses
    assert [r["status"] for r in rows] == ["success", "not_an_image", "decompression_bomb", "success", "http_404"]


def test_decode_processes_flag():
    from wit_pipeline.download.command import resolve_decode_processes
    from wit_pipeline.core.options import pipeline_options
    assert resolve_decode_processes("3", pipeline_options([])) == 3
    assert resolve_decode_processes("auto", pipeline_options(["--direct_running_mode", "multi_processing"])) == 0
    assert resolve_decode_processes("auto", pipeline_options(["--runner", "DataflowRunner"])) == 0
    with pytest.raises(ValueError, match="--decode-processes"):
        resolve_decode_processes("many", pipeline_options([]))


def test_multi_processing_workers_give_identical_shards(photo_site, tmp_path):
    pq.write_table(candidates_table(photo_site, 30), tmp_path / "c.parquet")
    for name, argv in (("one", []), ("two", ["--direct_running_mode", "multi_processing", "--direct_num_workers", "2"])):
        run_download([str(tmp_path / "c.parquet")], str(tmp_path / name), LOCAL, ImageOptions(image_size=32),
                     samples_per_shard=8, threads=4, beam_argv=argv, show_progress=False)
    for tar in sorted((tmp_path / "one").glob("*.tar")):
        assert tar.read_bytes() == (tmp_path / "two" / tar.name).read_bytes()
        parquet = tar.with_suffix(".parquet")
        assert pq.read_table(parquet).equals(pq.read_table(tmp_path / "two" / parquet.name))
