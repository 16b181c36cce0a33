"""`wit eval`: zero-shot (and optionally linear-probe) accuracy of a checkpoint on image folders.

Zero-shot follows the CLIP paper: class names from the folder names (or a file) go into
prompt templates, the template embeddings are averaged per class (prompt ensembling),
and each image takes the class whose embedding is most similar. The linear probe fits
scikit-learn's logistic regression on frozen image embeddings of a train split and
scores a held-out split.

Flags -> `EvalConfig`: flags, eval sets, class-name files and the checkpoint are checked
once, in `from_args`, before torch loads.
"""
from __future__ import annotations

import argparse
import dataclasses
import random

import numpy as np

from wit_pipeline.clip import checkpoints, evalsets
from wit_pipeline.core import console, files
from wit_pipeline.train.config import check_device_flag

DEFAULT_TEMPLATE = "a photo of a {}."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint",
                        help="a `wit train` checkpoint (.pt) or a training OUT directory (its latest checkpoint)")
    parser.add_argument("--model", help="instead of --checkpoint: an open_clip architecture / config")
    parser.add_argument("--pretrained", help="with --model: local open_clip weights (default: random init)")
    parser.add_argument("--eval", action="append", required=True, metavar="NAME=PATH",
                        help="image-folder eval set ROOT/CLASS/IMAGE; repeatable. A ROOT with train/ and "
                             "test/ (or val/) sub-trees uses test/ for zero-shot and both for the probe")
    parser.add_argument("--out", help="write OUT/stats.json (the printed summary) there")
    parser.add_argument("--templates", help=f"prompt templates, one per line with '{{}}' (default: "
                                            f"{DEFAULT_TEMPLATE!r})")
    parser.add_argument("--classnames", action="append", default=[], metavar="NAME=FILE",
                        help="class names for eval set NAME: one per line in sorted folder order, "
                             "or a JSON object folder -> name")
    parser.add_argument("--linear-probe", action="store_true",
                        help="also fit a logistic-regression probe on frozen image features")
    parser.add_argument("--probe-c", type=float, default=1.0, help="inverse L2 strength of the probe")
    parser.add_argument("--probe-test-fraction", type=float, default=0.5,
                        help="held-out share per class when the set has no train/test sub-trees")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2, help="image-decoding worker processes")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--seed", type=int, default=0, help="train/test split of the probe")


@dataclasses.dataclass(frozen=True)
class EvalSet:
    """One `--eval NAME=PATH` image folder, scanned."""

    name: str
    test: evalsets.ImageFolder            # zero-shot, and the probe's held-out side
    train: evalsets.ImageFolder | None    # the probe's train/ sub-tree, when ROOT has one


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    checkpoint: str | None     # the checkpoint file (a run directory resolved to its latest)
    model: str | None
    pretrained: str | None
    eval_sets: tuple[EvalSet, ...]
    out: str | None
    templates: str | None
    linear_probe: bool
    probe_c: float
    probe_test_fraction: float
    batch_size: int
    workers: int
    device: str
    seed: int

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "EvalConfig":
        """The checked config; ValueError/FileNotFoundError naming the flag otherwise."""
        checkpoint = None
        if args.checkpoint:
            if args.model or args.pretrained:
                raise ValueError("give either --checkpoint or --model/--pretrained, not both")
            checkpoint = checkpoints.resolve_checkpoint(args.checkpoint)
        elif not args.model:
            raise ValueError("give --checkpoint (or --model with optional --pretrained)")
        if args.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
        if args.workers < 0:
            raise ValueError(f"--workers must be >= 0, got {args.workers}")
        if args.linear_probe and not 0 < args.probe_test_fraction < 1:
            raise ValueError("--probe-test-fraction must be between 0 and 1")
        check_device_flag(args.device)
        folders = evalsets.image_folder_sets(args.eval, "--eval")
        classnames_files = {}
        for value in args.classnames:
            name, path = evalsets.parse_named_path(value, "--classnames")
            if name not in {set_name for set_name, _ in folders}:
                raise ValueError(f"--classnames {name}: no --eval set of that name")
            if not files.exists(path):
                raise FileNotFoundError(f"class-name file {path!r} does not exist")
            classnames_files[name] = path
        if args.templates and not files.exists(args.templates):
            raise FileNotFoundError(f"template file {args.templates!r} does not exist")
        eval_sets = []
        for (name, folder), value in zip(folders, args.eval):
            if name in classnames_files:
                folder = dataclasses.replace(
                    folder, classnames=evalsets.read_classnames(classnames_files[name], folder.classes))
            split = evalsets.split_folder(evalsets.parse_named_path(value)[1])
            train = None
            if args.linear_probe and split:
                train = evalsets.scan_image_folder(split[0])
                if train.classes != folder.classes:
                    raise ValueError(f"eval set {name}: train/ and test/ hold different class folders")
            eval_sets.append(EvalSet(name, folder, train))
        return cls(checkpoint, args.model, args.pretrained, tuple(eval_sets), args.out, args.templates,
                   args.linear_probe, args.probe_c, args.probe_test_fraction, args.batch_size, args.workers,
                   args.device, args.seed)


def load_model(config: EvalConfig, device):
    from wit_pipeline.clip import models
    if config.checkpoint:
        model, preprocess, tokenizer, loaded = models.load_checkpoint(config.checkpoint, device)
        return model, preprocess, tokenizer, {"checkpoint": config.checkpoint,
                                              "model": loaded["model_spec"]["name"], "step": loaded.get("step")}
    model, _, preprocess, tokenizer = models.create_model(config.model, pretrained=config.pretrained, device=device)
    model.eval()
    return model, preprocess, tokenizer, {"model": config.model, "pretrained": config.pretrained}


def embed_images(model, samples, preprocess, device, batch_size: int, workers: int):
    """(unit-norm features [N, D], targets [N], sample index of each row, unreadable paths)."""
    import torch

    from wit_pipeline.clip import zeroshot
    features, targets, rows, unreadable = [], [], [], []
    with torch.no_grad():
        for images, batch_targets, indices in evalsets.iterate_batches(samples, preprocess, batch_size, workers,
                                                                        unreadable):
            features.append(zeroshot.image_features(model, images, device).cpu())
            targets.append(batch_targets)
            rows.append(indices)
    if not features:
        raise ValueError("no readable image in the eval set")
    return torch.cat(features), torch.cat(targets), torch.cat(rows).tolist(), unreadable


def stratified_split(samples: list[tuple[str, int]], test_fraction: float, seed: int):
    """Per class, a seeded `test_fraction` of the images is held out (at least one each side
    when the class has two or more)."""
    if not 0 < test_fraction < 1:
        raise ValueError("--probe-test-fraction must be between 0 and 1")
    by_class: dict[int, list] = {}
    for sample in samples:
        by_class.setdefault(sample[1], []).append(sample)
    rng = random.Random(seed)
    train, test = [], []
    for target in sorted(by_class):
        items = by_class[target]
        rng.shuffle(items)
        n_test = min(len(items) - 1, max(1, round(len(items) * test_fraction))) if len(items) > 1 else 0
        test += items[:n_test]
        train += items[n_test:]
    return sorted(train), sorted(test)


def linear_probe(train_x, train_y, test_x, test_y, c: float, seed: int) -> float:
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(train_y)) < 2:
        raise ValueError("the linear probe needs training images of at least two classes")
    classifier = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    classifier.fit(train_x, train_y)
    return float((classifier.predict(test_x) == test_y).mean())


def evaluate_set(model, preprocess, tokenizer, eval_set: EvalSet, config: EvalConfig, device, templates) -> dict:
    from wit_pipeline.clip import zeroshot
    folder = eval_set.test
    classifier = zeroshot.zero_shot_classifier(model, tokenizer, folder.classnames, templates, device)
    features, targets, rows, unreadable = embed_images(model, folder.samples, preprocess, device,
                                                       config.batch_size, config.workers)
    logits = 100.0 * features.to(device) @ classifier
    correct = zeroshot.topk_correct(logits, targets, (1, 5))
    result = {"classes": len(folder.classes), "count": len(targets), "unreadable": len(unreadable),
              "top1": correct[1] / len(targets), "top5": correct[5] / len(targets)}
    if config.linear_probe:
        if eval_set.train:
            train_x, train_y, _, train_bad = embed_images(model, eval_set.train.samples, preprocess, device,
                                                          config.batch_size, config.workers)
            test_x, test_y = features, targets
            result["unreadable"] += len(train_bad)
        else:
            train_samples, test_samples = stratified_split(folder.samples, config.probe_test_fraction, config.seed)
            index = {folder.samples[sample][0]: row for row, sample in enumerate(rows)}
            train_rows = [index[p] for p, _ in train_samples if p in index]
            test_rows = [index[p] for p, _ in test_samples if p in index]
            train_x, train_y = features[train_rows], targets[train_rows]
            test_x, test_y = features[test_rows], targets[test_rows]
        if len(test_y) == 0:
            raise ValueError(f"eval set {eval_set.name}: no held-out image for the linear probe")
        result["linear_probe"] = {
            "top1": linear_probe(train_x.numpy(), train_y.numpy(), test_x.numpy(), test_y.numpy(),
                                 config.probe_c, config.seed),
            "train": len(train_y), "test": len(test_y), "C": config.probe_c}
    return result


def main(args: argparse.Namespace, beam_argv: list[str]) -> int:
    # Beam pipeline options are accepted as by every stage and mean nothing here.
    config = EvalConfig.from_args(args)
    from wit_pipeline.clip import zeroshot
    from wit_pipeline.train.distributed import init_distributed

    _, device = init_distributed(config.device)
    templates = zeroshot.load_templates(config.templates) if config.templates else zeroshot.DEFAULT_TEMPLATES
    model, preprocess, tokenizer, source = load_model(config, device)
    results = {eval_set.name: evaluate_set(model, preprocess, tokenizer, eval_set, config, device, templates)
               for eval_set in config.eval_sets}
    stats = {**source, "templates": len(templates), "eval": results}
    if config.out:
        console.finish(config.out, "wit eval", stats)
    else:
        print(console.format_summary("wit eval", stats), flush=True)
    return 0
