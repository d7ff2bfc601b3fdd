"""Chat (REST, SSE, WebSocket) and conversation history, local provider."""

from __future__ import annotations

import time
import uuid

import psycopg

from apiclient import stream_chat, ws_connect, ws_exchange, ws_send, ws_until, ws_url

CHAT_KEYS = {"conversation_id", "message_id", "reply", "agent", "provider", "model", "memories_used", "created_at"}


def db_rows(postgres, sentinels, sql, params=()):
    with psycopg.connect(postgres.dsn("cartrita_app", sentinels.db_password, "cartrita")) as conn:
        return conn.execute(sql, params).fetchall()


def test_chat_persists_both_messages(api, postgres, sentinels, deps_up):
    r = api.post("/api/chat", json={"message": "Hello Cartrita, how are the tulips today?"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == CHAT_KEYS
    assert body["provider"] == "local" and body["agent"] == "general"
    assert body["model"]
    assert "local provider" in body["reply"] and "tulips" in body["reply"] and "general" in body["reply"]
    assert isinstance(body["memories_used"], list)
    cid = body["conversation_id"]
    uuid.UUID(cid), uuid.UUID(body["message_id"])

    rows = db_rows(
        postgres, sentinels,
        "SELECT role, content, token_count, agent, provider FROM messages WHERE conversation_id = %s "
        "ORDER BY created_at, (role = 'assistant')", (cid,),
    )
    assert [r[0] for r in rows] == ["user", "assistant"]
    assert rows[0][1] == "Hello Cartrita, how are the tulips today?" and rows[0][2] > 0
    assert rows[1][1] == body["reply"] and rows[1][2] > 0
    assert rows[1][3] == "general" and rows[1][4] == "local"
    title = db_rows(postgres, sentinels, "SELECT title FROM conversations WHERE id = %s", (cid,))[0][0]
    assert title == "Hello Cartrita, how are the tulips today?"

    # a follow-up in the same conversation
    r = api.post("/api/chat", json={"message": "And the roses?", "conversation_id": cid})
    assert r.status_code == 200 and r.json()["conversation_id"] == cid
    assert "Earlier user turns in this conversation: 1" in r.json()["reply"]

    # it shows in the list (most recent first) and in the detail
    listing = api.get("/api/conversations", params={"limit": 5}).json()["conversations"]
    assert listing[0]["id"] == cid
    assert set(listing[0]) == {"id", "title", "agent", "created_at", "updated_at", "message_count"}
    assert listing[0]["message_count"] == 4
    detail = api.get(f"/api/conversations/{cid}").json()
    assert set(detail) == {"id", "title", "agent", "created_at", "updated_at", "messages"}
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant", "user", "assistant"]
    assert detail["messages"][1]["content"] == body["reply"]
    assert set(detail["messages"][0]) == {"id", "role", "content", "agent", "provider", "created_at"}
    assert detail["messages"][0]["provider"] is None and detail["messages"][1]["provider"] == "local"


def test_conversation_paging_and_errors(api):
    ids = [api.post("/api/chat", json={"message": f"paging test {i}"}).json()["conversation_id"] for i in range(3)]
    page = api.get("/api/conversations", params={"limit": 2}).json()["conversations"]
    assert [c["id"] for c in page] == ids[::-1][:2]
    page2 = api.get("/api/conversations", params={"limit": 2, "offset": 1}).json()["conversations"]
    assert page2[0]["id"] == ids[1]

    r = api.get(f"/api/conversations/{uuid.uuid4()}")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = api.get("/api/conversations/not-a-uuid")
    assert r.status_code == 422 and r.json()["error"] == "validation_error" and "conversation_id" in r.json()["detail"]
    r = api.post("/api/chat", json={"message": "hi", "conversation_id": str(uuid.uuid4())})
    assert r.status_code == 404 and "not found" in r.json()["detail"]


def test_agent_routing_and_override(api):
    r = api.post("/api/chat", json={"message": "Can you debug this python function for me?"}).json()
    assert r["agent"] == "code"
    r2 = api.post("/api/chat", json={"message": "Please research and find sources about bees"}).json()
    assert r2["agent"] == "research"
    # a neutral follow-up stays with the conversation's agent (session state in redis)
    r3 = api.post("/api/chat", json={"message": "thanks, and what next?", "conversation_id": r["conversation_id"]}).json()
    assert r3["agent"] == "code"
    # an explicit agent wins
    r4 = api.post("/api/chat", json={"message": "debug my python", "agent": "general"}).json()
    assert r4["agent"] == "general"
    r5 = api.post("/api/chat", json={"message": "hi", "agent": "nonexistent"})
    assert r5.status_code == 422 and "unknown" in r5.json()["detail"]

    agents = api.get("/api/agents").json()["agents"]
    assert {a["name"] for a in agents} >= {"general", "research", "code"}
    assert all(set(a) == {"name", "description", "enabled"} for a in agents)


def test_chat_uses_memories_as_context(api):
    nonce = uuid.uuid4().hex[:8]
    api.post("/api/memory", json={"content": f"Robbie's cat zanzibar{nonce} loves salmon treats"})
    r = api.post("/api/chat", json={"message": f"what does zanzibar{nonce} the cat love?"}).json()
    assert r["memories_used"], r
    top = r["memories_used"][0]
    assert f"zanzibar{nonce}" in top["content"] and set(top) == {"id", "content", "score"}
    assert 0 < top["score"] <= 1
    assert f"zanzibar{nonce}" in r["reply"]  # the local provider lists the memories it was given


def test_sse_stream(api, bearer, postgres, sentinels):
    r, events = stream_chat(api, {"message": "stream me a short answer please"}, headers=bearer)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    kinds = [e["event"] for e in events]
    assert kinds[0] == "meta" and kinds[-1] == "done"
    assert set(kinds[1:-1]) == {"token"} and len(kinds) > 5
    meta, done = events[0]["data"], events[-1]["data"]
    assert set(meta) == {"conversation_id", "agent", "provider"} and meta["provider"] == "local"
    assert set(done) == {"conversation_id", "message_id", "reply"}
    tokens = [e["data"]["token"] for e in events[1:-1]]
    assert "".join(tokens) == done["reply"]
    assert done["conversation_id"] == meta["conversation_id"]
    stored = db_rows(postgres, sentinels, "SELECT content, provider FROM messages WHERE id = %s", (done["message_id"],))
    assert stored == [(done["reply"], "local")]

    # continue the conversation over SSE
    r, events = stream_chat(api, {"message": "again", "conversation_id": meta["conversation_id"]})
    assert events[-1]["event"] == "done" and events[0]["data"]["conversation_id"] == meta["conversation_id"]

    # an EventSource reconnecting after the end is told to stop (204), not served again
    with api.stream("GET", "/api/chat/stream", params={"message": "x"},
                    headers={"Last-Event-ID": events[0]["id"]}) as again:
        assert again.status_code == 204

    # errors before the stream starts are plain JSON with a status
    r, _ = stream_chat(api, {"message": "hi", "conversation_id": str(uuid.uuid4())})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r, _ = stream_chat(api, {"message": "hi", "conversation_id": "nope"})
    assert r.status_code == 422
    r, _ = stream_chat(api, {})
    assert r.status_code == 422 and r.json()["error"] == "validation_error"
    r, _ = stream_chat(api, {"message": "x" * 16_001})
    assert r.status_code == 422 and "too long" in r.json()["detail"]


def test_websocket_chat_several_turns_and_garbage(app, ws_token, postgres, sentinels):
    url = ws_url(app.base_url, f"/ws/chat?token={ws_token}")
    ws = ws_connect(url)
    try:
        ws_send(ws, {"message": "first websocket message about gardening"})
        frames = ws_until(ws)
        assert frames[0]["type"] == "meta" and frames[-1]["type"] == "done"
        assert set(frames[0]) == {"type", "conversation_id", "agent", "provider"}
        assert set(frames[-1]) == {"type", "conversation_id", "message_id", "reply"}
        tokens = [f["token"] for f in frames if f["type"] == "token"]
        assert "".join(tokens) == frames[-1]["reply"]
        cid = frames[-1]["conversation_id"]

        for garbage in ["this is not json", "[1, 2, 3]", '{"message": 42}', '{"nothing": true}',
                        b"\x00\x01binary", '{"message": ""}', '{"message": "hi", "conversation_id": "x"}']:
            ws_send(ws, garbage)
            err = ws_until(ws)
            assert len(err) == 1 and err[0]["type"] == "error", (garbage, err)
            assert set(err[0]) >= {"type", "error", "detail"}

        ws_send(ws, {"message": "hi", "conversation_id": str(uuid.uuid4())})
        assert ws_until(ws)[0]["error"] == "not_found"

        # the same socket still chats, in the same conversation
        ws_send(ws, {"message": "second message", "conversation_id": cid})
        frames = ws_until(ws)
        assert frames[-1]["type"] == "done" and frames[-1]["conversation_id"] == cid
        reply_id = frames[-1]["message_id"]
    finally:
        ws.close()
    stored = db_rows(postgres, sentinels, "SELECT count(*) FROM messages WHERE conversation_id = %s", (cid,))
    assert stored[0][0] == 4
    assert db_rows(postgres, sentinels, "SELECT role FROM messages WHERE id = %s", (reply_id,)) == [("assistant",)]

    # X-API-Key header works for non-browser clients
    out = ws_exchange(ws_url(app.base_url, "/ws/chat"), [({"message": "header auth"}, "done")],
                      headers={"X-API-Key": sentinels.api_key})
    assert out[0][-1]["type"] == "done"


def test_query_token_is_not_logged(app, client, token, ws_token):
    r, _ = stream_chat(client, {"message": "log check", "token": token})
    assert r.status_code == 401  # refused there, but still in the access log
    ws_exchange(ws_url(app.base_url, f"/ws/chat?token={ws_token}"), [({"message": "log check"}, "done")])
    time.sleep(0.3)  # the access log line is written after the response
    output = app.output()
    assert "/api/chat/stream" in output
    assert token not in output and ws_token not in output
    assert "token=***" in output


def test_chat_metrics(client, key_headers):
    text = client.get("/metrics", headers=key_headers).text
    for needle in (
        'cartrita_orchestrator_chats_total{mode="rest",outcome="ok",provider="local"}',
        'cartrita_orchestrator_chats_total{mode="sse",outcome="ok",provider="local"}',
        'cartrita_orchestrator_chats_total{mode="ws",outcome="ok",provider="local"}',
        'cartrita_orchestrator_chat_tokens_total{kind="completion",provider="local"}',
        'cartrita_orchestrator_memory_operations_total{operation="chat_context",outcome="ok"}',
    ):
        assert needle in text, needle
