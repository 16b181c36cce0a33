"""The chain behind `wit run` and `wit demo`: queries -> harvest -> download -> dedup -> train,
from a config (`plan`) to runs of each stage through the dispatcher (`run_plan`).

Each stage section holds that stage's own CLI flags, snake_cased (`per_query_cap: 20000`
is `--per-query-cap 20000`), so the config reads like the commands it replaces. The
wiring between stages (`--queries`, `--candidates`, `--shards`, `--out`) is added here.
The whole config is checked against every stage's parser before anything runs, and
errors name the offending key.

Re-runs: each stage's fingerprint hashes its arguments and the run id of the upstream
stage's `_DONE.json` (harvest's upstream is queries, and so on). A stage is skipped when
its `_DONE.json` holds the current fingerprint. An unfinished stage (`_STARTED.json` with
the current fingerprint) is run again and resumes itself. A stage whose fingerprint
changed (its options, or an upstream stage ran again) has its earlier output removed and
runs from scratch, so no stage ever resumes or skips over outputs built from other
inputs; `--force` does that for every configured stage.

    out: runs/first              # stage outputs go to OUT/<stage>
    beam: [--direct_running_mode, in_memory]   # pipeline options for every stage
    queries: {wiki_dump: [dumps/*.bz2], wordnet: wn/}
    harvest: {warc: [crawl/*.warc.gz], per_query_cap: 20000}
    download: {image_size: 256}
    dedup: {eval: {imagenet: evals/imagenet}}
    train: {model: ViT-B-32, steps: 10000}
"""
from __future__ import annotations

import argparse
import difflib
import hashlib
import importlib
import json
import time
import uuid

from wit_pipeline.cli import COMMANDS
from wit_pipeline.core import files
from wit_pipeline.core.options import check_beam_arguments

STAGES = ("queries", "harvest", "download", "dedup", "train")
UPSTREAM = {"harvest": "queries", "download": "harvest", "dedup": "download", "train": "dedup"}
TOP_LEVEL = {"out", "beam", *STAGES}


class ConfigError(ValueError):
    pass


def _stage_parser(stage: str) -> argparse.ArgumentParser:
    module = importlib.import_module(COMMANDS[stage][0])
    parser = argparse.ArgumentParser(prog=f"wit {stage}", exit_on_error=False)
    module.add_arguments(parser)
    return parser


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {option: action for action in parser._actions for option in action.option_strings}


def _wiring(stage: str, out: str) -> list[str]:
    stage_out = files.join(out, stage)
    inputs = {
        "queries": [],
        "harvest": ["--queries", files.join(out, "queries", "queries.parquet")],
        "download": ["--candidates", files.join(out, "harvest", "candidates-*.parquet")],
        "dedup": ["--shards", files.join(out, "download", "*.tar")],
        "train": ["--shards", files.join(out, "dedup", "shards", "*.tar")],
    }[stage]
    return inputs + ["--out", stage_out]


def stage_argv(stage: str, section: dict, parser: argparse.ArgumentParser, wired: set[str]) -> list[str]:
    """Turn a config section into argv for the stage's parser; errors name the key."""
    options = _options(parser)
    argv: list[str] = []
    for key, value in section.items():
        flag = "--" + str(key).replace("_", "-")
        where = f"{stage}.{key}"
        if flag not in options:
            close = difflib.get_close_matches(flag, list(options), n=1)
            hint = f" (did you mean {close[0][2:].replace('-', '_')}?)" if close else ""
            raise ConfigError(f"config key {where!r} is not an option of `wit {stage}`{hint}")
        if flag in wired:
            raise ConfigError(f"config key {where!r} is set by `wit run` itself (it wires stage outputs)")
        action = options[flag]
        if isinstance(value, dict):  # eval: {name: path} -> NAME=PATH values
            value = [f"{name}={path}" for name, path in value.items()]
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            if not isinstance(value, bool):
                raise ConfigError(f"config key {where!r} is a switch: use true or false, not {value!r}")
            if value == isinstance(action, argparse._StoreTrueAction):
                argv.append(flag)
            continue
        values = value if isinstance(value, list) else [value]
        if not values:
            continue
        if isinstance(action, argparse._AppendAction):
            for item in values:
                argv += [flag, str(item)]
        elif action.nargs in ("+", "*") or isinstance(action.nargs, int):
            argv += [flag, *map(str, values)]
        elif len(values) == 1:
            argv += [flag, str(values[0])]
        else:
            raise ConfigError(f"config key {where!r} takes one value, got a list")
    return argv


def plan(config: dict) -> list[tuple[str, list[str]]]:
    """(stage, argv) for every configured stage, all validated before any runs."""
    if not isinstance(config, dict):
        raise ConfigError("the config must be a mapping of keys to values")
    unknown = sorted(set(config) - TOP_LEVEL)
    if unknown:
        raise ConfigError(f"unknown top-level config key(s) {unknown}; expected {sorted(TOP_LEVEL)}")
    if not config.get("out"):
        raise ConfigError("config key 'out' (the run's output directory) is required")
    beam = config.get("beam") or []
    if not isinstance(beam, list):
        raise ConfigError("config key 'beam' must be a list of pipeline option strings")
    try:
        check_beam_arguments([str(option) for option in beam], [])
    except ValueError as exc:
        raise ConfigError(f"config key 'beam': {exc}") from None
    steps = []
    for stage in STAGES:
        if stage not in config:
            continue
        section = config[stage] or {}
        if not isinstance(section, dict):
            raise ConfigError(f"config key {stage!r} must be a mapping of that stage's options")
        parser = _stage_parser(stage)
        wiring = _wiring(stage, config["out"])
        argv = wiring + stage_argv(stage, section, parser, {a for a in wiring if a.startswith("--")})
        try:
            _args, extra = parser.parse_known_args(argv)
        except (argparse.ArgumentError, SystemExit) as exc:
            raise ConfigError(f"config section {stage!r}: {exc}") from None
        if extra:
            raise ConfigError(f"config section {stage!r}: unrecognised values {extra}")
        steps.append((stage, argv + [str(option) for option in beam]))
    if not steps:
        raise ConfigError(f"the config names no stage; add one or more of {list(STAGES)}")
    return steps


def _record(out: str, stage: str, name: str) -> dict | None:
    path = files.join(out, stage, name)
    return files.read_json(path) if files.exists(path) else None


def fingerprint(out: str, stage: str, argv: list[str]) -> str:
    """The stage's arguments and the run id of the upstream stage's output it reads."""
    upstream = _record(out, UPSTREAM[stage], "_DONE.json") if stage in UPSTREAM else None
    key = {"argv": argv, "upstream_run": (upstream or {}).get("run_id")}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def _clear_stage(stage_dir: str) -> None:
    with files.OutLock(stage_dir, "run"):  # refuses while another command writes there
        files.remove_contents(stage_dir, keep=files.LOCK_NAME)


def run_plan(out: str, steps: list[tuple[str, list[str]]], force: bool = False) -> dict:
    from wit_pipeline.cli import main as wit

    report = {}
    with files.OutLock(out, "run"):
        for stage, argv in steps:
            stage_dir = files.join(out, stage)
            current = fingerprint(out, stage, argv)
            done = _record(out, stage, "_DONE.json")
            if not force and done and done.get("fingerprint") == current:
                print(f"-- {stage}: finished earlier, skipped ({files.join(stage_dir, '_DONE.json')})", flush=True)
                report[stage] = "skipped"
                continue
            earlier = _record(out, stage, "_STARTED.json") or done
            if force or (earlier and earlier.get("fingerprint") != current):
                why = "--force" if force else "its options or its upstream stage's output changed"
                print(f"-- {stage}: {why}; removing its earlier output in {stage_dir}", flush=True)
                _clear_stage(stage_dir)
            files.makedirs(stage_dir)
            files.write_json(files.join(stage_dir, "_STARTED.json"), {"fingerprint": current, "argv": argv})
            print(f"-- {stage}: wit {stage} {' '.join(argv)}", flush=True)
            started = time.monotonic()
            code = wit([stage, *argv])
            if code != 0:
                raise SystemExit(f"wit run: stage {stage!r} failed with exit code {code}; fix it and re-run "
                                 f"(finished stages are skipped)")
            seconds = round(time.monotonic() - started, 1)
            files.write_json(files.join(stage_dir, "_DONE.json"), {"fingerprint": current, "run_id": uuid.uuid4().hex,
                                                                   "argv": argv, "seconds": seconds})
            report[stage] = seconds
    return report
