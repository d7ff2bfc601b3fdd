"""Settings loading and redaction (pure functions, real inputs)."""

import pytest

from cartrita.orchestrator.config import (
    EX_CONFIG,
    MIN_JWT_SECRET_LENGTH,
    ConfigError,
    load_settings,
    redact,
)

GOOD_JWT = "j" * MIN_JWT_SECRET_LENGTH
GOOD_DB = "postgresql://robbie:pw-s3cret@127.0.0.1:5432/cartrita"


def test_redact_examples():
    assert redact("postgresql://robbie:pw@127.0.0.1:5432/cartrita") == "postgresql://robbie:***@127.0.0.1:5432/cartrita"
    assert redact("redis://:pw@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert redact("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert redact("postgresql://robbie@db/cartrita") == "postgresql://robbie@db/cartrita"
    assert redact("postgresql://u@h/db?sslmode=require&password=hunter22") == "postgresql://u@h/db?sslmode=require&password=***"
    assert redact("host=db user=u password=hunter22 dbname=x") == "host=db user=u password=*** dbname=x"
    assert redact(None) == ""


@pytest.mark.parametrize(
    "password",
    ["p@ss/w?rd#1", "a:b:c", "%40encoded%2F", "ends-with-at@"],
)
def test_redact_never_lets_awkward_passwords_through(password):
    url = f"postgresql://robbie:{password}@db.internal:5432/cartrita"
    out = redact(url)
    assert password not in out
    assert "***" in out
    assert out.startswith("postgresql://robbie:***@")


def test_settings_repr_hides_secrets():
    s = load_settings({"DATABASE_URL": GOOD_DB, "JWT_SECRET_KEY": GOOD_JWT, "OPENAI_API_KEY": "sk-abcdef"})
    text = repr(s) + str(s)
    for secret in ("pw-s3cret", GOOD_JWT, "sk-abcdef"):
        assert secret not in text
    assert s.database_url_redacted == "postgresql://robbie:***@127.0.0.1:5432/cartrita"
    assert s.environment == "production" and s.testing is False
    assert s.provider_status() == {"openai": "configured", "anthropic": "not configured", "deepgram": "not configured"}
    assert "pw-s3cret" in s.secret_values() and GOOD_JWT in s.secret_values()


def test_env_values_are_parsed():
    s = load_settings(
        {"DATABASE_URL": GOOD_DB, "JWT_SECRET_KEY": GOOD_JWT, "CARTRITA_ENV": "Development", "TESTING": "TRUE", "OPENAI_API_KEY": "  "}
    )
    assert s.environment == "development" and s.is_development and s.testing is True
    assert s.openai_api_key is None  # blank counts as unset


@pytest.mark.parametrize(
    "env, names",
    [
        ({"JWT_SECRET_KEY": GOOD_JWT}, ["DATABASE_URL is not set"]),
        ({"DATABASE_URL": GOOD_DB}, ["JWT_SECRET_KEY is not set"]),
        ({"DATABASE_URL": GOOD_DB, "JWT_SECRET_KEY": "x" * (MIN_JWT_SECRET_LENGTH - 1)}, ["JWT_SECRET_KEY is too short (31 characters"]),
        ({}, ["DATABASE_URL is not set", "JWT_SECRET_KEY is not set"]),
        ({"DATABASE_URL": "mysql://u:p@h/db", "JWT_SECRET_KEY": GOOD_JWT}, ["DATABASE_URL is not a valid PostgreSQL URL"]),
        ({"DATABASE_URL": GOOD_DB, "JWT_SECRET_KEY": GOOD_JWT, "REDIS_URL": "http://x"}, ["REDIS_URL is not a valid Redis URL"]),
        ({"DATABASE_URL": GOOD_DB, "JWT_SECRET_KEY": GOOD_JWT, "CARTRITA_ENV": "staging"}, ["CARTRITA_ENV must be"]),
        ({"DATABASE_URL": GOOD_DB, "JWT_SECRET_KEY": GOOD_JWT, "TESTING": "maybe"}, ["TESTING must be"]),
    ],
)
def test_invalid_configuration_is_refused(env, names):
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    rendered = info.value.render()
    for name in names:
        assert name in rendered
    assert len(info.value.problems) == len(names)
    # the message never repeats a secret value
    for value in env.values():
        if "p@" in value or value.startswith("x" * 8) or "pw-s3cret" in value:
            assert value not in rendered


def test_exit_code_is_ex_config():
    assert EX_CONFIG == 78


def test_provider_base_urls_rate_limits_and_cors():
    s = load_settings({"DATABASE_URL": GOOD_DB, "JWT_SECRET_KEY": GOOD_JWT})
    assert s.openai_base_url == "https://api.openai.com/v1"
    assert s.anthropic_base_url == "https://api.anthropic.com"
    assert s.deepgram_base_url == "https://api.deepgram.com"
    assert (s.rate_limit_requests, s.rate_limit_window_seconds) == (120, 60)
    assert s.cors_allow_origins == ()  # production: no CORS unless configured

    s = load_settings(
        {
            "DATABASE_URL": GOOD_DB,
            "JWT_SECRET_KEY": GOOD_JWT,
            "CARTRITA_ENV": "development",
            "OPENAI_BASE_URL": "http://127.0.0.1:9999/v1/",
            "ANTHROPIC_BASE_URL": "http://proxy.local:8080",
            "DEEPGRAM_BASE_URL": "https://dg.example.com",
            "RATE_LIMIT_REQUESTS": "0",
            "RATE_LIMIT_WINDOW_SECONDS": "10",
        }
    )
    assert s.openai_base_url == "http://127.0.0.1:9999/v1"  # trailing slash dropped
    assert s.anthropic_base_url == "http://proxy.local:8080"
    assert s.rate_limit_requests == 0 and s.rate_limit_window_seconds == 10
    assert s.cors_allow_origins == ("http://localhost:3000", "http://127.0.0.1:3000")  # development: the frontend

    s = load_settings({"DATABASE_URL": GOOD_DB, "JWT_SECRET_KEY": GOOD_JWT,
                       "CORS_ALLOW_ORIGINS": "https://app.example.com, http://localhost:3000/"})
    assert s.cors_allow_origins == ("https://app.example.com", "http://localhost:3000")


def test_base_url_credentials_are_scrubbed():
    s = load_settings({"DATABASE_URL": GOOD_DB, "JWT_SECRET_KEY": GOOD_JWT,
                       "OPENAI_BASE_URL": "https://user:proxyPassw0rd@proxy.example.com/v1"})
    assert "proxyPassw0rd" in s.secret_values()


@pytest.mark.parametrize(
    "name, value",
    [
        ("OPENAI_BASE_URL", "ftp://x"),
        ("ANTHROPIC_BASE_URL", "not a url"),
        ("DEEPGRAM_BASE_URL", "http://"),
        ("RATE_LIMIT_REQUESTS", "-1"),
        ("RATE_LIMIT_REQUESTS", "many"),
        ("RATE_LIMIT_WINDOW_SECONDS", "0"),
        ("CORS_ALLOW_ORIGINS", "https://app.example.com/path"),
        ("MEMORY_EF_SEARCH", "0"),
        ("MEMORY_EF_SEARCH", "1001"),
        ("MEMORY_EF_SEARCH", "plenty"),
        ("CHAT_MEMORY_EF_SEARCH", "0"),
    ],
)
def test_invalid_new_settings_are_refused(name, value):
    with pytest.raises(ConfigError) as info:
        load_settings({"DATABASE_URL": GOOD_DB, "JWT_SECRET_KEY": GOOD_JWT, name: value})
    assert name in info.value.render()
    assert len(info.value.problems) == 1


def test_memory_ef_search_setting():
    s = load_settings({"DATABASE_URL": GOOD_DB, "JWT_SECRET_KEY": GOOD_JWT})
    assert s.memory_ef_search == 150  # recall@10 >= 0.95 at 100k x 1536 needed 80-150 (BENCHMARKS.md)
    assert [s.memory_ef_search_for(k) for k in (1, 3, 5, 50, 100)] == [150, 150, 150, 150, 200]
    assert [s.memory_ef_search_for(k, chat=True) for k in (3, 20, 30)] == [40, 40, 60]  # chat's context: cheaper

    s = load_settings({"DATABASE_URL": GOOD_DB, "JWT_SECRET_KEY": GOOD_JWT, "MEMORY_EF_SEARCH": " 40 "})
    assert s.memory_ef_search == 40
    assert [s.memory_ef_search_for(k) for k in (3, 20, 30, 50)] == [40, 40, 60, 100]  # never below 2k

    s = load_settings({"DATABASE_URL": GOOD_DB, "JWT_SECRET_KEY": GOOD_JWT, "MEMORY_EF_SEARCH": "1000"})
    assert s.memory_ef_search_for(50) == 1000

    s = load_settings({"DATABASE_URL": GOOD_DB, "JWT_SECRET_KEY": GOOD_JWT, "CHAT_MEMORY_EF_SEARCH": "120"})
    assert (s.memory_ef_search_for(3), s.memory_ef_search_for(3, chat=True)) == (150, 120)

    with pytest.raises(ConfigError) as info:
        load_settings({"DATABASE_URL": GOOD_DB, "JWT_SECRET_KEY": GOOD_JWT, "MEMORY_EF_SEARCH": "1001"})
    assert info.value.problems == [
        "MEMORY_EF_SEARCH must be a whole number from 1 to 1000 (unset means 150); "
        "higher finds the true nearest memories more often, at more CPU per search"
    ]
