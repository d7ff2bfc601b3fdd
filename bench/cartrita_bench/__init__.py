"""Cartrita benchmarks (issue 8): see BENCHMARKS.md and bench/run."""
