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

    OPENAI_BASE_URL     optional, default https://api.openai.com/v1
    ANTHROPIC_BASE_URL  optional, default https://api.anthropic.com
    DEEPGRAM_BASE_URL   optional, default https://api.deepgram.com
                        (test / proxy hooks: the provider clients talk to these)
    RATE_LIMIT_REQUESTS        requests per client per window (default 120, 0 = off)
    RATE_LIMIT_WINDOW_SECONDS  the window (default 60)
    CORS_ALLOW_ORIGINS  comma-separated browser origins, or * (default: * in
                        development, none in production)
    MEMORY_EF_SEARCH    HNSW ef_search floor for memory searches (default 150;
                        a search of k memories uses max(this, 2k))
    CHAT_MEMORY_EF_SEARCH  the same for chat's memory context (default 40)

Nothing else is read from the environment; the tunables below the env-backed
fields are code defaults.

Secrets are kept as ``pydantic.SecretStr`` so ``repr()``/``str()`` of the
settings never shows them. Use :func:`redact` whenever a URL is logged.
"""

from __future__ import annotations

import os
import re
import secrets
from typing import Dict, List, Mapping, Optional, Tuple
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
    "OPENAI_BASE_URL",
    "ANTHROPIC_BASE_URL",
    "DEEPGRAM_BASE_URL",
    "RATE_LIMIT_REQUESTS",
    "RATE_LIMIT_WINDOW_SECONDS",
    "CORS_ALLOW_ORIGINS",
    "MEMORY_EF_SEARCH",
    "CHAT_MEMORY_EF_SEARCH",
)

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_ANTHROPIC_BASE_URL = "https://api.anthropic.com"
DEFAULT_DEEPGRAM_BASE_URL = "https://api.deepgram.com"
DEFAULT_RATE_LIMIT_REQUESTS = 120
DEFAULT_RATE_LIMIT_WINDOW_SECONDS = 60
#: recall@10 >= 0.95 on 100,000 x 1536 memories needed ef_search 80-150 (BENCHMARKS.md: 100 gave 0.947 in one run,
#: 150 gave 0.956-0.964, p50 4.3 ms); 40 gave 0.86-0.89
DEFAULT_MEMORY_EF_SEARCH = 150
#: chat looks up a few memories as context on every turn: pgvector's default ef_search keeps that cheap (150 halved
#: chat's requests/s under load, BENCHMARKS.md), and a near neighbour serves as context as well as the nearest
DEFAULT_CHAT_MEMORY_EF_SEARCH = 40
#: pgvector's limit for hnsw.ef_search
MAX_EF_SEARCH = 1000

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
    openai_base_url: str = DEFAULT_OPENAI_BASE_URL
    anthropic_base_url: str = DEFAULT_ANTHROPIC_BASE_URL
    deepgram_base_url: str = DEFAULT_DEEPGRAM_BASE_URL
    #: requests per client and window; 0 turns rate limiting off
    rate_limit_requests: int = DEFAULT_RATE_LIMIT_REQUESTS
    rate_limit_window_seconds: int = DEFAULT_RATE_LIMIT_WINDOW_SECONDS
    #: browser origins allowed by CORS (``["*"]`` = any); empty = no CORS headers
    cors_allow_origins: Tuple[str, ...] = ()
    #: hnsw.ef_search floor for memory searches (see memory_ef_search_for)
    memory_ef_search: int = DEFAULT_MEMORY_EF_SEARCH
    #: the same for chat's memory context (see memory_ef_search_for)
    chat_memory_ef_search: int = DEFAULT_CHAT_MEMORY_EF_SEARCH

    # --- code defaults (not read from the environment) --------------------
    db_pool_min_size: int = 1
    db_pool_max_size: int = 5
    #: how long the pool keeps retrying one connection before giving up on it;
    #: kept short so that backoff never grows past ~2 s and a database that
    #: comes back is picked up quickly (a new attempt starts on demand).
    db_reconnect_timeout: float = 5.0
    db_connect_timeout: int = 2
    redis_socket_timeout: float = 1.0
    #: Redis connections per process; a command waits up to redis_pool_timeout
    #: for a free one (then 503) rather than failing while they are all busy
    redis_max_connections: int = 20
    redis_pool_timeout: float = 2.0
    health_probe_timeout: float = 1.0
    health_cache_ttl: float = 1.0
    #: how long a request waits for a pooled database connection before 503
    db_request_timeout: float = 3.0
    #: Retry-After (seconds) sent with 503 answers for a dependency outage
    retry_after_seconds: int = 5

    # auth
    jwt_ttl_seconds: int = 900
    jwt_issuer: str = "cartrita-ai-orchestrator"

    # request limits
    max_body_bytes: int = 1024 * 1024
    #: audio is bulkier than JSON: /api/voice/transcribe accepts up to this
    max_audio_bytes: int = 10 * 1024 * 1024
    # (text length and batch limits live in models.py)

    # chat
    chat_history_messages: int = 20
    chat_memory_k: int = 3
    #: memories below this cosine similarity are not used as chat context
    chat_memory_min_score: float = 0.2
    session_ttl_seconds: int = 24 * 3600
    agents_cache_ttl_seconds: int = 30
    embedding_cache_ttl_seconds: int = 600

    # providers
    openai_chat_model: str = "gpt-4o-mini"
    openai_embedding_model: str = "text-embedding-3-small"
    anthropic_model: str = "claude-3-5-haiku-latest"
    anthropic_version: str = "2023-06-01"
    deepgram_model: str = "nova-2"
    provider_connect_timeout: float = 5.0
    provider_read_timeout: float = 60.0
    provider_max_attempts: int = 3
    provider_backoff_base: float = 0.25
    provider_backoff_max: float = 4.0
    max_output_tokens: int = 1024

    class Config:
        allow_mutation = False

    # --- derived helpers -------------------------------------------------
    @property
    def is_development(self) -> bool:
        return self.environment == "development"

    def memory_ef_search_for(self, k: int, chat: bool = False) -> int:
        """hnsw.ef_search for a top-``k`` memory search (``chat``: chat's context lookup): the candidate list must be
        at least k long."""
        floor = self.chat_memory_ef_search if chat else self.memory_ef_search
        return min(MAX_EF_SEARCH, max(floor, 2 * k))

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

    @staticmethod
    def _key(v: Optional[SecretStr]) -> Optional[str]:
        if v is None or not v.get_secret_value():
            return None
        return v.get_secret_value()

    @property
    def openai_key(self) -> Optional[str]:
        return self._key(self.openai_api_key)

    @property
    def anthropic_key(self) -> Optional[str]:
        return self._key(self.anthropic_api_key)

    @property
    def deepgram_key(self) -> Optional[str]:
        return self._key(self.deepgram_api_key)

    @property
    def api_key(self) -> Optional[str]:
        return self._key(self.cartrita_api_key)

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
        for base in (self.openai_base_url, self.anthropic_base_url, self.deepgram_base_url):
            out.extend(url_secrets(base))
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


def load_settings(environ: Optional[Mapping[str, str]] = None, service: bool = True) -> Settings:
    """Build :class:`Settings` from the environment or raise :class:`ConfigError`.

    All problems are collected so that one start attempt reports all of them.
    Messages name the variable and how to fix it, never its value. With
    ``service=False`` (command-line tools such as the memory importer, which
    sign no tokens) JWT_SECRET_KEY is not required: a random one stands in.
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
    if jwt_secret is None and not service:
        jwt_secret = secrets.token_urlsafe(48)
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

    base_urls: Dict[str, str] = {}
    for name, default in (
        ("OPENAI_BASE_URL", DEFAULT_OPENAI_BASE_URL),
        ("ANTHROPIC_BASE_URL", DEFAULT_ANTHROPIC_BASE_URL),
        ("DEEPGRAM_BASE_URL", DEFAULT_DEEPGRAM_BASE_URL),
    ):
        value = _get(env, name) or default
        if not _valid_http_url(value):
            problems.append(f"{name} must be an http:// or https:// URL (unset means {default})")
        base_urls[name] = value.rstrip("/")

    rate_requests = _int_setting(env, "RATE_LIMIT_REQUESTS", DEFAULT_RATE_LIMIT_REQUESTS, 0, problems,
                                 "0 turns rate limiting off")
    rate_window = _int_setting(env, "RATE_LIMIT_WINDOW_SECONDS", DEFAULT_RATE_LIMIT_WINDOW_SECONDS, 1, problems)
    ef_search = _int_setting(env, "MEMORY_EF_SEARCH", DEFAULT_MEMORY_EF_SEARCH, 1, problems,
                             "higher finds the true nearest memories more often, at more CPU per search",
                             maximum=MAX_EF_SEARCH)
    chat_ef_search = _int_setting(env, "CHAT_MEMORY_EF_SEARCH", DEFAULT_CHAT_MEMORY_EF_SEARCH, 1, problems,
                                  "higher finds the true nearest memories more often, at more CPU per chat turn",
                                  maximum=MAX_EF_SEARCH)

    cors_raw = _get(env, "CORS_ALLOW_ORIGINS")
    if cors_raw is None:
        cors: Tuple[str, ...] = ("*",) if environment == "development" else ()
    else:
        cors = tuple(o.strip().rstrip("/") for o in cors_raw.split(",") if o.strip())
        for origin in cors:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
                problems.append(
                    "CORS_ALLOW_ORIGINS must be * or a comma-separated list of origins "
                    "like https://app.example.com (scheme and host, no path)"
                )
                break

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
        openai_base_url=base_urls["OPENAI_BASE_URL"],
        anthropic_base_url=base_urls["ANTHROPIC_BASE_URL"],
        deepgram_base_url=base_urls["DEEPGRAM_BASE_URL"],
        rate_limit_requests=rate_requests,
        rate_limit_window_seconds=rate_window,
        cors_allow_origins=cors,
        memory_ef_search=ef_search,
        chat_memory_ef_search=chat_ef_search,
    )


def _valid_http_url(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _int_setting(
    env: Mapping[str, str],
    name: str,
    default: int,
    minimum: int,
    problems: List[str],
    note: str = "",
    maximum: Optional[int] = None,
) -> int:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum or (maximum is not None and value > maximum):
        extra = f"; {note}" if note else ""
        bounds = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        problems.append(f"{name} must be a whole number {bounds} (unset means {default}){extra}")
        return default
    return value
