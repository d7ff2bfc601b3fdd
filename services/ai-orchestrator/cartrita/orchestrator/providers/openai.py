"""OpenAI: chat completions (plain and ``stream: true`` SSE) and embeddings.

Base URL: ``OPENAI_BASE_URL`` (default ``https://api.openai.com/v1``, the
same convention as OpenAI's SDKs: it includes ``/v1``). Requests go to
``{base}/chat/completions`` and ``{base}/embeddings`` with
``Authorization: Bearer <OPENAI_API_KEY>``.
"""

from __future__ import annotations

import json
from typing import AsyncIterator, Dict, List

from ..config import Settings
from ..errors import ProviderError
from .base import ChatContext, ChatProvider, ChatResult, ProviderHTTP, Usage, sse_events

EMBEDDING_DIMENSIONS = 1536
EMBEDDING_BATCH = 128


def chat_messages(ctx: ChatContext) -> List[Dict[str, str]]:
    messages = [{"role": "system", "content": ctx.system_prompt}]
    for m in ctx.history:
        if m["role"] in ("user", "assistant", "system"):
            messages.append({"role": m["role"], "content": m["content"]})
    messages.append({"role": "user", "content": ctx.message})
    return messages


class OpenAIProvider(ChatProvider):
    name = "openai"

    def __init__(self, settings: Settings, http: ProviderHTTP):
        self.settings = settings
        self.http = http
        self.model = settings.openai_chat_model
        self.url = settings.openai_base_url + "/chat/completions"

    def _headers(self) -> Dict[str, str]:
        return {"authorization": f"Bearer {self.settings.openai_key}", "content-type": "application/json"}

    async def complete(self, ctx: ChatContext) -> ChatResult:
        body = {"model": self.model, "messages": chat_messages(ctx)}
        data = await self.http.post_json("chat", self.url, self._headers(), body)
        try:
            text = data["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise ProviderError("openai answered without a message") from None
        usage = data.get("usage") or {}
        return ChatResult(
            text,
            str(data.get("model") or self.model),
            Usage(usage.get("prompt_tokens"), usage.get("completion_tokens")),
        )

    async def stream(self, ctx: ChatContext, usage: Usage) -> AsyncIterator[str]:
        body = {"model": self.model, "messages": chat_messages(ctx), "stream": True}
        async with self.http.stream("chat", self.url, self._headers(), body) as response:
            async for event in sse_events(response, self.name):
                payload = event["data"].strip()
                if payload == "[DONE]":
                    return
                try:
                    chunk = json.loads(payload)
                except ValueError:
                    raise ProviderError("openai sent a malformed stream event") from None
                if not isinstance(chunk, dict):
                    continue
                if chunk.get("error"):
                    raise ProviderError("openai reported an error in the stream")
                if chunk.get("usage"):
                    usage.prompt_tokens = chunk["usage"].get("prompt_tokens")
                    usage.completion_tokens = chunk["usage"].get("completion_tokens")
                for choice in chunk.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        yield piece


class OpenAIEmbedder:
    name = "openai"

    def __init__(self, settings: Settings, http: ProviderHTTP):
        self.settings = settings
        self.http = http
        self.model = settings.openai_embedding_model
        self.url = settings.openai_base_url + "/embeddings"

    async def embed(self, texts: List[str]) -> List[List[float]]:
        headers = {"authorization": f"Bearer {self.settings.openai_key}", "content-type": "application/json"}
        out: List[List[float]] = []
        for start in range(0, len(texts), EMBEDDING_BATCH):
            batch = texts[start : start + EMBEDDING_BATCH]
            data = await self.http.post_json("embedding", self.url, headers, {"model": self.model, "input": batch})
            try:
                items = sorted(data["data"], key=lambda d: d.get("index", 0))
                vectors = [[float(x) for x in item["embedding"]] for item in items]
            except (KeyError, TypeError, ValueError):
                raise ProviderError("openai answered embeddings in an unexpected shape") from None
            if len(vectors) != len(batch) or any(len(v) != EMBEDDING_DIMENSIONS for v in vectors):
                raise ProviderError(
                    f"openai returned {len(vectors)} embeddings (expected {len(batch)} of {EMBEDDING_DIMENSIONS} dimensions)"
                )
            out.extend(vectors)
        return out
