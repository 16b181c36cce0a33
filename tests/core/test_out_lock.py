"""`wit eval --out`, `wit report OUT` and `wit demo` take OUT's lock before writing anything,
and refuse a held OUT with the message every other command gives (core/files.lock_out)."""
import pytest
from PIL import Image

from tests.core.fixtures import out_held_by_another_process
from wit_pipeline.cli import main as wit
from wit_pipeline.core import files


@pytest.fixture
def held(tmp_path):
    """OUT, locked by another live process."""
    with out_held_by_another_process(tmp_path / "out") as pid:
        yield tmp_path / "out", pid


def _refused(command: str, out, pid: int, err: str) -> None:
    assert err.startswith(f"wit {command}: error: {out} is in use by `wit download` (pid {pid} on this machine, "
                          f"since ")
    assert err.endswith("); wait for it to finish or use another --out\n") and err.count("\n") == 1


def test_eval_report_and_demo_refuse_a_held_out_and_write_nothing(held, tmp_path, capsys):
    out, pid = held
    for name in ("x", "y"):
        (tmp_path / "set" / name).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "set" / name / "0.png")
    assert wit(["eval", "--model", "wit-tiny", "--eval", f"s={tmp_path / 'set'}", "--out", str(out)]) == 2
    _refused("eval", out, pid, capsys.readouterr().err)
    assert wit(["report", str(out)]) == 2
    _refused("report", out, pid, capsys.readouterr().err)
    assert wit(["demo", "--out", str(out)]) == 2
    _refused("demo", out, pid, capsys.readouterr().err)
    assert sorted(p.name for p in out.iterdir()) == [files.LOCK_NAME]  # no world, no stats, no report


def test_report_holds_out_while_it_writes(tmp_path, monkeypatch, capsys):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "stats.json").write_text('{"steps": 3}')
    from wit_pipeline.run import report_command

    seen = []
    real = report_command.write_report
    monkeypatch.setattr(report_command, "write_report",
                        lambda out: seen.append((tmp_path / files.LOCK_NAME).exists()) or real(out))
    assert wit(["report", str(tmp_path)]) == 0
    assert seen == [True] and not (tmp_path / files.LOCK_NAME).exists()


def test_a_command_holding_out_may_run_others_into_it(tmp_path):
    """`wit demo` holds OUT and runs the chain there, which takes OUT's lock as `wit run` does."""
    out = str(tmp_path / "out")
    with files.releasing_locks():
        files.lock_out(out, "demo")
        with files.OutLock(out, "run"):  # the chain's lock: already this command's
            assert '"command": "wit demo"' in (tmp_path / "out" / files.LOCK_NAME).read_text()
        assert (tmp_path / "out" / files.LOCK_NAME).exists()  # still held: the inner lock released nothing
        other = files.OutLock(str(tmp_path / "other"), "run").acquire()
        with pytest.raises(files.OutLocked):  # OutLock alone is not reentrant: one winner among threads
            files.OutLock(str(tmp_path / "other"), "run").acquire()
        other.release()
    assert not (tmp_path / "out" / files.LOCK_NAME).exists()
