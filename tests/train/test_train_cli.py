"""`wit train` end to end on generated shards: outputs, exact resume, accumulation, errors."""
import json

import pytest
import torch

from wit_pipeline import cli
from wit_pipeline.clip import contrastive, models
from wit_pipeline.run.worlds import shapes as shapes_world
from wit_pipeline.train import distributed, trainer


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    shapes_world.write_shards(str(root / "shards"), n_samples=32, samples_per_shard=8, size=32)
    shapes_world.write_image_folder(str(root / "eval"), per_class=2)
    return root


def _train(world, out, *extra):
    return cli.main(["train", "--shards", str(world / "shards"), "--out", str(out), "--model", "wit-tiny",
                     "--batch-size", "4", "--lr", "1e-3", "--warmup", "2", "--log-every", "1", *extra])


def _weights(path):
    return models.read_checkpoint(str(path))["state_dict"]


def test_outputs_zero_shot_and_checkpoint_pruning(world, tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(world, out, "--steps", "4", "--save-every", "2", "--keep-checkpoints", "1", "--workers", "0",
                  "--zero-shot", f"shapes={world / 'eval'}") == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["steps"] == 4 and stats["samples_seen"] == 16 and stats["model"] == "wit-tiny"
    assert stats["skipped_total"] == 0 and stats["precision"] == "fp32"
    assert stats["zero_shot"]["shapes"]["count"] == 24 and stats["zero_shot"]["shapes"]["classes"] == 12
    assert 0 <= stats["zero_shot"]["shapes"]["top1"] <= stats["zero_shot"]["shapes"]["top5"] <= 1
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["latest.json", "step_00000004.pt"]
    assert stats["checkpoint"] == str(out / "checkpoints" / "step_00000004.pt")
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    losses = [r for r in records if "loss" in r]
    assert [r["step"] for r in losses] == [1, 2, 3, 4]
    assert all(r["lr"] > 0 and r["logit_scale"] <= 100 for r in losses)
    assert records[-1]["zero_shot"]["shapes"]["count"] == 24
    assert "== wit train ==" in capsys.readouterr().out
    checkpoint = models.read_checkpoint(stats["checkpoint"])
    assert checkpoint["step"] == 4 and set(checkpoint) >= {"optimizer", "scaler", "data_position", "state_dict"}


class _Interrupted(Exception):
    pass


def test_resume_continues_exactly_where_it_stopped(world, tmp_path, monkeypatch):
    # 32 samples, 2 workers x 4 shards, batch 4: 8 batches an epoch. Stopping after step 5
    # resumes mid-epoch (the exact sample position), and the run crosses an epoch boundary.
    flags = ("--steps", "10", "--save-every", "5", "--workers", "2", "--keep-checkpoints", "0")
    assert _train(world, tmp_path / "straight", *flags) == 0

    original_save = trainer.Trainer._save

    def save_then_die(self):
        path = original_save(self)
        if self.step == 5:
            raise _Interrupted()
        return path

    monkeypatch.setattr(trainer.Trainer, "_save", save_then_die)
    with pytest.raises(_Interrupted):
        _train(world, tmp_path / "resumed", *flags)
    with open(tmp_path / "resumed" / "log.jsonl", "a") as log:  # logged, but not in the checkpoint
        log.write(json.dumps({"step": 6, "loss": 1.0}) + "\n")
    monkeypatch.setattr(trainer.Trainer, "_save", original_save)
    assert _train(world, tmp_path / "resumed", *flags, "--resume") == 0

    straight = _weights(tmp_path / "straight" / "checkpoints" / "step_00000010.pt")
    resumed = _weights(tmp_path / "resumed" / "checkpoints" / "step_00000010.pt")
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], msg=name)
    stats = json.loads((tmp_path / "resumed" / "stats.json").read_text())
    assert stats["steps"] == 10 and stats["epochs_completed"] == 1
    log = [json.loads(line) for line in (tmp_path / "resumed" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 11))


def test_accumulated_micro_batches_give_the_full_batch_gradient():
    torch.manual_seed(0)
    model, _, _, tokenizer = models.create_model("wit-tiny")
    images = torch.randn(8, 3, 32, 32)
    texts = tokenizer([f"a photo of thing number {i}" for i in range(8)])

    image_features, text_features, scale = model(images, texts)
    contrastive.clip_loss(image_features, text_features, scale).backward()
    expected = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()

    step = trainer.Trainer.__new__(trainer.Trainer)
    step.dist, step.autocast_dtype = distributed.DistInfo(), None
    step.raw_model = step.model = step.ddp_model = model
    step.scaler = torch.amp.GradScaler("cpu", enabled=False)
    step._accumulated_backward([(images[:4], texts[:4]), (images[4:], texts[4:])])
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, expected[name], rtol=1e-4, atol=1e-6, msg=name)


def test_epochs_come_from_shard_stats(world, tmp_path):
    # 32 samples in batches of 4: 8 steps an epoch; the run stops on the last step of epoch 2.
    shards = str(world / "shards" / "{00000..00003}.tar")  # open_clip's brace notation works too
    assert cli.main(["train", "--shards", shards, "--out", str(tmp_path / "run"), "--model", "wit-tiny",
                     "--batch-size", "4", "--epochs", "2", "--workers", "0"]) == 0
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    assert stats["steps"] == 16 and stats["epochs_completed"] == 1 and stats["samples_seen"] == 64


def test_user_errors_are_one_clear_line(world, tmp_path, capsys):
    out = tmp_path / "run"
    # Beam pipeline options are accepted, as by every stage (`wit run` passes them to all).
    assert _train(world, out, "--steps", "1", "--workers", "0", "--direct_num_workers", "2") == 0
    capsys.readouterr()
    assert _train(world, out, "--steps", "1") == 2
    assert "already holds a training run" in capsys.readouterr().err
    assert _train(world, tmp_path / "x", "--steps", "1", "--bogus-flag", "--runner", "DirectRunner") == 2
    assert "wit train: error: unrecognized argument --bogus-flag\n" == capsys.readouterr().err
    assert cli.main(["train", "--shards", str(tmp_path / "nothing-*.tar"), "--out", str(tmp_path / "y")]) == 2
    assert "nothing-*.tar" in capsys.readouterr().err
    (world / "loose").mkdir(exist_ok=True)
    (world / "loose" / "00000.tar").write_bytes((world / "shards" / "00000.tar").read_bytes())
    assert cli.main(["train", "--shards", str(world / "loose"), "--out", str(tmp_path / "z"),
                     "--model", "wit-tiny"]) == 2
    assert "pass --steps" in capsys.readouterr().err
    assert _train(world, tmp_path / "w", "--steps", "1", "--zero-shot", "no-equals-sign") == 2
    assert "NAME=PATH" in capsys.readouterr().err


def test_bf16_autocast_grad_checkpointing_and_counted_corrupt_samples(world, tmp_path):
    import shutil

    from shards.writer import ShardWriter

    shards = tmp_path / "shards"
    shutil.copytree(world / "shards", shards)
    with ShardWriter(str(shards), 4) as writer:
        for i in range(8):
            writer.add({"key": f"0000400{i}", "status": "success", "caption": "a broken thing"}, b"\x00garbage")
    assert cli.main(["train", "--shards", str(shards), "--out", str(tmp_path / "run"), "--model", "wit-tiny",
                     "--batch-size", "4", "--epochs", "1", "--workers", "0", "--precision", "bf16",
                     "--grad-checkpointing", "--log-every", "1"]) == 0
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    # The shard stats promise 40 samples (10 steps); the epoch ends after the 32 good ones.
    assert stats["precision"] == "bf16" and stats["steps"] == 8 and stats["epochs_completed"] == 1
    assert stats["skipped_samples"] == {"undecodable_image": 8} and stats["skipped_total"] == 8
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all(r["loss"] == r["loss"] and r["loss"] < 10 for r in log if "loss" in r)  # finite


@pytest.mark.slow
def test_torch_compile_opt_in(world, tmp_path):
    assert _train(world, tmp_path / "run", "--steps", "2", "--workers", "0", "--compile") == 0
    assert json.loads((tmp_path / "run" / "stats.json").read_text())["steps"] == 2


def test_the_config_holds_every_flag_and_checkpoints_keep_them_as_given(world, tmp_path):
    import argparse
    import dataclasses

    from wit_pipeline.train.command import add_arguments
    from wit_pipeline.train.config import TrainConfig

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--shards", str(world / "shards"), "--out", str(tmp_path / "run"), "--model",
                              "wit-tiny", "--zero-shot", f"shapes={world / 'eval'}", "--steps", "1"])
    config = TrainConfig.from_args(args)
    assert list(config.flags().items()) == list(vars(args).items())  # same keys, order and values
    assert config.shard_files == tuple(str(world / "shards" / f"0000{i}.tar") for i in range(4))
    assert [name for name, _ in config.eval_sets] == ["shapes"] and len(config.eval_sets[0][1].samples) == 24
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.steps = 2
    assert _train(world, tmp_path / "run", "--steps", "1", "--workers", "0") == 0
    saved = models.read_checkpoint(str(tmp_path / "run" / "checkpoints" / "step_00000001.pt"))["args"]
    assert saved["shards"] == [str(world / "shards")] and saved["model"] == "wit-tiny" and saved["steps"] == 1
    assert list(saved) == list(vars(args))
