from setuptools import setup

# Beam ships the package to Dataflow workers with `--setup_file ./setup.py`; all metadata
# lives in pyproject.toml.
setup()
