"""A hashed text encoder for the alignment head: deterministic, no weights, nothing to download.

Captions generated from shard labels use a small vocabulary ("team A", "left penalty area",
"pass"), so a bag of words and character trigrams hashed into ``dim`` signed buckets separates
them well enough to train the contrastive head on a CPU; a sentence-embedding model that ships
in a wheel can replace it behind the same ``encode`` call.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

__all__ = ["HashedTextEncoder"]


class HashedTextEncoder:
    """``encode(texts)`` -> ``float32`` ``(N, dim)`` L2-normalised embeddings.

    Args:
        dim: Embedding size (the model's ``align_dim``).
        ngram: Character n-gram length added to the words.
    """

    def __init__(self, dim: int = 256, ngram: int = 3) -> None:
        if dim < 8 or ngram < 1:
            raise ValueError(f"dim must be >= 8 and ngram >= 1, got {dim}, {ngram}")
        self.dim, self.ngram = int(dim), int(ngram)

    def _features(self, text: str) -> list[str]:
        words = re.findall(r"[a-z0-9]+", text.lower())
        grams = [f"#{w[i:i + self.ngram]}" for w in words for i in range(max(1, len(w) - self.ngram + 1))]
        pairs = [f"{a}_{b}" for a, b in zip(words, words[1:])]
        return words + grams + pairs

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in self._features(text):
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dim
                out[row, bucket] += 1.0 if digest[4] & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)
