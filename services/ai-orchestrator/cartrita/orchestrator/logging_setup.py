"""One-line, logfmt-style logging to stdout with secret scrubbing.

Every record (ours, uvicorn's, psycopg's, ...) goes through a single stdout
handler whose formatter replaces any configured secret value with ``***``
after formatting, so even an exception message that happens to contain a
password cannot leak it. URLs should still be passed through
:func:`cartrita.orchestrator.config.redact` before logging.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Iterable, List

REDACTED = "***"
#: secrets shorter than this are not scrubbed from free text (they would
#: mangle ordinary words); redact() still hides them inside URLs.
MIN_SCRUB_LENGTH = 4

_HANDLER_MARK = "_cartrita_handler"


class Scrubber:
    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets: List[str] = []
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        merged = set(self._secrets) | {s for s in secrets if s and len(s) >= MIN_SCRUB_LENGTH}
        self._secrets = sorted(merged, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self._secrets:
            if s in text:
                text = text.replace(s, REDACTED)
        return text


#: process-wide scrubber, also used for texts that go into HTTP responses
scrubber = Scrubber()


class LogfmtFormatter(logging.Formatter):
    """``ts=... level=info logger=name msg="..." [exc="..."]`` on one line."""

    def __init__(self, scrub: Scrubber):
        super().__init__()
        self._scrub = scrub

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        ts += f".{int(record.msecs):03d}Z"
        try:
            msg = record.getMessage()
        except Exception:  # a broken format string must not kill logging
            msg = f"{record.msg!r} {record.args!r}"
        parts = [
            f"ts={ts}",
            f"level={record.levelname.lower()}",
            f"logger={record.name}",
            f"msg={json.dumps(msg, ensure_ascii=False)}",
        ]
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            parts.append(f"exc={json.dumps(record.exc_text, ensure_ascii=False)}")
        return self._scrub(" ".join(parts))


def configure_logging(secrets: Iterable[str] = (), level: int = logging.INFO) -> None:
    """Route all logging to one scrubbing stdout handler (idempotent)."""
    scrubber.update(secrets)
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, _HANDLER_MARK, False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stdout)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(LogfmtFormatter(scrubber))
    # other handlers on the root (e.g. from an embedding app) are left alone
    root.addHandler(handler)
    root.setLevel(level)

    # uvicorn installs its own stderr/stdout handlers before importing the app;
    # send its records through ours instead so they get the same format and
    # scrubbing.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    # psycopg_pool logs every connection request at INFO
    logging.getLogger("psycopg.pool").setLevel(logging.WARNING)
