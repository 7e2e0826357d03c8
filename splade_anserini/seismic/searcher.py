"""Top-k search on a Seismic index, written like the Lucene engine's run: the query terms Lucene keeps, integer
weights, hits ranked by score then external docid, Anserini's reported scores. Seismic is approximate: the hits are
those it finds (see :mod:`splade_anserini.seismic`); their scores are exact sums of query weight x impact."""

from __future__ import annotations

from pathlib import Path

import numpy

from ..errors import InputError
from ..formats.artifacts import SEISMIC_INDEX, read_manifest
from ..formats.forward import ForwardStatistics, read_forward_index
from ..formats.runs import anserini_top_k
from ..formats.topics import TermStatisticsSearcher
from . import SeismicSearch, load_seismic
from .indexer import INDEX_FILE


class SeismicSearcher(TermStatisticsSearcher):
    """Top-k search over an index built by ``index --engine seismic``; the interface of
    :class:`~splade_anserini.lucene.searcher.ImpactSearcher`."""

    def __init__(self, index: str | Path, *, min_idf: float = 0.0, settings: SeismicSearch | None = None):
        self.index = Path(index)
        self.manifest = read_manifest(self.index, (SEISMIC_INDEX,), "the Seismic engine")
        self.settings = settings or SeismicSearch()
        if self.settings.query_cut < 1 or not self.settings.heap_factor > 0 or self.settings.n_knn < 0:
            raise InputError("Seismic needs query_cut >= 1, heap_factor > 0 and n_knn >= 0")
        if self.settings.n_knn and not self.manifest["seismic"]["build"]["knn"]:
            raise InputError(f"{self.index} has no kNN graph (built with knn 0); search it with n_knn 0, or rebuild "
                             f"it with --seismic-knn N")
        path = self.index / f"{INDEX_FILE}.index.seismic"
        if not path.is_file():
            raise InputError(f"{self.index}: damaged Seismic index ({path.name} missing); rebuild it with "
                             f"splade-anserini index --engine seismic --overwrite")
        seismic = load_seismic()
        self._index = seismic.SeismicIndex.load(str(path))
        self._string = seismic.get_seismic_string()
        self._forward = read_forward_index(self.index)
        self._statistics = ForwardStatistics(self._forward)
        self.num_docs = self._statistics.num_docs
        self.min_idf = min_idf
        self.latencies: list = []

    def close(self) -> None:
        self._index = None

    def _arrays(self, terms: dict) -> tuple:
        ids = self._statistics.term_ids
        components = numpy.array([str(ids[t]) for t in terms], dtype=self._string)
        # Integer weights (SPLADE's quantized query weights are integers already): Seismic then sums integers, which
        # float32 holds exactly, and its scores are Lucene's.
        values = numpy.array([round(w) for w in terms.values()], dtype=numpy.float32)
        return components, values

    def _search(self, terms: dict, k: int) -> list:
        """Seismic's top k with Lucene's cut: past k until the hits tied with the k-th score are in hand."""
        components, values = self._arrays(terms)
        n, s = k + max(16, k // 8), self.settings
        while True:
            found = self._index.search("q", components, values, k=n, query_cut=s.query_cut,
                                       heap_factor=s.heap_factor, n_knn=s.n_knn)
            hits = [(self._forward.ids[int(row)], float(score)) for _, score, row in found]
            if len(hits) < n or hits[-1][1] < hits[k - 1][1] or n >= self.num_docs:
                break
            n *= 2
        return anserini_top_k(hits, k)
