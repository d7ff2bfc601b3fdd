"""Structured logging: one JSON object per line on stdout, secrets scrubbed.

Every record (ours, uvicorn's, psycopg's, ...) goes through a single stdout
handler whose formatter replaces any configured secret value with ``***``
after formatting, so even an exception message that happens to contain a
password cannot leak it. Credentials in URLs are hidden too: ``token=``,
``api_key=``, ``password=`` ... query values (uvicorn's access log shows the
``?token=<jwt>`` of an EventSource / WebSocket request) and anything shaped
like a JWT. URLs should still be passed through
:func:`cartrita.orchestrator.config.redact` before logging.

A line looks like::

    {"ts": "2026-01-01T12:00:00.123Z", "level": "info", "logger": "uvicorn.access", "msg": "..."}

(``exc`` is added when the record carries a traceback).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Iterable, List

REDACTED = "***"
#: secrets shorter than this are not scrubbed from free text (they would
#: mangle ordinary words); redact() still hides them inside URLs.
MIN_SCRUB_LENGTH = 4

_HANDLER_MARK = "_cartrita_handler"

#: ``?token=...`` / ``&api_key=...`` / ``password=...`` in URLs and key=value text
_QUERY_SECRET_RE = re.compile(
    r"(?i)([?&;](?:access_token|token|api[_-]?key|key|password|passwd|pwd|secret)=)[^&#;\s\"']+"
)
#: a JSON Web Token (header.payload.signature, base64url, header starts with {")
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


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
        if "=" in text:
            text = _QUERY_SECRET_RE.sub(lambda m: m.group(1) + REDACTED, text)
        if "eyJ" in text:
            text = _JWT_RE.sub(REDACTED, text)
        return text


#: process-wide scrubber, also used for texts that go into HTTP responses
scrubber = Scrubber()


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg"[, "exc"]}`` as one JSON line."""

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
        line = {
            "ts": ts,
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": self._scrub(msg),
        }
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = self._scrub(record.exc_text)
        # scrub again after encoding: JSON escaping must not hide a secret from the check
        return self._scrub(json.dumps(line, ensure_ascii=False))


#: the old name (logfmt lines before the switch to JSON)
LogfmtFormatter = JsonFormatter


def configure_logging(secrets: Iterable[str] = (), level: int = logging.INFO) -> None:
    """Route all logging to one scrubbing stdout handler (idempotent)."""
    scrubber.update(secrets)
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, _HANDLER_MARK, False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stdout)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(JsonFormatter(scrubber))
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
