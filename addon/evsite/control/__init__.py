"""Async orchestration: snapshots state, calls core, dispatches commands."""
