"""Each stage on the cluster runners' code paths, with no cluster and no downloads.

- Dataflow: `--runner DataflowRunner --dry_run true` translates the pipeline, applies
  Dataflow's overrides, builds the job and the sdist of this package from
  `--setup_file`, and stops before submission.
- Flink and Spark: given `--job_endpoint`, Beam's FlinkRunner/SparkRunner skip their
  job-server jar and submit the portable pipeline to that endpoint; here it is Beam's
  in-process LocalJobServicer, so the pipelines really run through the portable path
  and must give the DirectRunner's outputs.
"""
import pathlib

import pyarrow.parquet as pq
import pytest
from apache_beam.runners.dataflow import dataflow_runner
from apache_beam.runners.portability import local_job_service

from queries.synthetic import Page, write_dump
from wit_pipeline.cli import main as wit
from wit_pipeline.loopback import send, serve
from tests.test_download import jpeg

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATAFLOW = ["--runner", "DataflowRunner", "--dry_run", "true", "--project", "wit-test", "--region", "us-central1",
            "--temp_location", "gs://wit-test-bucket/tmp", "--setup_file", str(ROOT / "setup.py")]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runner-inputs")
    write_dump(str(root / "dump.xml"), [Page("Red circle", "the red circle is round " * 40),
                                        Page("Blue square", "a blue square has corners " * 40)])
    (root / "queries.txt").write_text("red circle\nblue square\nsquare\n")
    images = {f"/img/{i}.jpg": jpeg((120 + i, 90), (40 * i % 255, 90, 30)) for i in range(6)}
    with serve({path: (lambda data: lambda h: send(h, data))(data) for path, data in images.items()}) as server:
        (root / "urls.csv").write_text("url,caption\n" + "".join(
            f"{server.url(path)},a red circle or a blue square number {i}\n" for i, path in enumerate(images)))
        yield root


def stage_argv(stage, inputs, out):
    return {
        "queries": ["queries", "--wiki-dump", str(inputs / "dump.xml"), "--min-word-count", "20", "--out", out],
        "harvest": ["harvest", "--queries", str(inputs / "queries.txt"), "--url-list", str(inputs / "urls.csv"),
                    "--out", out],
        "download": ["download", "--url-list", str(inputs / "urls.csv"), "--allow-private-networks",
                     "--samples-per-shard", "4", "--image-size", "32", "--out", out],
    }[stage]


COMPOSITES = {"queries": "BuildQueries", "harvest": "Harvest", "download": "Download"}


@pytest.mark.parametrize("stage", list(COMPOSITES))
def test_dataflow_dry_run_builds_the_job(stage, inputs, tmp_path, monkeypatch, capsys):
    built = []
    original = dataflow_runner.DataflowRunner.run_pipeline

    def recording(self, pipeline, options):
        result = original(self, pipeline, options)
        built.append(self.proto_pipeline)
        return result

    monkeypatch.setattr(dataflow_runner.DataflowRunner, "run_pipeline", recording)
    assert wit(stage_argv(stage, inputs, str(tmp_path / "out")) + DATAFLOW) == 0
    assert "dry run: the pipeline was built and validated for DataflowRunner" in capsys.readouterr().out
    assert len(built) == 1
    names = {t.unique_name for t in built[0].components.transforms.values()}
    assert COMPOSITES[stage] in names


def outputs(out: pathlib.Path) -> dict:
    """Everything a stage wrote that must not depend on the runner."""
    found = {}
    for path in sorted(out.rglob("*")):
        if path.suffix == ".parquet" and "_inputs" not in path.parts:
            found[path.name] = pq.read_table(path).to_pylist()
        elif path.suffix in (".tar", ".txt"):
            found[path.name] = path.read_bytes()
    return found


@pytest.fixture(scope="module")
def job_service():
    servicer = local_job_service.LocalJobServicer()
    port = servicer.start_grpc_server()
    yield f"localhost:{port}"
    servicer.stop()


@pytest.mark.parametrize("runner", ["FlinkRunner", "SparkRunner"])
@pytest.mark.parametrize("stage", list(COMPOSITES))
def test_portable_runners_give_the_direct_runners_outputs(stage, runner, inputs, job_service, tmp_path):
    assert wit(stage_argv(stage, inputs, str(tmp_path / "direct"))) == 0
    portable = ["--runner", runner, "--job_endpoint", job_service, "--environment_type", "LOOPBACK"]
    assert wit(stage_argv(stage, inputs, str(tmp_path / "portable")) + portable) == 0
    expected = outputs(tmp_path / "direct")
    assert expected, f"{stage} wrote nothing comparable"
    assert outputs(tmp_path / "portable") == expected
