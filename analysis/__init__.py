"""Recorded traffic as one tidy pandas DataFrame, and the reports built from it.

Installed as ``chime_tap.analysis``.
"""
