"""Settings for the AI orchestrator.

Settings come ONLY from these environment variables:

    DATABASE_URL        required, postgresql://USER:PASSWORD@HOST:PORT/DBNAME
    REDIS_URL           optional (health reports redis as down while unset),
                        redis://[:PASSWORD@]HOST:PORT/DB (rediss:// and unix:// work too)
    OPENAI_API_KEY      optional provider key
    ANTHROPIC_API_KEY   optional provider key
    DEEPGRAM_API_KEY    optional provider key
    JWT_SECRET_KEY      required, at least 32 characters
    CARTRITA_API_KEY    optional service-to-service key
    CARTRITA_ENV        development | production (default: production)
    TESTING             true | false (default: false)

Nothing else is read from the environment; the tunables below the env-backed
fields are code defaults (a later issue may expose some of them).

Secrets are kept as ``pydantic.SecretStr`` so ``repr()``/``str()`` of the
settings never shows them. Use :func:`redact` whenever a URL is logged.
"""

from __future__ import annotations

import os
import re
from typing import Dict, List, Mapping, Optional
from urllib.parse import parse_qsl, unquote

from pydantic import BaseModel, SecretStr

MIN_JWT_SECRET_LENGTH = 32

#: Exit status used when the configuration is invalid (sysexits.h EX_CONFIG).
EX_CONFIG = 78

ENV_NAMES = (
    "DATABASE_URL",
    "REDIS_URL",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "DEEPGRAM_API_KEY",
    "JWT_SECRET_KEY",
    "CARTRITA_API_KEY",
    "CARTRITA_ENV",
    "TESTING",
)

ENVIRONMENTS = ("development", "production")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

_DB_SCHEMES = ("postgresql://", "postgres://")
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

_GENERATE_HINT = (
    "generate one with: "
    "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
)


class ConfigError(Exception):
    """The environment does not describe a usable configuration."""

    def __init__(self, problems: List[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))

    def render(self) -> str:
        lines = [
            "ai-orchestrator: refusing to start, the configuration is invalid:",
        ]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines) + "\n"


class Settings(BaseModel):
    # --- from the environment -------------------------------------------
    database_url: SecretStr
    redis_url: Optional[SecretStr] = None
    openai_api_key: Optional[SecretStr] = None
    anthropic_api_key: Optional[SecretStr] = None
    deepgram_api_key: Optional[SecretStr] = None
    jwt_secret_key: SecretStr
    cartrita_api_key: Optional[SecretStr] = None
    environment: str = "production"
    testing: bool = False

    # --- code defaults (not read from the environment) --------------------
    db_pool_min_size: int = 1
    db_pool_max_size: int = 5
    #: how long the pool keeps retrying one connection before giving up on it;
    #: kept short so that backoff never grows past ~2 s and a database that
    #: comes back is picked up quickly (a new attempt starts on demand).
    db_reconnect_timeout: float = 5.0
    db_connect_timeout: int = 2
    redis_socket_timeout: float = 1.0
    health_probe_timeout: float = 1.0
    health_cache_ttl: float = 1.0

    class Config:
        allow_mutation = False

    # --- derived helpers -------------------------------------------------
    @property
    def is_development(self) -> bool:
        return self.environment == "development"

    @property
    def database_url_redacted(self) -> str:
        return redact(self.database_url.get_secret_value())

    @property
    def redis_url_redacted(self) -> Optional[str]:
        return redact(self.redis_url.get_secret_value()) if self.redis_url else None

    def provider_status(self) -> Dict[str, str]:
        def status(v: Optional[SecretStr]) -> str:
            return "configured" if v is not None and v.get_secret_value() else "not configured"

        return {
            "openai": status(self.openai_api_key),
            "anthropic": status(self.anthropic_api_key),
            "deepgram": status(self.deepgram_api_key),
        }

    def secret_values(self) -> List[str]:
        """Every secret string this configuration holds (for log scrubbing)."""
        out: List[str] = []
        for key in (
            self.openai_api_key,
            self.anthropic_api_key,
            self.deepgram_api_key,
            self.jwt_secret_key,
            self.cartrita_api_key,
        ):
            if key is not None and key.get_secret_value():
                out.append(key.get_secret_value())
        for url in (self.database_url, self.redis_url):
            if url is not None:
                out.extend(url_secrets(url.get_secret_value()))
        # longest first so that a secret containing another is scrubbed whole
        return sorted(set(out), key=len, reverse=True)


# ---------------------------------------------------------------------------
# redaction
# ---------------------------------------------------------------------------

_SECRET_QUERY_KEYS = r"(?:password|passwd|pass|pwd|sslpassword|secret|token|api[_-]?key|key)"
_QUERY_SECRET_RE = re.compile(rf"(?i)([?&;]{_SECRET_QUERY_KEYS}=)[^&#;]*")
_KV_SECRET_RE = re.compile(
    rf"(?i)(\b{_SECRET_QUERY_KEYS}\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)"
)
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://)(.*)$", re.S)

REDACTED = "***"


def redact(url: Optional[str]) -> str:
    """Return ``url`` with any password / secret replaced by ``***``.

    >>> redact("postgresql://robbie:pw@127.0.0.1:5432/cartrita")
    'postgresql://robbie:***@127.0.0.1:5432/cartrita'
    >>> redact("redis://:pw@127.0.0.1:6379/0")
    'redis://:***@127.0.0.1:6379/0'

    It errs on the side of hiding too much: an unencoded ``@`` or ``/`` in
    a password still never lets part of the password through. libpq
    ``key=value`` strings have their ``password=`` value hidden.
    """
    if url is None:
        return ""
    m = _SCHEME_RE.match(url)
    if not m:
        # not a URL: maybe a libpq "host=... password=..." string
        return _KV_SECRET_RE.sub(lambda mm: mm.group(1) + REDACTED, url)
    scheme, rest = m.group(1), m.group(2)
    at = rest.rfind("@")
    if at != -1:
        userinfo, hostpart = rest[:at], rest[at + 1 :]
        user, sep, _password = userinfo.partition(":")
        if sep:
            userinfo = f"{user}:{REDACTED}"
        elif "/" in userinfo or "?" in userinfo:
            # "@" was past the authority (e.g. in the query): hide it all
            userinfo = REDACTED
        rest = f"{userinfo}@{hostpart}"
    rest = _QUERY_SECRET_RE.sub(lambda mm: mm.group(1) + REDACTED, rest)
    return scheme + rest


def url_secrets(url: str) -> List[str]:
    """Secret values embedded in a URL (password, secret query params)."""
    out: List[str] = []
    m = _SCHEME_RE.match(url)
    if not m:
        for mm in _KV_SECRET_RE.finditer(url):
            out.append(mm.group(2).strip("'"))
        return [s for s in out if s]
    rest = m.group(2)
    at = rest.rfind("@")
    if at != -1:
        userinfo = rest[:at]
        _user, sep, password = userinfo.partition(":")
        if sep and password:
            out += [password, unquote(password)]
    _, _, query = rest.partition("?")
    for k, v in parse_qsl(query.split("#", 1)[0], keep_blank_values=False):
        if re.fullmatch(_SECRET_QUERY_KEYS, k, flags=re.I) and v:
            out.append(v)
    return [s for s in out if s]


# ---------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------


def _get(environ: Mapping[str, str], name: str) -> Optional[str]:
    value = environ.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _valid_postgres_url(url: str) -> bool:
    try:
        from psycopg.conninfo import conninfo_to_dict

        conninfo_to_dict(url)
    except Exception:
        return False
    return True


def load_settings(environ: Optional[Mapping[str, str]] = None) -> Settings:
    """Build :class:`Settings` from the environment or raise :class:`ConfigError`.

    All problems are collected so that one start attempt reports all of them.
    Messages name the variable and how to fix it, never its value.
    """
    env = os.environ if environ is None else environ
    problems: List[str] = []

    database_url = _get(env, "DATABASE_URL")
    if database_url is None:
        problems.append(
            "DATABASE_URL is not set. Set it to the PostgreSQL URL, e.g. "
            "DATABASE_URL=postgresql://USER:PASSWORD@HOST:5432/cartrita"
        )
    elif not database_url.startswith(_DB_SCHEMES) or not _valid_postgres_url(database_url):
        problems.append(
            "DATABASE_URL is not a valid PostgreSQL URL. It must look like "
            "postgresql://USER:PASSWORD@HOST:5432/cartrita "
            "(percent-encode special characters in the password)"
        )

    redis_url = _get(env, "REDIS_URL")
    if redis_url is not None and not redis_url.startswith(_REDIS_SCHEMES):
        problems.append(
            "REDIS_URL is not a valid Redis URL. It must look like "
            "redis://:PASSWORD@HOST:6379/0 (or rediss://, unix://)"
        )

    jwt_secret = _get(env, "JWT_SECRET_KEY")
    if jwt_secret is None:
        problems.append(
            f"JWT_SECRET_KEY is not set. Set it to a random secret of at least "
            f"{MIN_JWT_SECRET_LENGTH} characters; {_GENERATE_HINT}"
        )
    elif len(jwt_secret) < MIN_JWT_SECRET_LENGTH:
        problems.append(
            f"JWT_SECRET_KEY is too short ({len(jwt_secret)} characters, at least "
            f"{MIN_JWT_SECRET_LENGTH} required). Set it to a longer random secret; "
            f"{_GENERATE_HINT}"
        )

    environment = (_get(env, "CARTRITA_ENV") or "production").lower()
    if environment not in ENVIRONMENTS:
        problems.append(
            "CARTRITA_ENV must be 'development' or 'production' "
            "(unset means production)"
        )

    testing_raw = (_get(env, "TESTING") or "false").lower()
    if testing_raw in _TRUE:
        testing = True
    elif testing_raw in _FALSE:
        testing = False
    else:
        testing = False
        problems.append("TESTING must be 'true' or 'false' (unset means false)")

    if problems:
        raise ConfigError(problems)

    def secret(name: str) -> Optional[SecretStr]:
        v = _get(env, name)
        return SecretStr(v) if v is not None else None

    return Settings(
        database_url=SecretStr(database_url),
        redis_url=SecretStr(redis_url) if redis_url else None,
        openai_api_key=secret("OPENAI_API_KEY"),
        anthropic_api_key=secret("ANTHROPIC_API_KEY"),
        deepgram_api_key=secret("DEEPGRAM_API_KEY"),
        jwt_secret_key=SecretStr(jwt_secret),
        cartrita_api_key=secret("CARTRITA_API_KEY"),
        environment=environment,
        testing=testing,
    )
