"""Helpers the core tests share."""
from __future__ import annotations

import contextlib
import subprocess
import sys

_HOLD = ("import sys, time\nfrom wit_pipeline.core import files\n"
         "files.lock_out(sys.argv[1], 'download')\nprint('locked', flush=True)\ntime.sleep(120)")


@contextlib.contextmanager
def out_held_by_another_process(out):
    """OUT locked by another live process, as `wit download` locks it; yields its pid.
    The process is killed when the block ends, leaving a stale lock behind."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()
