"""`python -m wit_pipeline.open_clip_compat ARGS...` == `python -m open_clip_train.main ARGS...`,
working with the webdataset version this project installs.

open_clip_train declares `webdataset<=0.2.86`. From webdataset 0.2.96 on, the tar reader
emits an empty `{}` record at the end of every shard, which open_clip_train's own
`group_by_keys_nothrow` does not expect (KeyError: 'fname'; open_clip issue #935,
webdataset issue #384). The fix the open_clip maintainers give is `eof_value=None`,
applied here before open_clip_train imports the reader. With webdataset <= 0.2.86
nothing is changed and plain `python -m open_clip_train.main` works on our shards too.
"""
from __future__ import annotations

import functools
import inspect
import runpy
import sys


def patch_webdataset_eof() -> bool:
    """Make webdataset's tar reader emit no end-of-shard record; True when a patch was needed."""
    import webdataset.tariterators as tariterators

    expander = tariterators.tar_file_expander
    if "eof_value" not in inspect.signature(expander).parameters or isinstance(expander, functools.partial):
        return False
    tariterators.tar_file_expander = functools.partial(expander, eof_value=None)
    return True


def main() -> None:
    patch_webdataset_eof()
    sys.argv[0] = "open_clip_train.main"
    runpy.run_module("open_clip_train.main", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
