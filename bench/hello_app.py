"""The reference for GET /health: a bare FastAPI hello endpoint, served by the same uvicorn command line as the
orchestrator (same interpreter, FastAPI/Starlette/uvicorn versions, flags). No middleware, no dependencies."""

from fastapi import FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()


@app.get("/health")
async def health() -> JSONResponse:
    return JSONResponse({"status": "healthy"})
