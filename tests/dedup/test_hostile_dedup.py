"""`wit dedup` / `wit audit` (and the argument checks of `wit train` / `wit eval`) against
hostile input (issue 10): damaged shards, a SIGKILL while re-sharding, random weights,
no network, a training directory as checkpoint, argument errors that must not wait for torch.
"""
from __future__ import annotations

import io
import json
import math
import os
import random
import signal
import subprocess
import sys
import tarfile

import pyarrow.parquet as pq
import pytest

from tests.dedup.fixtures import (encode, image_folder, model_config, random_weights, removed_rows, scene,
                                  write_shards)
from shards.layout import sample_key
from shards.reader import ReadProblem, read_samples
from wit_pipeline import cli

PER_SHARD = 6


def key(shard: int, index: int) -> str:
    return sample_key(shard, index, PER_SHARD)


def member_offset(tar_path, name: str) -> int:
    with tarfile.open(tar_path) as tar:
        return tar.getmember(name).offset_data


def replace_member(tar_path, name: str, data: bytes) -> None:
    """Rewrites the tar with one member's bytes replaced, everything else as it was."""
    with tarfile.open(tar_path) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(tar_path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for member, content in members:
            content = data if member.name == name else content
            member.size = len(content)
            tar.addfile(member, io.BytesIO(content))


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """Five shards of six distinct scenes: 00000 good, 00001 cut inside its fourth sample's
    image (its first sample copies the eval image), 00002 random bytes, 00003 with one
    sample's `.json` broken, 00004 good but without its parquet."""
    root = tmp_path_factory.mktemp("damaged")
    eval_scene = scene(900)
    evals = image_folder(root / "eval", {"thing": [encode(eval_scene, "PNG")]})
    images = [encode(scene(2000 + i)) for i in range(5 * PER_SHARD)]
    images[PER_SHARD] = encode(eval_scene, quality=80)
    shards = root / "shards"
    write_shards(shards, images, per_shard=PER_SHARD)
    cut = member_offset(shards / "00001.tar", f"{key(1, 3)}.jpg") + 10
    (shards / "00001.tar").write_bytes((shards / "00001.tar").read_bytes()[:cut])
    (shards / "00002.tar").write_bytes(random.Random(0).randbytes(4096))
    replace_member(shards / "00003.tar", f"{key(3, 2)}.json", b"{broken")
    (shards / "00004.parquet").unlink()
    return {"root": root, "shards": str(shards), "evals": evals}


def test_read_samples_reports_damage_instead_of_raising(damaged):
    shards = damaged["shards"]
    items = list(read_samples(f"{shards}/00001.tar"))
    assert [i.key for i in items if not isinstance(i, ReadProblem)] == [key(1, i) for i in range(3)]
    problems = [i for i in items if isinstance(i, ReadProblem)]
    assert problems[0] == ReadProblem("", f"reading stopped after sample {key(1, 2)}: "
                                          "ReadError: unexpected end of data")
    assert [p.key for p in problems[1:]] == [key(1, i) for i in range(3, 6)]
    assert problems[1].error == f"sample {key(1, 3)} is a success in 00001.parquet but not in the tar"

    items = list(read_samples(f"{shards}/00003.tar"))
    problems = [i for i in items if isinstance(i, ReadProblem)]
    assert len(items) == PER_SHARD and len(problems) == 1
    assert problems[0].key == key(3, 2) and problems[0].error.startswith(f"{key(3, 2)}.json is not valid JSON")
    assert all(not isinstance(i, ReadProblem) for i in read_samples(f"{shards}/00004.tar"))


def test_dedup_and_audit_go_on_past_damaged_shards_and_name_them(damaged, tmp_path, capsys):
    from shards.verify import verify_shards

    out = tmp_path / "dedup"
    rc = cli.main(["dedup", "--shards", damaged["shards"], "--eval", f"e={damaged['evals']}", "--out", str(out),
                   "--clip-pretrained", "none", "--cache-dir", str(tmp_path / "cache"), "--samples-per-shard", "8"])
    assert rc == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "audit" / "report.json").read_text())
    # Rows read: 6 + 3 (cut) + 0 (random bytes) + 5 (one bad .json) + 6 (no parquet).
    assert report["dataset"] == {"shards": 5, "samples": 20, "undecodable": 0, "damaged_shards": 3,
                                 "unreadable_samples": 3 + 6 + 1}
    by_shard = {os.path.basename(d["shard"]): d for d in report["damaged_shards"]}
    assert sorted(by_shard) == ["00001.tar", "00002.tar", "00003.tar"]
    assert (by_shard["00001.tar"]["samples_read"], by_shard["00001.tar"]["unreadable_samples"]) == (3, 3)
    assert (by_shard["00002.tar"]["samples_read"], by_shard["00002.tar"]["unreadable_samples"]) == (0, 6)
    assert by_shard["00002.tar"]["first_problems"][0].startswith("reading stopped before the first sample: ReadError")
    assert (by_shard["00003.tar"]["samples_read"], by_shard["00003.tar"]["unreadable_samples"]) == (5, 1)
    assert by_shard["00003.tar"]["first_problems"][0].startswith(f"{key(3, 2)}.json is not valid JSON")

    removed = {r["key"]: r["reason"] for r in removed_rows(out / "audit")}
    unreadable = {key(1, i) for i in range(3, 6)} | {key(2, i) for i in range(6)} | {key(3, 2)}
    assert removed == {**{k: "unreadable" for k in unreadable}, key(1, 0): "eval_overlap"}
    kept = [r["key"] for shard in sorted((out / "shards").glob("*.parquet")) for r in pq.read_table(shard).to_pylist()]
    assert kept == ([key(0, i) for i in range(6)] + [key(1, i) for i in range(1, 3)]
                    + [key(3, i) for i in range(6) if i != 2] + [key(4, i) for i in range(6)])
    assert verify_shards(str(out / "shards")).ok
    lines = pq.read_table(out / "audit" / "unreadable.parquet").to_pylist()
    assert len(lines) == (1 + 3) + (1 + 6) + 1  # (shard, key, error) per problem, the two stops included

    summary = json.loads((out / "stats.json").read_text())
    assert summary["dataset"]["damaged_shards"] == 3
    named = {os.path.basename(path): line for path, line in summary["damaged_shards"].items()}
    assert named["00003.tar"] == f"1 unreadable sample(s), 5 read; {by_shard['00003.tar']['first_problems'][0]}"
    assert "00002.tar" in printed and key(3, 2) in printed

    audit_out = tmp_path / "audit"
    assert cli.main(["audit", "--shards", damaged["shards"], "--eval", f"e={damaged['evals']}", "--out",
                     str(audit_out), "--clip-pretrained", "none", "--cache-dir", str(tmp_path / "cache")]) == 0
    audited = json.loads((audit_out / "report.json").read_text())
    assert audited["dataset"] == report["dataset"] and audited["damaged_shards"] == report["damaged_shards"]
    html = (audit_out / "report.html").read_text()
    # The matched sample sits in the cut shard's readable part: shown like any other.
    assert "Damaged shards" in html and html.count("data:image/jpeg;base64,") == 2


def test_a_damaged_eval_set_is_one_clear_error(damaged, tmp_path, capsys):
    broken_eval = tmp_path / "eval.tar"
    broken_eval.write_bytes(random.Random(1).randbytes(2048))
    assert cli.main(["audit", "--shards", damaged["shards"], "--eval", f"e={broken_eval}", "--out",
                     str(tmp_path / "o"), "--clip-pretrained", "none", "--cache-dir", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"eval file {broken_eval} is unreadable: ReadError" in err


# ---------------------------------------------------------------- pHash-only (--clip-pretrained none)

@pytest.fixture(scope="module")
def lookalikes(tmp_path_factory):
    """Ten distinct scenes, a half-size copy of scene 1 (pHash finds it) and a 3-degree
    rotation of scene 2 (only the test model's embeddings find it: pHash distance 8)."""
    root = tmp_path_factory.mktemp("lookalikes")
    images = [encode(scene(i)) for i in range(10)]
    images += [encode(scene(1).resize((80, 60))), encode(scene(2).rotate(3))]
    write_shards(root / "shards", images, per_shard=PER_SHARD)
    evals = image_folder(root / "eval", {"a": [encode(scene(3), "PNG")], "b": [encode(scene(500), "PNG")]})
    return {"root": root, "shards": str(root / "shards"), "evals": evals, "model": model_config(root)}


def dedup_argv(world, out, *extra):
    return ["dedup", "--shards", world["shards"], "--eval", f"ab={world['evals']}", "--out", str(out),
            "--clip-model", world["model"], "--device", "cpu", "--cache-dir", str(out) + "-cache", *extra]


def test_random_weights_decide_nothing_and_the_report_says_so(lookalikes, tmp_path, capsys):
    out = tmp_path / "phash"
    assert cli.main(dedup_argv(lookalikes, out, "--clip-pretrained", "none")) == 0
    printed = capsys.readouterr().out
    removed = {r["key"]: r["reason"] for r in removed_rows(out / "audit")}
    # The rotation stays: random weights must not remove what pHash does not find.
    assert removed == {key(1, 4): "near_duplicate_phash", key(0, 3): "eval_overlap"}
    report = json.loads((out / "audit" / "report.json").read_text())
    off = ("off: --clip-pretrained none: random weights cannot judge similarity, so only sha256 and pHash decide")
    assert report["embedding_detector"] == off
    assert report["thresholds"] == {"similarity": None, "phash_distance": 4}
    assert report["eval_sets"]["ab"]["threshold"] is None
    assert report["eval_sets"]["ab"]["pairs_by_detector"] == {"similarity_only": 0, "phash_only": 1, "both": 0}
    assert report["eval_sets"]["ab"]["nearest_similarity"] is None
    overlap = pq.read_table(out / "audit" / "overlap-ab.parquet").to_pylist()
    assert [(r["eval_id"], r["key"]) for r in overlap] == [("a/000.png", key(0, 3))]
    assert math.isnan(overlap[0]["similarity"])
    assert "Embedding detector off" in (out / "audit" / "report.html").read_text()
    assert f"embedding_detector: {off}" in printed
    assert json.loads((out / "stats.json").read_text())["embedding_detector"] == off

    # The same data with weights given as a file: the embedding detector is on and finds the rotation.
    weighted = tmp_path / "weights"
    assert cli.main(dedup_argv(lookalikes, weighted, "--clip-pretrained", random_weights(tmp_path),
                               "--within-similarity", "0.95")) == 0
    removed = {r["key"]: r["reason"] for r in removed_rows(weighted / "audit")}
    assert removed[key(1, 5)] == "near_duplicate_embedding"
    assert json.loads((weighted / "audit" / "report.json").read_text())["embedding_detector"] == "on"


@pytest.mark.parametrize("flag", ["--similarity-threshold", "--within-similarity"])
def test_similarity_flags_need_real_weights(lookalikes, tmp_path, capsys, flag):
    assert cli.main(dedup_argv(lookalikes, tmp_path / "o", "--clip-pretrained", "none", flag, "0.9")) == 2
    assert capsys.readouterr().err == (f"wit dedup: error: {flag} needs real weights: with --clip-pretrained none "
                                       "the embedding detector is off (sha256 and pHash only)\n")


def test_without_network_the_default_weights_fail_in_one_line(lookalikes, tmp_path, monkeypatch, capsys):
    import socket

    import huggingface_hub.constants

    def unreachable(*args, **kwargs):
        raise OSError(101, "Network is unreachable")

    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, unreachable)
    monkeypatch.setattr(socket, "getaddrinfo", unreachable)
    # As offline as the hub gets: no cached file, and no ~45 s of retries before it gives up.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HOME", str(tmp_path))  # open_clip's own download cache, ~/.cache/clip
    out = tmp_path / "o"
    assert cli.main(["audit", "--shards", lookalikes["shards"], "--eval", f"ab={lookalikes['evals']}",
                     "--out", str(out), "--device", "cpu", "--cache-dir", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("wit audit: error: --clip-pretrained openai: the ViT-B-32 weights could not be "
                          "downloaded (")
    assert err.endswith("); without network pass a local weights file (--clip-pretrained PATH) or "
                        "--clip-pretrained none for pHash-only detection\n")
    assert not out.exists()  # nothing ran


# ---------------------------------------------------------------- resume after SIGKILL

KILL_AT_SECOND_SHARD = """
import os, signal, sys
from shards.writer import ShardWriter

original_close = ShardWriter.close

def close_then_die(self):
    if self.shard_id == 1:
        self._tar.close()
        self._stack.close()  # 00001.tar is in place; its parquet and stats are not
        with open(os.environ["WIT_TEST_MARK"], "w") as mark:
            mark.write(str("torch" in sys.modules))
        os.kill(os.getpid(), signal.SIGKILL)
    return original_close(self)

ShardWriter.close = close_then_die
from wit_pipeline import cli
sys.exit(cli.main(sys.argv[1:]))
"""


def test_dedup_resumes_after_a_sigkill_while_resharding(lookalikes, tmp_path, capsys):
    argv = ["--clip-pretrained", "none", "--samples-per-shard", "4"]
    killed = tmp_path / "killed"
    mark = tmp_path / "torch-loaded"
    run = subprocess.run([sys.executable, "-c", KILL_AT_SECOND_SHARD, *dedup_argv(lookalikes, killed, *argv)],
                         env={**os.environ, "WIT_TEST_MARK": str(mark)}, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    assert mark.read_text() == "False"  # a pHash-only run never loads torch
    left = sorted(p.name for p in (killed / "shards").iterdir())
    assert "00001.tar" in left and "00001_stats.json" not in left and "00000_stats.json" in left
    kept_shard = (killed / "shards" / "00000.tar").stat()

    assert cli.main(dedup_argv(lookalikes, killed, *argv)) == 0
    assert "reshard: removed" in capsys.readouterr().out
    straight = tmp_path / "straight"
    assert cli.main(dedup_argv(lookalikes, straight, *argv)) == 0
    names = sorted(p.name for p in (straight / "shards").iterdir())
    assert sorted(p.name for p in (killed / "shards").iterdir()) == names
    for name in names:
        assert (killed / "shards" / name).read_bytes() == (straight / "shards" / name).read_bytes(), name
    assert (killed / "shards" / "00000.tar").stat().st_mtime_ns == kept_shard.st_mtime_ns  # complete: kept
    assert json.loads((killed / "shards" / "_dedup.json").read_text())["finished"] is True

    # Finished output is never overwritten by a run of other settings; the same run again is fine.
    assert cli.main(dedup_argv(lookalikes, killed, "--clip-pretrained", "none", "--samples-per-shard", "5")) == 2
    assert "finished wit dedup with other inputs or settings; use a new --out" in capsys.readouterr().err
    assert cli.main(dedup_argv(lookalikes, killed, *argv)) == 0


def test_an_unfinished_plan_of_other_settings_is_cleared_and_a_finished_one_refused(tmp_path):
    from dedup.reshard import PLAN_NAME, check_output, start_reshard

    out = tmp_path / "shards"
    out.mkdir()
    for name in ("00000.tar", "00000.parquet", "00000_stats.json", "00001.tar", "stats.json", ".tmp-ab12-00002.tar"):
        (out / name).write_bytes(b"x")
    (out / PLAN_NAME).write_text(json.dumps({"command": "a", "removed_sha256": "r", "finished": False}))
    check_output(str(out), "b")  # unfinished: another command may take it over
    assert start_reshard(str(out), {"command": "a", "removed_sha256": "r"}) == 3  # 00001.tar, totals, .tmp-
    assert sorted(p.name for p in out.iterdir()) == ["00000.parquet", "00000.tar", "00000_stats.json", PLAN_NAME]
    assert start_reshard(str(out), {"command": "b", "removed_sha256": "r"}) == 3
    assert sorted(p.name for p in out.iterdir()) == [PLAN_NAME]
    (out / PLAN_NAME).write_text(json.dumps({"command": "b", "removed_sha256": "r", "finished": True}))
    check_output(str(out), "b")
    with pytest.raises(ValueError, match="finished wit dedup with other inputs or settings"):
        check_output(str(out), "c")


# ---------------------------------------------------------------- zero-shot checkpoint forms, binomial test

@pytest.fixture(scope="module")
def training_dir(tmp_path_factory):
    """A `wit train --out` directory as the trainer leaves it: checkpoints/ + latest.json."""
    import torch

    from wit_pipeline.clip.models import create_model, save_checkpoint

    root = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    model, *_ = create_model("wit-tiny")
    save_checkpoint(str(root / "checkpoints" / "step_00000003.pt"), model, "wit-tiny", step=3)
    (root / "checkpoints" / "latest.json").write_text(json.dumps({"checkpoint": "step_00000003.pt", "step": 3}))
    return root


def test_audit_takes_a_training_directory_like_eval_does(lookalikes, training_dir, tmp_path):
    out = tmp_path / "audit"
    assert cli.main(["audit", "--shards", lookalikes["shards"], "--eval", f"ab={lookalikes['evals']}",
                     "--out", str(out), "--clip-pretrained", "none", "--cache-dir", str(tmp_path / "cache"),
                     "--zero-shot-checkpoint", str(training_dir)]) == 0
    zero_shot = json.loads((out / "report.json").read_text())["eval_sets"]["ab"]["zero_shot"]
    assert zero_shot["checkpoint"] == str(training_dir / "checkpoints" / "step_00000003.pt")
    assert zero_shot["count"] == {"all": 2, "clean": 1, "overlap": 1}
    test = zero_shot["binomial_test"]
    assert (test["n_overlap"], test["k_overlap_correct"]) == (1, zero_shot["correct"]["overlap"])
    assert test["p_clean_accuracy"] == zero_shot["accuracy"]["clean"]


@pytest.mark.parametrize("make_bad, message", [
    (lambda tmp: tmp, "is neither a checkpoint file nor a training directory with checkpoints/latest.json"),
    (lambda tmp: tmp / "missing.pt", "does not exist"),
])
def test_a_bad_zero_shot_checkpoint_fails_before_any_work(lookalikes, tmp_path, capsys, make_bad, message):
    out = tmp_path / "audit"
    assert cli.main(["audit", "--shards", lookalikes["shards"], "--eval", f"ab={lookalikes['evals']}",
                     "--out", str(out), "--clip-pretrained", "none", "--cache-dir", str(tmp_path / "cache"),
                     "--zero-shot-checkpoint", str(make_bad(tmp_path))]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "features:" not in captured.out and not out.exists()


def test_a_file_that_is_no_checkpoint_fails_before_detection(lookalikes, tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    assert cli.main(["audit", "--shards", lookalikes["shards"], "--eval", f"ab={lookalikes['evals']}",
                     "--out", str(tmp_path / "o"), "--clip-pretrained", "none", "--cache-dir", str(tmp_path / "c"),
                     "--zero-shot-checkpoint", str(junk)]) == 2
    captured = capsys.readouterr()
    assert f"checkpoint {str(junk)!r} is unreadable" in captured.err and "features:" not in captured.out


def test_binomial_test_reports_its_inputs_and_flags_a_degenerate_null():
    from scipy.stats import binomtest

    from dedup.overlap_stats import accuracy_split

    # The case: 6 overlap images, Clean accuracy 0 (0 of 4), 2 overlap images right.
    correct = {f"o{i}": i < 2 for i in range(6)} | {f"c{i}": False for i in range(4)}
    result = accuracy_split(correct, [f"o{i}" for i in range(6)])
    assert result["binomial_p_value"] == 0.0  # P(X >= 2 | n=6, p=0): right by definition, and uninformative
    assert result["binomial_test"] == {
        "n_overlap": 6, "k_overlap_correct": 2, "p_clean_accuracy": 0.0, "alternative": "greater",
        "note": "degenerate null: Clean accuracy is 0 (0 of 4), so the p-value is 0 whatever the Overlap sample "
                "size; judge by the counts"}
    correct = {f"o{i}": i < 4 for i in range(6)} | {f"c{i}": i < 3 for i in range(10)}
    result = accuracy_split(correct, [f"o{i}" for i in range(6)])
    assert result["binomial_p_value"] == pytest.approx(binomtest(4, 6, p=0.3, alternative="greater").pvalue)
    assert result["binomial_test"] == {"n_overlap": 6, "k_overlap_correct": 4, "p_clean_accuracy": 0.3,
                                       "alternative": "greater"}


# ---------------------------------------------------------------- argument errors before torch

ARGUMENT_ERRORS = """
import contextlib, io, json, sys, time
from wit_pipeline import cli

results = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    results.append({"rc": rc, "err": err.getvalue(), "seconds": time.monotonic() - started})
print(json.dumps({"results": results, "torch": "torch" in sys.modules}))
"""


def test_argument_errors_answer_before_torch_loads(lookalikes, training_dir, tmp_path):
    shards, evals, out = lookalikes["shards"], lookalikes["evals"], str(tmp_path / "out")
    cases = [
        (["dedup", "--shards", shards, "--out", out, "--samples-per-shard", "0"],
         "wit dedup: error: --samples-per-shard must be >= 1, got 0"),
        (["dedup", "--shards", shards, "--out", out, "--clip-pretrained", "none", "--similarity-threshold", "0.9"],
         "wit dedup: error: --similarity-threshold needs real weights"),
        (["dedup", "--shards", str(tmp_path / "none-*.tar"), "--out", out],
         "wit dedup: error: --shards: no file matches"),
        (["audit", "--shards", shards, "--eval", f"ab={evals}", "--out", out, "--zero-shot-checkpoint",
          str(tmp_path / "missing.pt")], "wit audit: error: checkpoint"),
        (["audit", "--shards", shards, "--eval", "no-equals", "--out", out], "wit audit: error: --eval takes NAME=PATH"),
        (["train", "--shards", shards, "--out", out, "--steps", "0"], "wit train: error: --steps must be >= 1"),
        (["train", "--shards", shards, "--out", out, "--zero-shot", f"x={tmp_path / 'nope'}"],
         "wit train: error: eval set"),
        (["train", "--shards", shards, "--out", str(training_dir)], "wit train: error: " + str(training_dir)
         + " already holds a training run"),
        (["eval", "--checkpoint", str(tmp_path / "missing.pt"), "--eval", f"ab={evals}"],
         "wit eval: error: checkpoint"),
        (["eval", "--checkpoint", str(training_dir), "--eval", f"ab={evals}", "--device", "gpu"],
         "wit eval: error: --device must be auto, cpu, cuda or cuda:N, got 'gpu'"),
    ]
    run = subprocess.run([sys.executable, "-c", ARGUMENT_ERRORS, json.dumps([argv for argv, _ in cases])],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    for (argv, message), result in zip(cases, answer["results"]):
        assert result["rc"] == 2, (argv, result)
        assert result["err"].startswith(message) and result["err"].count("\n") == 1, (argv, result["err"])
    assert answer["torch"] is False
