"""Query encoding: topics -> quantized SPLADE query vectors, for searching on the fly or for a pre-encoded file.

:class:`SpladeQueryEncoder` is a Pyserini ``QueryEncoder``, so it plugs straight into
``pyserini.search.lucene.LuceneImpactSearcher``; it encodes with the settings the index was built with (model,
scale, pooling and max length, read from the index's manifest) unless told otherwise. Its model is the index's
query model (``encode --query-model``; the document model unless one was given), which may also be inference-free
(``idf`` or a token-weight file: :mod:`..model.query_models`, no transformer loaded); which one is decided by
:func:`~..model.query_models.open_query_encoder`, as for ``search``. Importing this module starts the JVM
(Pyserini's ``QueryEncoder`` lives in a package that needs it, and imports torch); the file formats are in
:mod:`..formats.topics`, and ``search`` encodes queries without this module.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence

from ..formats.topics import encode_topics  # noqa: F401  (re-exported: its home before it moved)
from ..settings import ENCODE
from .jvm import start_jvm

start_jvm()  # must precede the first pyserini import

from pyserini.encode import QueryEncoder  # noqa: E402
from pyserini.search.lucene import LuceneImpactSearcher  # noqa: E402,F401  (re-exported: the Pyserini drop-in)


class SpladeQueryEncoder(QueryEncoder):
    """SPLADE query encoder returning {token: int} weights, quantized like the documents of the index: Pyserini's
    ``QueryEncoder`` over :func:`~..model.query_models.open_query_encoder`'s encoder (``queries``), with a cache
    that :meth:`prime` fills for the searcher's one-at-a-time ``encode`` calls.

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
        from ..model.query_models import open_query_encoder
        from .statistics import LuceneTermStatistics
        if manifest is None:
            manifest = read_manifest(index, (INDEX,), "query encoding") if index is not None else {}
        self.manifest = manifest
        # the index's statistics, should the query model be idf (the encoder opens and closes them)
        opener = None if index is None else functools.partial(LuceneTermStatistics, index)
        self.queries = open_query_encoder(model, manifest, statistics=statistics, open_statistics=opener,
                                          scale=scale, max_length=max_length, pooling=pooling, device=device,
                                          batch_size=batch_size)
        self.model_name, self.scale, self.max_length = (self.queries.model_name, self.queries.scale,
                                                        self.queries.max_length)
        self.batch_size, self.has_model = batch_size, self.queries.has_model
        self.pooling = getattr(self.queries, "pooling", None)
        self.splade = getattr(self.queries, "splade", None)  # None for inference-free queries
        self._cache: dict = {}

    @property
    def identity(self) -> dict:
        return self.queries.identity

    @property
    def settings(self) -> dict:
        """What a pre-encoded topics file records about how it was made: the query model, and the document model of
        the index it was set up for (the pair is checked at search time)."""
        return self.queries.settings

    def encode(self, text: str, **kwargs) -> dict:
        """Quantized weights of one query; served from the cache filled by :meth:`prime` where possible."""
        vector = self._cache.get(text)
        if vector is None:
            vector = self.encode_batch([text])[0]
        return vector

    def encode_batch(self, texts: Sequence[str]) -> list[dict]:
        """Many queries at once, in batches of similar length; results in input order."""
        return self.queries.encode_batch(texts)

    def close(self) -> None:
        """Close the index statistics opened for idf queries (nothing to do for a SPLADE model)."""
        self.queries.close()

    def prime(self, texts: Sequence[str]) -> None:
        """Encode many queries in batches now, so a searcher's one-at-a-time ``encode`` calls become lookups."""
        unique = list(dict.fromkeys(t for t in texts if t not in self._cache))
        self._cache.update(zip(unique, self.encode_batch(unique)))
