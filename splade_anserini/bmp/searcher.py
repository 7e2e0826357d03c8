"""Top-k search on a BMP index, written like the Lucene engine's run (the query terms Lucene keeps, ranking by score
then external docid, Anserini's reported scores).

With ``rescore`` (the default) the hits are ranked by their exact score (query weight x the collection's impact,
Lucene's sum), and BMP's rounded scores only choose candidates: BMP's top n (n > k) is fetched, rescored, and kept
when no document outside it can beat the k-th exact score. A document's BMP score B bounds its exact score S:
BMP's query weight q' = ceil(w x 32 / m) >= 32 w / m (m: the scale term's weight, see :mod:`splade_anserini.bmp`),
and an 8-bit impact d' = round(d f) >= d f - 1/2 (f: the re-quantization factor, 1 when the impacts fit), so
S <= B m / (32 f) + (W / 2 f if f < 1) with W the sum of the query weights. When the n-th BMP score's bound is
below the k-th exact score the top k is proven (given BMP's own top n); otherwise n grows. Without ``rescore``
BMP's scores and ranking are reported.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy

from ..errors import InputError
from ..formats.artifacts import BMP_INDEX, read_manifest
from ..formats.forward import ForwardStatistics, exact_scores, read_forward_index
from ..formats.postings import requantize
from ..formats.runs import anserini_top_k
from ..formats.topics import TermStatisticsSearcher
from . import QUERY_TOP, BmpSearch, load_bmp, query_scale
from .indexer import INDEX_FILE, PADDING_ID, PADDING_TERM, SCALE_TERM

GROWTH = 4  # candidates fetched again: this many times more
_SLACK = 1e-6  # float32 arithmetic in BMP's query scaling: the bound is widened by this relative margin


class BmpSearcher(TermStatisticsSearcher):
    """Top-k search over an index built by ``index --engine bmp``; the interface of
    :class:`~splade_anserini.lucene.searcher.ImpactSearcher`."""

    def __init__(self, index: str | Path, *, min_idf: float = 0.0, settings: BmpSearch | None = None):
        self.index = Path(index)
        self.manifest = read_manifest(self.index, (BMP_INDEX,), "the BMP engine")
        self.settings = settings or BmpSearch()
        if not (0 < self.settings.alpha <= 1 and 0 < self.settings.beta <= 1):
            raise InputError("BMP needs 0 < alpha <= 1 and 0 < beta <= 1 (1 and 1: safe)")
        path = self.index / INDEX_FILE
        if not path.is_file():
            raise InputError(f"{self.index}: damaged BMP index ({INDEX_FILE} missing); rebuild it with "
                             f"splade-anserini index --engine bmp --overwrite")
        self._searcher = load_bmp().Searcher(str(path))
        self._forward = read_forward_index(self.index)
        self._statistics = ForwardStatistics(self._forward)
        self._factor = self.manifest["bmp"].get("requantize_factor") or 1.0
        # each term's largest impact as BMP holds it (8 bits): what bounds a document's BMP score
        largest = numpy.zeros(len(self._forward.vocabulary), dtype=numpy.int64)
        for begin in range(0, self._forward.postings, 1 << 24):
            numpy.maximum.at(largest, numpy.asarray(self._forward.terms[begin:begin + (1 << 24)]),
                             requantize(numpy.asarray(self._forward.impacts[begin:begin + (1 << 24)]),
                                        self.manifest["bmp"].get("requantize_factor")).astype(numpy.int64))
        self._largest = largest
        self.num_docs = self._statistics.num_docs
        self.min_idf = min_idf
        self.latencies: list = []
        self.candidates: list = []  # BMP hits fetched per query (rescoring), for the benchmark

    def close(self) -> None:
        self._searcher = None

    def scale_weight(self, terms: dict) -> float | None:
        """The weight of the scale term for this query (see :func:`..bmp.query_scale`)."""
        ids = self._statistics.term_ids
        return query_scale(terms, {t: int(self._largest[ids[t]]) for t in terms})

    def _fetch(self, query: dict, n: int, top: float) -> tuple[list, list]:
        # the scale term (in no document) sets BMP's scale; the padding block goes last (see .indexer): the padding
        # term, at the smallest weight, gives it the lowest bound
        query = dict(query, **{SCALE_TERM: top, PADDING_TERM: min(query.values())})
        ids, scores = self._searcher.search(query, n, self.settings.alpha, self.settings.beta)
        if PADDING_ID in ids:  # only where fewer real documents score (a padding document scores 0)
            kept = [i for i, docid in enumerate(ids) if docid != PADDING_ID]
            ids, scores = [ids[i] for i in kept], [scores[i] for i in kept]
        return ids, scores

    def _bound(self, terms: dict, bmp_score: float, top: float) -> float:
        """The largest exact score a document with BMP score ``bmp_score`` can have (see the module's text)."""
        bound = bmp_score * top / (QUERY_TOP * self._factor) * (1 + _SLACK)
        if self._factor < 1:
            bound += sum(terms.values()) / (2 * self._factor)
        return bound + _SLACK

    def _exhaustive(self, terms: dict, k: int) -> list:
        """Every document scored from the forward index (a query too long for BMP's 16-bit scores)."""
        exact = exact_scores(self._forward, numpy.arange(self.num_docs), terms, self._statistics.term_ids)
        rows = numpy.flatnonzero(exact > 0)
        kth = numpy.sort(exact[rows])[-k] if len(rows) >= k else 0
        rows = rows[exact[rows] >= kth]  # only these need their external ids
        return anserini_top_k([(self._forward.ids[r], float(exact[r])) for r in rows.tolist()], k)

    def _search(self, terms: dict, k: int) -> list:
        query = {term: float(weight) for term, weight in terms.items()}
        top = self.scale_weight(terms)
        if top is None:
            self.candidates.append(self.num_docs)
            return self._exhaustive(terms, k)
        n = k + max(16, k // 8)
        while True:
            ids, scores = self._fetch(query, n, top)
            if self.settings.rescore:
                rows = numpy.asarray([int(i) for i in ids], dtype=numpy.int64)
                exact = exact_scores(self._forward, rows, terms, self._statistics.term_ids).tolist()
                hits = list(zip([self._forward.ids[r] for r in rows.tolist()], exact))
                kth = sorted(exact, reverse=True)[k - 1] if len(exact) >= k else -math.inf
                done = (not self.settings.safe or n >= self.num_docs
                        or (len(ids) >= n and kth > self._bound(terms, min(scores), top)))
            else:
                hits = [(self._forward.ids[int(i)], float(s)) for i, s in zip(ids, scores)]
                kth = hits[k - 1][1] if len(hits) >= k else -math.inf
                done = len(hits) < n or hits[-1][1] < kth or n >= self.num_docs
            if done:
                break
            n *= GROWTH
        self.candidates.append(n)
        return anserini_top_k(hits, k)
