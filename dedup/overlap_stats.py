"""Does overlap inflate accuracy? The CLIP paper's analysis (section 5, appendix C).

Each eval set is split into Overlap (eval images with a near-duplicate in the training
data) and Clean (the rest). Accuracy on All, Clean and Overlap is reported with
All - Clean, the estimated effect of the overlap on the published number. A one-sided
binomial test asks whether the Overlap accuracy is higher than the Clean accuracy would
predict: null hypothesis p = accuracy(Clean), k = correct Overlap images out of n,
p-value = P(X >= k). A Clopper-Pearson 99.5% interval of the Overlap accuracy is
reported too, as the paper does. The test's inputs (n, k and the Clean accuracy used as
p) are reported beside the p-value: with a Clean accuracy of exactly 0 (or 1) the null
is degenerate — one correct Overlap image gives p = 0, since under p = 0 no image can be
right — and the p-value alone would overstate what a small Clean set shows.
"""
from __future__ import annotations

from typing import Iterable

import torch

from dedup import features as features_lib


def accuracy_split(correct: dict[str, bool], overlap_ids: Iterable[str]) -> dict:
    from scipy.stats import binomtest

    overlap_ids = set(overlap_ids) & set(correct)
    n_all = len(correct)
    n_overlap = len(overlap_ids)
    n_clean = n_all - n_overlap
    hits_all = sum(correct.values())
    hits_overlap = sum(correct[i] for i in overlap_ids)
    hits_clean = hits_all - hits_overlap

    def ratio(hits, n):
        return hits / n if n else None

    result = {
        "count": {"all": n_all, "clean": n_clean, "overlap": n_overlap},
        "correct": {"all": hits_all, "clean": hits_clean, "overlap": hits_overlap},
        "accuracy": {"all": ratio(hits_all, n_all), "clean": ratio(hits_clean, n_clean),
                     "overlap": ratio(hits_overlap, n_overlap)},
        "all_minus_clean": None,
        "binomial_p_value": None,
        "binomial_test": None,
        "overlap_accuracy_ci_99_5": None,
    }
    acc = result["accuracy"]
    if acc["all"] is not None and acc["clean"] is not None:
        result["all_minus_clean"] = acc["all"] - acc["clean"]
    if n_overlap and acc["clean"] is not None:
        test = binomtest(hits_overlap, n_overlap, p=acc["clean"], alternative="greater")
        result["binomial_p_value"] = float(test.pvalue)
        result["binomial_test"] = {"n_overlap": n_overlap, "k_overlap_correct": hits_overlap,
                                   "p_clean_accuracy": acc["clean"], "alternative": "greater"}
        if acc["clean"] in (0.0, 1.0):
            result["binomial_test"]["note"] = (
                f"degenerate null: Clean accuracy is {acc['clean']:g} ({hits_clean} of {n_clean}), so the "
                f"p-value is {float(test.pvalue):g} whatever the Overlap sample size; judge by the counts")
        ci = binomtest(hits_overlap, n_overlap).proportion_ci(confidence_level=0.995, method="exact")
        result["overlap_accuracy_ci_99_5"] = [float(ci.low), float(ci.high)]
    return result


def classname_prompt(name: str) -> str:
    return name.replace("_", " ")


@torch.no_grad()
def zero_shot_correct(checkpoint: str, images: Iterable[tuple[str, int, bytes]], classnames: list[str],
                      device: str = "cpu", batch_size: int = 64) -> dict[str, bool]:
    """eval_id -> whether a `wit train` checkpoint classifies it correctly (undecodable images left out)."""
    from wit_pipeline.clip.models import load_checkpoint
    from wit_pipeline.clip.zeroshot import DEFAULT_TEMPLATES, predict, zero_shot_classifier

    model, preprocess, tokenizer, _ = load_checkpoint(checkpoint, device=device)
    classifier = zero_shot_classifier(model, tokenizer, [classname_prompt(c) for c in classnames],
                                      DEFAULT_TEMPLATES, device)
    result: dict[str, bool] = {}
    batch: list[tuple[str, int, torch.Tensor]] = []

    def flush():
        if not batch:
            return
        logits = predict(model, classifier, torch.stack([t for _, _, t in batch]), device)
        for (eval_id, label, _), pred in zip(batch, logits.argmax(dim=1).tolist()):
            result[eval_id] = pred == label
        batch.clear()

    for eval_id, label, data in images:
        feats = features_lib.featurize(eval_id, data, preprocess, trim_padding=False)
        if feats.error is None:
            batch.append((eval_id, label, feats.tensor))
        if len(batch) >= batch_size:
            flush()
    flush()
    return result
