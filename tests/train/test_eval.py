"""`wit eval`: image folders, class-name files, templates, the linear probe, bad input."""
import json

import pytest
import torch
from PIL import Image

from wit_pipeline import cli
from wit_pipeline.clip import evalsets, models, zeroshot
from wit_pipeline.train import evaluate


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model, *_ = models.create_model("wit-tiny")
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    models.save_checkpoint(str(path), model, "wit-tiny", step=0)
    return path


def _folder(root, classes, per_class, size=32, contrast=80):
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.new("RGB", (size, size), ((c * contrast) % 256, i * 5, 100)).save(root / name / f"{i}.png")
    return root


def _run(*argv):
    return cli.main(["eval", *argv, "--workers", "0"])


def test_accuracy_matches_a_direct_computation_and_unreadable_images_are_counted(checkpoint, tmp_path):
    root = _folder(tmp_path / "set", ["red_apple", "blue_car", "green_tree"], 4)
    (root / "blue_car" / "broken.jpg").write_bytes(b"not an image")
    (root / "notes.txt").write_text("ignored: not CLASS/IMAGE")
    assert _run("--checkpoint", str(checkpoint), "--eval", f"fruit={root}", "--out", str(tmp_path / "out")) == 0
    result = json.loads((tmp_path / "out" / "stats.json").read_text())["eval"]["fruit"]
    assert result["classes"] == 3 and result["count"] == 12 and result["unreadable"] == 1

    model, preprocess, tokenizer, _ = models.load_checkpoint(str(checkpoint))
    folder = evalsets.scan_image_folder(str(root))
    assert folder.classnames == ["blue car", "green tree", "red apple"]
    classifier = zeroshot.zero_shot_classifier(model, tokenizer, folder.classnames, zeroshot.DEFAULT_TEMPLATES)
    readable = [s for s in folder.samples if not s[0].endswith("broken.jpg")]
    images = torch.stack([preprocess(Image.open(p).convert("RGB")) for p, _ in readable])
    targets = torch.tensor([t for _, t in readable])
    expected = (zeroshot.predict(model, classifier, images).argmax(1) == targets).float().mean().item()
    assert result["top1"] == pytest.approx(expected)
    assert result["top5"] == 1.0  # 3 classes: the top 5 always holds the answer


def test_classnames_file_and_templates_change_the_prompts(checkpoint, tmp_path, monkeypatch):
    root = _folder(tmp_path / "set", ["n01", "n02"], 2)
    names = tmp_path / "names.txt"
    names.write_text("goldfish\nshark\n")
    templates = tmp_path / "templates.txt"
    templates.write_text("a photo of a {}.\nan origami {}.\n")
    seen = []
    original = zeroshot.zero_shot_classifier

    def spy(model, tokenizer, classnames, templates, device="cpu", **kwargs):
        seen.append((list(classnames), list(templates)))
        return original(model, tokenizer, classnames, templates, device, **kwargs)

    monkeypatch.setattr(zeroshot, "zero_shot_classifier", spy)
    assert _run("--checkpoint", str(checkpoint), "--eval", f"fish={root}", "--classnames", f"fish={names}",
                "--templates", str(templates)) == 0
    assert seen == [(["goldfish", "shark"], ["a photo of a {}.", "an origami {}."])]
    mapping = tmp_path / "names.json"
    mapping.write_text(json.dumps({"n02": "great white shark"}))
    assert evalsets.scan_image_folder(str(root), str(mapping)).classnames == ["n01", "great white shark"]


def test_linear_probe_uses_train_and_test_subtrees_when_present(checkpoint, tmp_path):
    _folder(tmp_path / "set" / "train", ["a", "b"], 6, contrast=255)
    _folder(tmp_path / "set" / "test", ["a", "b"], 3, contrast=255)
    assert _run("--checkpoint", str(checkpoint), "--eval", f"ab={tmp_path / 'set'}", "--linear-probe",
                "--probe-c", "1000", "--out", str(tmp_path / "out")) == 0
    result = json.loads((tmp_path / "out" / "stats.json").read_text())["eval"]["ab"]
    assert result["count"] == 6  # zero-shot on test/ only
    assert result["linear_probe"]["train"] == 12 and result["linear_probe"]["test"] == 6
    # Dark vs bright images: even an untrained model's features separate them.
    assert result["linear_probe"]["top1"] == 1.0


def test_stratified_split_is_seeded_and_keeps_every_class_on_both_sides():
    samples = [(f"{c}/{i}.png", c) for c in range(3) for i in range(5)]
    train, test = evaluate.stratified_split(samples, 0.4, seed=1)
    assert sorted(train + test) == sorted(samples)
    assert {t for _, t in train} == {t for _, t in test} == {0, 1, 2}
    assert len(test) == 6
    assert (train, test) == evaluate.stratified_split(samples, 0.4, seed=1)


def test_model_and_pretrained_instead_of_a_checkpoint(checkpoint, tmp_path, capsys):
    root = _folder(tmp_path / "set", ["x", "y"], 2)
    assert _run("--model", "wit-tiny", "--pretrained", str(checkpoint), "--eval", f"xy={root}") == 0
    assert "== wit eval ==" in capsys.readouterr().out


def test_bad_input_gets_one_clear_line(checkpoint, tmp_path, capsys):
    root = _folder(tmp_path / "set", ["x", "y"], 1)
    cases = [
        (["--checkpoint", str(checkpoint), "--eval", str(root)], "--eval takes NAME=PATH"),
        (["--checkpoint", str(checkpoint), "--eval", f"x={tmp_path / 'missing'}"], "does not exist"),
        (["--checkpoint", str(tmp_path), "--eval", f"x={root}"], "neither a checkpoint file"),
        (["--eval", f"x={root}"], "give --checkpoint"),
        (["--checkpoint", str(checkpoint), "--eval", f"x={tmp_path}"], "holds no CLASS/IMAGE"),
    ]
    for argv, message in cases:
        assert _run(*argv) == 2, argv
        assert message in capsys.readouterr().err, argv
    bad_names = tmp_path / "names.txt"
    bad_names.write_text("only one\n")
    assert _run("--checkpoint", str(checkpoint), "--eval", f"x={root}", "--classnames", f"x={bad_names}") == 2
    assert "1 names for 2 class folders" in capsys.readouterr().err


def test_ppm_images_count_as_in_wit_audit(checkpoint, tmp_path):
    root = tmp_path / "set"
    for c, name in enumerate(["a", "b"]):
        (root / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (32, 32), (c * 200, i * 40, 0)).save(root / name / f"{i}.ppm")
    assert _run("--checkpoint", str(checkpoint), "--eval", f"ppm={root}", "--out", str(tmp_path / "out")) == 0
    result = json.loads((tmp_path / "out" / "stats.json").read_text())["eval"]["ppm"]
    assert result["classes"] == 2 and result["count"] == 6 and result["unreadable"] == 0
