"""The local provider: used when neither OPENAI_API_KEY nor ANTHROPIC_API_KEY is set.

Replies are deterministic: they name the agent, echo the gist of the
message, list the memories that were found and say that the local provider
answered. Streaming hands the reply on word by word (each piece keeps its
trailing whitespace, so the pieces join to the exact reply).
"""

from __future__ import annotations

import asyncio
import re
from typing import AsyncIterator, List

from .base import ChatContext, ChatProvider, ChatResult, Usage

LOCAL_MODEL = "cartrita-local-echo-1"

_WORD_RE = re.compile(r"\S+\s*")
_TOKEN_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)

GIST_WORDS = 24
MEMORY_SNIPPET_CHARS = 80


def estimate_tokens(text: str) -> int:
    """A rough token count (words and punctuation marks), at least 1 for non-empty text."""
    if not text:
        return 0
    return max(1, len(_TOKEN_RE.findall(text)))


def _shorten(text: str, words: int) -> str:
    parts = text.split()
    gist = " ".join(parts[:words])
    return gist + (" …" if len(parts) > words else "")


def split_words(text: str) -> List[str]:
    pieces = _WORD_RE.findall(text)
    lead = len(text) - len(text.lstrip())
    if lead and pieces:
        pieces[0] = text[:lead] + pieces[0]
    return pieces


class LocalProvider(ChatProvider):
    name = "local"
    model = LOCAL_MODEL

    def reply(self, ctx: ChatContext) -> str:
        gist = _shorten(ctx.message, GIST_WORDS)
        text = (
            f"[{ctx.agent} agent] You said: \u201c{gist}\u201d. "
            f"This answer comes from Cartrita's local provider, a deterministic stand-in used "
            f"because no OPENAI_API_KEY or ANTHROPIC_API_KEY is configured."
        )
        if ctx.memories:
            snippets = "; ".join(
                f"\u201c{_shorten(m.content, 12)[:MEMORY_SNIPPET_CHARS]}\u201d" for m in ctx.memories
            )
            n = len(ctx.memories)
            text += f" Related {'memory' if n == 1 else 'memories'} ({n}): {snippets}."
        turns = sum(1 for m in ctx.history if m.get("role") == "user")
        if turns:
            text += f" Earlier user turns in this conversation: {turns}."
        return text

    async def complete(self, ctx: ChatContext) -> ChatResult:
        text = self.reply(ctx)
        return ChatResult(text, self.model, Usage(estimate_tokens(ctx.message), estimate_tokens(text)))

    async def stream(self, ctx: ChatContext, usage: Usage) -> AsyncIterator[str]:
        text = self.reply(ctx)
        usage.prompt_tokens = estimate_tokens(ctx.message)
        usage.completion_tokens = estimate_tokens(text)
        for piece in split_words(text):
            yield piece
            await asyncio.sleep(0)  # let the event loop flush each piece
