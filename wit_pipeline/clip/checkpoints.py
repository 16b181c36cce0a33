"""Where a training run keeps its checkpoints, and which file a `--checkpoint` value names.

A `wit train --out OUT` run writes `OUT/checkpoints/step_NNNNNNNN.pt` and
`OUT/checkpoints/latest.json` naming the newest. `wit eval --checkpoint` and
`wit audit --zero-shot-checkpoint` take a checkpoint file or such a run directory.
No torch here: commands resolve their checkpoint before the heavy imports. The file
format itself (`save_checkpoint`, `read_checkpoint`) is in models.py.
"""
from __future__ import annotations

import os

from wit_pipeline.core import files

CHECKPOINT_DIR = "checkpoints"
LATEST = "latest.json"


def checkpoint_name(step: int) -> str:
    return f"step_{step:08d}.pt"


def latest_checkpoint(out: str) -> str | None:
    """Path of the newest checkpoint of a training run directory, or None."""
    pointer = files.join(out, CHECKPOINT_DIR, LATEST)
    if not files.exists(pointer):
        return None
    return files.join(out, CHECKPOINT_DIR, files.read_json(pointer)["checkpoint"])


def write_latest(checkpoint_dir: str, step: int) -> None:
    """Point `latest.json` at the checkpoint of `step` (written before, so a reader never
    finds a pointer to a file that is not there yet)."""
    files.write_json(files.join(checkpoint_dir, LATEST), {"checkpoint": checkpoint_name(step), "step": step})


def resolve_checkpoint(path: str) -> str:
    """The checkpoint file a `--checkpoint` value names: a checkpoint file, or a training
    run directory (`wit train --out`; also its `checkpoints/` folder): its latest checkpoint.

    Reads no checkpoint, so it is cheap to call before the long work.
    """
    run_dir = path.rstrip("/")
    if run_dir.endswith("/" + CHECKPOINT_DIR) or run_dir == CHECKPOINT_DIR:
        run_dir = run_dir[: -len(CHECKPOINT_DIR)].rstrip("/") or "."
    latest = latest_checkpoint(run_dir)
    if latest is not None:
        if not files.exists(latest):
            raise FileNotFoundError(f"{path!r}: its {CHECKPOINT_DIR}/{LATEST} names {latest}, which does not exist")
        return latest
    if files.is_local(path) and os.path.isdir(path):
        raise FileNotFoundError(f"{path!r} is neither a checkpoint file nor a training directory with "
                                f"{CHECKPOINT_DIR}/{LATEST}")
    if not files.exists(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist")
    return path
