import io
import tarfile

import pyarrow.parquet as pq
import pytest
from PIL import Image

from shards.layout import index_digits, sample_key
from shards.reader import find_shards, iter_samples
from shards.writer import ShardWriter, write_totals
from wit_pipeline.cli import main as wit


def jpeg_bytes(color=(1, 2, 3)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(buffer, "JPEG")
    return buffer.getvalue()


def write_shard(out, shard_id, n, failures=()):
    with ShardWriter(str(out), shard_id) as writer:
        for i in range(n):
            status = "http_404" if i in failures else "success"
            writer.add({"key": sample_key(shard_id, i, 100), "caption": f"c{i}", "status": status, "url": f"u{i}"},
                       None if status != "success" else jpeg_bytes((i, i, i)))


def test_keys_follow_img2dataset():
    assert index_digits(10_000) == 4 and index_digits(10) == 1 and index_digits(1000) == 3
    assert sample_key(3, 7, 10_000) == "000030007"
    with pytest.raises(ValueError):
        sample_key(0, 10, 10)


def test_writer_reader_roundtrip_and_totals(tmp_path):
    write_shard(tmp_path, 0, 5, failures={1})
    write_shard(tmp_path, 1, 3)
    samples = [s for tar in find_shards(str(tmp_path)) for s in iter_samples(tar)]
    assert [s.key for s in samples] == ["0000000", "0000002", "0000003", "0000004", "0000100", "0000101", "0000102"]
    assert samples[1].text == "c2" and samples[1].meta["url"] == "u2" and samples[1].image_ext == "jpg"
    totals = write_totals(str(tmp_path))
    assert totals["count"] == 8 and totals["successes"] == 7 and totals["status"] == {"http_404": 1, "success": 7}
    assert pq.read_table(tmp_path / "00000.parquet").num_rows == 5


def test_writer_rejects_duplicates_and_leaves_nothing_on_error(tmp_path):
    with pytest.raises(ValueError, match="duplicate key"):
        with ShardWriter(str(tmp_path), 0) as writer:
            writer.add({"key": "a", "status": "success"}, jpeg_bytes())
            writer.add({"key": "a", "status": "success"}, jpeg_bytes())
    assert list(tmp_path.iterdir()) == []


def test_verify_passes_then_catches_a_missing_sample(tmp_path, capsys):
    write_shard(tmp_path, 0, 4)
    assert wit(["shards", "verify", str(tmp_path)]) == 0
    tar_path = tmp_path / "00000.tar"
    with tarfile.open(tar_path) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(tar_path, "w") as tar:
        for member, data in members:
            if not member.name.startswith("0000002."):
                tar.addfile(member, io.BytesIO(data))
    assert wit(["shards", "verify", str(tmp_path / "*.tar")]) == 1
    out = capsys.readouterr().out
    assert "3 samples in tar vs 4 successes in parquet" in out and "0000002" in out


def test_verify_catches_undecodable_image(tmp_path, capsys):
    with ShardWriter(str(tmp_path), 0) as writer:
        writer.add({"key": "k0", "status": "success", "caption": "x"}, b"not a jpeg")
    assert wit(["shards", "verify", str(tmp_path)]) == 1
    assert "image does not decode" in capsys.readouterr().out


def test_verify_of_nothing_is_an_error(tmp_path, capsys):
    assert wit(["shards", "verify", str(tmp_path / "none*.tar")]) == 2
    assert "no file matches" in capsys.readouterr().err


def test_every_project_image_extension_is_a_samples_image(tmp_path, capsys):
    from shards.layout import IMAGE_EXTENSIONS

    assert IMAGE_EXTENSIONS[0] == "jpg" and {"ppm", "webp", "tiff"} <= set(IMAGE_EXTENSIONS)
    with ShardWriter(str(tmp_path), 0, image_ext="ppm") as writer:
        writer.add({"key": "k0", "status": "success", "caption": "a ppm"}, jpeg_bytes())
    [sample] = iter_samples(str(tmp_path / "00000.tar"))
    assert sample.image_ext == "ppm" and sample.text == "a ppm"
    assert wit(["shards", "verify", str(tmp_path)]) == 0
