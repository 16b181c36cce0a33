"""`python beam_runner.py SUBCOMMAND ...` is `wit SUBCOMMAND ...`.

Handy where console scripts are not installed, e.g. when submitting from a Dataflow
launcher image or a notebook."""
import sys

from wit_pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main())
