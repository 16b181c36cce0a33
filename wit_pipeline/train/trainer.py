"""The trainer behind `wit train`: it gets a checked `TrainConfig` (config.py) from
`command.py`, which imports this module only then: it loads torch.

The loss, schedule and parameter groups are in `clip/contrastive.py`, the input pipeline
in `data.py`, models and the checkpoint format in `clip/models.py`, the run directory's
layout in `clip/checkpoints.py`, the process group in `distributed.py`.
"""
from __future__ import annotations

import collections
import contextlib
import math
import time

import torch

from wit_pipeline.clip import checkpoints, contrastive, evalsets, models, zeroshot
from wit_pipeline.core import console, files
from wit_pipeline.train import data as train_data
from wit_pipeline.train import distributed
from wit_pipeline.train.config import TrainConfig
from wit_pipeline.train.logs import JsonlLog


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    groups = contrastive.param_groups(model, config.wd)
    kwargs = dict(lr=config.lr, betas=(config.beta1, config.beta2), eps=config.eps)
    try:
        # The fused kernel updates all parameters in one pass: ~10x faster than the
        # per-tensor loop on CPU, where the 49408-row token embedding dominates small models.
        return torch.optim.AdamW(groups, fused=True, **kwargs)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(groups, **kwargs)


class Trainer:
    def __init__(self, config: TrainConfig):
        self.config = config
        self.dist, self.device = distributed.init_distributed(config.device)
        self.precision, self.autocast_dtype = distributed.resolve_precision(config.precision, self.device)
        self.out = config.out
        self.ckpt_dir = files.join(self.out, checkpoints.CHECKPOINT_DIR)
        self.skipped: collections.Counter = collections.Counter()
        self.partial_dropped = 0
        self.epochs_completed = 0
        self.first_loss: float | None = None
        self.recent_losses: collections.deque = collections.deque(maxlen=10)  # tensors: no per-step sync
        self.zero_shot_results: dict = {}

    # ---- setup -------------------------------------------------------------------------

    def _total_steps(self, global_batch: int) -> int:
        c = self.config
        if c.steps is not None and c.epochs is None:
            return c.steps
        sizes = train_data.shard_sizes(self.shards)
        if any(size is None for size in sizes):
            raise ValueError("these shards have no NNNNN_stats.json sample counts, so the length of an epoch "
                             "is unknown: pass --steps")
        per_epoch = sum(sizes) // global_batch
        if per_epoch == 0:
            raise ValueError(f"the shards hold {sum(sizes)} samples, fewer than one global batch of {global_batch}")
        from_epochs = max(1, int(per_epoch * (c.epochs or 1)))
        return min(from_epochs, c.steps) if c.steps is not None else from_epochs

    def _workers(self) -> int:
        workers = self.config.workers
        if not self.config.resampled:
            per_rank = len(self.shards) // self.dist.world_size
            if per_rank == 0:
                raise ValueError(f"{len(self.shards)} shard(s) cannot be split over {self.dist.world_size} "
                                 "processes; write more shards or pass --resampled")
            if workers > per_rank:
                self._say(f"using {per_rank} data worker(s): each needs a shard of its own")
                workers = per_rank
        return workers

    def _say(self, message: str) -> None:
        if self.dist.main:
            console.say("wit train", message)

    def setup(self) -> None:
        """Builds everything from the checked config."""
        c = self.config
        self.shards = list(c.shard_files)
        self.eval_sets = c.eval_sets
        self.templates = zeroshot.load_templates(c.zero_shot_templates) if c.zero_shot_templates \
            else zeroshot.DEFAULT_TEMPLATES
        latest = checkpoints.latest_checkpoint(self.out)
        resume = models.read_checkpoint(latest) if c.resume and latest else None
        if c.resume and resume is None:
            self._say("--resume: no checkpoint in OUT yet, starting from step 0")

        torch.manual_seed(c.seed)
        spec = resume["model_spec"] if resume else c.model
        if resume and c.model != resume["args"]["model"]:
            self._say(f"--resume: continuing the checkpoint's model {resume['model_spec']['name']!r}, "
                      f"not --model {c.model!r}")
        model, self.preprocess_train, self.preprocess_val, self.tokenizer = models.create_model(
            spec, pretrained=None if resume else c.pretrained, device=self.device)
        self.model_spec = model.wit_model_spec
        if resume:
            model.load_state_dict(resume["state_dict"])
        if c.grad_checkpointing:
            model.set_grad_checkpointing(True)
        self.raw_model = model
        self.optimizer = make_optimizer(model, c)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.autocast_dtype == torch.float16)
        self.global_batch = c.batch_size * c.accum_freq * self.dist.world_size
        self.total_steps = self._total_steps(self.global_batch)
        self.warmup = c.warmup if c.warmup is not None else min(2000, self.total_steps // 10)
        self.workers = self._workers()

        self.step, self.epoch, position = 0, 0, None
        if resume:
            self.optimizer.load_state_dict(resume["optimizer"])
            self.scaler.load_state_dict(resume["scaler"])
            self.step = resume["step"]
            self.skipped.update(resume["stats"]["skipped"])
            self.partial_dropped = resume["stats"]["partial_dropped"]
            self.epochs_completed = resume["stats"]["epochs_completed"]
            self.epoch, position = self._resume_position(resume["data_position"])
            self._say(f"resumed from {latest} at step {self.step}")

        if self.dist.distributed:
            ddp_args = {"device_ids": [self.device]} if self.device.type == "cuda" else {}
            model = torch.nn.parallel.DistributedDataParallel(model, **ddp_args)
        self.ddp_model = model
        self.model = torch.compile(model) if c.compile else model
        self._start_epoch(position)
        self.log = JsonlLog(files.join(self.out, "log.jsonl"), resume_step=self.step if resume else None) \
            if self.dist.main else None

    def _resume_position(self, position: dict) -> tuple[int, train_data.StreamPosition | None]:
        same_layout = (position["world_size"] == self.dist.world_size and position["workers"] == self.workers
                       and position["resampled"] == self.config.resampled and position["seed"] == self.config.seed)
        if same_layout and not self.config.resampled:
            return position["epoch"], train_data.StreamPosition.from_dict(position["streams"][self.dist.rank])
        # An endless resampled stream is simply reseeded (statistically the same stream,
        # without re-reading what was consumed); a changed layout cannot replay exactly.
        if not same_layout:
            self._say("--resume: world size, workers, seed or --resampled changed; continuing with the next "
                      "epoch of the data instead of the exact sample position")
        return position["epoch"] + 1, None

    def _start_epoch(self, position: train_data.StreamPosition | None = None) -> None:
        if getattr(self, "batches", None) is not None:
            self.skipped.update(self.batches.skipped)
            self.partial_dropped += self.batches.partial
        stream = train_data.ShardStream(
            self.shards, self.preprocess_train, self.tokenizer, self.config.batch_size, seed=self.config.seed,
            epoch=self.epoch, rank=self.dist.rank, world_size=self.dist.world_size,
            resampled=self.config.resampled, shuffle_buffer=self.config.shuffle_buffer, position=position)
        loader = train_data.make_loader(stream, self.workers, pin_memory=self.device.type == "cuda")
        self.batches = train_data.OrderedBatches(loader, self.workers, position)
        self.batches_this_epoch = 0

    def _skip_counts(self) -> tuple[collections.Counter, int]:
        """Skipped samples by reason and leftover partial-batch samples, up to now."""
        return self.skipped + self.batches.skipped, self.partial_dropped + self.batches.partial

    # ---- data --------------------------------------------------------------------------

    def _next_batch(self) -> dict | None:
        """The next full batch; rolls over epochs. None when --epochs are done."""
        while True:
            batch = next(self.batches, None)
            have = batch is not None
            if not self.config.resampled:
                # Ranks can hold different numbers of batches per epoch: all move on together.
                have = distributed.all_ranks(have, self.dist, self.device)
            if have:
                self.batches_this_epoch += 1
                return batch
            if self.config.resampled:
                raise ValueError("the resampled shard stream ended: no readable sample in any shard")
            if self.batches_this_epoch == 0:
                raise ValueError(f"an epoch yielded no full batch of {self.config.batch_size} on rank "
                                 f"{self.dist.rank}: too few readable samples "
                                 f"(skipped: {dict(self._skip_counts()[0])})")
            self.epoch += 1
            self.epochs_completed += 1
            if self.config.epochs is not None and self.epochs_completed >= self.config.epochs:
                return None
            self._start_epoch()

    # ---- optimisation ------------------------------------------------------------------

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def _train_step(self, micro_batches: list[dict]) -> torch.Tensor:
        lr = contrastive.lr_at(self.step, self.config.lr, self.warmup, self.total_steps, self.config.min_lr)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.model.train()
        inputs = [(b["images"].to(self.device, non_blocking=True), b["texts"].to(self.device, non_blocking=True))
                  for b in micro_batches]
        if len(inputs) == 1:
            with self._autocast():
                image_features, text_features, scale = self.model(*inputs[0])
                loss = contrastive.clip_loss(image_features, text_features, scale, self.dist.distributed)
            self.scaler.scale(loss).backward()
        else:
            loss = self._accumulated_backward(inputs)
        if self.config.grad_clip_norm:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.raw_model.parameters(), self.config.grad_clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        contrastive.clamp_logit_scale(self.raw_model)
        return loss.detach()

    def _accumulated_backward(self, inputs) -> torch.Tensor:
        """Gradient of the loss over all micro-batches together (open_clip's accumulation).

        Features of every micro-batch are first computed without gradients; then each
        micro-batch is recomputed with gradients and scored against the cached others.
        The temperature takes part in the last pass only, so its gradient is counted once,
        and that pass (the one DDP synchronises) touches every parameter.
        """
        with torch.no_grad(), self._autocast():
            cached = [self.raw_model(images, texts)[:2] for images, texts in inputs]
        last = len(inputs) - 1
        for j, (images, texts) in enumerate(inputs):
            sync = contextlib.nullcontext() if j == last or not self.dist.distributed else self.ddp_model.no_sync()
            with sync:
                with self._autocast():
                    image_j, text_j, scale = self.model(images, texts)
                    all_images = torch.cat([image_j if i == j else c[0] for i, c in enumerate(cached)])
                    all_texts = torch.cat([text_j if i == j else c[1] for i, c in enumerate(cached)])
                    loss = contrastive.clip_loss(all_images, all_texts, scale if j == last else scale.detach(),
                                                 self.dist.distributed)
                self.scaler.scale(loss).backward()
        return loss

    # ---- evaluation, checkpoints -------------------------------------------------------

    def _zero_shot(self) -> dict:
        results = {}
        if self.eval_sets and self.dist.main:
            model = self.raw_model
            model.eval()
            for name, folder in self.eval_sets:
                classifier = zeroshot.zero_shot_classifier(model, self.tokenizer, folder.classnames,
                                                           self.templates, self.device)
                unreadable: list = []
                batches = ((images, targets) for images, targets, _ in evalsets.iterate_batches(
                    folder.samples, self.preprocess_val, batch_size=256,
                    workers=0 if len(folder.samples) < 2000 else self.workers, unreadable=unreadable))
                result = zeroshot.evaluate_zero_shot(model, classifier, batches, self.device)
                result.update(classes=len(folder.classes), unreadable=len(unreadable))
                results[name] = result
            self.log.write({"step": self.step, "zero_shot": results})
            self.zero_shot_results = results
        distributed.barrier(self.dist)
        return results

    def _save(self) -> str:
        streams = distributed.gather(self.batches.position.to_dict(), self.dist)
        skipped, partial = self._skip_counts()
        path = files.join(self.ckpt_dir, checkpoints.checkpoint_name(self.step))
        if self.dist.main:
            files.makedirs(self.ckpt_dir)
            state = {
                "step": self.step,
                "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict(),
                "data_position": {"epoch": self.epoch, "streams": streams, "workers": self.workers,
                                  "world_size": self.dist.world_size, "resampled": self.config.resampled,
                                  "seed": self.config.seed},
                "stats": {"skipped": dict(skipped), "partial_dropped": partial,
                          "epochs_completed": self.epochs_completed},
                "args": self.config.flags(),
            }
            models.save_checkpoint(path, self.raw_model, self.model_spec, **state)
            checkpoints.write_latest(self.ckpt_dir, self.step)
            self._prune_checkpoints()
            self.log.flush()
        distributed.barrier(self.dist)
        return path

    def _prune_checkpoints(self) -> None:
        keep = self.config.keep_checkpoints
        if keep <= 0:
            return
        files.remove_all(files.match(files.join(self.ckpt_dir, "step_*.pt"))[:-keep])

    # ---- the loop ----------------------------------------------------------------------

    def run(self) -> dict:
        c = self.config
        started = time.time()
        self.setup()
        self._say(f"{len(self.shards)} shard(s), model {self.model_spec['name']}, {self.total_steps} steps of "
                  f"{self.global_batch} samples, device {self.device}, precision {self.precision}, "
                  f"{self.dist.world_size} process(es) x {self.workers} data worker(s)")
        progress = console.Progress("wit train", self.total_steps, unit="steps", initial=self.step,
                                    show=None if self.dist.main else False)
        first_step_done_at, steps_timed = None, 0
        interval_start, interval_samples, data_time = time.time(), 0, 0.0
        last_checkpoint = None
        while self.step < self.total_steps:
            fetch_start = time.time()
            micro_batches = []
            for _ in range(c.accum_freq):
                batch = self._next_batch()
                if batch is None:
                    break
                micro_batches.append(batch)
            if len(micro_batches) < c.accum_freq:
                break  # --epochs done
            data_time += time.time() - fetch_start
            loss = self._train_step(micro_batches)
            self.step += 1
            self.recent_losses.append(loss)
            if self.first_loss is None:
                self.first_loss = float(loss)
            interval_samples += self.global_batch
            now = time.time()
            if first_step_done_at is None:
                first_step_done_at = now
            else:
                steps_timed += 1
            shown = {}  # fields of the progress line
            if self.dist.main and (self.step % c.log_every == 0 or self.step == self.total_steps):
                # Reading the loss waits for the device, so it happens only when logging.
                loss = float(loss)
                if not math.isfinite(loss):
                    raise RuntimeError(f"loss became {loss} at step {self.step}; lower --lr or use --precision fp32")
                shown = {"loss": loss, "epoch": self.epoch}
                elapsed = now - interval_start
                record = {"step": self.step, "epoch": self.epoch, "loss": loss,
                          "lr": self.optimizer.param_groups[0]["lr"],
                          "logit_scale": float(self.raw_model.logit_scale.detach().exp()),
                          "samples_per_s": interval_samples / elapsed if elapsed > 0 else None,
                          "data_time_s": data_time, "interval_s": elapsed}
                self.log.write(record)
                if not progress.show:
                    print(f"step {self.step}/{self.total_steps} loss {loss:.4f} lr {record['lr']:.2e} "
                          f"{record['samples_per_s'] or 0:.1f} samples/s", flush=True)
                interval_start, interval_samples, data_time = time.time(), 0, 0.0
            progress.update(**shown)
            if c.zero_shot_every and self.step % c.zero_shot_every == 0 and self.step < self.total_steps:
                self._zero_shot()
            if self.step % c.save_every == 0:
                last_checkpoint = self._save()
        progress.close()
        steady_time = time.time() - first_step_done_at if first_step_done_at else 0.0
        if last_checkpoint is None or not last_checkpoint.endswith(checkpoints.checkpoint_name(self.step)):
            last_checkpoint = self._save()
        self._zero_shot()
        stats = self._stats(started, steady_time, steps_timed, last_checkpoint)
        if self.dist.main:
            self.log.close()
            console.finish(self.out, "wit train", stats)
        distributed.shutdown(self.dist)
        return stats

    def _stats(self, started: float, steady_time: float, steps_timed: int, checkpoint: str) -> dict:
        skipped, partial = self._skip_counts()
        if self.dist.distributed:
            gathered = distributed.gather((dict(skipped), partial), self.dist)
            skipped = collections.Counter()
            for counts, _ in gathered:
                skipped.update(counts)
            partial = sum(p for _, p in gathered)
        tail = [float(loss) for loss in self.recent_losses]
        return {
            "model": self.model_spec["name"],
            "shards": len(self.shards),
            "steps": self.step,
            "samples_seen": self.step * self.global_batch,
            "global_batch_size": self.global_batch,
            "epochs_completed": self.epochs_completed,
            "world_size": self.dist.world_size,
            "device": str(self.device),
            "precision": self.precision,
            "first_loss": self.first_loss,
            "final_loss": sum(tail) / len(tail) if tail else None,
            "samples_per_second": (steps_timed * self.global_batch / steady_time) if steady_time > 0 else None,
            "skipped_samples": dict(sorted(skipped.items())),
            "skipped_total": sum(skipped.values()),
            "partial_batch_samples_dropped": partial,
            "zero_shot": self.zero_shot_results,
            "checkpoint": checkpoint,
            "elapsed_s": round(time.time() - started, 1),
        }
