"""HTTP routers. Each module exposes ``router``; main.py includes them."""

from fastapi import Query


class Page:
    """``?limit=&offset=`` of a listing (``page: Page = Depends()``)."""

    def __init__(self, limit: int = Query(20, ge=1, le=100), offset: int = Query(0, ge=0, le=1_000_000_000)):
        self.limit = limit
        self.offset = offset
