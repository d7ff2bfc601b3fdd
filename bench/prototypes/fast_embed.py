"""Proposed fix for the local embedder's cost: the same vectors and the same text, computed sparsely.

`embeddings.local_embedding` builds a 1536-element list and sums, divides and formats all of it, although a text
touches only a few dozen buckets. These functions produce *identical* output (bench/run checks that on every text it
ingests): the norm sums the touched buckets in index order (adding the untouched zeros does not change a float sum),
and every untouched value formats as "0". Port: replace `local_embedding` / `vector_literal` in
cartrita/orchestrator/embeddings.py (keep their names), and for bulk loads use `local_embedding_sparse` to fill a
binary COPY buffer directly.
"""

from __future__ import annotations

import hashlib
import math
from typing import Dict, List, Sequence, Tuple

from cartrita.orchestrator.embeddings import DIMENSIONS, STOP_WORDS, _WORD_RE, _normalise_token

_ZEROS = ["0"] * DIMENSIONS


def local_embedding_sparse(text: str, dims: int = DIMENSIONS) -> Tuple[List[int], List[float]]:
    """(bucket indices ascending, values) of local_embedding(text); every other bucket is 0.0."""
    words = [_normalise_token(w) for w in _WORD_RE.findall(text.lower())]
    content = [w for w in words if w not in STOP_WORDS] or words
    features = [(w, 1.0) for w in content]
    features += [(f"{a} {b}", 0.5) for a, b in zip(content, content[1:])]
    if not features:
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
    if norm == 0.0:  # every feature cancelled out: local_embedding sets bucket 0 to 1.0
        merged = dict(zip(idx, vals))
        merged[0] = 1.0
        idx = sorted(merged)
        return idx, [merged[i] for i in idx]
    return idx, [x / norm for x in vals]


def local_embedding(text: str, dims: int = DIMENSIONS) -> List[float]:
    idx, vals = local_embedding_sparse(text, dims)
    vec = [0.0] * dims
    for i, v in zip(idx, vals):
        vec[i] = v
    return vec


def vector_literal_sparse(idx: Sequence[int], vals: Sequence[float], dims: int = DIMENSIONS) -> str:
    parts = list(_ZEROS) if dims == DIMENSIONS else ["0"] * dims
    for i, v in zip(idx, vals):
        parts[i] = f"{v:.7g}"
    return "[" + ",".join(parts) + "]"
