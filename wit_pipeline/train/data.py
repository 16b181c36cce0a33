"""The training input pipeline: WebDataset shards -> shuffled, decoded, batched tensors.

Built from webdataset's tar-reading stages (tar_file_expander, group_by_keys, the shuffle
buffer) with three things of our own:

* Shards are opened through Beam's FileSystems, so gs://, s3:// and hdfs:// shards train
  like local ones.
* Every sample that cannot be used (no image, no caption, undecodable image, damaged
  tar) is skipped and *counted* by reason; the counts ride along with the next batch (or
  a final "tail" record), so the trainer reports them even from DataLoader workers.
* The stream is deterministic given (seed, epoch, rank, worker), augmentations are
  seeded per sample position, and each batch carries how many shuffled raw samples its
  worker has consumed. With the worker rotation of `OrderedBatches` that is the data
  position a checkpoint stores: resuming skips exactly that many raw samples per worker
  (before decoding, so the skip is cheap) and continues with the very next batch.
"""
from __future__ import annotations

import collections
import dataclasses
import io
import logging
import random
from typing import Iterator

import torch
from PIL import Image
from webdataset.filters import _shuffle
from webdataset.tariterators import group_by_keys, tar_file_expander

from shards import layout
from wit_pipeline.core import files

log = logging.getLogger(__name__)

TEXT_KEY = "txt"


def shard_sizes(shards: list[str]) -> list[int | None]:
    """Samples per shard from `NNNNN_stats.json` (successes) next to each tar; None when absent."""
    sizes = []
    for tar in shards:
        stats_path = layout.sibling(tar, "_stats.json")
        try:
            sizes.append(int(files.read_json(stats_path)["successes"]))
        except (FileNotFoundError, OSError, KeyError, ValueError):
            sizes.append(None)
    return sizes


def assign_shards(shards: list[str], *, seed: int, epoch: int, rank: int, world_size: int,
                  worker: int, num_workers: int) -> list[str]:
    """This worker's shards for one epoch: a seeded shuffle of all shards (the same on every
    rank), then every world_size-th for this rank, then every num_workers-th for this worker."""
    order = list(shards)
    random.Random(f"{seed}/{epoch}/shards").shuffle(order)
    return order[rank::world_size][worker::num_workers]


def resampled_shards(shards: list[str], rng: random.Random) -> Iterator[str]:
    """Shards drawn with replacement, forever."""
    while True:
        yield rng.choice(shards)


class ShardStream(torch.utils.data.IterableDataset):
    """Yields batch dicts: `images` [B,3,H,W], `texts` [B,L] token ids, `worker`,
    `consumed` (shuffled raw samples this worker took this epoch), `skipped` (reason ->
    count since the previous record). The last record of each worker has `images=None`:
    it carries the skips after the final full batch and `partial`, the samples left over
    that did not fill a batch."""

    def __init__(self, shards: list[str], preprocess, tokenizer, batch_size: int, *, seed: int = 0,
                 epoch: int = 0, rank: int = 0, world_size: int = 1, resampled: bool = False,
                 shuffle_buffer: int = 2000, position: "StreamPosition | None" = None):
        super().__init__()
        if not shards:
            raise ValueError("no shards to train on")
        self.shards = list(shards)
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = epoch
        self.rank = rank
        self.world_size = world_size
        self.resampled = resampled
        self.shuffle_buffer = shuffle_buffer
        self.position = position or StreamPosition()

    def _worker(self) -> tuple[int, int]:
        info = torch.utils.data.get_worker_info()
        return (info.id, info.num_workers) if info is not None else (0, 1)

    def _open(self, urls: Iterator[str], skipped: collections.Counter, damaged: set):
        for url in urls:
            try:
                raw = open(url, "rb") if files.is_local(url) else files.open_read(url)
            except OSError as exc:
                skipped["unreadable_shard"] += 1
                log.warning("skipping shard %s: %s", url, exc)
                continue
            stream = _TailReader(raw)
            try:
                yield {"url": url, "stream": stream}
            finally:
                raw.close()
            # Python's tarfile takes a file cut at a header boundary for a complete archive;
            # a real tar always ends in zero blocks, so a non-zero tail means data was lost.
            if url in damaged or not stream.ends_with_zero_block():
                skipped["damaged_tar"] += 1
                log.warning("shard %s is damaged or truncated; its readable samples were used", url)

    def __iter__(self):
        worker, num_workers = self._worker()
        if worker in self.position.finished:
            return
        skipped: collections.Counter = collections.Counter()
        tag = f"{self.seed}/{self.epoch}/{self.rank}/{worker}"
        if self.resampled:
            urls = resampled_shards(self.shards, random.Random(f"{tag}/resample"))
        else:
            urls = iter(assign_shards(self.shards, seed=self.seed, epoch=self.epoch, rank=self.rank,
                                      world_size=self.world_size, worker=worker, num_workers=num_workers))

        damaged_urls: set[str] = set()
        current_url = [None]

        def opened(urls):
            for url in urls:
                current_url[0] = url
                yield url

        def damaged(exc: Exception) -> bool:
            damaged_urls.add(current_url[0])
            log.debug("damaged shard data: %s", exc)
            return True

        sources = self._open(opened(urls), skipped, damaged_urls)
        raw = group_by_keys(tar_file_expander(sources, handler=damaged), handler=damaged)
        shuffled = _shuffle(raw, bufsize=self.shuffle_buffer, initial=min(self.shuffle_buffer, 1000),
                            rng=random.Random(f"{tag}/samples"))
        to_skip = self.position.consumed.get(worker, 0)
        # Augmentations draw from torch's global RNG; seeding it per sample position makes
        # them independent of worker scheduling and identical after a resume.
        augment_seed = random.Random(f"{tag}/augment").getrandbits(48)
        consumed = 0
        images, texts = [], []
        for sample in shuffled:
            consumed += 1
            if consumed <= to_skip:
                continue
            torch.manual_seed(augment_seed + consumed)
            decoded = self._decode(sample, skipped)
            if decoded is None:
                continue
            images.append(decoded[0])
            texts.append(decoded[1])
            if len(images) == self.batch_size:
                yield {"images": torch.stack(images), "texts": self.tokenizer(texts), "worker": worker,
                       "consumed": consumed, "skipped": dict(skipped)}
                images, texts = [], []
                skipped.clear()
        yield {"images": None, "texts": None, "worker": worker, "consumed": consumed,
               "skipped": dict(skipped), "partial": len(images)}

    def _decode(self, sample: dict, skipped: collections.Counter):
        image_key = next((k for k in layout.IMAGE_EXTENSIONS if k in sample), None)
        if image_key is None:
            skipped["no_image"] += 1
            return None
        if TEXT_KEY not in sample:
            skipped["no_caption"] += 1
            return None
        try:
            text = sample[TEXT_KEY].decode("utf-8").strip()
        except UnicodeDecodeError:
            skipped["undecodable_caption"] += 1
            return None
        if not text:
            skipped["empty_caption"] += 1
            return None
        try:
            with Image.open(io.BytesIO(sample[image_key])) as image:
                tensor = self.preprocess(image.convert("RGB"))
        except Exception:  # PIL raises many types for damaged bytes; all mean "skip and count"
            skipped["undecodable_image"] += 1
            return None
        return tensor, text


@dataclasses.dataclass
class StreamPosition:
    """Where one rank's stream stands within an epoch: raw samples each worker consumed,
    workers that have run dry, and whose batch comes next in the rotation."""
    consumed: dict[int, int] = dataclasses.field(default_factory=dict)
    finished: list[int] = dataclasses.field(default_factory=list)
    next_worker: int = 0

    def to_dict(self) -> dict:
        return {"consumed": dict(self.consumed), "finished": sorted(self.finished), "next_worker": self.next_worker}

    @classmethod
    def from_dict(cls, data: dict) -> "StreamPosition":
        return cls({int(k): int(v) for k, v in data["consumed"].items()}, list(data["finished"]),
                   int(data["next_worker"]))


class OrderedBatches:
    """A ShardStream DataLoader's batches in a fixed worker rotation (0, 1, ..., 0, 1, ...,
    skipping workers that ran dry), whatever order the workers deliver in.

    The DataLoader's own order restarts at worker 0 after a resume; this fixed rotation,
    saved in the position, makes a resumed run see exactly the batches of an
    uninterrupted one. Skip counts and leftover partial batches are tallied as batches
    are taken, so they match the position.
    """

    def __init__(self, loader, num_workers: int, position: StreamPosition | None = None):
        self.batches = iter(loader)
        self.num_workers = max(1, num_workers)
        self.position = StreamPosition(**dataclasses.asdict(position)) if position else StreamPosition()
        self.pending: dict[int, collections.deque] = collections.defaultdict(collections.deque)
        self.skipped: collections.Counter = collections.Counter()
        self.partial = 0

    def __iter__(self):
        return self

    def _advance(self, worker: int) -> None:
        alive = [w for w in range(self.num_workers) if w not in self.position.finished]
        later = [w for w in alive if w > worker]
        self.position.next_worker = (later or alive or [0])[0]

    def __next__(self) -> dict:
        position = self.position
        while len(position.finished) < self.num_workers:
            worker = position.next_worker
            if worker in position.finished:
                self._advance(worker)
                continue
            if self.pending[worker]:
                batch = self.pending[worker].popleft()
            else:
                batch = next(self.batches, None)
                if batch is None:  # every worker's stream ended (each ends with a tail record)
                    position.finished = list(range(self.num_workers))
                    break
                if batch["worker"] != worker:
                    self.pending[batch["worker"]].append(batch)
                    continue
            self.skipped.update(batch["skipped"])
            position.consumed[worker] = batch["consumed"]
            if batch["images"] is None:
                self.partial += batch["partial"]
                position.finished.append(worker)
            self._advance(worker)
            if batch["images"] is not None:
                return batch
        raise StopIteration


class _TailReader:
    """A binary reader that remembers the last bytes read."""

    def __init__(self, raw):
        self.raw = raw
        self.tail = b""

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        if data:
            self.tail = (self.tail + data)[-1024:]
        return data

    def ends_with_zero_block(self) -> bool:
        return len(self.tail) >= 512 and not self.tail[-512:].strip(b"\0")


def make_loader(stream: ShardStream, workers: int, pin_memory: bool = False) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(stream, batch_size=None, num_workers=workers, pin_memory=pin_memory,
                                       persistent_workers=False)
