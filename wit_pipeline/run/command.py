"""`wit run --config FILE.yaml`: the whole chain, queries -> harvest -> download -> dedup -> train.

Flags -> `RunConfig`: the YAML file is read and every stage section checked against
that stage's own parser (chain.plan) before any stage runs; then chain.run_plan runs
them, skipping finished stages. The config format and the re-run rules are in chain.py.
"""
from __future__ import annotations

import argparse
import dataclasses

import yaml

from wit_pipeline.core import console, files
from wit_pipeline.run import chain


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML file: out, beam, and one section per stage")
    parser.add_argument("--force", action="store_true",
                        help="remove every configured stage's earlier output and run it again from scratch")


def load_config(path: str) -> dict:
    try:
        return yaml.safe_load(files.read_bytes(path))
    except yaml.YAMLError as exc:
        raise chain.ConfigError(f"{path} is not valid YAML: {exc}") from None


@dataclasses.dataclass(frozen=True)
class RunConfig:
    out: str
    steps: tuple[tuple[str, tuple[str, ...]], ...]  # (stage, its argv), in chain order
    force: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace, beam_argv: list[str]) -> "RunConfig":
        """Beam options on the command line join the config's `beam` list (every stage gets them)."""
        config = load_config(args.config)
        if beam_argv and isinstance(config, dict):  # anything else: plan() names the problem
            config = {**config, "beam": list(config.get("beam") or []) + list(beam_argv)}
        steps = chain.plan(config)
        return cls(config["out"], tuple((stage, tuple(argv)) for stage, argv in steps), args.force)


def main(args: argparse.Namespace, beam_argv: list[str]) -> int:
    config = RunConfig.from_args(args, beam_argv)
    seconds = chain.run_plan(config.out, [(stage, list(argv)) for stage, argv in config.steps], force=config.force)
    print(console.format_summary("wit run", {stage: value if value == "skipped" else f"{value} s"
                                             for stage, value in seconds.items()}))
    return 0
