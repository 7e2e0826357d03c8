"""Query encoding: topics -> quantized SPLADE query vectors, for searching on the fly or for a pre-encoded file.

:class:`SpladeQueryEncoder` is a Pyserini ``QueryEncoder``, so it plugs straight into
``pyserini.search.lucene.LuceneImpactSearcher``; it encodes with the settings the index was built with (model,
scale, pooling and max length, read from the index's manifest) unless told otherwise. Its model is the index's
query model (``encode --query-model``; the document model unless one was given), which may also be inference-free
(``idf`` or a token-weight file: :mod:`..model.query_models`, no transformer loaded). Importing this module starts
the JVM (Pyserini's ``QueryEncoder`` lives in a package that needs it, and imports torch); the file formats are in
:mod:`..formats.topics`, and ``search`` encodes inference-free queries without this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..formats.topics import encode_topics  # noqa: F401  (re-exported: its home before it moved)
from ..settings import ENCODE
from .jvm import start_jvm

start_jvm()  # must precede the first pyserini import

from pyserini.encode import QueryEncoder  # noqa: E402
from pyserini.search.lucene import LuceneImpactSearcher  # noqa: E402,F401  (re-exported: the Pyserini drop-in)


class SpladeQueryEncoder(QueryEncoder):
    """SPLADE query encoder returning {token: int} weights, quantized like the documents of the index.

    Either pass ``index`` (settings come from its manifest; or the ``manifest`` itself, already read) or the settings
    themselves; explicit arguments win. ``model`` is the query model (default: the index's query model): a SPLADE
    model, or ``idf`` / a token-weight JSON file for inference-free queries, whose idf comes from ``index`` (or
    ``statistics``, an object with ``df(term)`` and ``num_docs``). ``max_length`` is the query's token budget
    (default: the index's document max length).
    """

    def __init__(self, model: str | None = None, *, index: str | Path | None = None, scale: float | None = None,
                 max_length: int | None = None, pooling: str | None = None, device: str | None = None,
                 batch_size: int = ENCODE.batch_size, manifest: dict | None = None, statistics=None):
        super().__init__()
        from ..formats.artifacts import INDEX, read_manifest
        from ..model.query_models import IDF, MODEL, InferenceFreeEncoder, index_query_spec, query_model_kind
        if manifest is None:
            manifest = read_manifest(index, (INDEX,), "query encoding") if index is not None else {}
        self.manifest = manifest
        self.model_name = model or (index_query_spec(manifest) if manifest else ENCODE.model)
        self.scale = scale if scale is not None else manifest.get("scale", ENCODE.scale)
        self.max_length = max_length or manifest.get("max_length", ENCODE.max_length)
        self.pooling = pooling or manifest.get("pooling", ENCODE.pooling)
        self.batch_size = batch_size
        self._cache: dict = {}
        self.inference_free = None
        if query_model_kind(self.model_name) != MODEL:
            owns = statistics is None and query_model_kind(self.model_name) == IDF and index is not None
            if owns:
                from .statistics import LuceneTermStatistics
                statistics = LuceneTermStatistics(index)
            self.inference_free = InferenceFreeEncoder.for_index(
                self.model_name, manifest, statistics=statistics, scale=self.scale, max_length=self.max_length,
                batch_size=batch_size, owns_statistics=owns)
            self.splade, self.has_model = None, False
            return
        from ..model.splade import Splade
        self.splade = Splade(self.model_name, max_length=self.max_length, pooling=self.pooling, device=device)
        self.has_model = True

    @property
    def settings(self) -> dict:
        """What a pre-encoded topics file records about how it was made: the query model, and the document model of
        the index it was set up for (the pair is checked at search time)."""
        if self.inference_free is not None:
            return self.inference_free.settings
        from ..model.models import model_identity
        return {"model": self.model_name, "model_path": str(self.splade.path),
                "model_identity": model_identity(self.splade.path), "scale": self.scale,
                "max_length": self.max_length, "pooling": self.pooling,
                "document_model": self.manifest.get("model"),
                "document_model_identity": self.manifest.get("model_identity")}

    def encode(self, text: str, **kwargs) -> dict:
        """Quantized weights of one query; served from the cache filled by :meth:`prime` where possible."""
        vector = self._cache.get(text)
        if vector is None:
            vector = self.encode_batch([text])[0]
        return vector

    def encode_batch(self, texts: Sequence[str]) -> list[dict]:
        """Many queries at once, in batches of similar length; results in input order."""
        if self.inference_free is not None:
            return self.inference_free.encode_batch(texts)
        return self.splade.encode(list(texts), self.scale, self.batch_size)

    def close(self) -> None:
        """Close the index statistics opened for idf queries (nothing to do for a SPLADE model)."""
        if self.inference_free is not None:
            self.inference_free.close()

    def prime(self, texts: Sequence[str]) -> None:
        """Encode many queries in batches now, so a searcher's one-at-a-time ``encode`` calls become lookups."""
        unique = list(dict.fromkeys(t for t in texts if t not in self._cache))
        self._cache.update(zip(unique, self.encode_batch(unique)))
