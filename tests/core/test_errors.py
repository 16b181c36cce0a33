"""A failure inside a pipeline step ends a command in one line (core/errors, wit_pipeline/cli.py),
in every running mode: bad input (a ValueError or FileNotFoundError) with its own message and
exit status 2, anything else naming its type, exit status 1, its traceback in OUT/_logs/error.txt."""
import logging
import os
import subprocess
import sys

import apache_beam as beam
import pytest

from queries import dumps
from wit_pipeline.core import errors
from wit_pipeline.core.options import make_pipeline, pipeline_options
from wit_pipeline.run.worlds import wiki as synthetic

MODES = ["in_memory", "multi_threading", "multi_processing"]


class TwoPartError(Exception):
    """Beam cannot rebuild it with the step appended (two arguments): it reports a RuntimeError instead."""

    def __init__(self, part, whole):
        super().__init__(f"part {part} of {whole} is gone")


def _raise(kind):
    def step(_):
        if kind == "key":
            raise KeyError("caption")
        if kind == "two-part":
            raise TwoPartError(3, 7)
        raise ValueError("row 4: not a url")
    return step


def _failure(kind: str, mode: str) -> BaseException:
    pipeline = make_pipeline(pipeline_options(["--direct_running_mode", mode, "--direct_num_workers", "2"]))
    _ = pipeline | beam.Create([1]) | "Boom" >> beam.Map(_raise(kind))
    with pytest.raises(Exception) as caught:
        pipeline.run().wait_until_finish()
    return caught.value


@pytest.mark.parametrize("mode", ["in_memory", "multi_threading"])
def test_root_cause_is_the_exception_the_step_raised(mode):
    key = errors.root_cause(_failure("key", mode))
    assert (key.type_name, key.kind, key.is_input_error, key.one_line()) == ("KeyError", KeyError, False,
                                                                             "KeyError: 'caption'")
    value = errors.root_cause(_failure("value", mode))
    assert (value.kind, value.is_input_error, value.one_line()) == (ValueError, True, "row 4: not a url")
    two_part = errors.root_cause(_failure("two-part", mode))
    assert two_part.kind is TwoPartError
    assert two_part.one_line() == f"{__name__}.TwoPartError: part 3 of 7 is gone"


def test_root_cause_of_traceback_text_from_another_process():
    text = ('Traceback (most recent call last):\n  File "x.py", line 1, in f\n    raise it\n'
            'queries.dumps.DumpError: d.xml: malformed XML\nafter 0 pages\n\n'
            'During handling of the above exception, another exception occurred:\n\n'
            'Traceback (most recent call last):\n  File "y.py", line 2, in g\n'
            "queries.dumps.DumpError: d.xml: malformed XML\nafter 0 pages [while running 'Read']\n")
    cause = errors.root_cause(RuntimeError(text))
    assert (cause.type_name, cause.kind, cause.message) == ("queries.dumps.DumpError", dumps.DumpError,
                                                            "d.xml: malformed XML\nafter 0 pages")
    unknown = errors.root_cause(RuntimeError(text.replace("queries.dumps.DumpError", "gone.module.Error")))
    assert unknown.kind is None and not unknown.is_input_error
    assert unknown.one_line() == "gone.module.Error: d.xml: malformed XML (...)"


def test_beam_error_records_are_held_back_and_logged_after_a_success(caplog):
    beam_log = logging.getLogger("apache_beam.runners.common")
    with caplog.at_level(logging.WARNING):
        with errors.HeldBackBeamErrors() as outer:
            with errors.HeldBackBeamErrors() as inner:
                beam_log.error("step failed")
                logging.getLogger("apache_beam.runners.portability.local_job_service").warning(
                    "Worker: No semi_persistent_directory found: ...")
                logging.getLogger("wit").error("ours")
                assert [r.getMessage() for r in inner.records] == ["step failed"] and outer.records == []
                assert [r.getMessage() for r in caplog.records] == ["ours"]
                taken = inner.take()
            beam_log.error("later")
            assert [r.getMessage() for r in outer.records] == ["later"]
        assert [r.getMessage() for r in taken] == ["step failed"]
        assert [r.getMessage() for r in caplog.records] == ["ours", "later"]  # not failed on: logged


HOOK = """
import os
if os.environ.get("WIT_TEST_BREAK"):
    from wit_pipeline.download import pipeline

    def broken(self, spec):
        raise OSError(28, "No space left on device")
        yield

    pipeline.DownloadShardFn.process = broken
"""


def _download(tmp_path, mode: str) -> subprocess.CompletedProcess:
    """`wit download` with its shard step broken in every process (workers included): a
    sitecustomize module runs in each interpreter that starts with it on the path."""
    (tmp_path / "hook").mkdir(exist_ok=True)
    (tmp_path / "hook" / "sitecustomize.py").write_text(HOOK)
    (tmp_path / "urls.csv").write_text("url,caption\nhttp://127.0.0.1:9/a.jpg,a red circle\n")
    path = os.pathsep.join([str(tmp_path / "hook"), *filter(None, [os.environ.get("PYTHONPATH")])])
    return subprocess.run(
        [sys.executable, "-m", "wit_pipeline.cli", "download", "--url-list", str(tmp_path / "urls.csv"),
         "--out", str(tmp_path / "out"), "--direct_running_mode", mode,
         *(["--direct_num_workers", "2"] if mode != "in_memory" else [])],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=path, WIT_TEST_BREAK="1"))


@pytest.mark.parametrize("mode", MODES)
def test_an_unexpected_error_in_a_worker_is_one_line_with_the_traceback_kept(tmp_path, mode):
    result = _download(tmp_path, mode)
    log = tmp_path / "out" / "_logs" / "error.txt"
    assert (result.returncode, result.stderr) == (
        1, f"wit download: error: OSError: [Errno 28] No space left on device (full traceback: {log})\n")
    text = log.read_text()
    assert text.startswith("wit download --url-list ")
    assert 'sitecustomize.py", line' in text and "in broken" in text  # the worker's own frames
    assert "OSError: [Errno 28] No space left on device [while running 'Download/Fetch/DownloadShards']" in text
    assert "Beam's log of it:" in text
    assert not (tmp_path / "out" / ".wit.lock").exists()


def test_a_malformed_dump_read_by_a_worker_process_is_exit_2(tmp_path):
    xml = "".join(synthetic.dump_xml([synthetic.Page("A", "text")])).replace("</title>", "</titel>", 1)
    (tmp_path / "broken.xml").write_text(xml, "utf-8")
    result = subprocess.run([sys.executable, "-m", "wit_pipeline.cli", "queries", "--wiki-dump",
                             str(tmp_path / "broken.xml"), "--out", str(tmp_path / "q"),
                             "--direct_running_mode", "multi_processing", "--direct_num_workers", "2"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [  # its progress line, then the error; no traceback, no Beam log
        "wit queries: 1 dump file(s)/range(s) to read",
        f"wit queries: error: {tmp_path / 'broken.xml'}: malformed XML after 0 pages: mismatched tag: line 10, column 14"]


def test_wit_debug_shows_the_traceback_instead(tmp_path, monkeypatch, capsys):
    from wit_pipeline import cli
    from wit_pipeline.download import pipeline

    def broken(self, spec):
        raise OSError(28, "No space left on device")
        yield

    monkeypatch.setattr(pipeline.DownloadShardFn, "process", broken)
    monkeypatch.setenv("WIT_DEBUG", "1")
    (tmp_path / "urls.csv").write_text("url,caption\nhttp://127.0.0.1:9/a.jpg,a red circle\n")
    assert cli.main(["download", "--url-list", str(tmp_path / "urls.csv"), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "in broken" in err
    assert err.splitlines()[-1] == "wit download: error: OSError: [Errno 28] No space left on device"
    assert not (tmp_path / "out" / "_logs").exists()


def test_without_an_out_directory_the_traceback_goes_to_a_temporary_file(tmp_path, monkeypatch, capsys):
    from wit_pipeline import cli
    from wit_pipeline.download import verify_command

    def broken(args, beam_argv):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(verify_command, "main", broken)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    assert cli.main(["shards", "verify", str(tmp_path / "*.tar")]) == 1
    line = capsys.readouterr().err
    saved = [p for p in tmp_path.iterdir() if p.name.startswith("wit-shards-error-")]
    assert len(saved) == 1
    assert line == f"wit shards: error: ZeroDivisionError: division by zero (full traceback: {saved[0]})\n"
    assert 'in broken\n    raise ZeroDivisionError("division by zero")' in saved[0].read_text()
