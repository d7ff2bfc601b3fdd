"""The real OpenAI / Anthropic / Deepgram clients against a loopback fake of their APIs.

Two extra app processes share the session's PostgreSQL and Redis:
``openai_app`` (OPENAI_API_KEY + DEEPGRAM_API_KEY, base URLs on the fake)
and ``anthropic_app`` (ANTHROPIC_API_KEY only).
"""

from __future__ import annotations

import uuid

import httpx
import psycopg
import pytest

from apiclient import stream_chat, ws_exchange, ws_url
from fake_providers import ANTHROPIC_REPLY, OPENAI_REPLY, TRANSCRIPT, FakeProviders
from support import AppProcess


@pytest.fixture(scope="module")
def fake():
    server = FakeProviders().start()
    yield server
    server.stop()


def _env(service_env, **overrides):
    env = dict(service_env)
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DEEPGRAM_API_KEY"):
        env.pop(name, None)
    env.update({k: v for k, v in overrides.items() if v is not None})
    return env


@pytest.fixture(scope="module")
def openai_app(service_env, workdir, fake, sentinels, postgres, redis_server):
    env = _env(
        service_env,
        OPENAI_API_KEY=sentinels.openai_key,
        OPENAI_BASE_URL=f"{fake.base_url}/v1",
        DEEPGRAM_API_KEY=sentinels.deepgram_key,
        DEEPGRAM_BASE_URL=fake.base_url,
    )
    proc = AppProcess(env, workdir, name="app-openai")
    try:
        proc.start()
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def anthropic_app(service_env, workdir, fake, sentinels, postgres, redis_server):
    env = _env(service_env, ANTHROPIC_API_KEY=sentinels.anthropic_key, ANTHROPIC_BASE_URL=fake.base_url)
    proc = AppProcess(env, workdir, name="app-anthropic")
    try:
        proc.start()
        yield proc
    finally:
        proc.stop()


def _client(app, key_headers, seen):
    def record(response: httpx.Response) -> None:
        response.read()
        seen.bodies.append(response.text)

    return httpx.Client(base_url=app.base_url, timeout=20.0, headers=key_headers,
                        event_hooks={"response": [record]})


@pytest.fixture
def oa(openai_app, key_headers, seen, fake, deps_up):
    fake.reset()
    with _client(openai_app, key_headers, seen) as c:
        yield c


@pytest.fixture
def an(anthropic_app, key_headers, seen, fake, deps_up):
    fake.reset()
    with _client(anthropic_app, key_headers, seen) as c:
        yield c


def stored(postgres, sentinels, message_id):
    with psycopg.connect(postgres.dsn("cartrita_app", sentinels.db_password, "cartrita")) as conn:
        return conn.execute("SELECT role, content, provider, agent FROM messages WHERE id = %s", (message_id,)).fetchone()


# -- OpenAI --------------------------------------------------------------------------


def test_openai_chat(oa, fake, sentinels, postgres):
    health = oa.get("/health").json()
    assert health["providers"] == {"openai": "configured", "anthropic": "not configured", "deepgram": "configured"}

    r = oa.post("/api/chat", json={"message": "Say hello, OpenAI"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["reply"] == "".join(OPENAI_REPLY)
    assert body["provider"] == "openai" and body["model"] == "gpt-4o-mini"
    assert stored(postgres, sentinels, body["message_id"]) == ("assistant", body["reply"], "openai", "general")

    (call,) = fake.calls("/v1/chat/completions")
    assert call.headers["authorization"] == f"Bearer {sentinels.openai_key}"
    req = call.json()
    assert req["model"] == "gpt-4o-mini" and not req.get("stream")
    assert req["messages"][0]["role"] == "system" and "general agent" in req["messages"][0]["content"]
    assert req["messages"][-1] == {"role": "user", "content": "Say hello, OpenAI"}
    # the message was embedded with OpenAI for the memory context
    (emb,) = fake.calls("/v1/embeddings")
    assert emb.json()["model"] == "text-embedding-3-small" and emb.json()["input"] == ["Say hello, OpenAI"]

    # a follow-up sends the history
    fake.reset()
    r = oa.post("/api/chat", json={"message": "and again", "conversation_id": body["conversation_id"]})
    msgs = fake.calls("/v1/chat/completions")[0].json()["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[2]["content"] == "".join(OPENAI_REPLY)


def test_openai_streaming_sse_and_websocket(oa, openai_app, fake, sentinels, postgres, key_headers):
    r, events = stream_chat(oa, {"message": "stream from openai"})
    assert r.status_code == 200
    assert events[0]["data"]["provider"] == "openai", events
    tokens = [e["data"]["token"] for e in events if e["event"] == "token"]
    assert tokens == OPENAI_REPLY
    done = events[-1]
    assert done["event"] == "done" and done["data"]["reply"] == "".join(OPENAI_REPLY)
    assert stored(postgres, sentinels, done["data"]["message_id"])[1:3] == ("".join(OPENAI_REPLY), "openai")
    assert fake.calls("/v1/chat/completions")[0].json()["stream"] is True

    out = ws_exchange(ws_url(openai_app.base_url, "/ws/chat"), [({"message": "ws openai"}, "done")],
                      headers=key_headers)
    frames = out[0]
    assert frames[0]["provider"] == "openai"
    assert [f["token"] for f in frames if f["type"] == "token"] == OPENAI_REPLY


def test_openai_retries_then_succeeds(oa, fake):
    fake.fail("/v1/chat/completions", 429, 500)
    r = oa.post("/api/chat", json={"message": "retry please"})
    assert r.status_code == 200, r.text
    assert r.json()["reply"] == "".join(OPENAI_REPLY)
    assert len(fake.calls("/v1/chat/completions")) == 3

    # streaming retries before the first byte, too
    fake.reset()
    fake.fail("/v1/chat/completions", 503)
    r, events = stream_chat(oa, {"message": "stream retry"})
    assert events[-1]["event"] == "done" and len(fake.calls("/v1/chat/completions")) == 2

    text = oa.get("/metrics").text
    assert 'cartrita_orchestrator_provider_requests_total{kind="chat",outcome="retry",provider="openai"}' in text


def test_openai_failures_are_502_not_500(oa, fake, sentinels):
    fake.fail("/v1/chat/completions", 500, 502, 503)
    r = oa.post("/api/chat", json={"message": "this will fail"})
    assert r.status_code == 502, r.text
    body = r.json()
    assert body["error"] == "provider_error" and "openai" in body["detail"] and "3 attempt" in body["detail"]
    assert sentinels.openai_key not in r.text
    assert len(fake.calls("/v1/chat/completions")) == 3

    # a 4xx other than 429 is not retried
    fake.reset()
    fake.fail("/v1/chat/completions", 401)
    r = oa.post("/api/chat", json={"message": "bad key"})
    assert r.status_code == 502 and "401" in r.json()["detail"]
    assert len(fake.calls("/v1/chat/completions")) == 1

    # on the stream, the failure is an error event
    fake.reset()
    fake.fail("/v1/chat/completions", 500, 500, 500)
    r, events = stream_chat(oa, {"message": "stream fails"})
    assert r.status_code == 200
    assert [e["event"] for e in events] == ["meta", "error"]
    assert events[-1]["data"]["error"] == "provider_error"

    # embeddings failing only costs the memory context
    fake.reset()
    fake.fail("/v1/embeddings", 400)
    r = oa.post("/api/chat", json={"message": "no memories this time"})
    assert r.status_code == 200 and r.json()["memories_used"] == []


def test_openai_embeddings_for_memory(oa, fake):
    n = uuid.uuid4().hex[:6]
    items = [{"content": f"walrus{n} tusks are long teeth"}, {"content": f"espresso{n} needs finely ground beans"},
             {"content": f"walrus{n} herds rest on sea ice"}]
    r = oa.post("/api/memory", json={"items": items})
    assert r.status_code == 201 and r.json()["count"] == 3
    (call,) = fake.calls("/v1/embeddings")
    assert call.json()["input"] == [i["content"] for i in items]  # one batched request

    r = oa.post("/api/memory/search", json={"query": f"where do walrus{n} herds rest", "k": 2})
    results = r.json()["results"]
    assert results[0]["content"] == items[2]["content"]
    assert len(fake.calls("/v1/embeddings")) == 2

    # the same query again comes from the redis cache: no new API call
    r2 = oa.post("/api/memory/search", json={"query": f"where do walrus{n} herds rest", "k": 2})
    assert [x["id"] for x in r2.json()["results"]] == [x["id"] for x in results]
    assert len(fake.calls("/v1/embeddings")) == 2


# -- Anthropic -----------------------------------------------------------------------


def test_anthropic_chat_and_stream(an, fake, sentinels, postgres):
    r = an.post("/api/chat", json={"message": "Hello Claude"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["reply"] == "".join(ANTHROPIC_REPLY) and body["provider"] == "anthropic"
    (call,) = fake.calls("/v1/messages")
    assert call.headers["x-api-key"] == sentinels.anthropic_key
    assert call.headers["anthropic-version"] == "2023-06-01"
    req = call.json()
    assert req["max_tokens"] > 0 and "general agent" in req["system"]
    assert req["messages"] == [{"role": "user", "content": "Hello Claude"}]
    assert fake.calls("/v1/embeddings") == []  # embeddings stay local without an OpenAI key

    fake.reset()
    r, events = stream_chat(an, {"message": "stream it", "conversation_id": body["conversation_id"]})
    assert events[0]["data"]["provider"] == "anthropic"
    assert [e["data"]["token"] for e in events if e["event"] == "token"] == ANTHROPIC_REPLY
    assert events[-1]["data"]["reply"] == "".join(ANTHROPIC_REPLY)
    req = fake.calls("/v1/messages")[0].json()
    assert req["stream"] is True
    assert [m["role"] for m in req["messages"]] == ["user", "assistant", "user"]
    assert stored(postgres, sentinels, events[-1]["data"]["message_id"])[2] == "anthropic"

    fake.reset()
    fake.fail("/v1/messages", 529)
    r = an.post("/api/chat", json={"message": "overloaded once"})
    assert r.status_code == 200 and len(fake.calls("/v1/messages")) == 2


# -- Deepgram ------------------------------------------------------------------------


def test_deepgram_forwarding(oa, fake, sentinels):
    audio = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4
    r = oa.post("/api/voice/transcribe", content=audio, headers={"content-type": "audio/wav"})
    assert r.status_code == 200, r.text
    assert r.json() == {"transcript": TRANSCRIPT, "provider": "deepgram"}
    (call,) = fake.calls("/v1/listen")
    assert call.headers["authorization"] == f"Token {sentinels.deepgram_key}"
    assert call.headers["content-type"] == "audio/wav"
    assert call.body == audio
    assert call.query["model"] == ["nova-2"]

    fake.reset()
    fake.fail("/v1/listen", 500)
    r = oa.post("/api/voice/transcribe", content=audio, headers={"content-type": "audio/webm"})
    assert r.status_code == 200 and len(fake.calls("/v1/listen")) == 2

    r = oa.post("/api/voice/transcribe", json={"url": "http://example.com/a.wav"})
    assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type"
    r = oa.post("/api/voice/transcribe", content=b"", headers={"content-type": "audio/wav"})
    assert r.status_code == 422
    # audio may be bigger than the 1 MB JSON cap, up to 10 MB
    r = oa.post("/api/voice/transcribe", content=b"\x00" * (2 * 1024 * 1024), headers={"content-type": "audio/wav"})
    assert r.status_code == 200
    r = oa.post("/api/voice/transcribe", content=b"\x00" * (10 * 1024 * 1024 + 1), headers={"content-type": "audio/wav"})
    assert r.status_code == 413


def test_deepgram_not_configured(api):
    r = api.post("/api/voice/transcribe", content=b"abc", headers={"content-type": "audio/wav"})
    assert r.status_code == 503
    body = r.json()
    assert body["error"] == "provider_not_configured" and "DEEPGRAM_API_KEY" in body["detail"]


def test_provider_apps_never_log_keys_nor_answer_500(openai_app, anthropic_app, sentinels, key_headers):
    for proc in (openai_app, anthropic_app):
        out = proc.output()
        assert "providers: chat=" in out
        for secret in sentinels.all():
            assert secret not in out
        metrics = httpx.get(f"{proc.base_url}/metrics", headers=key_headers, timeout=5.0).text
        assert 'status="500"' not in metrics
        assert 'status="502"' in metrics or proc is anthropic_app  # the failure tests ran
