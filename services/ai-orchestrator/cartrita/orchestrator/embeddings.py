"""Embeddings for the ``memories.embedding vector(1536)`` column.

* OpenAI ``text-embedding-3-small`` (1536 dimensions) when OPENAI_API_KEY is set;
* otherwise the local embedder: feature hashing of lower-cased word tokens
  (stop words dropped, a plural ``s`` folded) plus word bigrams at half
  weight, into 1536 signed buckets, L2-normalised. Texts that share words
  have a high cosine similarity; unrelated texts are near 0. It is
  deterministic across processes and machines (BLAKE2b, not ``hash()``).

Query embeddings from a remote embedder are cached in Redis for a few
minutes (a repeated search costs no API call); the cache is best effort and
is skipped while Redis is down.

Vectors travel to PostgreSQL as text (``'[0.1,0.2,...]'::vector``): there is
no pgvector adapter for psycopg on this stack.
"""

from __future__ import annotations

import array
import hashlib
import logging
import math
import re
import struct
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from redis.exceptions import RedisError

from .cache import Cache

log = logging.getLogger("cartrita.orchestrator.embeddings")

DIMENSIONS = 1536
LOCAL_MODEL = "cartrita-local-hash-1536"

_WORD_RE = re.compile(r"\w+", re.UNICODE)

STOP_WORDS = frozenset(
    """a an and are as at be but by do does for from had has have he her his how i if in into is it its
    me my no not of on or our she so than that the their them then there these they this to was we were
    what when where which who why will with you your""".split()
)


_ZEROS = [0.0] * DIMENSIONS
_ZERO_TEXTS = ["0"] * DIMENSIONS
_VECTOR_HEAD = struct.Struct(">hh")
_FLOAT4 = struct.Struct(">f")


def _normalise_token(word: str) -> str:
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def local_embedding_sparse(text: str, dims: int = DIMENSIONS) -> Tuple[List[int], List[float]]:
    """The buckets ``text`` touches (ascending) and their values; every other bucket is 0.0.

    A text touches a few dozen of the 1536 buckets, so only those are summed,
    normalised and formatted. The norm adds the touched buckets in index
    order, which is the sum over all of them (adding 0.0 changes no float).
    """
    words = [_normalise_token(w) for w in _WORD_RE.findall(text.lower())]
    content = [w for w in words if w not in STOP_WORDS] or words
    features = [(w, 1.0) for w in content]
    features += [(f"{a} {b}", 0.5) for a, b in zip(content, content[1:])]
    if not features:  # punctuation / symbols only
        features = [("\x00text\x00" + " ".join(text.lower().split()), 1.0)]
    buckets: Dict[int, float] = {}
    blake2b = hashlib.blake2b
    for feature, weight in features:
        n = int.from_bytes(blake2b(feature.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")
        i = n % dims
        buckets[i] = buckets.get(i, 0.0) + (weight if (n >> 63) == 0 else -weight)
    idx = sorted(buckets)
    vals = [buckets[i] for i in idx]
    norm = math.sqrt(sum(x * x for x in vals))
    if norm == 0.0:  # every feature cancelled out (hash collisions): bucket 0 is 1.0
        buckets[0] = 1.0
        idx = sorted(buckets)
        return idx, [buckets[i] for i in idx]
    return idx, [x / norm for x in vals]


class LocalVector(list):
    """A local embedding: the dense list of floats, plus ``support`` = (indices, values)
    of its non-zero buckets, which :func:`vector_literal` formats instead of
    all 1536 values. Treat it as read-only."""

    __slots__ = ("support",)


def local_embedding(text: str, dims: int = DIMENSIONS) -> List[float]:
    idx, vals = local_embedding_sparse(text, dims)
    vec = LocalVector(_ZEROS if dims == DIMENSIONS else [0.0] * dims)
    for i, v in zip(idx, vals):
        vec[i] = v
    vec.support = (idx, vals)
    return vec


class LocalEmbedder:
    name = "local"
    model = LOCAL_MODEL

    async def embed(self, texts: List[str]) -> List[List[float]]:
        return [local_embedding(t) for t in texts]


def vector_literal(vec: Sequence[float]) -> str:
    """pgvector's text form: ``[0.1,-0.2,...]``."""
    support = getattr(vec, "support", None)
    if support is None:
        return "[" + ",".join(f"{x:.7g}" for x in vec) + "]"
    parts = list(_ZERO_TEXTS) if len(vec) == DIMENSIONS else ["0"] * len(vec)  # f"{0.0:.7g}" == "0"
    for i, v in zip(*support):
        parts[i] = f"{v:.7g}"
    return "[" + ",".join(parts) + "]"


def vector_binary(indices: Iterable[int], values: Iterable[float], dims: int = DIMENSIONS) -> bytes:
    """pgvector's binary form (``vector_recv``: int16 dimensions, int16 unused,
    float4 big-endian values) of a vector whose other buckets are 0.0, for
    ``COPY ... (FORMAT binary)``. Each value goes through :func:`vector_literal`'s
    7 significant digits first, so a memory stored this way holds exactly the
    float4 values the text form would have given it."""
    buf = bytearray(4 + 4 * dims)
    _VECTOR_HEAD.pack_into(buf, 0, dims, 0)
    pack_into = _FLOAT4.pack_into
    for i, v in zip(indices, values):
        pack_into(buf, 4 + 4 * i, float(f"{v:.7g}"))
    return bytes(buf)


class EmbeddingService:
    CACHE_PREFIX = "cartrita:orch:emb:"

    def __init__(self, embedder, cache: Cache, ttl_seconds: int, metrics=None):
        self.embedder = embedder
        self.cache = cache
        self.ttl = ttl_seconds
        self.metrics = metrics

    @property
    def provider(self) -> str:
        return self.embedder.name

    @property
    def cacheable(self) -> bool:
        # the local embedder is cheaper than a redis round trip
        return self.embedder.name != "local"

    def _key(self, text: str) -> str:
        h = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        return f"{self.CACHE_PREFIX}{self.embedder.name}:{self.embedder.model}:{h}"

    async def embed_many(self, texts: List[str]) -> List[List[float]]:
        return await self.embedder.embed(texts)

    async def embed_query(self, text: str) -> List[float]:
        if not self.cacheable:
            return (await self.embedder.embed([text]))[0]
        key = self._key(text)
        cached = await self._cache_get(key)
        if cached is not None:
            self._count("hit")
            return cached
        self._count("miss")
        vec = (await self.embedder.embed([text]))[0]
        await self._cache_set(key, vec)
        return vec

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.embedding_cache.labels(result).inc()

    async def _cache_get(self, key: str) -> Optional[List[float]]:
        client = self.cache.client
        if client is None:
            return None
        try:
            raw = await client.get(key)
        except (RedisError, OSError):
            return None
        if not raw or len(raw) % 4:
            return None
        values = array.array("f")
        values.frombytes(raw)
        return list(values)

    async def _cache_set(self, key: str, vec: List[float]) -> None:
        client = self.cache.client
        if client is None:
            return
        try:
            await client.set(key, array.array("f", vec).tobytes(), ex=self.ttl)
        except (RedisError, OSError):
            pass
