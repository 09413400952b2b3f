"""Benchmarks of audit_events, each measured beside its baseline in the same run.

Run ``python -m bench`` (or ``make bench``); see docs/performance.md.
"""
