"""Politeness through `wit download` (issue 13, item 2): the per-host cap seen by loopback
servers, rows interleaved across hosts, the circuit breaker's statuses, the summary's
warning about a high failure rate."""
import io
import json

import pyarrow.parquet as pq
import pytest
from PIL import Image

from shards.reader import iter_members
from tests.core.hostile_server import ConcurrencyMeter
from tests.download.fixtures import LOCAL, download
from wit_pipeline import cli
from wit_pipeline.core.net import FetchPolicy
from wit_pipeline.download.images import ImageOptions
from wit_pipeline.run.loopback import send, serve


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


def write_list(path, urls) -> str:
    path.write_text("url,caption\n" + "".join(f"{u},row {i}\n" for i, u in enumerate(urls)))
    return str(path)


def test_per_host_cap_holds_and_hosts_are_fetched_side_by_side(tmp_path):
    meters = [ConcurrencyMeter(hold=0.1, body=jpeg()), ConcurrencyMeter(hold=0.1, body=jpeg())]
    with serve(fallback=meters[0]) as first, serve(fallback=meters[1]) as second:
        # one host's rows first, then the other's: interleaving must not leave the second idle
        urls = [first.url(f"/{i}.jpg") for i in range(12)] + [second.url(f"/{i}.jpg") for i in range(12)]
        policy = FetchPolicy(**{**LOCAL.__dict__, "per_host_connections": 2})
        totals = download([write_list(tmp_path / "urls.csv", urls)], tmp_path / "out", policy,
                          ImageOptions(image_size=16), samples_per_shard=100, threads=8)
    assert totals["successes"] == 24
    assert [meter.most for meter in meters] == [2, 2]
    assert meters[1].starts[0] < meters[0].starts[-1]  # the second host started before the first was done
    keys = [key for key, _parts in iter_members(str(tmp_path / "out" / "00000.tar"))]
    assert keys[:4] == ["0000000", "0000001", "0000012", "0000013"]  # the tar holds fetch order
    rows = pq.read_table(tmp_path / "out" / "00000.parquet").to_pylist()
    assert [row["key"] for row in rows] == sorted(row["key"] for row in rows)  # the parquet key order


@pytest.mark.parametrize("answer,status,counted_as", [
    ((b"busy", 503, "text/plain", {"Retry-After": "0"}), "http_503", "http_503"),
    ((b"too many requests", 429, "text/plain", {"Retry-After": "0"}), "http_429", "http_429"),
    ((b"<html><form>Are you a robot?</form></html>", 200, "text/html"), "not_an_image", "html_instead_of_image"),
])
def test_a_failing_host_trips_the_breaker_and_its_rows_say_so(tmp_path, answer, status, counted_as):
    """Errors, throttling and a captcha page served for every image all count against the host."""
    image = jpeg()
    with serve(fallback=lambda h: send(h, *answer)) as failing, \
            serve(fallback=lambda h: send(h, image) if h.path != "/robots.txt" else send(h, b"", 404)) as healthy:
        urls = [failing.url(f"/{i}.jpg") for i in range(10)] + [healthy.url(f"/{i}.jpg") for i in range(3)]
        policy = FetchPolicy(**{**LOCAL.__dict__, "retries": 0, "respect_robots": False})
        download([write_list(tmp_path / "urls.csv", urls)], tmp_path / "out", policy, ImageOptions(image_size=16),
                 threads=1, host_failure_limit=3)
        failing_hits = sum(failing.hits.values())
    rows = pq.read_table(tmp_path / "out" / "00000.parquet").to_pylist()
    statuses = [row["status"] for row in rows]
    assert statuses == [status] * 3 + ["host_backoff"] * 7 + ["success"] * 3
    assert failing_hits == 3
    host = urls[0].split("/")[2]
    assert rows[5]["error_message"] == (f"{host} failed 3 times in a row (last: {counted_as}); its remaining rows in "
                                        f"this shard are not tried (--host-failure-limit 3)")
    stats = json.loads((tmp_path / "out" / "00000_stats.json").read_text())
    assert stats["failed_hosts"] == {host: 10}


def test_summary_warns_when_most_rows_fail_and_names_reasons_and_hosts(tmp_path, capsys):
    image = jpeg()
    with serve({"/ok.jpg": lambda h: send(h, image)}) as server:  # anything else: 404
        urls = [server.url(f"/gone-{i}.jpg") for i in range(8)] + [server.url("/ok.jpg")] * 2
        rc = cli.main(["download", "--url-list", write_list(tmp_path / "urls.csv", urls), "--out",
                       str(tmp_path / "out"), "--allow-private-networks", "--timeout", "2", "--image-size", "16",
                       "--decode-processes", "0"])
    assert rc == 0
    host = urls[0].split("/")[2]
    warning = (f"8 of 10 rows failed (80%): mostly http_404 8 (80%); hosts with the most failures: {host} (8); "
               f"see the failed rows' error_message in the shard parquet files")
    assert f"warning: {warning}" in capsys.readouterr().out
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["warning"] == warning and stats["failed_hosts"] == {host: 8}
