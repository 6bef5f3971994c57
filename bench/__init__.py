"""Benchmarks: figures, not pass/fail (``make bench``)."""
