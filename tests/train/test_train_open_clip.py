"""Compatibility: our shards train under open_clip's own trainer, and its checkpoints load in ours."""
import os
import pathlib
import subprocess
import sys

import torch

from wit_pipeline.clip import models
from wit_pipeline.run.worlds import shapes as shapes_world

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_shard_writer_shards_train_under_open_clip_train_main(tmp_path):
    shapes_world.write_shards(str(tmp_path / "shards"), n_samples=32, samples_per_shard=16, size=32)
    model = models.write_open_clip_config("wit-tiny", str(tmp_path / "wit-tiny"))
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    # open_clip's own trainer and arguments, in this environment (webdataset 0.2.86).
    command = [sys.executable, "-m", "open_clip_train.main",
               "--dataset-type", "webdataset", "--train-data", str(tmp_path / "shards" / "{00000..00001}.tar"),
               "--train-num-samples", "32", "--batch-size", "8", "--epochs", "1", "--workers", "1",
               "--model", model, "--precision", "fp32", "--lr", "1e-3", "--warmup", "1",
               "--log-every-n-steps", "1", "--save-frequency", "1", "--seed", "0",
               "--logs", str(tmp_path / "logs"), "--name", "compat"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    log = (tmp_path / "logs" / "compat" / "out.log").read_text()
    steps = [line for line in log.splitlines() if "Train Epoch: 0" in line and "Contrastive_loss" in line]
    assert len(steps) == 4, log[-2000:]  # 32 samples / batch 8: every sample of both shards was read
    checkpoint = tmp_path / "logs" / "compat" / "checkpoints" / "epoch_1.pt"

    # The weights open_clip trained load into our factory (the `pretrained` path of `wit train`/`wit eval`).
    loaded, *_ = models.create_model("wit-tiny", pretrained=str(checkpoint))
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    torch.testing.assert_close(loaded.state_dict()["text_projection"],
                               saved["text_projection"] if "text_projection" in saved
                               else saved["module.text_projection"])
