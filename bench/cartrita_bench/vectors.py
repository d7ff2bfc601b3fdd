"""Generated embedding-like data: clustered unit vectors of low intrinsic dimension, and pgvector's binary COPY form.

Real text embeddings are not isotropic noise: they lie near a low-dimensional manifold and form topical clusters.
The generator draws ``clusters`` centres in a ``latent``-dimensional space, scatters points around them, maps them to
1536 dimensions with a fixed random linear map, adds a little isotropic noise and L2-normalises. Deterministic for a
seed, so every run measures the same data and queries.
"""

from __future__ import annotations

import struct
from typing import Iterator, Tuple

import numpy as np

DIMS = 1536


def generate(n: int, queries: int, dims: int = DIMS, clusters: int = 50, latent: int = 96, spread: float = 1.0,
             noise: float = 0.5, seed: int = 8) -> Tuple[np.ndarray, np.ndarray]:
    """``(data[n, dims], queries[queries, dims])``, float32, unit length; queries are fresh draws (not in the data)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, latent)).astype(np.float32)
    projection = (rng.standard_normal((latent, dims)) / np.sqrt(latent)).astype(np.float32)

    def draw(count: int) -> np.ndarray:
        out = np.empty((count, dims), dtype=np.float32)
        for start in range(0, count, 10_000):
            m = min(10_000, count - start)
            z = centres[rng.integers(0, clusters, m)] + spread * rng.standard_normal((m, latent)).astype(np.float32)
            x = z @ projection + (noise / np.sqrt(dims) * np.sqrt(latent)) * rng.standard_normal((m, dims)).astype(np.float32)
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            out[start:start + m] = x
        return out

    return draw(n), draw(queries)


def exact_top_k(data: np.ndarray, queries: np.ndarray, k: int = 10) -> np.ndarray:
    """Ids (row numbers) of the k nearest rows by cosine distance, nearest first (unit vectors: largest dot product)."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), 64):
        sims = queries[start:start + 64] @ data.T
        part = np.argpartition(-sims, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1)
        out[start:start + 64] = np.take_along_axis(part, order, axis=1)
    return out


COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)


def copy_binary_chunks(data: np.ndarray, first_id: int = 0, chunk: int = 4096, header: bool = True,
                       trailer: bool = True) -> Iterator[bytes]:
    """``COPY t (id integer, embedding vector) FROM STDIN (FORMAT binary)`` payload, in chunks.

    pgvector's binary input (vector_recv) is: int16 dimensions, int16 unused, then float4 values, big-endian.
    """
    n, dims = data.shape
    row = np.dtype([("fields", ">i2"), ("id_len", ">i4"), ("id", ">i4"), ("vec_len", ">i4"), ("dim", ">i2"),
                    ("unused", ">i2"), ("values", ">f4", (dims,))])
    if header:
        yield COPY_HEADER
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        rows = np.empty(m, dtype=row)
        rows["fields"] = 2
        rows["id_len"] = 4
        rows["id"] = np.arange(first_id + start, first_id + start + m)
        rows["vec_len"] = 4 + 4 * dims
        rows["dim"] = dims
        rows["unused"] = 0
        rows["values"] = data[start:start + m]
        yield rows.tobytes()
    if trailer:
        yield COPY_TRAILER


def literal(vec: np.ndarray) -> str:
    """pgvector's text form, the way the orchestrator sends vectors."""
    return "[" + ",".join(f"{x:.7g}" for x in vec.tolist()) + "]"
