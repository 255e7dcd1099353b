"""Benchmarks of the training input pipeline, the training options and full-volume evaluation.

``python -m benchmarks.run`` measures, on one machine in one run, each configuration in its own
subprocess (:mod:`benchmarks.worker`), and writes JSON and Markdown results; see ``README.md``.
"""
