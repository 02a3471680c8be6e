"""Tabular benchmark oracles over the real data in ``shared/data`` and the data resolver."""
