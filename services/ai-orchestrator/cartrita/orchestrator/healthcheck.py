"""Container health check: exit 0 when the service's own GET /health answers 200, else 1.

/health answers 200 only while the database and Redis answer (503 otherwise). The image runs this as
``python3 -m cartrita.orchestrator.healthcheck`` (Dockerfile HEALTHCHECK, published Compose files): a module
rather than ``python3 -c "<code>"``, because podman's Docker-compatible API splits a health-check argument that
contains spaces into words, and the check would then fail for ever. Standard library only: it must start fast.
"""

import os
import sys
import urllib.request


def main() -> int:
    port = os.environ.get("PORT") or "8000"
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=4) as response:
            return 0 if response.status == 200 else 1
    except (OSError, ValueError) as error:  # URLError/HTTPError (503) are OSErrors
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
