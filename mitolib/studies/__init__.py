"""Orchestration: study plans, the run-state rule, per-run locks, the notebook runner, executors, batch jobs."""
