"""CLIP models through open_clip's factory, plus the project's checkpoint format.

A model is named by a *spec*: an open_clip architecture name ("ViT-B-32"), one of the
configs shipped in `wit_pipeline/clip/model_configs/` ("wit-tiny", "wit-small"), or a path to
a JSON config in open_clip's format (`embed_dim`, `vision_cfg`, `text_cfg`). Configs
stay data, as in open_clip: the shipped ones are registered with open_clip's own
registry, so `open_clip.create_model("wit-tiny")` works too once this module is imported.

Checkpoints written by `save_checkpoint` hold the resolved config itself (not just its
name), so a checkpoint trained from a JSON file loads anywhere without that file.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import tempfile
from pathlib import Path

import torch

import open_clip

from wit_pipeline.core import files

CONFIG_DIR = Path(__file__).parent / "model_configs"
CHECKPOINT_FORMAT = "wit-checkpoint/1"
_REQUIRED_CONFIG_KEYS = ("embed_dim", "vision_cfg", "text_cfg")

# Our precision names (SPEC: fp32|amp|bf16) mapped to open_clip's. Mixed precision keeps
# fp32 weights; autocast does the rest in the trainer.
_OPEN_CLIP_PRECISION = {
    "fp32": "fp32", "amp": "amp", "bf16": "amp_bf16", "amp_bf16": "amp_bf16",
    "fp16": "fp16", "pure_bf16": "pure_bf16", "pure_fp16": "pure_fp16",
}

open_clip.add_model_config(CONFIG_DIR)

_registered_dir: str | None = None


def list_models() -> list[str]:
    """Every architecture name `create_model` accepts (open_clip's plus the shipped ones)."""
    return open_clip.list_models()


def resolve_model_spec(model: str | dict) -> dict:
    """`{"name": ..., "config": {...}}` for a name, a JSON config path, or an already resolved spec."""
    if isinstance(model, dict):
        if "config" in model:
            _check_config(model["config"], model.get("name", "<checkpoint>"))
            return {"name": str(model.get("name") or "custom"), "config": model["config"]}
        _check_config(model, "<dict>")
        return {"name": "custom", "config": model}
    if model.endswith(".json") or os.sep in model or "://" in model:
        if not files.exists(model):
            raise FileNotFoundError(f"model config {model!r} does not exist")
        try:
            config = json.loads(files.read_bytes(model))
        except json.JSONDecodeError as exc:
            raise ValueError(f"model config {model!r} is not valid JSON: {exc}") from exc
        _check_config(config, model)
        return {"name": Path(model).stem, "config": config}
    config = open_clip.get_model_config(model)
    if config is None:
        raise ValueError(
            f"unknown model {model!r}: not an open_clip architecture, not a config in "
            f"{CONFIG_DIR.name}/ ({', '.join(sorted(p.stem for p in CONFIG_DIR.glob('*.json')))}), "
            "and not a path to a JSON config")
    return {"name": model, "config": config}


def _check_config(config, where: str) -> None:
    if not isinstance(config, dict) or any(k not in config for k in _REQUIRED_CONFIG_KEYS):
        raise ValueError(f"model config {where} must be a JSON object with keys "
                         f"{', '.join(_REQUIRED_CONFIG_KEYS)}")


def _registered_name(spec: dict) -> str:
    """A name under which open_clip's registry holds exactly `spec["config"]`."""
    global _registered_dir
    name, config = spec["name"], spec["config"]
    if open_clip.get_model_config(name) == config:
        return name
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:10]
    unique = f"{name}-{digest}"
    if open_clip.get_model_config(unique) is None:
        # open_clip only registers configs from files; a private directory keeps ours apart.
        if _registered_dir is None:
            _registered_dir = tempfile.mkdtemp(prefix="wit-model-configs-")
        path = Path(_registered_dir) / f"{unique}.json"
        path.write_text(json.dumps(config))
        open_clip.add_model_config(path)
    return unique


def _open_clip_precision(precision: str) -> str:
    try:
        return _OPEN_CLIP_PRECISION[precision]
    except KeyError:
        raise ValueError(f"unknown precision {precision!r}; use one of "
                         f"{', '.join(_OPEN_CLIP_PRECISION)}") from None


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module under DistributedDataParallel and torch.compile wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def _read_torch(path: str, device="cpu"):
    if files.is_local(path):
        return torch.load(path, map_location=device, weights_only=True)
    return torch.load(io.BytesIO(files.read_bytes(path)), map_location=device, weights_only=True)


def is_wit_checkpoint(obj) -> bool:
    return isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT


class WeightsUnavailable(FileNotFoundError):
    """open_clip could not download the weights of a pretrained tag (no network, or the hub failed)."""

    def __init__(self, tag: str, model: str, cause: str):
        self.tag, self.model, self.cause = tag, model, cause
        super().__init__(f"pretrained weights {tag!r} for {model}: could not be downloaded ({cause}); "
                         "without network pass a local weights file instead")


def _first_line(message: str, limit: int = 200) -> str:
    line = message.strip().splitlines()[0] if message.strip() else "no detail"
    return line if len(line) <= limit else line[:limit - 3] + "..."


class _DropMisleadingLogs(logging.Filter):
    # "No pretrained weights loaded": random init is what training from scratch asks for,
    # and checkpoint weights are loaded after creation. "Failed to download weights": the
    # caller gets it as one WeightsUnavailable line; logged too, the user would read it twice.
    _PREFIXES = ("No pretrained weights loaded", "Failed to download weights")

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self._PREFIXES)


@contextlib.contextmanager
def _quiet_open_clip():
    root = logging.getLogger()
    log_filter = _DropMisleadingLogs()
    root.addFilter(log_filter)
    try:
        yield
    finally:
        root.removeFilter(log_filter)


def create_model(model: str | dict, pretrained: str | None = None, device="cpu", precision="fp32",
                 **open_clip_kwargs):
    """(model, preprocess_train, preprocess_val, tokenizer) for a model spec.

    `pretrained`: None or "none" for random init; a local path to open_clip weights or
    to a `wit train` checkpoint; or an open_clip pretrained tag (open_clip downloads it,
    so only with internet, never in tests; `WeightsUnavailable` when that fails).
    """
    spec = resolve_model_spec(model)
    name = _registered_name(spec)
    state_dict = None
    tag = None
    if pretrained and pretrained.lower() != "none":
        if files.is_local(pretrained) and os.path.isdir(pretrained):
            raise ValueError(f"pretrained weights {pretrained!r} is a directory: pass the weights file")
        if files.exists(pretrained):
            loaded = None
            if not pretrained.endswith((".safetensors", ".npz", ".npy")):
                try:
                    loaded = _read_torch(pretrained)
                except Exception:  # e.g. OpenAI's TorchScript files: open_clip's loader knows them
                    if not files.is_local(pretrained):
                        raise
            if is_wit_checkpoint(loaded):
                if loaded["model_spec"]["config"] != spec["config"]:
                    raise ValueError(f"checkpoint {pretrained!r} holds a {loaded['model_spec']['name']!r} "
                                     f"model, not {spec['name']!r}")
                state_dict = loaded["state_dict"]
            elif files.is_local(pretrained):
                tag = pretrained  # open_clip converts the many third-party layouts itself
            else:
                state_dict = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else loaded
        elif pretrained in open_clip.list_pretrained_tags_by_model(name):
            tag = pretrained
        else:
            raise FileNotFoundError(f"pretrained weights {pretrained!r}: no such file, and not an "
                                    f"open_clip pretrained tag for {spec['name']!r}")
    try:
        with _quiet_open_clip():
            net, preprocess_train, preprocess_val = open_clip.create_model_and_transforms(
                name, pretrained=tag, precision=_open_clip_precision(precision), device=device,
                **open_clip_kwargs)
    except RuntimeError as exc:
        # open_clip fetches a tag's weights before building the model and reports any
        # failure of the fetch (network, hub, checksum) as this RuntimeError.
        if tag is None or files.exists(tag) or not str(exc).startswith("Failed to download weights"):
            raise
        raise WeightsUnavailable(tag, spec["name"], _first_line(str(exc).split(": ", 1)[-1])) from exc
    if state_dict is not None:
        state_dict = {k.removeprefix("module."): v for k, v in state_dict.items()}
        unwrap(net).load_state_dict(state_dict)
    tokenizer = open_clip.get_tokenizer(name)
    net.wit_model_spec = spec
    return net, preprocess_train, preprocess_val, tokenizer


def save_checkpoint(path: str, model: torch.nn.Module, model_spec: str | dict, **state) -> None:
    """Atomically write `{format, model_spec, state_dict, **state}` (local or remote path)."""
    spec = resolve_model_spec(model_spec)
    checkpoint = {"format": CHECKPOINT_FORMAT, "model_spec": spec,
                  "state_dict": unwrap(model).state_dict(), **state}
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    files.write_bytes(path, buffer.getvalue())


def read_checkpoint(path: str, device="cpu") -> dict:
    """The raw checkpoint dict, checked to be one `save_checkpoint` wrote."""
    if not files.exists(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist")
    try:
        checkpoint = _read_torch(path, device)
    except Exception as exc:  # torch raises several unrelated types for damaged files
        raise ValueError(f"checkpoint {path!r} is unreadable: {exc}") from exc
    if not is_wit_checkpoint(checkpoint):
        raise ValueError(f"{path!r} is not a `wit train` checkpoint (no {CHECKPOINT_FORMAT!r} marker); "
                         "for open_clip weights use create_model(model, pretrained=PATH)")
    return checkpoint


def load_checkpoint(path: str, device="cpu"):
    """(model in eval mode, preprocess_val, tokenizer, checkpoint dict) from a `wit train` checkpoint."""
    checkpoint = read_checkpoint(path, device="cpu")
    model, _, preprocess_val, tokenizer = create_model(checkpoint["model_spec"], device="cpu")
    model.load_state_dict(checkpoint["state_dict"])
    model.to(device).eval()
    return model, preprocess_val, tokenizer, checkpoint


def write_open_clip_config(model_spec: str | dict, directory: str) -> str:
    """Write `directory/open_clip_config.json`, so open_clip (and `python -m open_clip_train.main`)
    can build the model as `--model local-dir:DIRECTORY`; returns that model name."""
    spec = resolve_model_spec(model_spec)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "open_clip_config.json"), "w", encoding="utf-8") as f:
        json.dump({"model_cfg": spec["config"], "preprocess_cfg": {}}, f, indent=2)
    return f"local-dir:{directory}"
