"""Harvest's outputs (the Beam steps in pipeline.py; the file formats in harvest/schema.py)."""
