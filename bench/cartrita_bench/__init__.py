"""Cartrita benchmarks (issue 8): see BENCHMARKS.md and bench/run."""

import sys
from pathlib import Path

# The local servers and the process bookkeeping are the repository's, shared with the orchestrator's tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "eng" / "local-servers"))
