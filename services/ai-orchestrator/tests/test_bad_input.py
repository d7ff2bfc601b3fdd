"""Bad input never reaches the database as an error: every case is a 4xx JSON {error, detail}."""

from __future__ import annotations

import json
import uuid

import pytest

JSON = {"content-type": "application/json"}
MB = 1024 * 1024


def raw(text: str) -> bytes:
    return text.encode("utf-8")


def deep(n: int):
    v = "leaf"
    for _ in range(n):
        v = {"k": v}
    return v


CASES = [
    # (id, method, path, kwargs, expected status, expected error code)
    ("malformed-json", "POST", "/api/chat", {"content": b'{"message": ', "headers": JSON}, 400, "invalid_json"),
    ("json-trailing-garbage", "POST", "/api/chat", {"content": b'{"message": "hi"} x', "headers": JSON}, 400, "invalid_json"),
    ("json-array", "POST", "/api/chat", {"json": [1, 2]}, 422, "validation_error"),
    ("json-string", "POST", "/api/chat", {"json": "hello"}, 422, "validation_error"),
    ("empty-body", "POST", "/api/chat", {"content": b"", "headers": JSON}, 422, "validation_error"),
    ("missing-message", "POST", "/api/chat", {"json": {}}, 422, "validation_error"),
    ("message-int", "POST", "/api/chat", {"json": {"message": 42}}, 422, "validation_error"),
    ("message-null", "POST", "/api/chat", {"json": {"message": None}}, 422, "validation_error"),
    ("message-object", "POST", "/api/chat", {"json": {"message": {"a": 1}}}, 422, "validation_error"),
    ("message-empty", "POST", "/api/chat", {"json": {"message": ""}}, 422, "validation_error"),
    ("message-blank", "POST", "/api/chat", {"json": {"message": " \n\t "}}, 422, "validation_error"),
    ("message-too-long", "POST", "/api/chat", {"json": {"message": "x" * 16_001}}, 422, "validation_error"),
    ("message-nul", "POST", "/api/chat", {"json": {"message": "a\u0000b"}}, 422, "validation_error"),
    ("message-lone-surrogate", "POST", "/api/chat", {"content": b'{"message": "a\\ud800b"}', "headers": JSON}, 422, "validation_error"),
    ("invalid-utf8-body", "POST", "/api/chat", {"content": b'{"message": "\xff\xfe caf\xe9"}', "headers": JSON}, 400, "invalid_body"),
    ("conversation-id-malformed", "POST", "/api/chat", {"json": {"message": "hi", "conversation_id": "not-a-uuid"}}, 422, "validation_error"),
    ("conversation-id-int", "POST", "/api/chat", {"json": {"message": "hi", "conversation_id": 7}}, 422, "validation_error"),
    ("conversation-unknown", "POST", "/api/chat", {"json": {"message": "hi", "conversation_id": str(uuid.uuid4())}}, 404, "not_found"),
    ("agent-list", "POST", "/api/chat", {"json": {"message": "hi", "agent": ["code"]}}, 422, "validation_error"),
    ("agent-bad-name", "POST", "/api/chat", {"json": {"message": "hi", "agent": "Robot Agent!"}}, 422, "validation_error"),
    ("agent-unknown", "POST", "/api/chat", {"json": {"message": "hi", "agent": "wizard"}}, 422, "validation_error"),
    ("text-plain-body", "POST", "/api/chat", {"content": b'{"message": "hi"}', "headers": {"content-type": "text/plain"}}, 422, "validation_error"),
    ("body-over-1mb", "POST", "/api/chat", {"json": {"message": "x" * (MB + 10)}}, 413, "payload_too_large"),
    ("chunked-body-over-1mb", "POST", "/api/memory", {"content": (b"x" * 65536 for _ in range(20)), "headers": JSON}, 413, "payload_too_large"),
    ("agent-int", "POST", "/api/chat", {"json": {"message": "hi", "conversation_id": None, "agent": 5}}, 422, "validation_error"),
    ("memory-missing-content", "POST", "/api/memory", {"json": {"metadata": {}}}, 422, "validation_error"),
    ("memory-both-forms", "POST", "/api/memory", {"json": {"content": "a", "items": [{"content": "b"}]}}, 422, "validation_error"),
    ("memory-empty-items", "POST", "/api/memory", {"json": {"items": []}}, 422, "validation_error"),
    ("memory-too-many-items", "POST", "/api/memory", {"json": {"items": [{"content": "x"}] * 257}}, 422, "validation_error"),
    ("memory-item-not-object", "POST", "/api/memory", {"json": {"items": ["text"]}}, 422, "validation_error"),
    ("memory-metadata-list", "POST", "/api/memory", {"json": {"content": "a", "metadata": [1]}}, 422, "validation_error"),
    ("memory-metadata-nan", "POST", "/api/memory", {"content": b'{"content": "a", "metadata": {"x": NaN}}', "headers": JSON}, 422, "validation_error"),
    ("memory-metadata-nul", "POST", "/api/memory", {"json": {"content": "a", "metadata": {"x": "\u0000"}}}, 422, "validation_error"),
    ("memory-metadata-too-deep", "POST", "/api/memory", {"json": {"content": "a", "metadata": deep(20)}}, 422, "validation_error"),
    ("memory-content-too-long", "POST", "/api/memory", {"json": {"content": "y" * 16_001}}, 422, "validation_error"),
    ("search-missing-query", "POST", "/api/memory/search", {"json": {"k": 3}}, 422, "validation_error"),
    ("search-k-zero", "POST", "/api/memory/search", {"json": {"query": "a", "k": 0}}, 422, "validation_error"),
    ("search-k-too-big", "POST", "/api/memory/search", {"json": {"query": "a", "k": 51}}, 422, "validation_error"),
    ("search-k-string", "POST", "/api/memory/search", {"json": {"query": "a", "k": "5"}}, 422, "validation_error"),
    ("search-k-bool", "POST", "/api/memory/search", {"json": {"query": "a", "k": True}}, 422, "validation_error"),
    ("search-k-float", "POST", "/api/memory/search", {"json": {"query": "a", "k": 2.5}}, 422, "validation_error"),
    ("conversations-limit-text", "GET", "/api/conversations?limit=abc", {}, 422, "validation_error"),
    ("conversations-limit-zero", "GET", "/api/conversations?limit=0", {}, 422, "validation_error"),
    ("conversations-offset-negative", "GET", "/api/conversations?offset=-1", {}, 422, "validation_error"),
    ("conversations-offset-huge", "GET", "/api/conversations?offset=99999999999999999999", {}, 422, "validation_error"),
    ("conversation-malformed-uuid", "GET", "/api/conversations/12345", {}, 422, "validation_error"),
    ("conversation-unknown-id", "GET", f"/api/conversations/{uuid.uuid4()}", {}, 404, "not_found"),
    ("stream-missing-message", "GET", "/api/chat/stream", {}, 422, "validation_error"),
    ("stream-invalid-utf8-query", "GET", "/api/chat/stream?message=%ff%fe", {}, 400, "invalid_encoding"),
    ("stream-nul-in-query", "GET", "/api/chat/stream?message=a%00b", {}, 422, "validation_error"),
    ("stream-bad-conversation", "GET", "/api/chat/stream?message=hi&conversation_id=zzz", {}, 422, "validation_error"),
    ("voice-empty-without-key", "POST", "/api/voice/transcribe", {"content": b""}, 503, "provider_not_configured"),
    ("unknown-route", "GET", "/api/nothing-here", {}, 404, "not_found"),
    ("wrong-method", "DELETE", "/api/chat", {}, 405, "method_not_allowed"),
]


@pytest.mark.parametrize("name, method, path, kwargs, status, error", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_a_json_4xx(api, name, method, path, kwargs, status, error):
    r = api.request(method, path, **kwargs)
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["error"] == error, body
    assert isinstance(body["detail"], str) and body["detail"]
    assert len(r.content) < 20_000  # never echoes a big body back


def test_there_are_enough_cases():
    assert len(CASES) >= 15


def test_validation_detail_is_readable(api):
    r = api.post("/api/chat", json={"message": 42, "conversation_id": "x"})
    body = r.json()
    assert "message" in body["detail"] and "conversation_id" in body["detail"]
    assert {tuple(e["loc"]) for e in body["errors"]} == {("body", "message"), ("body", "conversation_id")}


def test_secret_in_malformed_body_is_not_echoed(api, sentinels):
    r = api.post("/api/chat", content=raw(f'{{"message": "{sentinels.api_key}", oops}}'), headers=JSON)
    assert r.status_code == 400
    assert sentinels.api_key not in r.text
    r = api.post("/api/memory/search", content=raw(json.dumps({"query": 5, "k": sentinels.api_key})), headers=JSON)
    assert r.status_code == 422
    assert sentinels.api_key not in r.text


def test_no_500_after_bad_input(client, key_headers):
    text = client.get("/metrics", headers=key_headers).text
    assert 'status="500"' not in text
