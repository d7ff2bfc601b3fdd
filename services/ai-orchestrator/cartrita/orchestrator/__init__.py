"""Cartrita AI orchestrator service.

The ASGI application lives in :mod:`cartrita.orchestrator.main` (``main:app``).
"""

__version__ = "0.1.0"
SERVICE_NAME = "ai-orchestrator"
