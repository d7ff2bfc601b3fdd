"""Settings for the AI orchestrator.

Settings come ONLY from the environment variables named by ``env=`` on the
fields of :class:`Settings` (the README's Environment table describes them);
a field without ``env=`` is a code default, never read from the environment.
Values are stripped, and a blank value counts as unset.

Invalid settings raise :class:`ConfigError` listing every problem at once,
naming the variable and the fix, never its value.

Secrets are kept as ``pydantic.SecretStr`` so ``repr()``/``str()`` of the
settings never shows them. Use :func:`redact` whenever a URL is logged.
"""

from __future__ import annotations

import os
import re
import secrets
from contextvars import ContextVar
from ipaddress import ip_network
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import BaseSettings, Field, IPvAnyNetwork, SecretStr, ValidationError, validator
from pydantic.fields import ModelField

from .models import USERNAME_RULE, normalize_username
from .passwords import PasswordError, check_password

MIN_JWT_SECRET_LENGTH = 32
MIN_PROXY_TOKEN_LENGTH = 32

#: Exit status used when the configuration is invalid (sysexits.h EX_CONFIG).
EX_CONFIG = 78

#: recall@10 >= 0.95 on 100,000 x 1536 memories needs an ef_search well above 40 (the recall and latency of each
#: value are in BENCHMARKS.md, "Memory search")
DEFAULT_MEMORY_EF_SEARCH = 150
#: chat looks up a few memories as context on every turn: pgvector's default ef_search keeps that cheap (150 halved
#: chat's requests/s under load, BENCHMARKS.md), and a near neighbour serves as context as well as the nearest
DEFAULT_CHAT_MEMORY_EF_SEARCH = 40
#: pgvector's limit for hnsw.ef_search
MAX_EF_SEARCH = 1000

ENVIRONMENTS = ("development", "production")

#: CORS_ALLOW_ORIGINS when unset in development: the frontend's `next dev` / `next start` origin
DEVELOPMENT_ORIGINS = ("http://localhost:3000", "http://127.0.0.1:3000")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

_DB_SCHEMES = ("postgresql://", "postgres://")
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

_GENERATE_HINT = (
    "generate one with: "
    "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
)
_EF_NOTE = "higher finds the true nearest memories more often, at more CPU per "


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


#: the mapping load_settings() reads (os.environ unless a caller passes its own, as the tests and the importer do)
_ENVIRON: ContextVar[Optional[Mapping[str, str]]] = ContextVar("cartrita_environ", default=None)


def _get(environ: Mapping[str, str], name: str) -> Optional[str]:
    value = environ.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _environment_source(settings: BaseSettings) -> Dict[str, Any]:
    """The fields that name an ``env=`` variable, from that variable when it is set and not blank.

    Used instead of pydantic's own source, which would read every field (code defaults too) and JSON-decode
    tuples."""
    env = _ENVIRON.get()
    env = os.environ if env is None else env
    out: Dict[str, Any] = {}
    for field in settings.__fields__.values():
        name = field.field_info.extra.get("env")
        value = _get(env, name) if name else None
        if value is not None:
            out[field.name] = value
    return out


def _env_name(field: ModelField) -> str:
    return field.field_info.extra["env"]


def _plain(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


class Settings(BaseSettings):
    # --- from the environment (validated in this order, which is the order problems are reported in) ----------
    database_url: SecretStr = Field(
        ..., env="DATABASE_URL",
        missing="DATABASE_URL is not set. Set it to the PostgreSQL URL, e.g. "
                "DATABASE_URL=postgresql://USER:PASSWORD@HOST:5432/cartrita",
    )
    redis_url: Optional[SecretStr] = Field(None, env="REDIS_URL")
    jwt_secret_key: SecretStr = Field(
        ..., env="JWT_SECRET_KEY",
        missing=f"JWT_SECRET_KEY is not set. Set it to a random secret of at least "
                f"{MIN_JWT_SECRET_LENGTH} characters; {_GENERATE_HINT}",
    )
    openai_api_key: Optional[SecretStr] = Field(None, env="OPENAI_API_KEY")
    anthropic_api_key: Optional[SecretStr] = Field(None, env="ANTHROPIC_API_KEY")
    deepgram_api_key: Optional[SecretStr] = Field(None, env="DEEPGRAM_API_KEY")
    cartrita_api_key: Optional[SecretStr] = Field(None, env="CARTRITA_API_KEY")
    environment: str = Field("production", env="CARTRITA_ENV")
    testing: bool = Field(False, env="TESTING")
    openai_base_url: str = Field("https://api.openai.com/v1", env="OPENAI_BASE_URL")
    anthropic_base_url: str = Field("https://api.anthropic.com", env="ANTHROPIC_BASE_URL")
    deepgram_base_url: str = Field("https://api.deepgram.com", env="DEEPGRAM_BASE_URL")
    #: requests per client and window; 0 turns rate limiting off
    rate_limit_requests: int = Field(120, env="RATE_LIMIT_REQUESTS", ge=0, note="0 turns rate limiting off")
    rate_limit_window_seconds: int = Field(60, env="RATE_LIMIT_WINDOW_SECONDS", ge=1)
    #: hnsw.ef_search floor for memory searches (see memory_ef_search_for)
    memory_ef_search: int = Field(DEFAULT_MEMORY_EF_SEARCH, env="MEMORY_EF_SEARCH", ge=1, le=MAX_EF_SEARCH,
                                  note=_EF_NOTE + "search")
    #: the same for chat's memory context (see memory_ef_search_for)
    chat_memory_ef_search: int = Field(DEFAULT_CHAT_MEMORY_EF_SEARCH, env="CHAT_MEMORY_EF_SEARCH", ge=1,
                                       le=MAX_EF_SEARCH, note=_EF_NOTE + "chat turn")
    #: browser origins allowed by CORS and to open WebSockets (``["*"]`` = any); empty = none; unset: the frontend's
    #: development origins in development, none in production
    cors_allow_origins: Tuple[str, ...] = Field(None, env="CORS_ALLOW_ORIGINS")
    # accounts: the first user (created at start-up when missing, never changed), login sessions, login attempts
    admin_user: Optional[str] = Field(None, env="CARTRITA_ADMIN_USER")
    admin_password: Optional[SecretStr] = Field(None, env="CARTRITA_ADMIN_PASSWORD")
    login_session_ttl_seconds: int = Field(12 * 3600, env="SESSION_TTL_SECONDS", ge=1,
                                           note="how long an unused login session lasts")
    #: login attempts per client address, and per username, and window (RATE_LIMIT_WINDOW_SECONDS); 0 = no limit
    login_rate_limit_requests: int = Field(10, env="LOGIN_RATE_LIMIT_REQUESTS", ge=0,
                                           note="login attempts per client address and per username; 0 turns it off")

    # --- issue 17 hardening: forwarded client addresses, metrics, WebSockets ----------------------------------
    #: proxies whose X-Forwarded-For is believed (see guard.client_ip); empty = the TCP peer is the client
    trusted_proxies: Tuple[IPvAnyNetwork, ...] = Field((), env="TRUSTED_PROXIES")
    #: a shared secret a proxy (the frontend) sends as X-Cartrita-Proxy-Token: a request carrying it has its
    #: X-Forwarded-For believed whatever its TCP peer (Compose/Kubernetes, where the proxy's address is not known
    #: in advance); unset = only TRUSTED_PROXIES
    trusted_proxy_token: Optional[SecretStr] = Field(None, env="TRUSTED_PROXY_TOKEN")
    #: a bearer token for GET /metrics (a scraper need not hold the API key, which is also accepted)
    metrics_token: Optional[SecretStr] = Field(None, env="METRICS_TOKEN")
    #: open WebSockets per principal in one process
    ws_max_connections_per_principal: int = Field(5, env="WS_MAX_CONNECTIONS_PER_PRINCIPAL", ge=1)

    @validator("trusted_proxies", pre=True)
    def _trusted_proxies(cls, v: Any) -> Tuple[IPvAnyNetwork, ...]:
        if not isinstance(v, str):
            return v
        try:
            # strict=False: 10.1.2.3/8 means 10.0.0.0/8, as ip route would read it
            return tuple(ip_network(p.strip(), strict=False) for p in v.split(",") if p.strip())
        except ValueError:
            raise ValueError(
                "TRUSTED_PROXIES must be a comma-separated list of IP addresses or networks "
                "like 127.0.0.1,10.0.0.0/8 (unset means no proxy is trusted)"
            ) from None

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
    #: one WebSocket message (see wslimit.py); larger ones close the socket with 1009
    max_ws_message_bytes: int = 1024 * 1024
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

        @classmethod
        def customise_sources(cls, init_settings, env_settings, file_secret_settings):
            # no secrets directory, no dotenv: only what load_settings() was given
            return init_settings, _environment_source

    # --- validation: each message names the variable and the fix, never the value ----------------------------
    @validator("database_url", pre=True)
    def _database_url(cls, v: Any) -> Any:
        url = _plain(v)
        if not url.startswith(_DB_SCHEMES) or not _valid_postgres_url(url):
            raise ValueError(
                "DATABASE_URL is not a valid PostgreSQL URL. It must look like "
                "postgresql://USER:PASSWORD@HOST:5432/cartrita "
                "(percent-encode special characters in the password)"
            )
        return v

    @validator("redis_url", pre=True)
    def _redis_url(cls, v: Any) -> Any:
        if v is not None and not _plain(v).startswith(_REDIS_SCHEMES):
            raise ValueError(
                "REDIS_URL is not a valid Redis URL. It must look like "
                "redis://:PASSWORD@HOST:6379/0 (or rediss://, unix://)"
            )
        return v

    @validator("jwt_secret_key", pre=True)
    def _jwt_secret_key(cls, v: Any) -> Any:
        length = len(_plain(v))
        if length < MIN_JWT_SECRET_LENGTH:
            raise ValueError(
                f"JWT_SECRET_KEY is too short ({length} characters, at least "
                f"{MIN_JWT_SECRET_LENGTH} required). Set it to a longer random secret; "
                f"{_GENERATE_HINT}"
            )
        return v

    @validator("trusted_proxy_token", pre=True)
    def _trusted_proxy_token(cls, v: Any) -> Any:
        if v is None:
            return v
        length = len(_plain(v))
        if length < MIN_PROXY_TOKEN_LENGTH:
            raise ValueError(
                f"TRUSTED_PROXY_TOKEN is too short ({length} characters, at least "
                f"{MIN_PROXY_TOKEN_LENGTH} required; unset means only TRUSTED_PROXIES is trusted). "
                f"Set it to a longer random secret (the same as the frontend's ORCHESTRATOR_PROXY_TOKEN); "
                f"{_GENERATE_HINT}"
            )
        return v

    @validator("environment", pre=True)
    def _environment(cls, v: str) -> str:
        v = v.lower()
        if v not in ENVIRONMENTS:
            raise ValueError("CARTRITA_ENV must be 'development' or 'production' (unset means production)")
        return v

    @validator("testing", pre=True)
    def _testing(cls, v: Any) -> bool:
        # our own word list: pydantic's bool would also take "t", "y" and friends
        if isinstance(v, bool):
            return v
        if v.lower() in _TRUE:
            return True
        if v.lower() in _FALSE:
            return False
        raise ValueError("TESTING must be 'true' or 'false' (unset means false)")

    @validator("openai_base_url", "anthropic_base_url", "deepgram_base_url", pre=True)
    def _base_url(cls, v: str, field: ModelField) -> str:
        if not _valid_http_url(v):
            raise ValueError(f"{_env_name(field)} must be an http:// or https:// URL (unset means {field.default})")
        return v.rstrip("/")

    @validator("rate_limit_requests", "rate_limit_window_seconds", "memory_ef_search", "chat_memory_ef_search",
               "ws_max_connections_per_principal", pre=True)
    def _whole_number(cls, v: Any, field: ModelField) -> int:
        try:
            value: Optional[int] = int(v)
        except ValueError:
            value = None
        low, high = field.field_info.ge, field.field_info.le
        if value is None or value < low or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"from {low} to {high}"
            note = field.field_info.extra.get("note")
            extra = f"; {note}" if note else ""
            raise ValueError(f"{_env_name(field)} must be a whole number {bounds} (unset means {field.default}){extra}")
        return value

    @validator("cors_allow_origins", pre=True, always=True)
    def _cors_allow_origins(cls, v: Any, values: Dict[str, Any]) -> Tuple[str, ...]:
        if v is None:
            # never "*": the WebSocket origin check reads this list too
            return DEVELOPMENT_ORIGINS if values.get("environment") == "development" else ()
        # lower-case, as browsers send an Origin
        origins = tuple(o.strip().rstrip("/").lower() for o in v.split(",") if o.strip()) if isinstance(v, str) \
            else tuple(v)
        if any(o != "*" and not re.fullmatch(r"https?://[^/\s]+", o) for o in origins):
            raise ValueError(
                "CORS_ALLOW_ORIGINS must be * or a comma-separated list of origins "
                "like https://app.example.com (scheme and host, no path)"
            )
        return origins

    @validator("admin_user", pre=True)
    def _admin_user(cls, v: Any) -> Any:
        if v is None:
            return v
        name = normalize_username(v)
        if name is None:
            raise ValueError(f"CARTRITA_ADMIN_USER is not a valid username: {USERNAME_RULE}")
        return name

    @validator("admin_password", pre=True, always=True)
    def _admin_password(cls, v: Any, values: Dict[str, Any]) -> Any:
        # "admin_user" missing from values: it was invalid, and that is reported already
        if v is None:
            if values.get("admin_user") is not None:
                raise ValueError("CARTRITA_ADMIN_PASSWORD is not set. Set it together with CARTRITA_ADMIN_USER "
                                 "(or leave both unset and add users with `./cartrita user add NAME`)")
            return v
        if "admin_user" in values and values["admin_user"] is None:
            raise ValueError("CARTRITA_ADMIN_USER is not set. Set it together with CARTRITA_ADMIN_PASSWORD "
                             "(the name of the first user)")
        try:
            check_password(_plain(v), "CARTRITA_ADMIN_PASSWORD")
        except PasswordError as exc:
            raise ValueError(f"{exc}. Set it to a longer secret; {_GENERATE_HINT}") from None
        return v

    @validator("login_session_ttl_seconds", "login_rate_limit_requests", pre=True)
    def _account_number(cls, v: Any, field: ModelField) -> int:
        return cls._whole_number(v, field)

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
            self.admin_password,
            self.metrics_token,
            self.trusted_proxy_token,
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


#: every variable the settings read, in the order they are validated
ENV_NAMES = tuple(_env_name(f) for f in Settings.__fields__.values() if "env" in f.field_info.extra)


# ---------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------


def _valid_postgres_url(url: str) -> bool:
    try:
        from psycopg.conninfo import conninfo_to_dict

        conninfo_to_dict(url)
    except Exception:
        return False
    return True


def _valid_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _problem(error: Dict[str, Any]) -> str:
    """A validation error as the message for the operator (the validators' own, or the field's ``missing=``)."""
    if error["type"] == "value_error.missing":
        return Settings.__fields__[error["loc"][0]].field_info.extra["missing"]
    return error["msg"]


def load_settings(environ: Optional[Mapping[str, str]] = None, service: bool = True) -> Settings:
    """Build :class:`Settings` from the environment or raise :class:`ConfigError`.

    All problems are collected so that one start attempt reports all of them.
    With ``service=False`` (command-line tools such as the memory importer, which
    sign no tokens) JWT_SECRET_KEY is not required: a random one stands in.
    """
    env = os.environ if environ is None else environ
    given: Dict[str, Any] = {}
    if not service and _get(env, "JWT_SECRET_KEY") is None:
        given["jwt_secret_key"] = secrets.token_urlsafe(48)
    token = _ENVIRON.set(env)
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise ConfigError([_problem(e) for e in exc.errors()]) from None
    finally:
        _ENVIRON.reset(token)


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
