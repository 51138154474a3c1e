"""Helpers for the ToEdit book: data, models, training, evaluation, editing, theory.

Each module holds one concern; the notebooks import what their chapter needs.
"""

__version__ = "0.1.0"
