import pytest
import yaml

from wit_pipeline.run.worlds.wiki import Page, write_dump
from wit_pipeline.cli import main as wit
from wit_pipeline.run.chain import ConfigError, plan


def test_config_keys_become_each_stages_flags(tmp_path):
    steps = dict(plan({
        "out": str(tmp_path),
        "beam": ["--direct_num_workers", "2"],
        "harvest": {"warc": ["a/*.warc.gz", "b/*.warc.gz"], "per_query_cap": 5, "allow_private_networks": True,
                    "ignore_robots": False},
        "download": {"image_size": 64},
        "dedup": {"eval": {"cifar": "/data/cifar", "stl": "/data/stl"}},
    }))
    assert steps["harvest"] == ["--queries", f"{tmp_path}/queries/queries.parquet", "--out", f"{tmp_path}/harvest",
                                "--warc", "a/*.warc.gz", "--warc", "b/*.warc.gz", "--per-query-cap", "5",
                                "--allow-private-networks", "--direct_num_workers", "2"]
    assert steps["download"][:4] == ["--candidates", f"{tmp_path}/harvest/candidates-*.parquet", "--out",
                                     f"{tmp_path}/download"]
    assert "--eval" in steps["dedup"] and "cifar=/data/cifar" in steps["dedup"] and "stl=/data/stl" in steps["dedup"]


@pytest.mark.parametrize("config,message", [
    ({"out": "x", "harvest": {"per_query_capp": 3}}, "'harvest.per_query_capp' is not an option of `wit harvest` "
                                                     "(did you mean per_query_cap?)"),
    ({"out": "x", "download": {"allow_private_networks": "yes"}}, "'download.allow_private_networks' is a switch"),
    ({"out": "x", "download": {"out": "elsewhere"}}, "'download.out' is set by `wit run` itself"),
    ({"out": "x", "downlaod": {}}, "unknown top-level config key(s) ['downlaod']"),
    ({"download": {}}, "config key 'out'"),
    ({"out": "x"}, "names no stage"),
    ({"out": "x", "download": {"image_size": "big"}}, "config section 'download'"),
    ({"out": "x", "download": {"image_size": [1, 2]}}, "'download.image_size' takes one value"),
])
def test_bad_configs_name_the_key(config, message):
    with pytest.raises(ConfigError) as error:
        plan(config)
    assert message in str(error.value)


def test_run_skips_finished_stages(tmp_path, capsys):
    dump = write_dump(str(tmp_path / "dump.xml"), [Page("Red", "red circle " * 30), Page("Blue", "blue square " * 30)])
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"out": str(tmp_path / "run"),
                                      "queries": {"wiki_dump": [dump], "min_word_count": 30}}))
    assert wit(["run", "--config", str(config)]) == 0
    first = capsys.readouterr().out
    assert "-- queries: wit queries" in first
    assert (tmp_path / "run" / "queries" / "queries.parquet").exists()
    assert wit(["run", "--config", str(config)]) == 0
    assert "queries: finished earlier, skipped" in capsys.readouterr().out
    assert wit(["run", "--config", str(tmp_path / "missing.yaml")]) == 2


def test_invalid_yaml_is_reported(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("out: [unclosed\n")
    assert wit(["run", "--config", str(tmp_path / "bad.yaml")]) == 2
    assert "is not valid YAML" in capsys.readouterr().err


def test_run_config_adds_command_line_beam_options_to_every_stage(tmp_path, capsys):
    import argparse

    from wit_pipeline.run.command import RunConfig

    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"out": str(tmp_path / "run"), "beam": ["--direct_num_workers", "2"],
                                      "queries": {"wiki_dump": ["d.xml"]}, "download": {"image_size": 64}}))
    args = argparse.Namespace(config=str(config), force=True)
    run = RunConfig.from_args(args, ["--direct_running_mode", "in_memory"])
    assert run.out == str(tmp_path / "run") and run.force is True
    assert [stage for stage, _ in run.steps] == ["queries", "download"]
    assert all(argv[-4:] == ("--direct_num_workers", "2", "--direct_running_mode", "in_memory")
               for _, argv in run.steps)
    # A config that is no mapping is named as such, with or without command-line options.
    config.write_text("- just\n- a list\n")
    assert wit(["run", "--config", str(config), "--direct_num_workers", "2"]) == 2
    assert capsys.readouterr().err == "wit run: error: the config must be a mapping of keys to values\n"


def test_demo_flags_are_checked_before_anything_is_built(tmp_path, capsys):
    for flag in ("--pages", "--train-steps"):
        assert wit(["demo", "--out", str(tmp_path / "demo"), flag, "0"]) == 2
        assert capsys.readouterr().err == f"wit demo: error: {flag} must be >= 1, got 0\n"
    assert not (tmp_path / "demo").exists()
