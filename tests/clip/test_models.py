"""Model factory, checkpoint format and zero-shot helpers (wit_pipeline.clip.models / zeroshot)."""
import json

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from wit_pipeline.clip import models, zeroshot


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return models.create_model("wit-tiny")


def test_shipped_config_builds_with_its_own_preprocessing_and_tokenizer(tiny):
    model, preprocess_train, preprocess_val, tokenizer = tiny
    config = json.loads((models.CONFIG_DIR / "wit-tiny.json").read_text())
    image = preprocess_val(Image.new("RGB", (50, 70), "red"))
    assert image.shape == (3, config["vision_cfg"]["image_size"], config["vision_cfg"]["image_size"])
    assert preprocess_train(Image.new("RGB", (50, 70), "red")).shape == image.shape
    tokens = tokenizer(["a photo of a red triangle"])
    assert tokens.shape == (1, config["text_cfg"]["context_length"])
    assert model.encode_text(tokens).shape == (1, config["embed_dim"])
    assert model.logit_scale.exp().item() == pytest.approx(1 / 0.07, rel=1e-5)
    assert "wit-tiny" in models.list_models()


def test_checkpoint_round_trip_keeps_weights_and_extra_state(tiny, tmp_path):
    model, _, preprocess_val, tokenizer = tiny
    path = str(tmp_path / "ckpt.pt")
    models.save_checkpoint(path, model, "wit-tiny", step=7, data_position={"epoch": 1})
    loaded, _, loaded_tokenizer, checkpoint = models.load_checkpoint(path)
    assert checkpoint["step"] == 7 and checkpoint["data_position"] == {"epoch": 1}
    tokens = tokenizer(["a blue circle"])
    model.eval()
    torch.testing.assert_close(loaded.encode_text(loaded_tokenizer(["a blue circle"])), model.encode_text(tokens))
    # The same file also serves as `pretrained` for create_model.
    again, *_ = models.create_model("wit-tiny", pretrained=path)
    torch.testing.assert_close(again.state_dict()["logit_scale"], model.state_dict()["logit_scale"])


def test_json_config_checkpoint_loads_without_the_json_file(tmp_path):
    config = models.resolve_model_spec("wit-tiny")["config"]
    config = {**config, "embed_dim": 48}
    config_path = tmp_path / "my-arch.json"
    config_path.write_text(json.dumps(config))
    model, *_ = models.create_model(str(config_path))
    ckpt = str(tmp_path / "c.pt")
    models.save_checkpoint(ckpt, model, model.wit_model_spec)
    config_path.unlink()
    loaded, _, tokenizer, checkpoint = models.load_checkpoint(ckpt)
    assert checkpoint["model_spec"] == {"name": "my-arch", "config": config}
    assert loaded.encode_text(tokenizer(["x"])).shape == (1, 48)


def test_bad_model_specs_and_checkpoints_get_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown model 'no-such-net'"):
        models.create_model("no-such-net")
    bad = tmp_path / "bad.json"
    bad.write_text('{"embed_dim": 4}')
    with pytest.raises(ValueError, match="vision_cfg"):
        models.create_model(str(bad))
    with pytest.raises(FileNotFoundError, match="missing.json"):
        models.create_model(str(tmp_path / "missing.json"))
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        models.create_model("wit-tiny", pretrained=str(tmp_path / "nowhere.pt"))
    torch.save({"state_dict": {}}, tmp_path / "plain.pt")
    with pytest.raises(ValueError, match="not a `wit train` checkpoint"):
        models.load_checkpoint(str(tmp_path / "plain.pt"))
    (tmp_path / "garbage.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="unreadable"):
        models.load_checkpoint(str(tmp_path / "garbage.pt"))


class _FakeTextModel(torch.nn.Module):
    """encode_text returns a fixed vector per prompt, so the ensemble arithmetic is checkable."""

    def __init__(self, vectors: dict[str, list[float]]):
        super().__init__()
        self.prompts = list(vectors)
        self.table = torch.tensor(list(vectors.values()))

    def tokenize(self, prompts):
        return torch.tensor([self.prompts.index(p) for p in prompts])

    def encode_text(self, token_ids, normalize=False):  # open_clip's signature
        features = self.table[token_ids]
        return F.normalize(features, dim=-1) if normalize else features

    def encode_image(self, images):
        return images


def test_prompt_ensemble_averages_normalised_embeddings_then_renormalises():
    vectors = {"a cat": [3.0, 0.0], "cat!": [0.0, 1.0], "a dog": [1.0, 1.0], "dog!": [-1.0, 1.0]}
    model = _FakeTextModel(vectors)
    classifier = zeroshot.zero_shot_classifier(model, model.tokenize, ["cat", "dog"], ["a {}", "{}!"])
    # Normalising before averaging makes the [3, 0] prompt count as much as the [0, 1] one.
    expected_cat = F.normalize(torch.tensor([0.5, 0.5]), dim=0)
    expected_dog = torch.tensor([0.0, 1.0])
    torch.testing.assert_close(classifier, torch.stack([expected_cat, expected_dog], dim=1))
    logits = zeroshot.predict(model, classifier, torch.tensor([[1.0, 1.0], [0.0, 2.0]]))
    assert logits.argmax(dim=1).tolist() == [0, 1]


def test_topk_counts_and_caps_k_at_class_count():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.2], [0.3, 0.2, 0.1]])
    targets = torch.tensor([1, 2, 2])
    assert zeroshot.topk_correct(logits, targets, (1, 2, 5)) == {1: 1, 2: 2, 5: 3}


def test_template_file_parsing(tmp_path):
    path = tmp_path / "templates.txt"
    path.write_text("# CLIP-style ensemble\na photo of a {}.\n\na drawing of a {}.\n")
    assert zeroshot.load_templates(str(path)) == ["a photo of a {}.", "a drawing of a {}."]
    path.write_text("a photo of a thing.\n")
    with pytest.raises(ValueError, match=r"templates.txt:1: .*exactly one"):
        zeroshot.load_templates(str(path))
