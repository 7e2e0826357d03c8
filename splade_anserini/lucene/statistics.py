"""Term statistics of a Lucene impact index (document count, document frequencies), for queries weighted by the
index's own idf (:mod:`..model.query_models`) without opening a searcher."""

from __future__ import annotations

from pathlib import Path

from .reader import close_reader, open_reader
from .searcher import FIELD


class LuceneTermStatistics:
    """``num_docs`` and ``df(term)`` of the impact field of the Lucene index at ``index``; ``close()`` when done."""

    def __init__(self, index: str | Path):
        # open_reader starts the JVM: importing jnius first would boot it without Anserini on the classpath
        self._reader = open_reader(Path(index).resolve())
        from jnius import autoclass
        self._Term = autoclass("org.apache.lucene.index.Term")
        self.num_docs = self._reader.numDocs()
        self._df: dict = {}

    def df(self, term: str) -> int:
        value = self._df.get(term)
        if value is None:
            value = self._df[term] = self._reader.docFreq(self._Term(FIELD, term))
        return value

    def close(self) -> None:
        if self._reader is not None:
            close_reader(self._reader)
            self._reader = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
