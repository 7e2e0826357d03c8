"""Top-k search on a PISA index, with the hits, scores and ranking of the Lucene engine.

A document's score is sum(query weight x impact) over the query's terms: PISA's "quantized" scorer takes the
stored frequency (our impact) as the term's score and multiplies it by the query term's weight (a query term
repeated w times counts w times; pyterrier-pisa passes a weight that way). Those are integers well inside float32's
exact range, so they equal Lucene's impact scores to the bit. The rest follows the Lucene engine
(:class:`~splade_anserini.lucene.searcher.ImpactSearcher`) so that both write the same run: the same query terms
(in the index, idf above ``min_idf``), ties at the k-th score resolved by external docid (PISA's own tie order is
its internal docid), and Anserini's reported scores (:func:`adjust_ties`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy

from ..errors import InputError
from ..formats.artifacts import PISA_INDEX, read_manifest
from ..formats.runs import anserini_top_k
from ..formats.topics import TermStatisticsSearcher
from . import BLOCK_SIZE, ENCODING, SCORER, load_pisa
from .indexer import LEXICONS, TERM_DF, TERMS
from .statistics import PisaTermStatistics

# PISA's query algorithms, all safe (exact top k). On SPLADE queries (tens of terms) MaxScore measured fastest
# (SciFact, one thread, p50: 1.0 ms at k=10 against 1.4 for block-max MaxScore and 4.1 for block-max WAND; 2.8 ms at
# k=1000, where exhaustive ranked_or took 2.5 ms on a collection this small), as PISA's authors report for learned
# sparse retrieval.
ALGORITHMS = ("maxscore", "block_max_maxscore", "block_max_wand", "wand", "ranked_or")
DEFAULT_ALGORITHM = "maxscore"


class PisaSearcher(TermStatisticsSearcher):
    """Top-k search over a PISA index built by :func:`~splade_anserini.pisa.indexer.build_pisa_index`, hits as
    (docid, score); the interface of :class:`~splade_anserini.lucene.searcher.ImpactSearcher`."""

    def __init__(self, index: str | Path, *, min_idf: float = 0.0, algorithm: str = DEFAULT_ALGORITHM):
        self.index = Path(index)
        if algorithm not in ALGORITHMS:
            raise InputError(f"PISA query algorithm must be one of {', '.join(ALGORITHMS)}, not {algorithm!r}")
        manifest = read_manifest(self.index, (PISA_INDEX,), "the PISA engine")
        settings = manifest.get("pisa") or {}
        self._pisa = load_pisa()
        self._context = self._pisa.RetrievalContext()
        # With the index files there this only maps them; without them PISA would try to rebuild them from the
        # binary collection, which is not kept, and abort the process.
        encoding, block_size = settings.get("encoding", ENCODING), settings.get("block_size", BLOCK_SIZE)
        wand = self.index / f"{settings.get('scorer', SCORER)}.q0.bmw.{block_size}"
        needed = [wand, Path(f"{wand}.{encoding}"), self.index / TERMS, self.index / TERM_DF,
                  *(self.index / name for name in LEXICONS.values())]
        missing = [path.name for path in needed if not path.is_file()]
        if missing:
            raise InputError(f"{self.index}: damaged PISA index ({', '.join(missing)} missing); rebuild it with "
                             f"splade-anserini index --engine pisa --overwrite")
        self._pisa.prepare_index(self._context, str(self.index.resolve()), encoding, settings.get("scorer", SCORER),
                                 "", block_size=block_size, quantize=0)
        self._statistics = PisaTermStatistics(self.index)
        self.num_docs = self._statistics.num_docs
        self.min_idf = min_idf
        self.algorithm = algorithm
        self.latencies: list = []  # seconds per query searched one at a time

    def close(self) -> None:
        self._context = None  # PISA's memory maps go with the context

    def _retrieve(self, queries: list, n: int, threads: int) -> dict:
        """PISA's top n of each (position, {term: weight}) query as {position: [(docid, score), ...]}, score
        descending."""
        size = len(queries) * n
        positions = numpy.empty(size, dtype=numpy.int32)
        docnos = numpy.empty(size, dtype=object)
        ranks = numpy.empty(size, dtype=numpy.int32)
        scores = numpy.empty(size, dtype=numpy.float32)
        # pyterrier-pisa reads each weight as a C double from a Python float, and repeats the term that often
        found = self._pisa.retrieve(self._context, self.algorithm,
                                    [(i, {t: float(w) for t, w in terms.items()}) for i, terms in queries],
                                    k=n, threads=threads, pretokenised=True, query_weighted=1,
                                    result_qidxs=positions, result_docnos=docnos, result_ranks=ranks,
                                    result_scores=scores)
        results: dict = {i: [] for i, _ in queries}
        for position, docno, score in zip(positions[:found].tolist(), docnos[:found].tolist(),
                                          scores[:found].tolist()):
            results[position].append((docno, score))
        return results

    def _search(self, queries: list, k: int, threads: int) -> dict:
        """Top k of each (position, terms) query with Lucene's cut: fetch past k until the hits tied with the
        k-th score are all in hand (PISA's top n is exact, so a lower n-th score proves it), then rank by score
        and external docid."""
        done, n = {}, k + max(16, k // 8)
        while queries:
            hits = self._retrieve(queries, n, threads)
            again = []
            for position, terms in queries:
                found = hits[position]
                if len(found) >= n and found[-1][1] >= found[k - 1][1]:
                    again.append((position, terms))
                else:
                    done[position] = anserini_top_k(found, k)
            queries, n = again, n * 2
        return done

    def batch_search(self, vectors: Sequence[dict], k: int, threads: int = 1) -> list[list[tuple[str, float]]]:
        """The k best (docid, score) of each query vector, in input order; ``threads`` > 1 runs PISA's own
        threads over the queries, one thread times each query alone (:attr:`latencies`)."""
        queries = list(enumerate(map(self.kept_terms, vectors)))
        results: list = [[] for _ in vectors]
        if threads > 1:
            for position, hits in self._search([q for q in queries if q[1]], k, threads).items():
                results[position] = hits
            return results
        for position, terms in queries:
            started = time.perf_counter()
            if terms:  # a query left with no term has no hits, as in Lucene
                results[position] = self._search([(position, terms)], k, 1)[position]
            self.latencies.append(time.perf_counter() - started)
        return results
