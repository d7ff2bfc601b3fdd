"""Request bodies (pydantic v1) with strict types and text checks.

Strings must be real strings (no number-to-string coercion), valid Unicode
(no lone surrogates) and free of NUL characters (PostgreSQL ``text`` and
``jsonb`` cannot store them), so bad input is a 4xx here rather than a
database error later.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Dict, List, Optional, Union
from uuid import UUID

from pydantic import BaseModel, StrictInt, StrictStr, ValidationError, conint, conlist, root_validator, validator

from .errors import NESTED_TOO_DEEPLY, InvalidInput, InvalidJson, describe_validation_errors

MAX_MESSAGE_CHARS = 16_000
MAX_MEMORY_CHARS = 16_000
MAX_MEMORY_BATCH = 256
MAX_SEARCH_K = 50
MAX_METADATA_DEPTH = 16
_AGENT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: users.username (the ck_users_username CHECK): names are stored lower-case
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
USERNAME_RULE = ("2 to 63 characters: letters, digits, '.', '_' or '-', starting with a letter or digit "
                 "(stored in lower case)")
#: a login's username and password are bounded before any work is done with them
MAX_LOGIN_FIELD_CHARS = 1024


def check_text(value: str, what: str = "text") -> str:
    if "\x00" in value:
        raise ValueError(f"{what} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode (lone surrogate)") from None
    return value


def _non_empty_text(value: str, what: str, max_chars: int) -> str:
    check_text(value, what)
    if len(value) > max_chars:
        raise ValueError(f"{what} is too long ({len(value)} characters, at most {max_chars})")
    if not value.strip():
        raise ValueError(f"{what} must not be empty")
    return value


def check_json_value(value: Any, depth: int = 0) -> None:
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels")
    if isinstance(value, str):
        check_text(value, "metadata")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("metadata numbers must be finite (no NaN or Infinity)")
    elif isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError("metadata keys must be strings")
            check_text(k, "metadata")
            check_json_value(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            check_json_value(v, depth + 1)
    elif value is None or isinstance(value, (bool, int)):
        pass
    else:  # pragma: no cover - JSON cannot produce anything else
        raise ValueError("metadata must be JSON")


class ChatRequest(BaseModel):
    message: StrictStr
    conversation_id: Optional[UUID] = None
    agent: Optional[StrictStr] = None

    @validator("message")
    def _message(cls, v: str) -> str:
        return _non_empty_text(v, "message", MAX_MESSAGE_CHARS)

    @validator("agent")
    def _agent(cls, v: Optional[str]) -> Optional[str]:
        if v is None:
            return None
        check_text(v, "agent")
        v = v.strip().lower()
        if not v:
            return None
        if not _AGENT_RE.match(v):
            raise ValueError("agent must be an agent name like 'general' (see GET /api/agents)")
        return v


def memory_content(v: Optional[str]) -> Optional[str]:
    if v is None:
        return None
    return _non_empty_text(v, "content", MAX_MEMORY_CHARS)


def memory_metadata(v: Any) -> Any:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ValueError("metadata must be a JSON object")
    check_json_value(v)
    return v


class MemoryItem(BaseModel):
    content: StrictStr
    metadata: Optional[Dict[str, Any]] = None

    _content = validator("content", allow_reuse=True)(memory_content)
    _metadata = validator("metadata", pre=True, always=True, allow_reuse=True)(memory_metadata)


class MemoryCreate(BaseModel):
    """Either one item (``content`` + ``metadata``) or ``items``."""

    content: Optional[StrictStr] = None
    metadata: Optional[Dict[str, Any]] = None
    items: Optional[conlist(MemoryItem, min_items=1, max_items=MAX_MEMORY_BATCH)] = None  # type: ignore[valid-type]

    _content = validator("content", allow_reuse=True)(memory_content)
    _metadata = validator("metadata", pre=True, allow_reuse=True)(memory_metadata)

    @root_validator(pre=True)
    def _one_form(cls, values: Dict[str, Any]) -> Dict[str, Any]:
        has_items = values.get("items") is not None
        has_content = values.get("content") is not None
        if has_items and (has_content or values.get("metadata") is not None):
            raise ValueError("send either {content, metadata} or {items: [...]}, not both")
        if not has_items and not has_content:
            raise ValueError("content (or items) is required")
        return values

    def all_items(self) -> List[MemoryItem]:
        if self.items is not None:
            return list(self.items)
        # already validated field by field above
        return [MemoryItem.construct(content=self.content, metadata=self.metadata or {})]


class MemorySearch(BaseModel):
    query: StrictStr
    k: conint(strict=True, ge=1, le=MAX_SEARCH_K) = 5  # type: ignore[valid-type]

    @validator("query")
    def _query(cls, v: str) -> str:
        return _non_empty_text(v, "query", MAX_MESSAGE_CHARS)


def normalize_username(value: Any) -> Optional[str]:
    """The stored form of a username (stripped, lower case), or None when it can never be one."""
    if not isinstance(value, str):
        return None
    name = value.strip().lower()
    return name if USERNAME_RE.match(name) else None


class TokenRequest(BaseModel):
    """Optional body of POST /api/auth/token: the API key (unless sent as X-API-Key) and what the token is for."""

    #: a credential, not text: any string that is not the key (lone surrogates too) is a 401, not a 422
    api_key: Optional[StrictStr] = None
    #: "ws": a 60-second token for a /ws/ URL
    purpose: Optional[StrictStr] = None

    @validator("purpose")
    def _purpose(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and v != "ws":
            raise ValueError('purpose must be "ws" (a WebSocket token) or left out')
        return v


class LoginRequest(BaseModel):
    username: StrictStr
    password: StrictStr

    @validator("username", "password")
    def _bounded(cls, v: str, field) -> str:
        check_text(v, field.name)
        if not v or len(v) > MAX_LOGIN_FIELD_CHARS:
            raise ValueError(f"{field.name} must be 1 to {MAX_LOGIN_FIELD_CHARS} characters")
        return v


def parse_json(data: Union[bytes, str], what: str = "the request body") -> Any:
    """``data`` decoded as JSON, or a 400 :class:`InvalidJson` for any input (never a 500).

    For the bodies and frames the orchestrator reads itself (FastAPI decodes the typed bodies, and errors.py gives
    its RecursionError the same answer). Lone surrogates (``"\\ud800"``) are valid JSON: the models refuse them
    where text must be Unicode (422).
    """
    try:
        return json.loads(data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data)
    except RecursionError:
        raise InvalidJson(f"{what} {NESTED_TOO_DEEPLY}") from None
    except UnicodeDecodeError:
        raise InvalidJson(f"{what} is not valid UTF-8") from None
    except ValueError as exc:  # its message names a position, never the content
        raise InvalidJson(f"{what} is not valid JSON ({exc})") from None


def parse_model(model, data: Dict[str, Any], location: str = "body"):
    """Validate ``data`` with ``model`` or raise a 422 :class:`InvalidInput`."""
    try:
        return model(**data)
    except ValidationError as exc:
        errors = describe_validation_errors(exc.errors())
        for e in errors:
            e["loc"] = [location] + e["loc"]
        detail = "; ".join(f"{'.'.join(e['loc'][1:]) or location}: {e['msg']}" for e in errors)
        raise InvalidInput(detail, extra={"errors": errors}) from None


__all__ = [
    "ChatRequest",
    "LoginRequest",
    "MemoryCreate",
    "MemoryItem",
    "MemorySearch",
    "StrictInt",
    "TokenRequest",
    "parse_json",
    "parse_model",
]
