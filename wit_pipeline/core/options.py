"""Beam pipeline options shared by every stage, and the pipeline factory."""
from __future__ import annotations

import builtins
import difflib
import sys

import apache_beam as beam
from apache_beam.options.pipeline_options import (DirectOptions, PipelineOptions,
                                                  SetupOptions, StandardOptions)

_DIRECT_NAMES = {"directrunner", "direct", "switchingdirectrunner", "fnapirunner"}
# Imported by every Beam worker process at its start (`--beam_plugins`).
WORKER_PLUGIN = "wit_pipeline.core.worker_plugin"


def pipeline_options(beam_argv: list[str] | None = None, **overrides) -> PipelineOptions:
    """PipelineOptions from the CLI flags a stage did not consume."""
    options = PipelineOptions(list(beam_argv or []), **overrides)
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = "DirectRunner"
    direct = options.view_as(DirectOptions)
    if direct.direct_running_mode is None:
        direct.direct_running_mode = "in_memory"
    setup = options.view_as(SetupOptions)
    # Workers import our modules from the installed package, never a pickled __main__.
    setup.save_main_session = False
    # Local runs only: on a cluster the worker's stderr is its log, which the user wants whole.
    if is_local_runner(options) and WORKER_PLUGIN not in (setup.beam_plugins or []):
        setup.beam_plugins = [*(setup.beam_plugins or []), WORKER_PLUGIN]
    return options


def quiet_worker_tracebacks() -> None:
    """Beam's SDK worker prints a failing bundle's traceback to stderr, then logs the same
    text; the dispatcher keeps that log in OUT/_logs/error.txt (core/errors) and says the
    failure in one line. The print alone would put the traceback on the terminal (in
    multi_processing, from a worker process no filter of ours reaches), so it is dropped
    here, in this process (multi_threading workers are its threads) and in each worker
    process (worker_plugin). WIT_DEBUG=1 keeps it."""
    from apache_beam.runners.worker import sdk_worker

    from wit_pipeline.core.errors import debugging

    if not debugging():
        sdk_worker.print = _print_except_to_stderr


def _print_except_to_stderr(*args, file=None, **kwargs) -> None:
    if file is not sys.stderr:
        builtins.print(*args, file=file, **kwargs)


def is_local_runner(options: PipelineOptions) -> bool:
    return (options.view_as(StandardOptions).runner or "DirectRunner").lower() in _DIRECT_NAMES


def make_pipeline(options: PipelineOptions) -> beam.Pipeline:
    """A Pipeline on the requested runner.

    "DirectRunner" is mapped to the FnApiRunner itself: Beam's SwitchingDirectRunner
    first tries the Prism runner, which downloads a binary at run time, and that must
    never happen on an offline laptop or in CI. The FnApiRunner honours
    `--direct_running_mode in_memory|multi_threading|multi_processing` and
    `--direct_num_workers`. Every other runner (Dataflow, Spark, Flink, Portable, a
    dotted class path) is left to Beam.
    """
    if not is_local_runner(options):
        return beam.Pipeline(options=options)
    quiet_worker_tracebacks()
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    provision = fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
    return beam.Pipeline(runner=fn_runner.FnApiRunner(provision_info=provision), options=options)


class DryRun(Exception):
    """A `--dry_run true` pipeline was built and validated; nothing ran, so a stage stops here."""


def stop_if_dry_run(options: PipelineOptions) -> None:
    """Call right after `pipeline.run()`: on a dry run there are no outputs to read back."""
    from apache_beam.options.pipeline_options import TestOptions

    if options.view_as(TestOptions).dry_run:
        runner = options.view_as(StandardOptions).runner
        raise DryRun(f"dry run: the pipeline was built and validated for {runner}; nothing was submitted")


class UnknownArgument(ValueError):
    """An argument that neither the command nor any Beam pipeline option knows."""


def _beam_option_parser():
    """One parser with every registered PipelineOptions subclass's options, as Beam builds it
    (Standard, Direct, Google Cloud/Dataflow, Worker, Portable, Flink, Spark, S3, ...)."""
    from apache_beam.options.pipeline_options import _BeamArgumentParser

    class Parser(_BeamArgumentParser):
        def error(self, message):  # a bad value of a Beam option: one line, not usage + exit
            raise ValueError(message)

    parser = Parser(allow_abbrev=False, add_help=False)
    classes = {str(cls): cls for cls in PipelineOptions.__subclasses__()}
    for cls in classes.values():
        cls._add_argparse_args(parser)  # noqa: SLF001 - how Beam itself collects its options
    return parser


def check_beam_arguments(beam_argv: list[str], own_flags: list[str]) -> None:
    """Refuse what a command left over that is no Beam option: a typo must not be ignored.

    `own_flags` (the command's options) and Beam's options are the "did you mean" candidates.
    """
    if not beam_argv:
        return
    parser = _beam_option_parser()
    _, unknown = parser.parse_known_args(list(beam_argv))
    if not unknown:
        return
    first = next((arg for arg in unknown if arg.startswith("-")), unknown[0])
    name = first.split("=", 1)[0]
    hint = ""
    if name.startswith("-"):
        known = [flag for flag in [*own_flags, *parser._option_string_actions] if flag.startswith("--")]
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
    raise UnknownArgument(f"unrecognized argument {name}{hint}")
