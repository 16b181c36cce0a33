"""core/console: the progress line every stage uses, notes, and the closing summary."""
import io
import json
import threading

from wit_pipeline.core import console


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_counts_statuses_total_rate_and_extra_fields(monkeypatch):
    monkeypatch.setattr(console.time, "monotonic", lambda: 100.0)
    stream = _Terminal()
    progress = console.Progress("download", 10, stream=stream)
    for status in ("success", "success", "http_404", "success"):
        progress.update(status)
    progress.update("success", 2, rate_limited=3)
    assert stream.getvalue() == ""  # no time passed: under `interval`, nothing printed yet
    assert progress.line(110.0) == "download: 6/10 rows, 0.6/s (success 5, http_404 1), rate_limited 3"


def test_progress_prints_at_most_every_interval_and_closes_with_the_final_state(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(console.time, "monotonic", lambda: now[0])
    stream = _Terminal()
    progress = console.Progress("train", 300, unit="steps", initial=100, stream=stream)
    for step in range(10):
        now[0] = step * 0.5
        progress.update(loss=4.123456, epoch=0)
    assert stream.getvalue().splitlines() == ["train: 105/300 steps, 2.5/s, loss 4.123, epoch 0",
                                              "train: 109/300 steps, 2.2/s, loss 4.123, epoch 0"]
    progress.close()
    assert stream.getvalue().splitlines()[-1] == "train: 110/300 steps, 2.2/s, loss 4.123, epoch 0"
    progress.close()  # nothing new: no second final line
    assert len(stream.getvalue().splitlines()) == 3


def test_progress_is_quiet_off_a_terminal_unless_asked():
    log_file = io.StringIO()  # no isatty(): a file, a pipe, a CI log
    quiet = console.Progress("download", stream=log_file, interval=0)
    quiet.update("success")
    quiet.close()
    assert log_file.getvalue() == "" and quiet.done == 1 and quiet.counts == {"success": 1}
    asked = console.Progress("download", stream=log_file, interval=0, show=True)
    asked.update("success")
    assert log_file.getvalue() == "download: 1 rows, " + log_file.getvalue().split(", ", 1)[1]
    silenced = console.Progress("download", stream=_Terminal(), interval=0, show=False)
    silenced.update("success")
    assert silenced.stream.getvalue() == ""


def test_progress_counts_every_update_from_many_threads():
    progress = console.Progress("download", show=False)

    def work():
        for _ in range(1000):
            progress.update("success")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert progress.done == 4000 and progress.counts == {"success": 4000}


def test_say_and_finish(tmp_path, capsys):
    console.say("wit train", "resumed from step 5")
    stats = {"steps": 1200, "loss": 0.123456, "skipped": {"no_image": 2}, "ok": True}
    console.finish(str(tmp_path), "wit train", stats)
    captured = capsys.readouterr()
    assert captured.err == "wit train: resumed from step 5\n"
    assert captured.out == "== wit train ==\nsteps: 1,200\nloss: 0.1235\nskipped:\n  no_image: 2\nok: True\n"
    assert json.loads((tmp_path / "stats.json").read_text()) == stats
