"""`wit SUBCOMMAND ...`: one subcommand per pipeline stage.

Each stage module exposes `add_arguments(parser)` and `main(args, beam_argv) -> int`.
Only the chosen stage's module is imported, so `wit shards verify` does not pay for
importing torch. Arguments the stage does not know are handed to Beam as pipeline
options (`--runner`, `--direct_num_workers`, `--project`, ...) when Beam knows them, and
refused otherwise ("did you mean"): a mistyped flag must never be silently ignored.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# torch's OpenMP threads busy-wait between parallel regions; when data-loader workers,
# Beam workers or decoding threads share the cores, that spinning made a training step
# 40x slower on a 2-core machine. Passive waiting costs little when cores are free.
# It must be set before torch loads, hence here, at the entry point.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

COMMANDS: dict[str, tuple[str, str]] = {
    "queries": ("queries.command", "build the query list from Wikipedia dumps, pageviews and WordNet"),
    "harvest": ("wit_pipeline.harvest.command", "extract (image url, alt-text) pairs matching the queries, capped per query"),
    "download": ("wit_pipeline.download.command", "download, validate and resize images into WebDataset shards"),
    "dedup": ("dedup.command", "remove near-duplicates and eval-set overlap from shards"),
    "audit": ("dedup.audit", "report overlap between shards and eval sets, without filtering"),
    "train": ("wit_pipeline.train.command", "train a CLIP model on shards with the contrastive loss"),
    "eval": ("wit_pipeline.train.evaluate", "zero-shot / linear-probe evaluation of a checkpoint"),
    "shards": ("wit_pipeline.download.verify_command", "inspect shards: `wit shards verify GLOB`"),
    "run": ("wit_pipeline.run.command", "run the whole chain from a YAML config"),
    "demo": ("wit_pipeline.run.demo_command", "run the whole chain on generated data (loopback only)"),
    "report": ("wit_pipeline.run.report_command", "one-page HTML/JSON report of a run"),
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: wit COMMAND [options] [beam pipeline options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "`wit COMMAND --help` shows the command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"wit: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, help_ = COMMANDS[command]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"wit {command}", description=help_,
                                     epilog="Beam pipeline options (--runner, --direct_num_workers, --project, ...) "
                                            "may follow the command's own; any other argument is an error.")
    module.add_arguments(parser)
    args, beam_argv = parser.parse_known_args(rest)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from wit_pipeline.core.files import releasing_locks
    from wit_pipeline.core.options import DryRun, check_beam_arguments

    try:
        check_beam_arguments(beam_argv, list(parser._option_string_actions))
        with releasing_locks():
            return int(module.main(args, beam_argv) or 0)
    except DryRun as done:
        print(f"wit {command}: {done}")
        return 0
    except (FileNotFoundError, ValueError) as exc:
        # User errors (bad paths, bad flag values) deserve one clear line, not a traceback.
        print(f"wit {command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
