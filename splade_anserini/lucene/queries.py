"""Query encoding: topics -> quantized SPLADE query vectors, for searching on the fly or for a pre-encoded file.

:class:`SpladeQueryEncoder` is a Pyserini ``QueryEncoder``, so it plugs straight into
``pyserini.search.lucene.LuceneImpactSearcher``; it encodes with the settings the index was built with (model,
scale, pooling and max length, read from the index's manifest) unless told otherwise. Importing this module starts
the JVM (Pyserini's ``QueryEncoder`` lives in a package that needs it); the file formats are in :mod:`..formats.topics`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..formats.topics import EncodedTopics
from ..settings import ENCODE
from .jvm import start_jvm

start_jvm()  # must precede the first pyserini import

from pyserini.encode import QueryEncoder  # noqa: E402
from pyserini.search.lucene import LuceneImpactSearcher  # noqa: E402,F401  (re-exported: the Pyserini drop-in)


class SpladeQueryEncoder(QueryEncoder):
    """SPLADE query encoder returning {token: int} weights, quantized like the documents of the index.

    Either pass ``index`` (settings come from its manifest; or the ``manifest`` itself, already read) or the settings
    themselves; explicit arguments win. ``max_length`` is the query's token budget (default: the index's document max
    length).
    """

    def __init__(self, model: str | None = None, *, index: str | Path | None = None, scale: float | None = None,
                 max_length: int | None = None, pooling: str | None = None, device: str | None = None,
                 batch_size: int = ENCODE.batch_size, manifest: dict | None = None):
        super().__init__()
        from ..formats.artifacts import INDEX, read_manifest
        from ..model.splade import Splade
        if manifest is None:
            manifest = read_manifest(index, (INDEX,), "query encoding") if index is not None else {}
        self.model_name = model or manifest.get("model") or ENCODE.model
        self.scale = scale if scale is not None else manifest.get("scale", ENCODE.scale)
        self.max_length = max_length or manifest.get("max_length", ENCODE.max_length)
        self.pooling = pooling or manifest.get("pooling", ENCODE.pooling)
        self.batch_size = batch_size
        self.splade = Splade(self.model_name, max_length=self.max_length, pooling=self.pooling, device=device)
        self.has_model = True
        self._cache: dict = {}

    @property
    def settings(self) -> dict:
        """What a pre-encoded topics file records about how it was made."""
        from ..model.models import model_identity
        return {"model": self.model_name, "model_path": str(self.splade.path),
                "model_identity": model_identity(self.splade.path), "scale": self.scale,
                "max_length": self.max_length, "pooling": self.pooling}

    def encode(self, text: str, **kwargs) -> dict:
        """Quantized weights of one query; served from the cache filled by :meth:`prime` where possible."""
        vector = self._cache.get(text)
        if vector is None:
            vector = self.splade.encode([text], self.scale)[0]
        return vector

    def encode_batch(self, texts: Sequence[str]) -> list[dict]:
        """Many queries at once, in batches of similar length; results in input order."""
        return self.splade.encode(list(texts), self.scale, self.batch_size)

    def prime(self, texts: Sequence[str]) -> None:
        """Encode many queries in batches now, so a searcher's one-at-a-time ``encode`` calls become lookups."""
        unique = list(dict.fromkeys(t for t in texts if t not in self._cache))
        self._cache.update(zip(unique, self.encode_batch(unique)))


def encode_topics(queries, encoder: SpladeQueryEncoder) -> EncodedTopics:
    """Encode parsed topics (see :func:`readers.read_topics`) in batches."""
    vectors = encoder.encode_batch([q.text for q in queries])
    return EncodedTopics([q.id for q in queries], vectors, encoder.settings, "encoded on the fly")
