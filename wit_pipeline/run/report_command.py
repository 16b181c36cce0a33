"""`wit report OUT`: write OUT/report.json and OUT/report.html (report.py) about a
`wit run` / `wit demo` output directory, and say which stages it found."""
from __future__ import annotations

import argparse
import dataclasses

from wit_pipeline.core import files
from wit_pipeline.run.report import STAGES, write_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", help="the output directory of `wit run` or `wit demo`")


@dataclasses.dataclass(frozen=True)
class ReportConfig:
    out: str

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "ReportConfig":
        if not files.exists(args.out):
            raise FileNotFoundError(f"{args.out}: no such run directory")
        return cls(args.out)


def main(args: argparse.Namespace, beam_argv: list[str]) -> int:
    config = ReportConfig.from_args(args)
    report = write_report(config.out)
    print(f"== wit report == {files.join(config.out, 'report.html')}")
    for stage in STAGES:
        print(f"{stage}: {'missing' if stage in report['stages_missing'] else 'ok'}")
    return 0
