"""Prototypes of fixes proposed in BENCHMARKS.md, measured by bench/run next to the code they would replace.
They import the orchestrator unchanged (services/** is not edited from here)."""
