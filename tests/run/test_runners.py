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

from wit_pipeline.run.worlds.wiki import Page, write_dump
from wit_pipeline.run.worlds import shapes as shapes_world
from wit_pipeline.cli import main as wit
from wit_pipeline.run.loopback import send, serve
from tests.dedup.fixtures import random_weights
from tests.download.test_download import jpeg

ROOT = pathlib.Path(__file__).resolve().parents[2]
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


@pytest.fixture(scope="module")
def shard_inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runner-shards")
    shapes_world.write_shards(str(root / "shards"), n_samples=24, samples_per_shard=12, size=32)
    shapes_world.write_image_folder(str(root / "eval"), per_class=1, size=32)
    return root


def stage_argv(stage, inputs, out):
    if stage in ("dedup", "audit"):
        # Weights given as a file turn the embedding detector (RunInference) on; `none` would not.
        return [stage, "--shards", str(inputs / "shards"), "--eval", f"shapes={inputs / 'eval'}", "--out", out,
                "--clip-model", "wit-tiny", "--clip-pretrained", random_weights(inputs, "wit-tiny"),
                "--device", "cpu", "--cache-dir", str(pathlib.Path(out).parent / "cache")]
    return {
        "queries": ["queries", "--wiki-dump", str(inputs / "dump.xml"), "--min-word-count", "20", "--out", out],
        "harvest": ["harvest", "--queries", str(inputs / "queries.txt"), "--url-list", str(inputs / "urls.csv"),
                    "--out", out],
        "download": ["download", "--url-list", str(inputs / "urls.csv"), "--allow-private-networks",
                     "--samples-per-shard", "4", "--image-size", "32", "--out", out],
    }[stage]


COMPOSITES = {"queries": "BuildQueries", "harvest": "Harvest", "download": "Download"}


def record_dataflow_jobs(monkeypatch) -> list:
    built = []
    original = dataflow_runner.DataflowRunner.run_pipeline

    def recording(self, pipeline, options):
        result = original(self, pipeline, options)
        built.append(self.proto_pipeline)
        return result

    monkeypatch.setattr(dataflow_runner.DataflowRunner, "run_pipeline", recording)
    return built


def transform_names(proto) -> set[str]:
    return {t.unique_name for t in proto.components.transforms.values()}


@pytest.mark.parametrize("stage", list(COMPOSITES))
def test_dataflow_dry_run_builds_the_job(stage, inputs, tmp_path, monkeypatch, capsys):
    built = record_dataflow_jobs(monkeypatch)
    assert wit(stage_argv(stage, inputs, str(tmp_path / "out")) + DATAFLOW) == 0
    assert "dry run: the pipeline was built and validated for DataflowRunner" in capsys.readouterr().out
    assert len(built) == 1
    assert COMPOSITES[stage] in transform_names(built[0])


@pytest.mark.parametrize("stage", ["dedup", "audit"])
def test_dataflow_dry_run_builds_embedding_and_detection_jobs(stage, shard_inputs, tmp_path, monkeypatch, capsys):
    """Embeddings first (RunInference); with them cached, the overlap detection pipeline."""
    local = tmp_path / "inputs"
    shapes_world.write_shards(str(local / "shards"), n_samples=24, samples_per_shard=12, size=32)
    shapes_world.write_image_folder(str(local / "eval"), per_class=1, size=32)
    built = record_dataflow_jobs(monkeypatch)
    # GPU-worker options as in the README's recipe must pass Dataflow's validation too.
    gpu = ["--sdk_container_image", "us-docker.pkg.dev/wit-test/wit/wit-gpu:0.1.0", "--sdk_location", "container",
           "--dataflow_service_options", "worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver",
           "--machine_type", "g2-standard-8"]
    assert wit(stage_argv(stage, local, str(tmp_path / "dry1")) + DATAFLOW + gpu) == 0
    assert "RunInference" in " ".join(transform_names(built[-1]))
    assert wit(stage_argv(stage, local, str(tmp_path / "local"))) == 0  # fills the embedding caches
    assert wit(stage_argv(stage, local, str(tmp_path / "dry2")) + DATAFLOW) == 0
    assert len(built) == 2 and "Audit" in transform_names(built[-1])
    assert capsys.readouterr().out.count("nothing was submitted") == 2


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
@pytest.mark.parametrize("stage", [*COMPOSITES, "dedup", "audit"])
def test_portable_runners_give_the_direct_runners_outputs(stage, runner, inputs, shard_inputs, job_service, tmp_path):
    inputs = shard_inputs if stage in ("dedup", "audit") else inputs
    assert wit(stage_argv(stage, inputs, str(tmp_path / "direct"))) == 0
    for cached in inputs.rglob("*.npz"):  # embeddings written next to the shards: recompute them
        cached.unlink()
    portable = ["--runner", runner, "--job_endpoint", job_service, "--environment_type", "LOOPBACK"]
    assert wit(stage_argv(stage, inputs, str(tmp_path / "portable")) + portable) == 0
    expected = outputs(tmp_path / "direct")
    assert expected, f"{stage} wrote nothing comparable"
    assert outputs(tmp_path / "portable") == expected
