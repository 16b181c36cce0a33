"""The training input pipeline: counted skips, deterministic order, worker split, resume position."""
import io
import os
import tarfile

import pytest
import torch
from PIL import Image

from shards.writer import ShardWriter
from wit_pipeline.train import data as train_data


def _png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (value, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def _preprocess(image):
    # The red channel carries the sample number, so batches can be traced back to samples.
    return torch.tensor([image.getpixel((0, 0))[0]], dtype=torch.float32)


def _tokenizer(texts):
    return torch.tensor([[int(t.split()[-1])] for t in texts])


def _write(out, shard_id, numbers, bad=(), image_ext="png"):
    with ShardWriter(str(out), shard_id, image_ext=image_ext) as writer:
        for i, n in enumerate(numbers):
            key = f"{shard_id:05d}{i:03d}"
            image = b"not an image" if n in bad else _png(n)
            writer.add({"key": key, "status": "success", "caption": f"sample {n}"}, image)
    return str(out / f"{shard_id:05d}.tar")


def _samples(batches):
    return [int(v) for b in batches if b["images"] is not None for v in b["images"].flatten()]


@pytest.fixture
def shards(tmp_path):
    return [_write(tmp_path, s, range(s * 20, s * 20 + 20)) for s in range(4)]


def _stream(shards, **kwargs):
    kwargs = {"batch_size": 4, "seed": 3, "shuffle_buffer": 10, **kwargs}
    return train_data.ShardStream(shards, _preprocess, _tokenizer, **kwargs)


def test_one_epoch_covers_every_sample_once_across_workers_and_ranks(shards):
    seen = []
    for rank in range(2):
        loader = train_data.make_loader(_stream(shards, rank=rank, world_size=2), workers=2)
        batches = list(loader)
        seen += _samples(batches)
        assert sum(b.get("partial", 0) for b in batches if b["images"] is None) == 0
        # Captions and images stay paired through shuffling and batching.
        for b in batches:
            if b["images"] is not None:
                assert b["texts"].flatten().tolist() == b["images"].flatten().int().tolist()
    assert sorted(seen) == list(range(80))


def test_order_is_deterministic_per_seed_and_epoch_and_shuffled(shards):
    first = _samples(_stream(shards))
    assert first == _samples(_stream(shards))
    assert first != sorted(first)
    assert _samples(_stream(shards, epoch=1)) != first
    assert _samples(_stream(shards, seed=4)) != first


def test_skipping_the_consumed_count_resumes_with_the_next_sample(shards):
    full = list(_stream(shards))
    cut = 7
    position = train_data.StreamPosition(consumed={0: full[cut - 1]["consumed"]})
    resumed = list(_stream(shards, position=position))
    assert _samples(resumed) == _samples(full[cut:])


def test_unusable_samples_are_skipped_and_counted(tmp_path):
    good = _write(tmp_path, 0, range(10), bad={3, 4})
    with ShardWriter(str(tmp_path), 1, image_ext="png") as writer:
        writer.add({"key": "00001000", "status": "success", "caption": "   "}, _png(50))
        writer.add({"key": "00001001", "status": "success", "caption": "sample 51"}, _png(51))
    odd = str(tmp_path / "00002.tar")
    with tarfile.open(odd, "w") as tar:
        for name, data in (("00002000.png", _png(60)), ("00002001.txt", b"sample 61"),
                           ("00002002.png", _png(62)), ("00002002.txt", b"\xff\xfe")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    # A shard cut off mid-file: the samples before the damage still train.
    damaged = str(tmp_path / "00003.tar")
    _write(tmp_path / "full", 3, range(70, 76))
    data = (tmp_path / "full" / "00003.tar").read_bytes()
    with open(damaged, "wb") as f:
        f.write(data[: len(data) // 2 + 100])

    batches = list(_stream([good, str(tmp_path / "00001.tar"), odd, damaged], batch_size=2))
    skipped = {}
    for b in batches:
        for reason, n in b["skipped"].items():
            skipped[reason] = skipped.get(reason, 0) + n
    # The damaged shard's 4th sample lost its caption to the cut: it counts as no_caption.
    assert skipped == {"undecodable_image": 2, "empty_caption": 1, "no_caption": 2, "no_image": 1,
                       "undecodable_caption": 1, "damaged_tar": 1}
    trained = _samples(batches)
    partial = sum(b["partial"] for b in batches if b["images"] is None)
    assert partial == 0
    assert sorted(trained) == [0, 1, 2, 5, 6, 7, 8, 9, 51, 70, 71, 72]


def test_resampled_stream_is_endless_and_draws_shards_with_replacement(shards):
    stream = iter(_stream(shards[:2], resampled=True, shuffle_buffer=1))
    numbers = _samples(next(stream) for _ in range(30))
    assert len(numbers) == 120 and set(numbers) <= set(range(40))
    assert len(set(numbers)) == 40  # both shards came up, more than once


def test_shard_sizes_come_from_shard_stats(shards, tmp_path):
    assert train_data.shard_sizes(shards) == [20, 20, 20, 20]
    os.remove(tmp_path / "00001_stats.json")
    assert train_data.shard_sizes(shards)[1] is None


def test_shard_assignment_splits_ranks_then_workers_disjointly():
    shards = [f"{i:05d}.tar" for i in range(10)]
    parts = [train_data.assign_shards(shards, seed=0, epoch=0, rank=r, world_size=2, worker=w, num_workers=2)
             for r in range(2) for w in range(2)]
    assert sorted(sum(parts, [])) == shards
    assert parts != [train_data.assign_shards(shards, seed=0, epoch=1, rank=r, world_size=2, worker=w,
                                              num_workers=2) for r in range(2) for w in range(2)]


@pytest.mark.parametrize("cut", [3 * 1024 * 2 + 512 + 30, 3 * 1024 * 2 + 1024 + 200])
def test_shard_cut_inside_a_member_counts_as_damaged(tmp_path, cut):
    _write(tmp_path / "full", 0, range(6))
    data = (tmp_path / "full" / "00000.tar").read_bytes()
    damaged = tmp_path / "00000.tar"
    damaged.write_bytes(data[:cut])  # inside the third sample's image data / caption header
    batches = list(_stream([str(damaged)], batch_size=1))
    assert sorted(_samples(batches)) == [0, 1]
    assert sum(b["skipped"].get("damaged_tar", 0) for b in batches) == 1


def _record(worker, consumed, tail=False, partial=0, skipped=None):
    return {"images": None if tail else torch.zeros(1), "worker": worker, "consumed": consumed,
            "skipped": skipped or {}, "partial": partial}


def test_ordered_batches_follow_a_fixed_worker_rotation_whatever_the_delivery_order():
    delivered = [_record(1, 4), _record(1, 8), _record(0, 4, skipped={"no_image": 1}),
                 _record(0, 9, tail=True, partial=2), _record(1, 12), _record(1, 13, tail=True)]
    ordered = train_data.OrderedBatches(delivered, num_workers=2)
    taken = [(b["worker"], b["consumed"]) for b in ordered]
    # Rotation 0, 1, 0 (its tail: worker 0 is done), then worker 1 alone.
    assert taken == [(0, 4), (1, 4), (1, 8), (1, 12)]
    assert ordered.skipped == {"no_image": 1} and ordered.partial == 2
    assert ordered.position.finished == [0, 1]


def test_ordered_batches_resume_in_the_saved_rotation():
    ordered = train_data.OrderedBatches([_record(0, 4), _record(1, 4), _record(0, 8)], num_workers=2)
    next(ordered)
    saved = train_data.StreamPosition.from_dict(ordered.position.to_dict())
    assert saved == train_data.StreamPosition(consumed={0: 4}, finished=[], next_worker=1)
    # A restarted DataLoader delivers worker 0 first again; worker 1's batch must still come first.
    resumed = train_data.OrderedBatches([_record(0, 8), _record(1, 4)], num_workers=2, position=saved)
    assert [(b["worker"], b["consumed"]) for b in resumed] == [(1, 4), (0, 8)]


def test_every_project_image_extension_is_an_image(tmp_path):
    # PIL reads by content: a PNG named .ppm (or .bmp, .tif) decodes as any image member.
    shards = [_write(tmp_path, i, range(i * 4, i * 4 + 4), image_ext=ext) for i, ext in enumerate(("ppm", "bmp"))]
    batches = list(_stream(shards, shuffle_buffer=1))
    assert sorted(_samples(batches)) == list(range(8))
    assert not any(b["skipped"] for b in batches)
