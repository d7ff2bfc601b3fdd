"""Auth: API key, token exchange, forged / expired tokens, query tokens."""

from __future__ import annotations

import base64
import json
import time

import httpx
import jwt
import pytest

from apiclient import stream_chat, ws_first_frame, ws_url


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def assert_401(r: httpx.Response, fragment: str = "") -> dict:
    assert r.status_code == 401, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == "unauthorized"
    assert fragment in body["detail"]
    return body


def test_token_exchange_with_header_and_json(client, sentinels):
    r = client.post("/api/auth/token", headers={"X-API-Key": sentinels.api_key})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "HS256"
    claims = jwt.decode(body["access_token"], sentinels.jwt_secret, algorithms=["HS256"],
                        options={"verify_iss": False})
    assert claims["exp"] - claims["iat"] == 900
    assert claims["sub"].startswith("apikey-") and sentinels.api_key not in claims["sub"]
    assert abs(claims["iat"] - time.time()) < 30

    r = client.post("/api/auth/token", json={"api_key": sentinels.api_key})
    assert r.status_code == 200 and r.json()["token_type"] == "bearer"

    # the token works
    r = client.get("/api/agents", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert r.status_code == 200


def test_token_exchange_refusals(client, sentinels):
    assert_401(client.post("/api/auth/token"), "X-API-Key")
    assert_401(client.post("/api/auth/token", headers={"X-API-Key": "nope"}), "invalid API key")
    assert_401(client.post("/api/auth/token", json={"api_key": sentinels.api_key + "x"}), "invalid API key")
    # the key is never taken from the query string
    assert_401(client.post(f"/api/auth/token?api_key={sentinels.api_key}"))
    r = client.post("/api/auth/token", json={"api_key": 12345})
    assert r.status_code == 422 and r.json()["error"] == "validation_error"
    r = client.post("/api/auth/token", content=b'{"api_key": ', headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_json"
    assert sentinels.api_key not in r.text


def test_every_api_route_requires_credentials(client, token):
    for method, path in [
        ("GET", "/api/agents"),
        ("GET", "/api/conversations"),
        ("GET", "/api/conversations/00000000-0000-0000-0000-000000000000"),
        ("POST", "/api/chat"),
        ("GET", "/api/chat/stream?message=hi"),
        ("POST", "/api/memory"),
        ("POST", "/api/memory/search"),
        ("POST", "/api/voice/transcribe"),
        ("GET", "/api/no-such-route"),
    ]:
        r = client.request(method, path)
        body = assert_401(r)
        assert "X-API-Key" in body["detail"], path
        assert r.headers.get("www-authenticate") == "Bearer"
    # open endpoints
    assert client.get("/health").status_code in (200, 503)
    assert client.get("/metrics").status_code == 401  # the metrics token or the API key: test_security_hardening.py


def test_wrong_key_and_malformed_headers(client, sentinels):
    assert_401(client.get("/api/agents", headers={"X-API-Key": "wrong"}), "invalid API key")
    assert_401(client.get("/api/agents", headers={"X-API-Key": sentinels.api_key[:-1]}), "invalid API key")
    assert_401(client.get("/api/agents", headers={"Authorization": f"Basic {sentinels.api_key}"}), "Bearer")
    assert_401(client.get("/api/agents", headers={"Authorization": "Bearer"}), "Bearer")
    assert_401(client.get("/api/agents", headers={"Authorization": "Bearer not.a.jwt"}), "invalid token")


def test_forged_and_expired_tokens_are_refused(client, sentinels):
    now = int(time.time())
    good_claims = {"sub": "apikey-x", "iat": now, "exp": now + 600, "iss": "cartrita-ai-orchestrator"}

    # alg none (unsigned)
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(good_claims)}."
    assert_401(client.get("/api/agents", headers={"Authorization": f"Bearer {unsigned}"}))
    # alg "None"/"NONE" spellings too
    unsigned2 = f"{b64({'alg': 'NONE', 'typ': 'JWT'})}.{b64(good_claims)}."
    assert_401(client.get("/api/agents", headers={"Authorization": f"Bearer {unsigned2}"}))

    # signed with another secret
    forged = jwt.encode(good_claims, "another-secret-that-is-long-enough-000000", algorithm="HS256")
    assert_401(client.get("/api/agents", headers={"Authorization": f"Bearer {forged}"}), "signature")

    # right secret, other algorithm
    hs512 = jwt.encode(good_claims, sentinels.jwt_secret, algorithm="HS512")
    assert_401(client.get("/api/agents", headers={"Authorization": f"Bearer {hs512}"}), "algorithm")

    # expired
    expired = jwt.encode({**good_claims, "iat": now - 1000, "exp": now - 60}, sentinels.jwt_secret, algorithm="HS256")
    assert_401(client.get("/api/agents", headers={"Authorization": f"Bearer {expired}"}), "expired")

    # tampered payload keeps the old signature
    real = jwt.encode(good_claims, sentinels.jwt_secret, algorithm="HS256")
    h, _, sig = real.split(".")
    tampered = f"{h}.{b64({**good_claims, 'sub': 'admin'})}.{sig}"
    assert_401(client.get("/api/agents", headers={"Authorization": f"Bearer {tampered}"}), "signature")

    # no exp claim
    no_exp = jwt.encode({"sub": "x", "iat": now, "iss": "cartrita-ai-orchestrator"}, sentinels.jwt_secret, algorithm="HS256")
    assert_401(client.get("/api/agents", headers={"Authorization": f"Bearer {no_exp}"}), "exp")

    # and a correctly signed one passes
    assert client.get("/api/agents", headers={"Authorization": f"Bearer {real}"}).status_code == 200


def test_query_token_only_for_websockets(client, app, token, sentinels):
    # SSE takes its credentials from headers like every /api route: no token in its URL (test_security_accounts.py
    # has the WebSocket side: only a 60-second aud "ws" token there)
    r, _ = stream_chat(client, {"message": "hello via query token", "token": token})
    assert r.status_code == 401
    assert_401(client.get("/api/agents", params={"token": token}))
    # and the API key never works from a query string
    r, _ = stream_chat(client, {"message": "hi", "api_key": sentinels.api_key})
    assert r.status_code == 401
    r, _ = stream_chat(client, {"message": "hi", "token": "garbage"})
    assert r.status_code == 401

    # WebSocket: no credentials -> one error frame, then close 4401
    frame, code = ws_first_frame(ws_url(app.base_url, "/ws/chat"))
    assert frame["type"] == "error" and frame["error"] == "unauthorized"
    assert code == 4401
    frame, code = ws_first_frame(ws_url(app.base_url, "/ws/chat?token=forged." + token.split(".", 1)[1]))
    assert frame["error"] == "unauthorized" and code == 4401


def test_metrics_count_auth_failures(client, key_headers):
    client.get("/api/agents", headers={"X-API-Key": "wrong"})
    text = client.get("/metrics", headers=key_headers).text
    assert 'cartrita_orchestrator_auth_failures_total{reason="bad_key"}' in text


@pytest.mark.parametrize("origin", ["http://localhost:3000"])
def test_cors_preflight_in_development(client, origin):
    r = client.options(
        "/api/chat",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] in ("*", origin)
    r = client.get("/api/agents", headers={"Origin": origin})
    assert r.status_code == 401 and r.headers["access-control-allow-origin"] in ("*", origin)
