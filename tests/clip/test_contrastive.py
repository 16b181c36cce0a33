"""The contrastive loss, its DDP form, parameter groups and the LR schedule."""
import math
import os
import pathlib
import socket
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from wit_pipeline.clip import contrastive, models

REPO = pathlib.Path(__file__).resolve().parents[2]


def _features(n, d, seed):
    generator = torch.Generator().manual_seed(seed)
    return (F.normalize(torch.randn(n, d, generator=generator), dim=-1),
            F.normalize(torch.randn(n, d, generator=generator), dim=-1))


def test_loss_is_mean_of_row_and_column_cross_entropy():
    images, texts = _features(5, 8, 0)
    scale = torch.tensor(10.0)
    logits = scale * images @ texts.T
    expected = 0
    for i in range(5):  # written out by hand: -log softmax of the matching pair, both directions
        expected += -torch.log_softmax(logits[i], 0)[i] / 10 - torch.log_softmax(logits[:, i], 0)[i] / 10
    assert contrastive.clip_loss(images, texts, scale).item() == pytest.approx(expected.item(), rel=1e-5)


def test_loss_rewards_alignment_and_is_symmetric():
    images, texts = _features(16, 32, 1)
    scale = torch.tensor(1 / 0.07)
    aligned = contrastive.clip_loss(images, images, scale)
    random_pairs = contrastive.clip_loss(images, texts, scale)
    assert aligned < 0.01 < math.log(16) / 2 < random_pairs
    assert contrastive.clip_loss(texts, images, scale).item() == pytest.approx(random_pairs.item(), rel=1e-6)


def test_logit_scale_starts_at_one_over_0_07_and_is_clamped_at_100():
    model, *_ = models.create_model("wit-tiny")
    assert model.logit_scale.exp().item() == pytest.approx(contrastive.INIT_LOGIT_SCALE, rel=1e-5)
    with torch.no_grad():
        model.logit_scale.fill_(10.0)
    contrastive.clamp_logit_scale(model)
    assert model.logit_scale.exp().item() == pytest.approx(100.0, rel=1e-5)


def test_no_weight_decay_on_gains_biases_and_temperature():
    model, *_ = models.create_model("wit-tiny")
    no_decay, decay = contrastive.param_groups(model, 0.2)
    names = {id(p): n for n, p in model.named_parameters()}
    no_decay_names = {names[id(p)] for p in no_decay["params"]}
    decay_names = {names[id(p)] for p in decay["params"]}
    assert no_decay["weight_decay"] == 0.0 and decay["weight_decay"] == 0.2
    assert "logit_scale" in no_decay_names
    assert any(n.endswith("ln_final.weight") for n in no_decay_names)
    assert all(not n.endswith(".bias") for n in decay_names)
    assert "text_projection" in decay_names and "token_embedding.weight" in decay_names
    assert len(no_decay_names) + len(decay_names) == len(list(model.parameters()))


def test_schedule_warms_up_linearly_then_follows_a_cosine():
    lr = lambda step: contrastive.lr_at(step, 1.0, warmup=10, total=110, min_lr=0.1)
    assert lr(0) == pytest.approx(0.1) and lr(4) == pytest.approx(0.5) and lr(9) == pytest.approx(1.0)
    assert lr(10) == pytest.approx(1.0)
    assert lr(60) == pytest.approx(0.55)  # halfway through the cosine
    assert lr(110) == pytest.approx(0.1) and lr(500) == pytest.approx(0.1)
    assert all(lr(s) >= lr(s + 1) for s in range(10, 110))


_DDP_SCRIPT = """
import sys
import torch
import torch.distributed as dist
from wit_pipeline.clip import contrastive
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
images, texts, scale = torch.load(sys.argv[1])
rows = images.shape[0] // world
image_part = images[rank * rows:(rank + 1) * rows].clone().requires_grad_(True)
text_part = texts[rank * rows:(rank + 1) * rows].clone().requires_grad_(True)
loss = contrastive.clip_loss(image_part, text_part, scale, distributed=True)
loss.backward()
# DDP averages parameter gradients over ranks; the same averaging of feature gradients
# must give the single-process gradient of the global batch.
torch.save((loss.item(), torch.cat([image_part.grad, text_part.grad], dim=1) / world),
           f"{sys.argv[2]}/rank{rank}.pt")
dist.destroy_process_group()
"""


def test_ddp_loss_and_gradients_equal_single_process_global_batch(tmp_path):
    images, texts = _features(6, 4, 2)
    scale = torch.tensor(5.0)
    full_images, full_texts = images.clone().requires_grad_(True), texts.clone().requires_grad_(True)
    full_loss = contrastive.clip_loss(full_images, full_texts, scale)
    full_loss.backward()
    expected = torch.cat([full_images.grad, full_texts.grad], dim=1)

    torch.save((images, texts, scale), tmp_path / "inputs.pt")
    script = tmp_path / "ddp_loss.py"
    script.write_text(_DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
                             str(script), str(tmp_path / "inputs.pt"), str(tmp_path)],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    (loss0, grad0), (loss1, grad1) = (torch.load(tmp_path / f"rank{r}.pt") for r in range(2))
    # Each rank's local loss is the mean over its own rows; their average is the global loss.
    assert (loss0 + loss1) / 2 == pytest.approx(full_loss.item(), rel=1e-5)
    torch.testing.assert_close(torch.cat([grad0, grad1]), expected)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
