"""The typed request bodies are part of the OpenAPI document (app.openapi(), served as /openapi.json)."""

from __future__ import annotations

import pytest


def body_schema(spec, path: str):
    """The JSON schema of ``path``'s POST body, with a component reference resolved."""
    schema = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    ref = schema.get("$ref")
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


@pytest.mark.parametrize(
    "path, required, optional",
    [
        ("/api/chat", {"message"}, {"conversation_id", "agent"}),
        ("/api/memory", set(), {"content", "metadata", "items"}),
        ("/api/memory/search", {"query"}, {"k"}),
        ("/api/auth/token", set(), {"api_key", "purpose"}),
        ("/api/auth/login", {"username", "password"}, set()),
    ],
)
def test_request_bodies_are_in_openapi(client, path, required, optional):
    spec = client.get("/openapi.json").json()
    schema = body_schema(spec, path)
    assert set(schema["properties"]) == required | optional
    assert set(schema.get("required", [])) == required


def test_memory_batch_items_are_typed(client):
    spec = client.get("/openapi.json").json()
    items = body_schema(spec, "/api/memory")["properties"]["items"]
    assert (items["minItems"], items["maxItems"]) == (1, 256)
    item = spec["components"]["schemas"][items["items"]["$ref"].rsplit("/", 1)[1]]
    assert set(item["properties"]) == {"content", "metadata"} and item["required"] == ["content"]
