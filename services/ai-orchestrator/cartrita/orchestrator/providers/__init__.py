"""Model providers: OpenAI, Anthropic, Deepgram over HTTP, and the local fallback.

:func:`build_providers` picks them from the settings: chat goes to OpenAI
when ``OPENAI_API_KEY`` is set, else to Anthropic when ``ANTHROPIC_API_KEY``
is set, else to the local provider; embeddings come from OpenAI when its
key is set, else from the local feature-hashing embedder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import httpx

from ..config import Settings
from .anthropic import AnthropicProvider
from .base import ChatContext, ChatProvider, ChatResult, Memory, ProviderHTTP, Usage, new_http_client
from .deepgram import DeepgramClient
from .local import LocalProvider, estimate_tokens
from .openai import OpenAIEmbedder, OpenAIProvider

__all__ = [
    "ChatContext",
    "ChatProvider",
    "ChatResult",
    "Memory",
    "Providers",
    "Usage",
    "build_providers",
    "estimate_tokens",
]


@dataclass
class Providers:
    http_client: httpx.AsyncClient
    chat: ChatProvider
    embedder: object  # OpenAIEmbedder | LocalEmbedder (see ..embeddings)
    deepgram: Optional[DeepgramClient]

    async def close(self) -> None:
        await self.http_client.aclose()


def build_providers(settings: Settings, metrics=None) -> Providers:
    from ..embeddings import LocalEmbedder

    client = new_http_client(settings)
    chat: ChatProvider
    if settings.openai_key:
        chat = OpenAIProvider(settings, ProviderHTTP("openai", client, settings, metrics))
    elif settings.anthropic_key:
        chat = AnthropicProvider(settings, ProviderHTTP("anthropic", client, settings, metrics))
    else:
        chat = LocalProvider()
    embedder = (
        OpenAIEmbedder(settings, ProviderHTTP("openai", client, settings, metrics))
        if settings.openai_key
        else LocalEmbedder()
    )
    deepgram = (
        DeepgramClient(settings, ProviderHTTP("deepgram", client, settings, metrics))
        if settings.deepgram_key
        else None
    )
    return Providers(client, chat, embedder, deepgram)
