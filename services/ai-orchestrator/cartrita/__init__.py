"""Cartrita Python services (top-level package)."""
