"""Benchmarks for nbimages: each measures one promise against an anchor, side by side.

``python -m bench`` (or ``python bench/run.py``) runs them all and prints one table of
ratios; ``--quick`` runs a smaller version of each for the smoke test.
"""
