"""`wit shards verify GLOB`: exit 1 when any tar disagrees with its parquet."""
from __future__ import annotations

from shards.verify import verify_shards


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    verify = sub.add_parser("verify", help="check tars against their parquet metadata")
    verify.add_argument("shards", nargs="+", help="shard tar globs or directories")


def main(args, beam_argv) -> int:
    report = verify_shards(args.shards)
    for error in report.errors:
        print(f"ERROR {error}")
    verdict = "OK" if report.ok else f"{len(report.errors)} problem(s)"
    print(f"== shards verify: {verdict} == shards: {report.shards}, parquet rows: {report.rows}, "
          f"samples in tars: {report.samples}")
    return 0 if report.ok else 1
