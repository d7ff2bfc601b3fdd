"""Anthropic: the Messages API, plain and streamed (SSE ``content_block_delta``).

Base URL: ``ANTHROPIC_BASE_URL`` (default ``https://api.anthropic.com``);
requests go to ``{base}/v1/messages`` with ``x-api-key`` and
``anthropic-version`` headers.
"""

from __future__ import annotations

import json
from typing import AsyncIterator, Dict, List

from ..config import Settings
from ..errors import ProviderError
from .base import ChatContext, ChatProvider, ChatResult, ProviderHTTP, Usage, sse_events


def anthropic_messages(ctx: ChatContext) -> List[Dict[str, str]]:
    """user/assistant turns, strictly alternating and starting with the user."""
    turns: List[Dict[str, str]] = []
    for m in list(ctx.history) + [{"role": "user", "content": ctx.message}]:
        role = m["role"]
        if role not in ("user", "assistant"):
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1] = {"role": role, "content": turns[-1]["content"] + "\n\n" + m["content"]}
        else:
            turns.append({"role": role, "content": m["content"]})
    while turns and turns[0]["role"] != "user":
        turns.pop(0)
    return turns


class AnthropicProvider(ChatProvider):
    name = "anthropic"

    def __init__(self, settings: Settings, http: ProviderHTTP):
        self.settings = settings
        self.http = http
        self.model = settings.anthropic_model
        self.url = settings.anthropic_base_url + "/v1/messages"

    def _headers(self) -> Dict[str, str]:
        return {
            "x-api-key": self.settings.anthropic_key or "",
            "anthropic-version": self.settings.anthropic_version,
            "content-type": "application/json",
        }

    def _body(self, ctx: ChatContext, stream: bool) -> dict:
        body = {
            "model": self.model,
            "max_tokens": self.settings.max_output_tokens,
            "system": ctx.system_prompt,
            "messages": anthropic_messages(ctx),
        }
        if stream:
            body["stream"] = True
        return body

    async def complete(self, ctx: ChatContext) -> ChatResult:
        data = await self.http.post_json("chat", self.url, self._headers(), self._body(ctx, False))
        try:
            text = "".join(b.get("text", "") for b in data["content"] if b.get("type") == "text")
        except (KeyError, TypeError, AttributeError):
            raise ProviderError("anthropic answered without content") from None
        usage = data.get("usage") or {}
        return ChatResult(
            text,
            str(data.get("model") or self.model),
            Usage(usage.get("input_tokens"), usage.get("output_tokens")),
        )

    async def stream(self, ctx: ChatContext, usage: Usage) -> AsyncIterator[str]:
        async with self.http.stream("chat", self.url, self._headers(), self._body(ctx, True)) as response:
            async for event in sse_events(response, self.name):
                try:
                    data = json.loads(event["data"])
                except ValueError:
                    raise ProviderError("anthropic sent a malformed stream event") from None
                kind = data.get("type") if isinstance(data, dict) else None
                if kind == "content_block_delta":
                    delta = data.get("delta") or {}
                    if delta.get("type") == "text_delta" and delta.get("text"):
                        yield delta["text"]
                elif kind == "message_start":
                    u = (data.get("message") or {}).get("usage") or {}
                    usage.prompt_tokens = u.get("input_tokens", usage.prompt_tokens)
                elif kind == "message_delta":
                    u = data.get("usage") or {}
                    usage.completion_tokens = u.get("output_tokens", usage.completion_tokens)
                elif kind == "message_stop":
                    return
                elif kind == "error":
                    raise ProviderError("anthropic reported an error in the stream")
