"""`wit train` under torchrun: 2 processes, gloo on CPU."""
import json
import os
import pathlib
import socket
import subprocess
import sys

from wit_pipeline.clip import models
from wit_pipeline.run.worlds import shapes as shapes_world

REPO = pathlib.Path(__file__).resolve().parents[2]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_training_on_cpu(tmp_path):
    shapes_world.write_shards(str(tmp_path / "shards"), n_samples=48, samples_per_shard=12, size=32)
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
               "-m", "wit_pipeline.cli", "train", "--shards", str(tmp_path / "shards"), "--out", str(out),
               "--model", "wit-tiny", "--batch-size", "4", "--accum-freq", "2", "--steps", "4",
               "--save-every", "2", "--workers", "1", "--device", "cpu", "--log-every", "1"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    stats = json.loads((out / "stats.json").read_text())
    # 2 ranks x 2 micro-batches x 4: a global batch of 16; each rank reads its own 2 shards,
    # so one epoch is 24 samples per rank = 3 steps, and step 4 starts epoch 2.
    assert stats["world_size"] == 2 and stats["global_batch_size"] == 16 and stats["samples_seen"] == 64
    assert stats["epochs_completed"] == 1 and stats["steps"] == 4
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]  # one writer: rank 0
    checkpoint = models.read_checkpoint(stats["checkpoint"])
    position = checkpoint["data_position"]
    assert position["world_size"] == 2 and len(position["streams"]) == 2
    assert not any(k.startswith("module.") for k in checkpoint["state_dict"])
    assert result.stdout.count("== wit train ==") == 1
