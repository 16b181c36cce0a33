"""clip/checkpoints: which checkpoint file a `--checkpoint` value names (no torch needed)."""
import json

import pytest

from wit_pipeline.clip import checkpoints


def _run_dir(root, steps):
    (root / "checkpoints").mkdir(parents=True)
    for step in steps:
        (root / "checkpoints" / checkpoints.checkpoint_name(step)).write_bytes(b"weights")
    if steps:
        checkpoints.write_latest(str(root / "checkpoints"), steps[-1])
    return root


def test_a_run_directory_names_its_latest_checkpoint(tmp_path):
    run = _run_dir(tmp_path / "run", [2, 4])
    latest = str(run / "checkpoints" / "step_00000004.pt")
    assert json.loads((run / "checkpoints" / "latest.json").read_text()) == {"checkpoint": "step_00000004.pt",
                                                                           "step": 4}
    assert checkpoints.latest_checkpoint(str(run)) == latest
    assert checkpoints.resolve_checkpoint(str(run)) == latest
    assert checkpoints.resolve_checkpoint(str(run / "checkpoints")) == latest
    assert checkpoints.resolve_checkpoint(str(run / "checkpoints") + "/") == latest
    older = str(run / "checkpoints" / "step_00000002.pt")
    assert checkpoints.resolve_checkpoint(older) == older


def test_what_names_no_checkpoint_is_one_clear_error(tmp_path):
    run = _run_dir(tmp_path / "run", [4])
    (run / "checkpoints" / "step_00000004.pt").unlink()
    with pytest.raises(FileNotFoundError, match="latest.json names .*step_00000004.pt, which does not exist"):
        checkpoints.resolve_checkpoint(str(run))
    with pytest.raises(FileNotFoundError, match="is neither a checkpoint file nor a training directory with "
                                                "checkpoints/latest.json"):
        checkpoints.resolve_checkpoint(str(_run_dir(tmp_path / "empty", [])))
    with pytest.raises(FileNotFoundError, match="^checkpoint '.*missing.pt' does not exist$"):
        checkpoints.resolve_checkpoint(str(tmp_path / "missing.pt"))
    assert checkpoints.latest_checkpoint(str(tmp_path / "nowhere")) is None
