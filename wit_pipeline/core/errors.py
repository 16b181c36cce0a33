"""A command's failure told in one line, its full traceback kept in a file.

An exception raised inside a pipeline step reaches the command in one of two shapes,
by Beam's running mode:

- in_memory: re-raised in this process as the same type with " [while running 'STEP']"
  appended (Beam raises that copy while handling the original, its `__context__`);
- multi_threading, multi_processing: a RuntimeError whose text is the worker's
  traceback: the original exception, then Beam's re-raise of it with the step appended.

`root_cause` finds the original's type and message in both, so a bad input found by a
worker (a ValueError or FileNotFoundError) is still one line and exit status 2 in every
mode, and anything else is one line naming its type, exit status 1, with the traceback
in `OUT/_logs/error.txt` (`save_traceback`). Beam logs each such exception itself, with
its traceback, once per layer it crosses (hundreds of lines); `HeldBackBeamErrors` keeps
those records out of the terminal for the command's run and hands them to the traceback
file (Beam's worker also prints the traceback: `options.quiet_worker_tracebacks`).
`WIT_DEBUG=1` turns all of it off: Beam logs and prints as it does, and the dispatcher
prints the traceback instead of writing the file.
"""
from __future__ import annotations

import builtins
import dataclasses
import datetime
import logging
import os
import re
import sys
import tempfile
import traceback

from wit_pipeline.core import files

INPUT_ERRORS = (ValueError, FileNotFoundError)
ERROR_LOG = "_logs/error.txt"

# Beam's step suffix: at the end, or inside the closing quote of a KeyError's repr'd message.
_STEP_SUFFIX = re.compile(r"(?: \[while running '.*?'\])+(?=[\"']?\s*$)", re.DOTALL)
_CHAINED = re.compile(r"\n\s*\n(?:During handling of the above exception, another exception occurred|"
                      r"The above exception was the direct cause of the following exception):\s*\n")
_TRACEBACK = "Traceback (most recent call last):"
_EXCEPTION_LINE = re.compile(r"([A-Za-z_][\w.]*)(?:: (.*))?$", re.DOTALL)
# What every multi_processing worker logs as it starts, through the local job service, on
# every run: Beam's own chatter, never about the user's pipeline.
_WORKER_STARTUP_NOISE = ("No semi_persistent_directory found", "Discarding unparseable args")


def debugging() -> bool:
    """WIT_DEBUG=1: show Beam's logs and the traceback on the terminal, as they come."""
    return os.environ.get("WIT_DEBUG", "") not in ("", "0")


@dataclasses.dataclass(frozen=True)
class RootCause:
    type_name: str         # as Python prints it: RuntimeError, queries.dumps.DumpError
    message: str           # without Beam's step suffix
    kind: type | None      # the class, when this process knows it

    @property
    def is_input_error(self) -> bool:
        return self.kind is not None and issubclass(self.kind, INPUT_ERRORS)

    def one_line(self) -> str:
        """An input error: its own message (ours are one line). Anything else: its type and
        the first line of its message (the rest is in the traceback)."""
        if self.is_input_error:
            return self.message.strip() or self.type_name
        lines = [line.strip() for line in self.message.strip().splitlines() if line.strip()]
        if not lines:
            return self.type_name
        return f"{self.type_name}: {lines[0]}" + (" (...)" if len(lines) > 1 else "")


def root_cause(exc: BaseException) -> RootCause:
    """The exception `exc` stands for: the one raised in the pipeline step, when it is Beam's report of one."""
    while getattr(exc, "_tagged_with_step", False) and exc.__context__ is not None:
        exc = exc.__context__
    text = str(exc)
    if _TRACEBACK in text:
        found = _from_traceback_text(text)
        if found is not None:
            return found
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ in ("builtins", "__main__") else f"{kind.__module__}.{kind.__qualname__}"
    return RootCause(name, _STEP_SUFFIX.sub("", text), kind)


def _from_traceback_text(text: str) -> RootCause | None:
    """The original exception of a worker's traceback text: the one before Beam's re-raise
    with the step appended, else the last one."""
    blocks = [block for block in _CHAINED.split(text) if _TRACEBACK in block]
    if not blocks:
        return None
    chosen = blocks[-1]
    for index in range(len(blocks) - 1, -1, -1):
        if " [while running '" in _exception_text(blocks[index]):
            chosen = blocks[index - 1] if index > 0 else blocks[index]
            break
    match = _EXCEPTION_LINE.match(_exception_text(chosen))
    if match is None:
        return None
    name, message = match.group(1), match.group(2) or ""
    return RootCause(name, _STEP_SUFFIX.sub("", message), _known_class(name))


def _exception_text(block: str) -> str:
    """What follows a traceback's frames (indented lines): `Type: message`, maybe several lines."""
    lines = block[block.index(_TRACEBACK) + len(_TRACEBACK):].strip("\n").split("\n")
    start = next((i for i, line in enumerate(lines) if line and not line[0].isspace()), len(lines))
    return "\n".join(lines[start:]).strip()


def _known_class(name: str) -> type | None:
    """The class a traceback names, if its module is loaded here (nothing is imported for it)."""
    parts = name.split(".")
    candidates = [(builtins, parts)] if len(parts) == 1 else []
    candidates += [(sys.modules.get(".".join(parts[:i])), parts[i:]) for i in range(len(parts) - 1, 0, -1)]
    for module, path in candidates:
        found = module
        for attribute in path:
            found = getattr(found, attribute, None)
        if isinstance(found, type) and issubclass(found, BaseException):
            return found
    return None


class HeldBackBeamErrors(logging.Filter):
    """Keeps Beam's ERROR records (its logs of a failing step) off the terminal while active.

    A filter on the root logger's handlers, where every logger's records arrive. The records
    are kept, not dropped: the traceback file gets them when the command fails (`take`), and
    they are logged after all if it succeeds. Nested commands (`wit run` runs each stage
    through the dispatcher) each keep their own.
    """

    _active: list["HeldBackBeamErrors"] = []

    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self._handlers: list[logging.Handler] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("apache_beam"):
            return True
        if record.levelno < logging.ERROR:
            return not any(noise in record.getMessage() for noise in _WORKER_STARTUP_NOISE)
        holder = HeldBackBeamErrors._active[-1]  # the innermost command, whichever filter sees it first
        if record not in holder.records:  # one record passes each handler
            holder.records.append(record)
        return False

    def __enter__(self) -> "HeldBackBeamErrors":
        if not debugging():
            self._handlers = list(logging.getLogger().handlers)
            for handler in self._handlers:
                handler.addFilter(self)
            HeldBackBeamErrors._active.append(self)
        return self

    def __exit__(self, *exc) -> None:
        if self in HeldBackBeamErrors._active:
            HeldBackBeamErrors._active.remove(self)
        for handler in self._handlers:
            handler.removeFilter(self)
        for record in self.take():  # the command did not fail on them: nothing is hidden
            logging.getLogger(record.name).handle(record)

    def take(self) -> list[logging.LogRecord]:
        records, self.records = self.records, []
        return records


def save_traceback(out: str | None, command: str, argv: list[str], exc: BaseException,
                   beam_log: list[logging.LogRecord]) -> str:
    """Write the traceback (and Beam's held-back log of it) to OUT/_logs/error.txt, or to a
    temporary file when there is no OUT to write to; return where it went."""
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    when = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    text = (f"wit {command} {' '.join(argv)}\nfailed at {when}\n\n" + "".join(traceback.format_exception(exc))
            + "".join(f"\nBeam's log of it:\n{formatter.format(record)}\n" for record in beam_log))
    if out and files.is_directory(out):
        path = files.join(out, ERROR_LOG)
        try:
            files.makedirs(files.join(out, "_logs"))
            files.write_bytes(path, text.encode())
            return path
        except Exception:  # noqa: BLE001 - OUT itself may be what failed (full disk, lost bucket)
            pass
    handle, path = tempfile.mkstemp(prefix=f"wit-{command}-error-", suffix=".txt")
    with os.fdopen(handle, "w") as f:
        f.write(text)
    return path
