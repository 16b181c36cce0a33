"""Imported by every Beam worker process as it starts: `core/options.pipeline_options`
names this module in `--beam_plugins`. It keeps a failing step's traceback off the
terminal there (see `options.quiet_worker_tracebacks`)."""
from wit_pipeline.core.options import quiet_worker_tracebacks

quiet_worker_tracebacks()
