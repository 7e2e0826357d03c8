"""Term statistics of a PISA index (document count, document frequencies) read from the files the indexer keeps
beside PISA's, for queries weighted by the index's own idf; loads neither PISA nor the JVM."""

from __future__ import annotations

from pathlib import Path

import numpy

from ..errors import InputError
from ..formats.artifacts import PISA_INDEX, read_manifest
from .indexer import TERM_DF, TERMS


class PisaTermStatistics:
    """``num_docs`` and ``df(term)`` of the PISA index at ``index``."""

    def __init__(self, index: str | Path):
        index = Path(index)
        manifest = read_manifest(index, (PISA_INDEX,), "term statistics")
        if not (index / TERMS).is_file() or not (index / TERM_DF).is_file():
            raise InputError(f"{index}: damaged PISA index ({TERMS} or {TERM_DF} missing); rebuild it with "
                             f"splade-anserini index --engine pisa --overwrite")
        terms = (index / TERMS).read_text(encoding="utf-8").split("\n")[:-1]
        self._df = dict(zip(terms, numpy.load(index / TERM_DF).tolist()))
        self.num_docs = manifest["index_documents"]

    def df(self, term: str) -> int:
        return self._df.get(term, 0)

    def close(self) -> None:
        pass
