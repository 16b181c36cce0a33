"""Bad input found while the pipeline runs, turned back into one line for the user.

A dump, pageview file or WordNet file that cannot be used raises one of
`INPUT_ERRORS` inside a worker. The in-process runner re-raises it with
" [while running 'STEP']" appended; other runners wrap it in their own exception
whose text holds the worker's traceback, ending in `module.ErrorName: message`.
Either way the user gets the message alone (`wit queries: error: FILE: ...`, exit 2),
and Beam's own log of the same exception (a long traceback) is held back.
"""
from __future__ import annotations

import logging
import re

from queries.dumps import DumpError
from queries.pageviews import PageviewError
from queries.wordnet import WordNetError

INPUT_ERRORS = (DumpError, PageviewError, WordNetError)
_WRAPPED = re.compile(r"(?:" + "|".join(e.__name__ for e in INPUT_ERRORS) + r"): (.+)")
_STEP_SUFFIX = re.compile(r" \[while running '[^']*'\]$")
# Where Beam logs a failing DoFn's exception before re-raising it: in process, and the
# local job service relaying a worker process's log.
BEAM_LOGGERS = ("apache_beam.runners.common", "apache_beam.runners.portability.local_job_service")


def input_error_message(exc: BaseException) -> str | None:
    """The one-line message of the input error `exc` stands for, or None if it is another failure."""
    if isinstance(exc, INPUT_ERRORS):
        return _STEP_SUFFIX.sub("", str(exc).strip())
    found = _WRAPPED.findall(str(exc))
    return _STEP_SUFFIX.sub("", found[-1].strip()) if found else None


class HoldBackInputErrors(logging.Filter):
    """Drops Beam's log records of an input error: the command reports it in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], INPUT_ERRORS):
            return False
        return not _WRAPPED.search(record.getMessage())
