"""`OUT/log.jsonl`, the training log: one JSON object per line (`step`, `loss`, `lr`, ...,
and the zero-shot results of each evaluation), written by rank 0 only."""
from __future__ import annotations

import json
import os

from wit_pipeline.core import files


class JsonlLog:
    """Append-only JSON-lines log; on object stores (no append) rewritten whole at each flush."""

    def __init__(self, path: str, resume_step: int | None = None):
        """A fresh log, or with `resume_step` the existing one without records past that step
        (a run stopped after logging steps its last checkpoint does not hold)."""
        self.path = path
        self.local = files.is_local(path)
        self.lines = []
        if resume_step is not None and files.exists(path):
            self.lines = [line for line in files.read_bytes(path).decode("utf-8").splitlines()
                          if line.strip() and json.loads(line).get("step", 0) <= resume_step]
        if self.local:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self.file = open(path, "w", encoding="utf-8")
            self.file.writelines(line + "\n" for line in self.lines)
            self.file.flush()

    def write(self, record: dict) -> None:
        line = json.dumps(record, sort_keys=True)
        if self.local:
            self.file.write(line + "\n")
            self.file.flush()
        else:
            self.lines.append(line)

    def flush(self) -> None:
        if not self.local:
            files.write_bytes(self.path, ("\n".join(self.lines) + "\n").encode())

    def close(self) -> None:
        self.flush()
        if self.local:
            self.file.close()
