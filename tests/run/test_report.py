import json

import pytest

from wit_pipeline.cli import main as wit
from wit_pipeline.run.report import write_report


def test_partial_run_reports_missing_stages(tmp_path):
    (tmp_path / "download").mkdir()
    (tmp_path / "download" / "stats.json").write_text(json.dumps(
        {"count": 10, "successes": 7, "failed": 3, "status": {"success": 7, "http_404": 3}, "shards": 1}))
    report = write_report(str(tmp_path))
    assert report["stages_missing"] == ["queries", "harvest", "dedup", "train"]
    assert report["download"]["status"] == {"success": 7, "http_404": 3}
    page = (tmp_path / "report.html").read_text()
    assert "http_404" in page and "Stages not run" in page
    assert json.loads((tmp_path / "report.json").read_text()) == report


def test_empty_or_missing_directory_is_an_error(tmp_path, capsys):
    with pytest.raises(ValueError, match="holds no stage output"):
        write_report(str(tmp_path))
    assert wit(["report", str(tmp_path / "nope")]) == 2
    assert "no such run directory" in capsys.readouterr().err


def test_wit_report_names_the_page_and_each_stage(tmp_path, capsys):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "stats.json").write_text(json.dumps({"steps": 3, "first_loss": 4.0, "final_loss": 3.5}))
    assert wit(["report", str(tmp_path)]) == 0
    assert capsys.readouterr().out == (f"== wit report == {tmp_path / 'report.html'}\nqueries: missing\n"
                                       "harvest: missing\ndownload: missing\ndedup: missing\ntrain: ok\n")
    assert json.loads((tmp_path / "report.json").read_text())["train"]["steps"] == 3
