"""Deepgram pre-recorded transcription.

Base URL: ``DEEPGRAM_BASE_URL`` (default ``https://api.deepgram.com``);
``POST {base}/v1/listen?model=...&smart_format=true`` with the raw audio as
the body and ``Authorization: Token <DEEPGRAM_API_KEY>``.
"""

from __future__ import annotations

from ..config import Settings
from ..errors import ProviderError
from .base import ProviderHTTP


class DeepgramClient:
    name = "deepgram"

    def __init__(self, settings: Settings, http: ProviderHTTP):
        self.settings = settings
        self.http = http
        self.url = settings.deepgram_base_url + "/v1/listen"

    async def transcribe(self, audio: bytes, content_type: str) -> str:
        headers = {"authorization": f"Token {self.settings.deepgram_key}", "content-type": content_type}
        params = {"model": self.settings.deepgram_model, "smart_format": "true"}
        data = await self.http.post_content("transcribe", self.url, headers, audio, params=params)
        try:
            return str(data["results"]["channels"][0]["alternatives"][0]["transcript"])
        except (KeyError, IndexError, TypeError):
            raise ProviderError("deepgram answered without a transcript") from None
