"""Benchmarks: one ``bench_<topic>.py`` module per topic, each with ``main(argv) -> dict``.

``python -m bench`` runs them all; ``python -m bench validation record`` runs the named ones.
"""
