"""POST /api/voice/transcribe: audio in the body, forwarded to Deepgram."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ..errors import ApiError

router = APIRouter(tags=["voice"])

ACCEPTED_PREFIXES = ("audio/", "video/", "application/octet-stream")


@router.post(
    "/api/voice/transcribe",
    summary="Transcribe audio (raw body, e.g. Content-Type: audio/wav) with Deepgram",
)
async def transcribe(request: Request) -> dict:
    deepgram = request.app.state.providers.deepgram
    if deepgram is None:
        raise ApiError(
            "voice transcription is not configured: set DEEPGRAM_API_KEY to enable it",
            status_code=503,
            error="provider_not_configured",
        )
    content_type = (request.headers.get("content-type") or "application/octet-stream").strip()
    if not content_type.lower().startswith(ACCEPTED_PREFIXES):
        raise ApiError(
            f"send the audio as the raw request body with an audio/* Content-Type (got {content_type.split(';')[0]!r})",
            status_code=415,
            error="unsupported_media_type",
        )
    audio = await request.body()
    if not audio:
        raise ApiError("the request body is empty: send the audio bytes", status_code=422, error="validation_error")
    transcript = await deepgram.transcribe(audio, content_type)
    return {"transcript": transcript, "provider": "deepgram"}
