"""The local embedder and vector_literal against golden outputs.

``data/local_embedding_golden.jsonl`` was written by the dense implementation
(before the sparse one replaced it, commit 3c0d10f) from 601 cases: unicode in
many scripts, combining marks, emoji, lone surrogates, NUL, empty and
whitespace-only text, punctuation only, stop words only, plural folding,
texts of 1 to 16,000 characters, and small dimension counts where buckets
collide and even cancel out (the norm-0 branch); plus vector_literal of plain
float lists (given as float.hex: -0.0, subnormals, huge values). Each line
holds SHA-256 digests of the vector's float64 bytes and of the literal (and
the literal itself where it is short).
"""

from __future__ import annotations

import array
import hashlib
import json
import struct
from pathlib import Path

from cartrita.orchestrator.embeddings import (
    DIMENSIONS,
    local_embedding,
    local_embedding_sparse,
    vector_binary,
    vector_literal,
)

GOLDEN = Path(__file__).resolve().parent / "data" / "local_embedding_golden.jsonl"


def golden():
    with GOLDEN.open(encoding="ascii") as f:
        return [json.loads(line) for line in f]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_golden_file_covers_what_it_claims():
    cases = golden()
    texts = [c for c in cases if "text" in c]
    assert len(cases) == 601 and len(texts) == 593
    assert any(c["text"] == "" for c in texts) and any(len(c["text"]) >= 16000 for c in texts)
    assert any(c["dims"] == 1 for c in texts) and sum(c["dims"] == DIMENSIONS for c in texts) > 300
    assert any("\ud800" in c["text"] for c in texts)  # lone surrogates survive the JSON round trip


def test_local_embedding_reproduces_the_golden_vectors_and_literals():
    mismatches = []
    for case in golden():
        if "text" not in case:
            continue
        vec = local_embedding(case["text"], case["dims"])
        lit = vector_literal(vec)
        if (
            len(vec) != case["dims"]
            or sha256(array.array("d", vec).tobytes()) != case["vector_sha256"]
            or sha256(lit.encode()) != case["literal_sha256"]
            or ("literal" in case and lit != case["literal"])
        ):
            mismatches.append((case["text"][:40], case["dims"]))
    assert mismatches == []


def test_vector_literal_of_plain_lists_reproduces_the_golden_literals():
    cases = [c for c in golden() if "vector_hex" in c]
    assert len(cases) == 8
    for case in cases:
        vec = [float.fromhex(h) for h in case["vector_hex"]]
        lit = vector_literal(vec)
        assert sha256(lit.encode()) == case["literal_sha256"]
        if "literal" in case:
            assert lit == case["literal"]
    assert vector_literal([-0.0, 0.0]) == "[-0,0]"  # a plain list keeps its negative zeros


def test_sparse_form_matches_the_dense_vector():
    for text in ("Sourdough starter: feed twice a day", "!!!", "", "日本語のテキスト"):
        idx, vals = local_embedding_sparse(text)
        vec = local_embedding(text)
        assert idx == sorted(set(idx))
        assert [i for i, x in enumerate(vec) if x] == [i for i, v in zip(idx, vals) if v]
        assert all(vec[i] == v for i, v in zip(idx, vals))


def test_vector_binary_holds_the_float4_values_of_the_literal():
    text = "pelican migration routes over the northern lakes"
    idx, vals = local_embedding_sparse(text)
    data = vector_binary(idx, vals)
    dims, unused = struct.unpack_from(">hh", data)
    assert (dims, unused, len(data)) == (DIMENSIONS, 0, 4 + 4 * DIMENSIONS)
    floats = struct.unpack_from(f">{DIMENSIONS}f", data, 4)
    from_text = [float(x) for x in vector_literal(local_embedding(text))[1:-1].split(",")]
    assert floats == tuple(struct.unpack(f">{DIMENSIONS}f", struct.pack(f">{DIMENSIONS}f", *from_text)))
    # a dense vector (e.g. a remote embedder's) packs the same way
    assert vector_binary(range(DIMENSIONS), local_embedding(text)) == data
