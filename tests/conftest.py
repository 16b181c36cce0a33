import os

# Same default as the `wit` entry point (see wit_pipeline/cli.py): before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run tests marked slow (long, opt-in)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: opt-in with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
